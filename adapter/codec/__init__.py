"""Internal XML/JSON <-> the message model (safe parsing, XSD, domain checks), and FHIR on the wire."""

from .fhir_wire import read_bundle, render, wants_xml
from .internal import DEFAULT_LIMITS, decode, decode_json, decode_xml, encode_json, encode_xml, media_kind

__all__ = [
    "DEFAULT_LIMITS",
    "decode",
    "decode_json",
    "decode_xml",
    "encode_json",
    "encode_xml",
    "media_kind",
    "read_bundle",
    "render",
    "wants_xml",
]

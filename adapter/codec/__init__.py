"""Internal XML/JSON <-> the message model (safe parsing, XSD, domain checks), and FHIR on the wire."""

from .fhir_wire import compact_json, read_bundle, render, wants_xml
from .internal import DEFAULT_LIMITS, decode, decode_json, decode_xml, encode_json, encode_xml, media_kind

__all__ = [
    "DEFAULT_LIMITS",
    "compact_json",
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

"""Internal XML/JSON <-> the message model (safe parsing, XSD, domain checks), and FHIR on the wire."""

from .fhir_wire import FHIR_JSON, FHIR_XML, read_bundle, render, wants_xml
from .internal import DEFAULT_LIMITS, Limits, decode, decode_json, decode_xml, encode_json, encode_xml, media_kind

__all__ = [
    "DEFAULT_LIMITS",
    "FHIR_JSON",
    "FHIR_XML",
    "Limits",
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

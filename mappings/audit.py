"""The AuditEvent of a relayed message: the FHIR server's own record that the adapter wrote it.

    internal / adapter                         FHIR R4 AuditEvent
    (the relay: one FHIR transaction)          type audit-event-type#rest, subtype restful-interaction#transaction,
                                               action C, outcome 0 (success)
    the message's acceptance into the journal  recorded (passed in: the same on every retry and replay)
    Sender/@hsaId, @name                       agent[0].who -> the sender's Organization (+ HSA-id),
                                               .name, requestor true, type DCM 110153 Source Role ID
    (the adapter)                              agent[1]: type DCM 110150 Application, requestor false;
                                               source.observer, source.type security-source-type#4
    Message/@id                                entity[0].what -> the Communication (+ message-id),
                                               .name = the message id, role 4 Domain Resource,
                                               lifecycle iso-21089-lifecycle#transmit
    Patient                                    entity[1].what -> the Patient, role 1 Patient (so the
                                               ``patient`` search gives a patient's audit trail)

Codes are from the R4 value sets bound to these elements: AuditEventID (audit-event-type),
AuditEventSubType (restful-interaction), SecurityRoleType (DICOM DCM 110150-110155),
AuditEventSourceType, AuditEventEntityType (resource-types), ObjectRole and
ObjectLifecycleEvents (ISO 21089). Action C: the object of the event, the message's
Communication, is created by it (as every entry of the bundle, it is a create or an update).

One per message, never changed: a conditional create, as the Communication. R4 AuditEvent has no
``identifier``, so it is found by the message it records: ``entity-name`` (the message id) and
``subtype`` (a transaction). Not ``entity-name:exact``: HAPI (8.8) cannot check a conditional
create whose URL has a modifier (HAPI-0389, "Invalid match URL format") unless the URL is
prefixed with the resource type, which the spec does not allow in ``ifNoneExist``. Without the
modifier a string search is a case-insensitive prefix match; a message id is a UUID (36
characters, the same UUID in either case), so only a name that begins with the whole id would
also match, and the subtype keeps other systems' audits of reading the message out.

Only messages that reach the server have one: the AuditEvent travels in the message's own
transaction, which the server applies whole or not at all. A refused message is audited in the
journal only: an AuditEvent on a shared server would itself disclose the admission. No
personnummer in any text here: the patient is a reference to the Patient resource, which holds
the number where it belongs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import quote

from . import identifiers as ids
from .bundle import Entry
from .fhir import Resource, full_url, identifier
from .model import Message

__all__ = ["ADAPTER", "RESTFUL_INTERACTION", "audit_entry", "audit_query"]

#: How the adapter names itself as the observer and as the agent that did the relay.
ADAPTER = "samverkan adapter"

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"


def audit_query(message_id: str) -> str:
    """The one canonical search for the AuditEvent of a message (see the module's docstring).

    >>> audit_query("6f1c0e0a-6a43-4a57-9d0b-0a1c2b3d4e5f")
    'entity-name=6f1c0e0a-6a43-4a57-9d0b-0a1c2b3d4e5f&subtype=http://hl7.org/fhir/restful-interaction|transaction'
    """
    return f"entity-name={quote(message_id, safe='-._~:')}&subtype={RESTFUL_INTERACTION}|transaction"


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def audit_entry(message: Message, entries: Sequence[Entry], *, recorded: datetime) -> Entry:
    """The AuditEvent entry of ``message``, whose mapped entries are ``entries``.

    ``recorded`` is when the message was accepted into the journal (the adapter passes it: a
    mapping has no clock); it must carry its UTC offset, and is written in UTC.
    """
    if recorded.utcoffset() is None:
        raise ValueError("recorded needs a UTC offset (FHIR instant)")
    by_identity = {(e.resource["resourceType"], e.value): e.full_url for e in entries}
    patient = entries[0].full_url  # the Builder puts the Patient first
    communication = by_identity[("Communication", message.id)]
    sender = by_identity[("Organization", message.sender.hsa_id)]
    requestor: Resource = {
        "type": {"coding": [_coding(DCM, "110153", "Source Role ID")]},
        "who": {"reference": sender, "identifier": identifier(ids.HSA_ID, message.sender.hsa_id)},
        "requestor": True,
    }
    if message.sender.name is not None:
        requestor["name"] = message.sender.name
    event: Resource = {
        "resourceType": "AuditEvent",
        "meta": {"profile": [ids.profile_url("AuditEvent")]},
        "type": _coding(AUDIT_EVENT_TYPE, "rest", "RESTful Operation"),
        "subtype": [_coding(RESTFUL_INTERACTION, "transaction", "transaction")],
        "action": "C",
        "recorded": recorded.astimezone(UTC).isoformat(timespec="milliseconds"),
        "outcome": "0",
        "agent": [
            requestor,
            {
                "type": {"coding": [_coding(DCM, "110150", "Application")]},
                "who": {"display": ADAPTER},
                "name": ADAPTER,
                "requestor": False,
            },
        ],
        "source": {"observer": {"display": ADAPTER}, "type": [_coding(SOURCE_TYPE, "4", "Application Server")]},
        "entity": [
            {
                "what": {"reference": communication, "identifier": identifier(ids.SYS_MESSAGE_ID, message.id)},
                "type": _coding(RESOURCE_TYPES, "Communication", "Communication"),
                "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
                "lifecycle": _coding(LIFECYCLE, "transmit", "Transmit Record Lifecycle Event"),
                "name": message.id,
            },
            {
                "what": {"reference": patient},
                "type": _coding(RESOURCE_TYPES, "Patient", "Patient"),
                "role": _coding(OBJECT_ROLE, "1", "Patient"),
            },
        ],
    }
    return Entry(
        full_url(message.id, "AuditEvent", "relay"),
        event,
        "create",
        ids.SYS_MESSAGE_ID,
        message.id,
        query=audit_query(message.id),
    )

"""Each Kvittens a message waits for, as a FHIR Task on the server (docs/domain.md rules 1 and 2).

So that any FHIR client can list what is waiting, a message's bundle carries one Task per
recipient: status ``requested``, due at ``restriction.period.end``, ``businessStatus`` open (the
scheduler makes it overdue, :mod:`adapter.relay.overdue`). The Kvittens's own bundle completes the Task
of its sender: status ``completed``, ``businessStatus`` received, the Kvittens as output.

    Message/@id + Recipient/@hsaId    Task.identifier (kvittens, "{message id}:{recipient}")
    Message/@sent (+ rules 1, 2)      Task.authoredOn, Task.restriction.period.end
    Sender, Recipient                 Task.requester, Task.owner
    the message's Communication       Task.focus
    Kvittens (its Communication)      Task.status completed, businessStatus received, output

A message's Tasks are conditional creates: relaying it again (a replay) never reopens a Task its
Kvittens completed. Pure: the due time depends on the message alone, never on a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mappings import identifiers as ids
from mappings.bundle import Entry
from mappings.fhir import Resource, concept, evolve, full_url, identifier, reference
from mappings.model import Message, MessageType

from .deadlines import kvittens_due

__all__ = ["OPEN", "OVERDUE", "RECEIVED", "acknowledgement_entries", "task_identity"]

OPEN, OVERDUE, RECEIVED = "open", "overdue", "received"


def task_identity(message_id: str, recipient_hsa_id: str) -> str:
    return f"{message_id}:{recipient_hsa_id}"


def business_status(code: str) -> dict[str, Any]:
    return concept(ids.CS_ACKNOWLEDGEMENT_STATUS, code)


def acknowledgement_entries(message: Message, entries: Sequence[Entry]) -> list[Entry]:
    """The Task entries to add to ``entries`` (the message's mapped bundle)."""
    by_identity = {(e.resource["resourceType"], e.value): e.full_url for e in entries}
    patient = entries[0].full_url  # the Builder puts the Patient first
    communication = by_identity[("Communication", message.id)]
    if message.type is MessageType.KVITTENS:
        return [_completion(message, patient, communication)] if message.body.acknowledges else []
    due = kvittens_due(message.type, message.sent).isoformat()
    encounter = next((e.full_url for e in entries if e.resource["resourceType"] == "Encounter"), None)
    out = []
    for r in message.recipients:
        value = task_identity(message.id, r.hsa_id)
        task: Resource = {
            "resourceType": "Task",
            "meta": {"profile": [ids.profile_url("Task")]},
            "identifier": [identifier(ids.SYS_KVITTENS, value)],
            "status": "requested",
            "businessStatus": business_status(OPEN),
            "intent": "order",
            "code": concept(ids.CS_MESSAGE_TYPE, MessageType.KVITTENS.value),
            "description": f"Kvittens of the {message.type.value} from {r.name or r.hsa_id}",
            "focus": reference(communication),
            "for": reference(patient),
            "authoredOn": message.sent.isoformat(),
            "requester": reference(by_identity[("Organization", message.sender.hsa_id)]),
            "owner": reference(by_identity[("Organization", r.hsa_id)]),
            "restriction": {"period": {"end": due}},
        }
        if encounter is not None:
            task["encounter"] = reference(encounter)
        out.append(Entry(full_url(message.id, "Task", value), task, "create", ids.SYS_KVITTENS, value))
    return out


def _completion(kvittens: Message, patient: str, communication: str) -> Entry:
    acknowledged = kvittens.body.acknowledges
    assert acknowledged is not None
    value = task_identity(acknowledged, kvittens.sender.hsa_id)

    def merge(current: Mapping[str, Any] | None) -> Resource:
        # Without a Task (the message went another way) the Kvittens still leaves a completed one.
        task = evolve(
            current,
            {
                "resourceType": "Task",
                "identifier": [identifier(ids.SYS_KVITTENS, value)],
                "intent": "order",
                "code": concept(ids.CS_MESSAGE_TYPE, MessageType.KVITTENS.value),
                "focus": {"identifier": identifier(ids.SYS_MESSAGE_ID, acknowledged)},
                "for": reference(patient),
            },
        )
        task["meta"] = {"profile": [ids.profile_url("Task")]}
        task["status"] = "completed"
        task["businessStatus"] = business_status(RECEIVED)
        task["lastModified"] = kvittens.sent.isoformat()
        task["output"] = [
            {"type": concept(ids.CS_MESSAGE_TYPE, MessageType.KVITTENS.value), "valueReference": reference(communication)}
        ]
        return task

    return Entry(full_url(kvittens.id, "Task", value), merge(None), "update", ids.SYS_KVITTENS, value, merge)

"""The patient's consent to information transfer in a care episode (docs/domain.md rule 11).

The notices of the discharge process (admission, discharge-ready dates, invitations,
acknowledgements, the discharge itself) are the law's own and go without consent (Lag 2017:612;
rule 12 says so for the named care contact). What needs consent is information about the
patient beyond them: free text and the function and services a Vardbegaran describes.

The consent is what the message itself states (``Body/Consent/@informationTransfer``) or else the
latest the episode's messages stated: an Inskrivningsmeddelande re-sent with ``"false"`` stops
sharing from then on, one with ``"true"`` starts it again. Nothing stated is not a refusal (the
process starts before anyone has asked). A patient's "no" refuses the message whole (422,
SAMV-5002): a message is never relayed in part. The SIP's own consent is checked at the door
(``adapter.codec.checks``).
"""

from __future__ import annotations

from collections.abc import Callable

from mappings.errors import ConsentNotGiven
from mappings.model import Message

__all__ = ["INFORMATION", "check_information_transfer", "stated"]

#: Body parts that carry information about the patient, and where they are in the document.
INFORMATION = {"function": "/Message/Body/Function", "services": "/Message/Body/Service", "note": "/Message/Body/Note"}


def stated(message: Message) -> bool | None:
    """What the message says of information transfer, if anything."""
    consent = message.body.consent
    return consent.information_transfer if consent is not None else None


def carried(message: Message) -> list[str]:
    """The parts of ``message`` that need the patient's consent to be shared."""
    return [part for part in INFORMATION if getattr(message.body, part, None)]


def check_information_transfer(message: Message, episode: Callable[[], bool | None]) -> None:
    """Refuses ``message`` when it shares information and the patient has said no.

    ``episode`` gives the latest consent the message's episode stated before it (None: none); it
    is asked (a journal read) only for a message that carries information and states nothing.
    """
    parts = carried(message)
    if message.care_episode is None or not parts:
        return  # outside an inpatient episode no consent is carried; without information none is needed
    consent = stated(message)
    if consent is None:
        consent = episode()
    if consent is False:
        raise ConsentNotGiven(
            "the patient has not consented to information transfer in this episode; the message carries information"
            " that may not be shared (send it without it, or once the patient consents)",
            path=INFORMATION[parts[0]],
        )

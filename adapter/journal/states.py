"""A message's states, and what an operator may do to a message in each: the one place that says.

    state          replay  cancel   meaning
    accepted                 ✓      journaled, waiting for a worker
    relaying                        a worker has it: its outcome comes first
    retrying                 ✓      a retryable failure; the next attempt is scheduled
    replayed                 ✓      an operator sent it again; waiting for a worker
    held                     ✓      waiting behind a dead letter of its key (shown, never stored)
    dead-lettered    ✓       ✓      given up on (a 4xx, or attempts or time used up); holds its key
    delivered                       on the server
    cancelled        ✓              an operator gave up on it; its key went on

The values are what the journal stores and the API shows. The journal's replay and cancel are
conditional updates on the states this table allows (``SqlJournal._operator``); the console
shows its buttons from a record's ``actions``, so the table is never written out again elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = ["ACTIONS", "CLAIMABLE", "OPEN", "WAITING", "Action", "State", "actions", "allowing"]


class State(StrEnum):
    """A message's state, in the order an operator thinks of them."""

    ACCEPTED = "accepted"
    RELAYING = "relaying"
    RETRYING = "retrying"
    REPLAYED = "replayed"
    HELD = "held"
    DEAD_LETTERED = "dead-lettered"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Action(StrEnum):
    """What an operator may do to a message (``POST /messages/{id}/replay`` or ``/cancel``; ``samverkan replay``)."""

    REPLAY = "replay"
    CANCEL = "cancel"


#: The operator's actions each state allows (the module's table).
ACTIONS: Mapping[State, frozenset[Action]] = {
    State.ACCEPTED: frozenset({Action.CANCEL}),
    State.RELAYING: frozenset(),
    State.RETRYING: frozenset({Action.CANCEL}),
    State.REPLAYED: frozenset({Action.CANCEL}),
    State.HELD: frozenset({Action.CANCEL}),
    State.DEAD_LETTERED: frozenset({Action.REPLAY, Action.CANCEL}),
    State.DELIVERED: frozenset(),
    State.CANCELLED: frozenset({Action.REPLAY}),
}

#: States waiting for a worker; shown as held when a dead letter of their key is before them.
WAITING = (State.ACCEPTED, State.REPLAYED, State.RETRYING)
#: States a worker can claim from (due, and not claimed by a live worker).
CLAIMABLE = (*WAITING, State.RELAYING)
#: States that hold their key's order: a later message of the key waits while one of these is before it.
OPEN = (*CLAIMABLE, State.DEAD_LETTERED)


def actions(state: State) -> list[str]:
    """The actions ``state`` allows, as the API shows them (in a fixed order).

    >>> actions(State.DEAD_LETTERED), actions(State.DELIVERED)
    (['replay', 'cancel'], [])
    """
    return [a.value for a in Action if a in ACTIONS[state]]


def allowing(action: Action) -> tuple[State, ...]:
    """The states in which ``action`` is allowed.

    >>> allowing(Action.REPLAY)
    (<State.DEAD_LETTERED: 'dead-lettered'>, <State.CANCELLED: 'cancelled'>)
    """
    return tuple(s for s in State if action in ACTIONS[s])

"""A message's states and the operator's actions each allows: the table in adapter.journal.states is
what the journal does (both backends), and what the API tells the console."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapter import codec
from adapter.http import create_app
from adapter.journal import Action, Journal, State, actions
from adapter.journal.states import ACTIONS, allowing
from tests.support import INSKRIVNING, load, offline_settings, unique
from tests.unit import test_journal

# The journal suite's fixture: a fresh journal on SQLite, and on a real PostgreSQL.
opener = test_journal.opener


def test_every_state_has_its_actions_as_the_architecture_states_them() -> None:
    # Replay: a dead letter, or a message given up on; cancel: anything not yet relayed or done.
    assert set(ACTIONS) == set(State)
    assert {s.value: actions(s) for s in State} == {
        "accepted": ["cancel"],
        "relaying": [],
        "retrying": ["cancel"],
        "replayed": ["cancel"],
        "held": ["cancel"],
        "dead-lettered": ["replay", "cancel"],
        "delivered": [],
        "cancelled": ["replay"],
    }
    assert allowing(Action.REPLAY) == (State.DEAD_LETTERED, State.CANCELLED)


def _accept(j: Journal, mid: str, now: float) -> None:
    j.accept(mid, key="k", message_type="Inskrivningsmeddelande", document=b"<x/>", content_type="application/xml", now=now)


def _in_state(j: Journal, state: State) -> str:
    """A message put in ``state`` the way the relay and an operator put it there; its id."""
    _accept(j, "m", now=1)
    if state is State.CANCELLED:
        j.cancel("m", now=2)
    elif state is not State.ACCEPTED:
        [claimed] = j.claim("w", now=2, lease=30, limit=10)
        assert claimed.message_id == "m"
    if state is State.RETRYING:
        j.retry_at("m", 100, "503 from the server", now=3)
    elif state is State.DELIVERED:
        j.delivered("m", ["Communication/1"], now=3)
    elif state in (State.DEAD_LETTERED, State.REPLAYED, State.HELD):
        j.dead_letter("m", "422 from the server", now=3)
    if state is State.REPLAYED:
        j.replay("m", now=4)
    elif state is State.HELD:
        _accept(j, "later", now=4)  # behind the dead letter of its key
        return "later"
    return "m"


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("state", list(State))
def test_the_journal_allows_an_action_exactly_in_the_states_the_table_says(
    opener: test_journal.Opener, state: State, action: Action
) -> None:
    # Given a message in ``state``,
    j = opener()
    mid = _in_state(j, state)
    before = j.get(mid)
    assert before is not None and before.state is state
    # when an operator asks for ``action``,
    do = j.replay if action is Action.REPLAY else j.cancel
    if action in ACTIONS[state]:
        # then it is done exactly when the table allows it,
        done = do(mid, now=10)
        assert done.state is (State.REPLAYED if action is Action.REPLAY else State.CANCELLED)
    else:
        # and refused otherwise, the message left as it was.
        with pytest.raises(ValueError, match=f"in state {state}"):
            do(mid, now=10)
        after = j.get(mid)
        assert after is not None and after.state is state


def test_the_apis_json_for_a_record_carries_what_its_state_allows(tmp_path: Path) -> None:
    m = unique(load(INSKRIVNING))
    with TestClient(create_app(offline_settings(tmp_path / "j.sqlite3"))) as client:
        posted = client.post("/messages", content=codec.encode_xml(m), headers={"Content-Type": "application/xml"})
        assert posted.status_code == 202, posted.text
        assert posted.json()["actions"] == ["cancel"]  # nothing relays here: it stays accepted
        [listed] = client.get("/messages", params={"id": m.id}).json()["items"]
        assert (listed["state"], listed["actions"]) == ("accepted", ["cancel"])

        cancelled = client.post(f"/messages/{m.id}/cancel").json()
        assert (cancelled["state"], cancelled["actions"]) == ("cancelled", ["replay"])
        detail = client.get(f"/messages/{m.id}").json()
        assert (detail["state"], detail["actions"]) == ("cancelled", ["replay"])

        replayed = client.post(f"/messages/{m.id}/replay").json()
        assert (replayed["state"], replayed["actions"]) == ("replayed", ["cancel"])

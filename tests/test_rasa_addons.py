"""rasa_addons/, run by Rasa's own Python with Rasa's own classes (it cannot be imported here:
Rasa lives in the Python 3.10 environment). The running Rasa server that uses them is tested in
tests/test_rasa_conversation.py."""

from __future__ import annotations

import json
import subprocess

import httpx

from bot import rasa_runtime
from bot.settings import Settings
from tests.conftest import running_rasa, say

TRACKER_STORE_SCRIPT = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from bounded_tracker_store import BoundedTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

store = BoundedTrackerStore(Domain.empty(), max_events=8, max_senders=3)


def conversation(sender, turns, actions_per_turn=1, finished=True):
    tracker = DialogueStateTracker(sender, [])
    for event in (ActionExecuted("action_session_start"), SessionStarted(),
                  ActionExecuted("action_listen")):
        tracker.update(event)
    for turn in range(turns):
        tracker.update(UserUttered(f"{sender}{turn}"))
        for _ in range(actions_per_turn):
            tracker.update(ActionExecuted("action_answer"))
        if finished:
            tracker.update(ActionExecuted("action_listen"))
    return tracker


def described(tracker):
    return [e.action_name if isinstance(e, ActionExecuted) else getattr(e, "text", e.type_name)
            for e in tracker.events]


async def main():
    out = {}
    for sender in "abcd":
        await store.save(conversation(sender, 10))
    out["after_abcd"] = list(await store.keys())
    await store.save(await store.retrieve("b"))
    await store.save(conversation("e", 1))
    out["after_b_e"] = list(await store.keys())
    out["d"] = described(await store.retrieve("d"))
    out["e"] = described(await store.retrieve("e"))
    await store.save(conversation("long", 1, actions_per_turn=12))
    out["long"] = described(await store.retrieve("long"))
    await store.save(conversation("mid", 1, actions_per_turn=12, finished=False))
    out["mid"] = described(await store.retrieve("mid"))
    print(json.dumps(out))


asyncio.run(main())
"""


CHECK_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from action_result_check import install

action = RemoteAction("action_answer", None)
rasas_own = RemoteAction._validate_action_result
install()
ours = RemoteAction._validate_action_result
results = {
    "ok": {"events": [], "responses": []},
    "slot": {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": [{"text": "hi"}]},
    "unknown_event": {"events": [{"event": "nonsense"}]},
    "events_not_a_list": {"events": "x"},
    "response_not_an_object": {"responses": ["hi"]},
}


def outcome(check, result):
    try:
        return ["valid", check(action, result)]
    except ValidationError as e:
        return ["invalid", e.message]


print(json.dumps({
    "replaced": ours is not rasas_own,
    "cases": {name: [outcome(rasas_own, r), outcome(ours, r)] for name, r in results.items()},
}))
"""


def run_in_rasa_python(script: str) -> dict:
    settings = Settings()
    rasa_runtime.ensure_rasa_env(settings, print)
    done = subprocess.run(
        [str(rasa_runtime.rasa_python(settings)), "-c", script, str(rasa_runtime.RASA_ADDONS)],
        capture_output=True,
        text=True,
        timeout=120,
        env=rasa_runtime._env(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_bounded_tracker_store_in_rasas_own_python():
    out = run_in_rasa_python(TRACKER_STORE_SCRIPT)
    # the least recently saved sender goes first; saving again makes a sender recent
    assert out["after_abcd"] == ["b", "c", "d"]
    assert out["after_b_e"] == ["d", "b", "e"]
    # the last 8 events, cut forward to where Rasa was listening: the last two whole turns
    assert out["d"] == [
        "action_listen", "d8", "action_answer", "action_listen",
        "d9", "action_answer", "action_listen",
    ]  # fmt: skip
    # a short conversation is kept whole
    assert out["e"] == ["action_session_start", "session_started", "action_listen",
                        "e0", "action_answer", "action_listen"]  # fmt: skip
    # one finished turn longer than the window: only Rasa listening is left
    assert out["long"] == ["action_listen"]
    # saved mid-turn with no listen in the window: the window is kept as is
    assert out["mid"] == ["action_answer"] * 8


def test_action_result_check_answers_exactly_as_rasas_own():
    out = run_in_rasa_python(CHECK_SCRIPT)
    assert out["replaced"]
    cases = out["cases"]
    for name, (rasas, ours) in cases.items():
        assert ours == rasas, name
    assert cases["ok"][1] == cases["slot"][1] == ["valid", True]
    for name in ("unknown_event", "events_not_a_list", "response_not_an_object"):
        verdict, message = cases[name][1]
        assert verdict == "invalid" and "Failed to validate Action server response" in message


def test_a_sender_rasa_has_forgotten_just_starts_a_new_session(rasa_model, tmp_path):
    """RASA_MAX_SENDERS reaches the running Rasa: with room for two, a third person pushes the
    first out; the first person's next message still reaches the right action, in a new Rasa
    session whose tracker holds nothing from before."""
    with running_rasa(rasa_model, tmp_path, rasa_max_senders=2) as rasa:
        turns = [("FIRST", "hello"), ("FIRST", "/skip"), ("SECOND", "hello"), ("THIRD", "hello"),
                 ("FIRST", "/repeat")]  # fmt: skip
        for n, (sender, text) in enumerate(turns):
            say(rasa, sender, text, {"message_id": 500 + n})
            rasa.wait_calls(n + 1)
        actions = [(c.sender_id, c.action, c.metadata["message_id"]) for c in rasa.calls]
        assert actions == [
            ("FIRST", "action_greet", 500), ("FIRST", "action_skip", 501),
            ("SECOND", "action_greet", 502), ("THIRD", "action_greet", 503),
            ("FIRST", "action_repeat", 504),
        ]  # fmt: skip
        events = httpx.get(f"{rasa.url}/conversations/FIRST/tracker", timeout=10).json()["events"]
        said = [e["metadata"]["message_id"] for e in events if e["event"] == "user"]
        assert said == [504]
        kinds = [e["event"] for e in events]
        assert "session_started" in kinds[: kinds.index("user")]
        # room for two: THIRD is still there, SECOND has gone to make room for FIRST again
        for sender, expected in (("THIRD", [503]), ("SECOND", [])):
            kept = httpx.get(f"{rasa.url}/conversations/{sender}/tracker", timeout=10).json()
            assert [e["metadata"]["message_id"] for e in kept["events"] if e["event"] == "user"] \
                == expected, sender

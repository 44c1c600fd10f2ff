"""The real Rasa server with the real trained model: NLU in English and Polish, the REST
round trip to our action endpoint, and the `/intent` shortcut that skips NLU."""

from __future__ import annotations

import httpx
import pytest

from bot.rasa_actions import parse_action_call
from bot.rasa_client import escape_user_text, shortcut_message
from bot.survey.shortcuts import shortcut
from tests.conftest import RasaUnderTest, say


def parse(url: str, text: str) -> tuple[str, float]:
    result = httpx.post(f"{url}/model/parse", json={"text": text}, timeout=10).json()
    return result["intent"]["name"], result["intent"]["confidence"]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("yes please", "affirm"),
        ("yeah ok", "affirm"),
        ("yep", "affirm"),
        ("sure", "affirm"),
        ("tak", "affirm"),
        ("jasne", "affirm"),
        ("oczywiscie", "affirm"),
        ("no thanks", "deny"),
        ("nope", "deny"),
        ("nie", "deny"),
        ("nie dziekuje", "deny"),
        ("nie wiem", "dont_know"),
        ("idk", "dont_know"),
        ("not sure", "dont_know"),
        ("pomiń", "skip"),
        ("pomin", "skip"),
        ("pomin to", "skip"),
        ("skip this one", "skip"),
        ("help me", "help"),
        ("pomocy", "help"),
        ("pomoc", "help"),
        ("who are you?", "ask_who"),
        ("kim jestescie", "ask_who"),
        ("kim jesteście", "ask_who"),
        ("czy to jest poufne", "ask_confidential"),
        ("is this private", "ask_confidential"),
        ("why are you asking me", "ask_why"),
        ("po co to", "ask_why"),
        ("change language", "change_language"),
        ("zmien jezyk", "change_language"),
        ("jezyk", "change_language"),
        ("say that again", "repeat"),
        ("powtórz", "repeat"),
        ("dzień dobry", "greet"),
        ("dzien dobry", "greet"),
        ("czesc", "greet"),
        ("hi there", "greet"),
        ("thank you", "thanks"),
        ("dziekuje", "thanks"),
        ("bye", "goodbye"),
        ("do widzenia", "goodbye"),
        ("stop texting me", "stop"),
        ("wypisz mnie", "stop"),
        ("the waiting list for my mum's operation was far too long", "inform"),
        ("I waited three weeks for a GP appointment and nobody called me back", "inform"),
        ("i need help with my son's asthma but the GP never has appointments", "inform"),
        ("nie mogłam się dodzwonić do przychodni przez tydzień", "inform"),
        ("nie wiem gdzie jest najbliższy dentysta który przyjmuje na NHS", "inform"),
    ],
)
def test_nlu_understands_both_languages(rasa_server: RasaUnderTest, text: str, intent: str):
    assert parse(rasa_server.url, text)[0] == intent


@pytest.mark.parametrize("text", ["asdfgh", "xd"])
def test_noise_is_never_consent(rasa_server: RasaUnderTest, text: str):
    """Keyboard mash must not read as "yes"."""
    assert parse(rasa_server.url, text)[0] in ("nlu_fallback", "inform")


@pytest.mark.parametrize("text", ["😡", "...", "🙏🙏", "?!"])
def test_emoji_and_punctuation_never_reach_the_classifier(text: str):
    """They have no tokens, so the classifier would answer with its prior (with 20 languages of
    examples that is "affirm", consent by "😡"): the worker sends them as nlu_fallback."""
    assert shortcut(text) == ("nlu_fallback", {})


def test_round_trip_reaches_our_action_with_metadata(rasa_server: RasaUnderTest):
    before = len(rasa_server.calls)
    assert say(rasa_server, "CTEST1", "kim jesteście?", {"message_id": 41}) == []
    call = rasa_server.wait_calls(before + 1)[-1]
    assert (call.action, call.intent, call.sender_id) == ("action_faq", "ask_who", "CTEST1")
    assert call.text == "kim jesteście?" and 0 < call.confidence < 1
    assert call.metadata["message_id"] == 41


def test_each_skill_reaches_its_action(rasa_server: RasaUnderTest):
    cases = [
        ("hello", "action_greet"),
        ("yes", "action_answer"),
        ("skip", "action_skip"),
        ("nie wiem", "action_dont_know"),
        ("powtórz", "action_repeat"),
        ("thanks", "action_thanks"),
        (shortcut_message("media"), "action_media"),
    ]
    for n, (text, action) in enumerate(cases):
        before = len(rasa_server.calls)
        say(rasa_server, "CTEST4", text, {"message_id": 100 + n})
        call = rasa_server.wait_calls(before + 1)[-1]
        assert (call.action, call.metadata["message_id"]) == (action, 100 + n), text


def test_rasa_keeps_only_the_recent_past_of_a_conversation(rasa_server: RasaUnderTest):
    """Our tracker store is the one Rasa loaded (Rasa falls back to its own silently if the
    module does not import): after 40 turns the tracker holds at most 24 events, starts where
    Rasa was listening, and the 40th turn still reaches the right action."""
    texts = [shortcut_message("choose", {"number": n % 5 + 1}) for n in range(39)] + ["skip"]
    for n, text in enumerate(texts):
        before = len(rasa_server.calls)
        say(rasa_server, "CTEST-LONG", text, {"message_id": 900 + n})
        rasa_server.wait_calls(before + 1)
    call = rasa_server.calls[-1]
    assert (call.action, call.metadata["message_id"]) == ("action_skip", 939)
    tracker = httpx.get(f"{rasa_server.url}/conversations/CTEST-LONG/tracker", timeout=10).json()
    events = tracker["events"]
    assert 4 <= len(events) <= 24
    assert (events[0]["event"], events[0]["name"]) == ("action", "action_listen")
    said = [e["metadata"]["message_id"] for e in events if e["event"] == "user"]
    assert said[-1] == 939 and said == list(range(said[0], 940))


def test_rasa_runs_with_our_action_answer_check(rasa_server: RasaUnderTest):
    """The server was started through rasa_addons/rasa_server.py, which installed the check
    (tests/test_rasa_addons.py shows the check answers as Rasa's own does)."""
    assert rasa_server.console is not None
    assert "prebuilt validator" in rasa_server.console.read_text()


def test_shortcut_skips_nlu(rasa_server: RasaUnderTest):
    before = len(rasa_server.calls)
    say(rasa_server, "CTEST2", shortcut_message("choose", {"number": 3}), {"message_id": 42})
    call = rasa_server.wait_calls(before + 1)[-1]
    assert (call.action, call.intent) == ("action_answer", "choose")
    assert call.entities == {"number": 3} and call.confidence == 1.0
    say(rasa_server, "CTEST2", shortcut_message("choose", {"numbers": [1, 3]}), {"message_id": 43})
    assert rasa_server.wait_calls(before + 2)[-1].entities == {"numbers": [1, 3]}
    say(rasa_server, "CTEST2", shortcut_message("stop"), {"message_id": 44})
    assert rasa_server.wait_calls(before + 3)[-1].action == "action_stop"


@pytest.mark.parametrize("typed", ["/stop", " /stop", "//stop", "/ /stop", "/affirm{}"])
def test_typed_slash_cannot_inject_an_intent(rasa_server: RasaUnderTest, typed: str):
    before = len(rasa_server.calls)
    say(rasa_server, "CTEST3", escape_user_text(typed), {"message_id": 45})
    call = rasa_server.wait_calls(before + 1)[-1]
    assert not call.text.startswith("/") and call.confidence < 1.0, "went through NLU as words"


def test_escape_leaves_ordinary_text_alone():
    assert escape_user_text("yes / no") == "yes / no"
    assert escape_user_text("  tak ") == "  tak "
    assert escape_user_text("/") == "?"
    assert shortcut_message("choose", {"number": 3}) == '/choose{"number": 3}'


def test_action_endpoint_refuses_calls_without_the_token(rasa_server: RasaUnderTest):
    before = len(rasa_server.calls)
    payload = {"next_action": "action_stop", "sender_id": "x", "tracker": {}}
    assert httpx.post(rasa_server.actions_url, json=payload).status_code == 403
    assert httpx.post(f"{rasa_server.actions_url}?token=wrong", json=payload).status_code == 403
    assert len(rasa_server.calls) == before


def test_parse_action_call_joins_split_list_entities_and_falls_back_to_the_user_event():
    payload = {
        "next_action": "action_answer",
        "sender_id": "C9",
        "tracker": {
            "latest_message": {
                "text": '/choose{"numbers": [1, 3]}',
                "intent": {"name": "choose", "confidence": 1.0},
                "entities": [{"entity": "numbers", "value": 1}, {"entity": "numbers", "value": 3}],
            },
            "events": [{"event": "user", "metadata": {"message_id": 9, "model_id": "m"}}],
        },
    }
    call = parse_action_call(payload)
    assert call.entities == {"numbers": [1, 3]} and call.metadata["message_id"] == 9
    assert (call.action, call.sender_id, call.intent, call.confidence) == (
        "action_answer",
        "C9",
        "choose",
        1.0,
    )

"""Results, drop-off, exports and transcripts across survey versions, on SQLite and PostgreSQL.

Version 2 of the demo survey is published through the store: it rewords `access`, drops
`children_translate` and the `never` option of `info_language`, adds `travel_time`, and asks
`staff_respect` as yes/no instead of a scale. The seeded conversations are on version 1; two
more are seeded on version 2. Answers to one key count together; a dropped question keeps
its answers; a version filter shows that version's questions; a transcript labels answers
with its own version's questions."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.console.queries import versions_words
from bot.console.web import survey_store
from bot.storage.tables import Answer, Conversation
from bot.survey.store import Bundle, SurveyStore
from tests.console.conftest import OFFICER_EMAIL, Console, make_console
from tests.console.seed import Person, Turn, at, seed
from tests.e2e.conftest import _postgres_database

V1_ACCESS = "How easy is it for you to get health and care services when you need them?"
V2_ACCESS = "How easy is it to get care?"
TRAVEL = "Did you travel more than an hour to get care?"
CHILDREN = "Do children in your family translate for adults at health or care appointments?"

V2_PEOPLE = [
    Person("CEEEEE", "en", "sms", at(23), "completed", completed=True, turns=[
        Turn("Hi", ["Hello! Do you agree?"]),
        Turn("yes", [V2_ACCESS]),
        Turn("5", ["Information?"], ("access", "answered", 5)),
        Turn("always", ["Interpreter?"], ("info_language", "answered", "always")),
        Turn("no", [TRAVEL], ("needed_interpreter", "answered", "no")),
        Turn("yes", ["Staff?"], ("travel_time", "answered", "yes")),
        Turn("yes", ["One thing?"], ("staff_respect", "answered", "yes")),
        Turn("Shorter waits", ["Thank you!"], ("one_thing", "answered", "Shorter waits")),
    ]),
    Person("CFFFFF", "pl", "whatsapp", at(23, 12), "question", question_key="travel_time", turns=[
        Turn("Cześć", ["Czy zgadzasz się?"]),
        Turn("tak", ["Jak łatwo?"]),
        Turn("1", ["Informacje?"], ("access", "answered", 1)),
        Turn("zawsze", ["Tłumacz?"], ("info_language", "answered", "always")),
        Turn("tak", [TRAVEL], ("needed_interpreter", "answered", "yes")),
    ]),
]


def version_2(source: str) -> str:
    """The demo flow with version 2's changes, made on its text (so a change in demo.yml that
    breaks one shows here as an assertion, not as a silently different test)."""
    changes = [
        (V1_ACCESS, V2_ACCESS),
        ("      - key: never\n        text: {en: Never}\n        aliases: {en: [no never]}\n", ""),
        ("  - key: got_interpreter\n",
         f"  - key: travel_time\n    type: yesno\n    text:\n      en: {TRAVEL}\n\n"
         "  - key: got_interpreter\n"),
        ("    type: scale\n    text:\n      en: The last time you used a health or care service, "
         "how well did staff treat you?\n    scale:\n      min: {en: very badly}\n"
         "      max: {en: very well}\n",
         "    type: yesno\n    text:\n      en: Did staff treat you well?\n"),
    ]
    for old, new in changes:
        assert old in source, old
        source = source.replace(old, new)
    start = source.index("  - key: children_translate\n")
    end = source.index("  - key: staff_respect\n")
    return source[:start] + source[end:]


def store_of(console: Console) -> SurveyStore:
    class Request:  # survey_store needs only the app
        app = console.app
    return survey_store(Request())  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def versions_console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Console]:
    """A console of its own (version 2 is published in it), with people on both versions."""
    if request.param == "sqlite":
        yield _with_version_2(request.getfixturevalue("console"))
        return
    for url in _postgres_database():
        made = make_console(tmp_path, url)
        yield _with_version_2(made)
        made.db.dispose()


def _with_version_2(console: Console) -> Console:
    store = store_of(console)
    v1 = store.version_bundle("demo", 1)
    checked = store.upload(Bundle(v1.name, version_2(v1.source), {}), by="test")
    assert checked.ok, checked.errors
    assert store.publish("demo", by="test").version == 2
    ids = seed(console.db, V2_PEOPLE)
    with console.db.transaction() as session:
        session.execute(update(Conversation).where(Conversation.id.in_(ids.values()))
                        .values(survey_version=2))
        session.execute(update(Answer).where(Answer.conversation_id.in_(ids.values()))
                        .values(survey_version=2))
    console.conversations.update(ids)
    return console


def api_results(console: Console, query: str = "") -> dict[str, list[dict]]:
    response = console.api("GET", f"/api/v1/results?survey=demo{query}", role="officer")
    assert response.status_code == 200, response.text
    out: dict[str, list[dict]] = {}
    for q in response.json()["questions"]:
        out.setdefault(q["key"], []).append(q)
    return out


def bars(result: dict) -> dict[str, int]:
    return {b["key"]: b["count"] for b in result["bars"]}


def test_versions_words():
    assert versions_words([2]) == "version 2"
    assert versions_words([2, 1]) == "versions 1–2"
    assert versions_words([1, 2, 3, 5]) == "versions 1–3, 5"


def test_results_without_a_version_filter_count_every_version(versions_console):
    results = api_results(versions_console)
    # The newest version's order, then the key only version 1 had.
    keys = list(results)
    assert keys.index("needed_interpreter") < keys.index("travel_time") < keys.index("got_interpreter")
    assert keys.index("children_translate") > keys.index("one_thing"), keys
    (children,) = results["children_translate"]
    assert children["text"] == CHILDREN and children["asked_in"] == "asked in version 1"
    assert children["answered"] == 2 and bars(children) == {"often": 1, "sometimes": 1, "no": 0}
    (travel,) = results["travel_time"]
    assert travel["text"] == TRAVEL and travel["asked_in"] == "asked in version 2"
    assert travel["answered"] == 1 and bars(travel) == {"yes": 1, "no": 0}
    (access,) = results["access"]
    assert access["text"] == V2_ACCESS and access["asked_in"] == ""
    assert access["answered"] == 5 and bars(access) == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1}
    # An option version 2 dropped keeps its bar and its count.
    (info,) = results["info_language"]
    assert bars(info) == {"always": 3, "sometimes": 1, "never": 1}
    # A key asked as a scale in version 1 and yes/no in version 2: one chart per type.
    yesno, scale = results["staff_respect"]  # the newest type first
    assert (yesno["type"], yesno["versions"], yesno["answered"]) == ("yesno", [2], 1)
    assert bars(yesno) == {"yes": 1, "no": 0}
    assert (scale["type"], scale["versions"], scale["answered"], scale["dont_know"]) == (
        "scale", [1], 1, 1)
    assert bars(scale)["5"] == 1 and scale["mean"] == 5
    assert "changed type" in scale["type_note"] and "this one counts version 1" in scale["type_note"]


def test_results_with_a_version_filter_show_that_versions_questions(versions_console):
    v1 = api_results(versions_console, "&version=1")
    assert "travel_time" not in v1 and "children_translate" in v1
    assert v1["access"][0]["text"] == V1_ACCESS and v1["access"][0]["answered"] == 3
    assert [q["type"] for q in v1["staff_respect"]] == ["scale"]
    assert all(q["asked_in"] == "" and not q["type_note"] for qs in v1.values() for q in qs)
    v2 = api_results(versions_console, "&version=2")
    assert "children_translate" not in v2 and v2["travel_time"][0]["answered"] == 1
    assert v2["access"][0]["answered"] == 2 and bars(v2["info_language"][0]) == {
        "always": 2, "sometimes": 0}


def test_results_and_overview_pages_say_which_versions_ask_a_question(versions_console):
    officer = versions_console.signed_in(OFFICER_EMAIL)
    page = officer.get("/console/results?survey=demo").text
    assert CHILDREN in page and TRAVEL in page
    assert '<small class="muted asked-in">asked in version 1</small>' in page
    assert '<small class="muted asked-in">asked in version 2</small>' in page
    assert 'id="q-staff_respect-scale"' in page and 'id="q-staff_respect-yesno"' in page
    assert page.count("This question changed type") == 2
    filtered = officer.get("/console/results?survey=demo&version=1").text
    assert CHILDREN in filtered and TRAVEL not in filtered and V1_ACCESS in filtered
    assert "asked in version" not in filtered and "changed type" not in filtered
    overview = officer.get("/console/?survey=demo").text
    row = overview[overview.index(CHILDREN):]
    assert row.index("asked in version 1") < row.index("</tr>")
    # The person waiting at the new question is counted there.
    dropoff = versions_console.api("GET", "/api/v1/overview?survey=demo",
                                   role="officer").json()["overview"]["dropoff"]
    by_key = {q["key"]: q for q in dropoff}
    assert (by_key["travel_time"]["reached"], by_key["travel_time"]["waiting"]) == (2, 1)
    assert by_key["children_translate"]["answered"] == 2
    assert by_key["children_translate"]["asked_in"] == "asked in version 1"


def test_exports_have_columns_for_every_version(versions_console):
    officer = versions_console.signed_in(OFFICER_EMAIL)
    download = officer.get("/console/export/answers.csv?survey=demo")
    assert download.status_code == 200
    rows = {r["contact"]: r for r in csv.DictReader(io.StringIO(download.text))}
    assert {"children_translate", "travel_time", "one_thing_en"} <= set(next(iter(rows.values())))
    assert rows["CAAAAA"]["children_translate"] == "often" and rows["CAAAAA"]["travel_time"] == ""
    assert rows["CEEEEE"]["travel_time"] == "yes" and rows["CEEEEE"]["children_translate"] == ""
    assert rows["CEEEEE"]["survey_version"] == "2"
    only_v1 = officer.get("/console/export/answers.json?survey=demo&version=1")
    records = json.loads(only_v1.text)
    assert {r["contact"] for r in records} == {"CAAAAA", "CBBBBB", "CCCCCC", "CDDDDD"}
    assert "children_translate" in records[0] and "travel_time" not in records[0]
    api = versions_console.api("GET", "/api/v1/export?survey=demo&format=csv", role="officer")
    assert "travel_time" in api.text.splitlines()[0] and "children_translate" in api.text.splitlines()[0]


def test_a_transcript_uses_its_own_versions_questions(versions_console):
    officer = versions_console.signed_in(OFFICER_EMAIL)
    old = officer.get(f"/console/conversations/{versions_console.conversations['CAAAAA']}").text
    assert V1_ACCESS in old and V2_ACCESS not in old
    assert CHILDREN in old and "Yes, often" in old  # the dropped question, its option's text
    assert "5 (very well)" in old  # version 1 asked staff_respect as a scale
    new = versions_console.api(
        "GET", f"/api/v1/conversations/{versions_console.conversations['CEEEEE']}", role="officer")
    answers = {a["key"]: a for a in new.json()["answers"]}
    assert answers["access"]["text"] == V2_ACCESS and answers["travel_time"]["text"] == TRAVEL
    assert answers["staff_respect"]["label"] == "Yes"

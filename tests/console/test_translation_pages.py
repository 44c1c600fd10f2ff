"""The texts pages: counts per language for the demo survey, editing a text into the human
file, accepting machine texts, marking a language reviewed, and machine pre-translation in the
background through deep-translator's real LibreTranslate client and a local fake of it."""

from __future__ import annotations

import html
import re
import socket
import threading
import time

import pytest
from sqlalchemy import select

from bot.console.audit import (
    SURVEY_DRAFT_STARTED,
    SURVEY_MACHINE_TRANSLATED,
    SURVEY_TEXTS_REVIEWED,
    SURVEY_TEXTS_SAVED,
)
from bot.console.tables import AuditEntry
from bot.settings import PROJECT_ROOT
from bot.survey.store import SurveyStore
from bot.survey.translations import text_report
from bot.texts.catalogue import Catalogue
from tests.console.conftest import ADMIN_EMAIL, OFFICER_EMAIL, Console, csrf_of
from tests.fakes.libretranslate import FakeLibreTranslate

DEMO = PROJECT_ROOT / "surveys" / "demo.yml"
TOTAL = len(text_report(DEMO, "ar"))  # the demo's texts, each language has this many
BASE = "/console/surveys/demo/languages"


def store_of(console: Console) -> SurveyStore:
    store = SurveyStore(console.db)
    store.sync_folder(console.settings.surveys_dir)  # what the app does at start
    return store


def draft_report(console: Console, lang: str):
    store = SurveyStore(console.db)
    with store.draft_files("demo") as path:
        return {t.id: t for t in text_report(path, lang)}


def row_counts(page: str, lang: str, table: int = 0) -> list[int]:
    """The four counts (reviewed, draft, machine, missing) of a language's row in a table."""
    body = page.split("<tbody>")[1 + table].split("</tbody>")[0]
    for row in body.split("<tr>")[1:]:
        if f"({lang})</span></th>" in row:
            cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
            return [int(re.sub(r"<[^>]+>", "", c)) for c in cells]
    raise AssertionError(f"no row for {lang}")


def audit_actions(console: Console) -> list[tuple[str, str | None]]:
    with console.db.read() as session:
        return [(a, t) for a, t in session.execute(
            select(AuditEntry.action, AuditEntry.target).order_by(AuditEntry.id))]


def start_draft(console: Console, client) -> None:
    page = client.get(BASE)
    assert "Start a draft from the published version" in page.text
    response = client.post(f"{BASE}/start-draft", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303


def wait_for(client, survey: str = "demo") -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(f"/console/surveys/{survey}/translation.json").json()
        if status["state"] != "running":
            return status
        time.sleep(0.1)
    raise AssertionError("the run did not finish in 60 s")


def use_libre(console: Console, url: str) -> None:
    console.app.state.settings = console.settings.model_copy(update={
        "translation_provider": "libre", "translation_url": url, "translation_api_key": "k"})


def test_officers_may_not_see_or_change_texts(console: Console) -> None:
    store_of(console)
    officer = console.signed_in(OFFICER_EMAIL)
    for path in (BASE, f"{BASE}/ar", "/console/surveys/demo/translation"):
        assert officer.get(path).status_code == 403, path
    csrf = csrf_of(officer.get("/console/account").text)
    response = officer.post(f"{BASE}/ar", data={"csrf_token": csrf, "text.title": "x",
                                                "was.title": "y"})
    assert response.status_code == 403
    assert officer.post(f"{BASE}/ar/translate", data={"csrf_token": csrf}).status_code == 403
    assert SurveyStore(console.db).draft("demo") is None


def test_counts_per_language_for_the_published_version_and_the_draft(console: Console) -> None:
    store = store_of(console)
    admin = console.signed_in(ADMIN_EMAIL)
    page = admin.get(BASE)
    assert page.status_code == 200
    assert row_counts(page.text, "ar") == [0, TOTAL, 0, 0], "the launch texts are drafts"
    assert "العربية" in page.text and 'dir="rtl"' in page.text
    assert "Polski" in page.text and "Kurdish (Sorani)" in page.text
    launch = [code for code in Catalogue.load().languages if code != "en"]
    assert len(launch) == 19 and all(row_counts(page.text, c) == [0, TOTAL, 0, 0] for c in launch)

    start_draft(console, admin)
    assert SurveyStore(console.db).draft("demo") is not None
    assert (SURVEY_DRAFT_STARTED, "survey demo") in audit_actions(console)
    assert store.set_language_file("demo", "pl.yml", None, "test").ok  # Polish taken out
    page = admin.get(BASE).text
    assert row_counts(page, "pl") == [0, 0, 0, TOTAL], "a language without a file misses all"
    assert row_counts(page, "pl", table=1) == [0, TOTAL, 0, 0], "the published one is as it was"
    assert row_counts(page, "ar") == [0, TOTAL, 0, 0]

    french = admin.get(f"{BASE}/fr")
    assert french.status_code == 200
    assert french.text.count('<span class="badge bad">missing</span>') == TOTAL
    assert admin.get(f"{BASE}/en").status_code == 404, "English is the flow itself"
    assert admin.get("/console/surveys/nope/languages").status_code == 404
    assert admin.get(f"{BASE}?lang=x!").status_code == 400
    assert admin.get(f"{BASE}?lang=fr").headers["location"] == f"{BASE}/fr"


def test_editing_an_arabic_text_stores_a_human_text(console: Console) -> None:
    store = store_of(console)
    store.start_draft("demo", "test")
    before = draft_report(console, "ar")
    old_file = store.draft("demo").bundle.files["ar.yml"]
    admin = console.signed_in(ADMIN_EMAIL)
    page = admin.get(f"{BASE}/ar")
    assert 'lang="ar" dir="rtl"' in page.text and "<textarea" in page.text
    assert html.escape(before["access.text"].text, quote=False) in page.text
    new = "ما مدى سهولة الحصول على الرعاية الصحية عندما تحتاجها؟"
    response = admin.post(f"{BASE}/ar", data={
        "csrf_token": csrf_of(page.text),
        "text.access.text": new + "\r\n", "was.access.text": before["access.text"].text,
        "text.title": before["title"].text, "was.title": before["title"].text})
    assert response.status_code == 303 and response.headers["location"].endswith("saved=1")
    after = draft_report(console, "ar")
    assert after["access.text"].text == new
    assert (after["access.text"].origin, after["access.text"].review) == ("human", "draft")
    assert {k: v for k, v in after.items() if k != "access.text"} == {
        k: v for k, v in before.items() if k != "access.text"}, "nothing else changed"
    new_file = store.draft("demo").bundle.files["ar.yml"]
    assert new_file.startswith(old_file.split("\n", 1)[0]), "the file's header comment is kept"
    assert "نعم دائما" in new_file, "aliases are kept"
    assert (SURVEY_TEXTS_SAVED, "survey demo ar") in audit_actions(console)
    shown = admin.get(response.headers["location"]).text
    assert "Saved 1 text" in shown and html.escape(new, quote=False) in shown

    nothing = admin.post(f"{BASE}/ar", data={"csrf_token": csrf_of(page.text),
                                             "text.title": before["title"].text,
                                             "was.title": before["title"].text})
    assert nothing.headers["location"].endswith("done=nothing")


def test_a_bad_edit_is_shown_with_what_was_typed_and_stores_nothing(console: Console) -> None:
    store = store_of(console)
    store.start_draft("demo", "test")
    files = store.draft("demo").bundle.files
    admin = console.signed_in(ADMIN_EMAIL)
    page = admin.get(f"{BASE}/ar")
    typed = "طويل " * 300
    response = admin.post(f"{BASE}/ar", data={
        "csrf_token": csrf_of(page.text), "text.title": typed, "was.title": "x",
        "text.access.text": "نص آخر", "was.access.text": "y"})
    assert response.status_code == 400
    assert "'title' is 1499 characters long; at most 1000" in html.unescape(response.text)
    assert typed.strip() in response.text and "نص آخر" in response.text, "the input is kept"
    assert store.draft("demo").bundle.files == files


def test_mark_reviewed_is_refused_while_texts_are_missing(console: Console) -> None:
    store = store_of(console)
    store.start_draft("demo", "test")
    store.set_language_file("demo", "pl.yml", None, "test")
    files = store.draft("demo").bundle.files
    admin = console.signed_in(ADMIN_EMAIL)
    csrf = csrf_of(admin.get(f"{BASE}/pl").text)
    refused = admin.post(f"{BASE}/pl/reviewed", data={"csrf_token": csrf})
    assert refused.status_code == 400
    assert f"cannot be marked reviewed yet: {TOTAL} texts are missing" in refused.text
    assert store.draft("demo").bundle.files == files

    done = admin.post(f"{BASE}/ar/reviewed", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert {t.review for t in draft_report(console, "ar").values()} == {"reviewed"}
    assert (SURVEY_TEXTS_REVIEWED, "survey demo ar") in audit_actions(console)
    assert "badge good\">reviewed" in admin.get(f"{BASE}/ar").text
    # A change afterwards has not been checked: the language is a draft again.
    title = draft_report(console, "ar")["title"].text
    admin.post(f"{BASE}/ar", data={"csrf_token": csrf, "text.title": title + "!",
                                   "was.title": title})
    assert {t.review for t in draft_report(console, "ar").values()} == {"draft"}


def test_machine_pretranslation_fills_missing_texts_and_keeps_peoples(console: Console) -> None:
    store = store_of(console)
    store.start_draft("demo", "test")
    store.set_language_file("demo", "pl.yml", None, "test")
    admin = console.signed_in(ADMIN_EMAIL)
    csrf = csrf_of(admin.get(f"{BASE}/pl").text)
    admin.post(f"{BASE}/pl", data={"csrf_token": csrf, "text.title": "Moja ankieta",
                                   "was.title": ""})
    english = {k: t.english for k, t in draft_report(console, "pl").items()}
    with FakeLibreTranslate() as libre:
        use_libre(console, libre.url)
        response = admin.post(f"{BASE}/pl/translate", data={"csrf_token": csrf})
        assert response.status_code == 303
        assert response.headers["location"] == "/console/surveys/demo/translation"
        status = wait_for(admin)
        sent = [r["q"] for r in libre.requests]
    assert status["state"] == "done" and status["error"] is None
    assert status["results"]["pl"]["translated"] == TOTAL - 1
    assert status["results"]["pl"]["kept"] == 1
    assert english["title"] not in sent, "a person's text is never sent or overwritten"
    report = draft_report(console, "pl")
    assert (report["title"].text, report["title"].origin) == ("Moja ankieta", "human")
    machine = [t for t in report.values() if t.id != "title"]
    assert all((t.origin, t.review) == ("machine", "unreviewed") for t in machine)
    assert report["access.text"].text.startswith("[en->pl] ")
    assert (SURVEY_MACHINE_TRANSLATED, "survey demo pl") in audit_actions(console)
    progress = admin.get(response.headers["location"]).text
    assert f"{TOTAL - 1} texts translated" in progress
    assert "/console/static/translation.js" in progress and ">refresh<" not in progress
    assert admin.get("/console/static/translation.js").status_code == 200
    assert row_counts(admin.get(BASE).text, "pl") == [0, 1, TOTAL - 1, 0]

    # Accepting a machine text makes it a person's (draft) text; the others stay machine.
    machine_text = report["access.text"].text
    accepted = admin.post(f"{BASE}/pl", data={
        "csrf_token": csrf, "accept": "access.text",
        "text.access.text": machine_text, "was.access.text": machine_text})
    assert accepted.status_code == 303
    report = draft_report(console, "pl")
    assert (report["access.text"].origin, report["access.text"].text) == ("human", machine_text)
    assert sum(t.origin == "machine" for t in report.values()) == TOTAL - 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_provider_shows_an_error_and_changes_nothing(console: Console) -> None:
    store = store_of(console)
    store.start_draft("demo", "test")
    store.set_language_file("demo", "pl.yml", None, "test")
    files = store.draft("demo").bundle.files
    use_libre(console, f"http://127.0.0.1:{_closed_port()}")
    admin = console.signed_in(ADMIN_EMAIL)
    csrf = csrf_of(admin.get(BASE).text)
    response = admin.post("/console/surveys/demo/translate-missing", data={"csrf_token": csrf})
    assert response.status_code == 303
    status = wait_for(admin)
    assert status["state"] == "failed" and status["languages"] == ["pl"]
    assert "could not be reached" in status["error"] and "Nothing was changed" in status["error"]
    assert status["results"]["pl"]["translated"] == 0
    assert store.draft("demo").bundle.files == files
    page = admin.get("/console/surveys/demo/translation").text
    assert "The translation provider could not be reached" in page
    assert SURVEY_MACHINE_TRANSLATED not in {a for a, _ in audit_actions(console)}


def test_one_run_per_survey_at_a_time(console: Console) -> None:
    store = store_of(console)
    store.start_draft("demo", "test")
    store.set_language_file("demo", "pl.yml", None, "test")
    admin = console.signed_in(ADMIN_EMAIL)
    csrf = csrf_of(admin.get(BASE).text)
    with FakeLibreTranslate() as libre:
        use_libre(console, libre.url)
        gate = threading.Event()
        real = libre._server.RequestHandlerClass.do_POST

        def slow(handler) -> None:
            gate.wait(10)
            real(handler)

        libre._server.RequestHandlerClass.do_POST = slow
        assert admin.post(f"{BASE}/pl/translate", data={"csrf_token": csrf}).status_code == 303
        second = admin.post(f"{BASE}/pl/translate", data={"csrf_token": csrf})
        assert second.status_code == 409 and "is running" in second.text
        gate.set()
        assert wait_for(admin)["state"] == "done"


@pytest.mark.parametrize("path", ["/console/surveys/demo/translation",
                                  "/console/surveys/demo/translation.json"])
def test_no_run_yet_is_not_found(console: Console, path: str) -> None:
    store_of(console)
    assert console.signed_in(ADMIN_EMAIL).get(path).status_code == 404


def test_without_a_draft_a_language_is_read_only_until_one_is_started(console: Console) -> None:
    store_of(console)
    admin = console.signed_in(ADMIN_EMAIL)
    page = admin.get(f"{BASE}/ar")
    assert page.status_code == 200 and "<textarea" not in page.text
    assert "Published version 1, read-only" in page.text
    response = admin.post(f"{BASE}/start-draft?lang=ar", data={"csrf_token": csrf_of(page.text)})
    assert response.headers["location"] == f"{BASE}/ar?done=draft"
    page = admin.get(response.headers["location"]).text
    assert page.count("<textarea") == TOTAL and "A draft was started" in page

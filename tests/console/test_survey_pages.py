"""The console's survey pages over HTTP, on SQLite and PostgreSQL: admins only, CSRF on every
form, a bad flow shows its errors with their lines and stores nothing, a fixed one becomes the
draft; publishing, rollback, the YAML editor and the question form, each audited; and what is
published is what the officers' pages and new conversations get."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.console import survey_pages
from bot.console.tables import AuditEntry
from bot.console.web import survey_store
from bot.storage.tables import SurveyDraft, SurveyVersion
from bot.survey.store import SurveyStore
from tests.console.conftest import ADMIN_EMAIL, OFFICER_EMAIL, Console, csrf_of, make_console
from tests.e2e.conftest import _postgres_database

ROUTES = {
    ("GET", "/console/surveys"),
    ("POST", "/console/surveys"),
    ("GET", "/console/surveys/{survey_id}"),
    ("POST", "/console/surveys/{survey_id}/publish"),
    ("POST", "/console/surveys/{survey_id}/versions/{version}/publish"),
    ("POST", "/console/surveys/{survey_id}/discard"),
    ("POST", "/console/surveys/{survey_id}/draft"),
    ("GET", "/console/surveys/{survey_id}/source"),
    ("POST", "/console/surveys/{survey_id}/source"),
    ("GET", "/console/surveys/{survey_id}/questions"),
    ("POST", "/console/surveys/{survey_id}/questions"),
}

HEALTH = """\
id: health
title: {en: Your health this winter}
keywords: [WINTER]

questions:
  - key: flu_jab
    type: yesno
    text: {en: "Have you had a flu jab this winter?"}

  - key: visits
    type: number
    text: {en: "How many times did you see a GP this year?"}

  - key: ease
    type: scale
    text: {en: "How easy was it to get an appointment?"}
    scale: {min: {en: very hard}, max: {en: very easy}}
"""
BROKEN_LINE = 10  # the number question without its range (its first line)


def with_range(text: str) -> str:
    return text.replace('    text: {en: "How many times', "    range: [0, 50]\n"
                        '    text: {en: "How many times')


@pytest.fixture(params=["sqlite", "postgres"])
def admin_console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Console]:
    """A console of its own on each database: these tests change surveys."""
    if request.param == "sqlite":
        yield request.getfixturevalue("console")
        return
    for url in _postgres_database():
        made = make_console(tmp_path, url)
        yield made
        made.db.dispose()


def store_of(console: Console) -> SurveyStore:
    """The store the app's pages use (made, and `surveys/` imported, by the first request)."""
    class Request:  # survey_store needs only the app
        app = console.app
    return survey_store(Request())  # type: ignore[arg-type]


def actions(console: Console) -> list[tuple[str, str | None]]:
    with console.db.read() as session:
        return [(r.action, r.target) for r in session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("survey_%")).order_by(AuditEntry.id))]


def signed_in_admin(console: Console) -> tuple[TestClient, str]:
    admin = console.signed_in(ADMIN_EMAIL)
    page = admin.get("/console/surveys")
    assert page.status_code == 200, page.text
    return admin, csrf_of(page.text)


def upload_file(admin: TestClient, csrf: str, text: str, name: str = "health.yml",
                languages: dict[str, str] | None = None):
    files = [("flow", (name, text.encode(), "application/x-yaml"))]
    files += [("language_files", (n, t.encode(), "application/x-yaml"))
              for n, t in (languages or {}).items()]
    return admin.post("/console/surveys", data={"csrf_token": csrf}, files=files)


def post(admin: TestClient, path: str, csrf: str, **data: str):
    return admin.post(path, data={"csrf_token": csrf, **data})


def fill(path: str) -> str:
    return path.format(survey_id="demo", version=1)


# -- who may --------------------------------------------------------------------------------
def test_the_table_names_every_route():
    routed = {(m, r.path) for r in survey_pages.router.routes if isinstance(r, APIRoute)
              for m in r.methods}
    assert routed == ROUTES


@pytest.mark.parametrize("method,path", sorted(ROUTES), ids=[f"{m} {p}" for m, p in sorted(ROUTES)])
def test_officers_are_refused_everywhere(console, method, path):
    officer = console.signed_in(OFFICER_EMAIL)
    csrf = csrf_of(officer.get("/console/account").text)
    response = officer.request(method, fill(path), data={"csrf_token": csrf, "version": "1"}
                               if method == "POST" else None)
    assert response.status_code == 403 and "This page is for the admin role" in response.text
    assert actions(console) == []
    assert store_of(console).draft("demo") is None


@pytest.mark.parametrize("path", sorted(p for m, p in ROUTES if m == "POST"))
def test_a_form_without_its_token_changes_nothing(console, path):
    admin, csrf = signed_in_admin(console)
    assert post(admin, "/console/surveys/demo/draft", csrf, version="1").status_code == 303
    before = actions(console)
    for data in ({}, {"csrf_token": "forged"}):
        response = admin.post(fill(path), data={**data, "version": "1", "source": HEALTH},
                              files=[("flow", ("health.yml", with_range(HEALTH).encode()))])
        assert response.status_code == 403 and "The form had expired" in response.text
    assert actions(console) == before
    assert store_of(console).draft("health") is None
    assert store_of(console).draft("demo") is not None, "the draft was not discarded"
    assert store_of(console).published_survey("demo").version == 1


# -- upload ---------------------------------------------------------------------------------
def test_a_bad_flow_shows_its_line_and_stores_nothing_then_the_fix_is_the_draft(admin_console):
    console = admin_console
    admin, csrf = signed_in_admin(console)
    bad = upload_file(admin, csrf, HEALTH, languages={"pl.yml": "language: pl\ntitle: Zdrowie\n"})
    assert bad.status_code == 400
    assert f"health.yml line {BROKEN_LINE}: question &#39;visits&#39;: a number question needs a range" in bad.text
    marked = re.search(r'<span class="ln bad"><span class="num" aria-hidden="true">(\d+)</span><mark>(.*?)</mark>',
                       bad.text)
    assert marked and marked.group(1) == str(BROKEN_LINE)
    assert HEALTH.splitlines()[BROKEN_LINE - 1] == marked.group(2) == "  - key: visits"
    # The YAML and the language file come back in text areas, to fix and send again.
    assert '<textarea id="up-source" class="code" name="source"' in bad.text
    assert "How many times did you see a GP this year?" in bad.text
    assert 'name="kept_name" value="pl.yml"' in bad.text and "title: Zdrowie" in bad.text
    # Nothing stored.
    assert [s.survey_id for s in store_of(console).summaries()] == ["demo"]
    with console.db.read() as session:
        assert session.scalar(select(func.count()).select_from(SurveyDraft)) == 0
        assert session.scalar(select(func.count()).select_from(SurveyVersion).where(
            SurveyVersion.survey_id == "health")) == 0
    assert actions(console) == []

    # Fixed in the text area and sent again (the language file kept from the first attempt).
    fixed = admin.post("/console/surveys", data={
        "csrf_token": csrf, "name": "health.yml", "source": with_range(HEALTH),
        "kept_name": "pl.yml", "kept_text": "language: pl\ntitle: Zdrowie\n"})
    assert fixed.status_code == 303, fixed.text
    assert fixed.headers["location"] == "/console/surveys/health?done=uploaded"
    draft = store_of(console).draft("health")
    assert draft is not None and draft.bundle.source == with_range(HEALTH)
    assert draft.bundle.files == {"pl.yml": "language: pl\ntitle: Zdrowie\n"}
    assert store_of(console).published_survey("health") is None, "a draft is not live"
    page = admin.get(fixed.headers["location"])
    # pl misses its question texts: the draft loads without Polish, and says so.
    assert "is now this survey&#39;s draft" in page.text and "Warnings" in page.text
    assert "language &#39;pl&#39; is left out of the survey" in page.text
    assert "Not published yet" in page.text
    assert actions(console) == [("survey_uploaded", "survey health")]
    listing = admin.get("/console/surveys").text
    assert '<a href="/console/surveys/health">health</a>' in listing
    assert "Your health this winter" in listing and "<code>WINTER</code>" not in listing


def test_upload_limits_and_missing_input_are_clear(console):
    admin, csrf = signed_in_admin(console)
    nothing = admin.post("/console/surveys", data={"csrf_token": csrf, "source": "  "})
    assert nothing.status_code == 400 and "Choose the survey&#39;s .yml file, or paste its YAML." in nothing.text
    huge = "# " + "x" * survey_pages.MAX_BYTES + "\n" + with_range(HEALTH)
    big = upload_file(admin, csrf, huge)
    assert big.status_code == 400 and "health.yml: the file is over 1 MB." in big.text
    latin = admin.post(
        "/console/surveys", data={"csrf_token": csrf},
        files=[("flow", ("health.yml", "title: Zdrowie ł".encode("utf-16"), "text/plain"))])
    assert latin.status_code == 400 and "health.yml: not UTF-8 text" in latin.text
    assert [s.survey_id for s in store_of(console).summaries()] == ["demo"]


def test_an_error_in_a_language_file_names_that_file_and_line(console):
    admin, csrf = signed_in_admin(console)
    arabic = "language: ar\ntitle: صحتك\nquestions:\n  flu_jabs: هل\n"
    response = upload_file(admin, csrf, with_range(HEALTH), languages={"ar.yml": arabic})
    assert response.status_code == 400
    found = re.search(r"health/ar\.yml line (\d+): [^<]*flu_jabs", response.text)
    assert found and found.group(1) == "4", response.text[-3000:]
    assert "<mark>  flu_jabs: هل</mark>" in response.text
    assert store_of(console).draft("health") is None


# -- publish, rollback, drafts ---------------------------------------------------------------
def test_publish_a_draft_then_the_same_content_again_then_roll_back(admin_console):
    console = admin_console
    admin, csrf = signed_in_admin(console)
    assert upload_file(admin, csrf, with_range(HEALTH)).status_code == 303
    published = post(admin, "/console/surveys/health/publish", csrf)
    assert published.status_code == 303
    assert published.headers["location"] == "/console/surveys/health?published=1&new=1"
    page = admin.get(published.headers["location"]).text
    assert "Published: version 1 is now live." in page and "Version 1 is live" in page
    assert store_of(console).published_survey("health").version == 1
    assert store_of(console).draft("health") is None
    # Version 2 with a new question text, then the first text again: that is version 1.
    reworded = with_range(HEALTH).replace("flu jab this winter", "flu vaccine this winter")
    assert upload_file(admin, csrf, reworded).status_code == 303
    assert post(admin, "/console/surveys/health/publish", csrf).headers["location"].endswith(
        "published=2&new=1")
    assert upload_file(admin, csrf, with_range(HEALTH)).status_code == 303
    assert "Same content as version 1" in admin.get("/console/surveys/health").text
    again = post(admin, "/console/surveys/health/publish", csrf)
    assert again.headers["location"].endswith("published=1&new=0")
    assert "the content is the same as version 1, which is re-published" in admin.get(
        again.headers["location"]).text
    assert store_of(console).published_survey("health").version == 1
    # Roll forward to 2 from the versions table, then see the history.
    page = admin.get("/console/surveys/health").text
    assert "Re-publish version 2 (rollback)" in page and "Re-publish version 1 (rollback)" not in page
    rolled = post(admin, "/console/surveys/health/versions/2/publish", csrf)
    assert rolled.status_code == 303
    survey = store_of(console).published_survey("health")
    assert survey.version == 2 and survey.question("flu_jab").text["en"].endswith("flu vaccine this winter?")
    assert [p.version for p in store_of(console).publications("health")] == [1, 2, 1, 2]
    assert actions(console) == [
        ("survey_uploaded", "survey health"), ("survey_published", "survey health"),
        ("survey_uploaded", "survey health"), ("survey_published", "survey health"),
        ("survey_uploaded", "survey health"), ("survey_published", "survey health"),
        ("survey_rolled_back", "survey health")]
    missing = post(admin, "/console/surveys/health/versions/9/publish", csrf)
    assert missing.status_code == 409 and "has no version 9" in missing.text


def test_a_keyword_clash_is_a_clear_error_and_nothing_is_published(console):
    admin, csrf = signed_in_admin(console)
    assert upload_file(admin, csrf, with_range(HEALTH)).status_code == 303
    assert post(admin, "/console/surveys/health/publish", csrf).status_code == 303
    clash = with_range(HEALTH).replace("id: health", "id: winter")
    assert upload_file(admin, csrf, clash, "winter.yml").status_code == 303
    refused = post(admin, "/console/surveys/winter/publish", csrf)
    assert refused.status_code == 409
    assert ("Not published: survey &#39;winter&#39;: keyword &#39;WINTER&#39; already starts "
            "survey &#39;health&#39; (version 1).") in refused.text
    assert store_of(console).published_survey("winter") is None
    assert store_of(console).draft("winter") is not None, "the draft stays, to fix"


def test_start_and_discard_a_draft(console):
    admin, csrf = signed_in_admin(console)
    page = admin.get("/console/surveys/demo").text
    assert "Start a draft from version" in page and "Publish draft" not in page
    assert admin.get("/console/surveys/demo/source").status_code == 409
    started = post(admin, "/console/surveys/demo/draft", csrf, version="1")
    assert started.headers["location"] == "/console/surveys/demo?done=started"
    page = admin.get("/console/surveys/demo").text
    for needed in ("Publish draft", "Discard draft", "/console/surveys/demo/source",
                   "/console/surveys/demo/questions", "/console/surveys/demo/languages",
                   "/console/preview?survey=demo&amp;version=draft", "Same content as version 1"):
        assert needed in page, needed
    twice = post(admin, "/console/surveys/demo/draft", csrf, version="1")
    assert twice.status_code == 409 and "There is a draft already" in twice.text
    assert post(admin, "/console/surveys/demo/discard", csrf).status_code == 303
    assert store_of(console).draft("demo") is None
    assert post(admin, "/console/surveys/demo/discard", csrf).status_code == 409
    assert admin.get("/console/surveys/nothing").status_code == 404
    assert actions(console) == [("survey_draft_started", "survey demo"),
                                ("survey_draft_discarded", "survey demo")]


def answered(console: Console) -> dict[str, int]:
    """Answers per question key, all versions together, as the results API counts them."""
    response = console.api("GET", "/api/v1/results?survey=demo", role="officer")
    assert response.status_code == 200, response.text
    return {q["key"]: q["answered"] for q in response.json()["questions"]}


# -- editing the draft ---------------------------------------------------------------------
def test_the_yaml_editor_shows_errors_with_the_line_and_keeps_the_text(admin_console):
    console = admin_console
    admin, csrf = signed_in_admin(console)
    assert upload_file(admin, csrf, with_range(HEALTH)).status_code == 303
    editor = admin.get("/console/surveys/health/source")
    assert editor.status_code == 200 and "How many times did you see a GP this year?" in editor.text
    broken = with_range(HEALTH).replace("type: scale", "type: stars")
    refused = post(admin, "/console/surveys/health/source", csrf, source=broken)
    assert refused.status_code == 400
    line = broken.splitlines().index("  - key: ease") + 1  # errors name the question's line
    assert f"health.yml line {line}: question &#39;ease&#39;: type must be one of" in refused.text
    assert "<mark>  - key: ease</mark>" in refused.text
    assert "type: stars" in refused.text.split('name="source"')[1], "the text is kept"
    assert store_of(console).draft("health").bundle.source == with_range(HEALTH)
    renamed = post(admin, "/console/surveys/health/source", csrf,
                   source=with_range(HEALTH).replace("id: health", "id: other"))
    assert renamed.status_code == 400 and "the id must stay &#39;health&#39; here" in renamed.text
    assert store_of(console).draft("other") is None
    edited = with_range(HEALTH).replace("range: [0, 50]", "range: [0, 60]")
    saved = post(admin, "/console/surveys/health/source", csrf, source=edited.replace("\n", "\r\n"))
    assert saved.headers["location"] == "/console/surveys/health?done=saved"
    assert store_of(console).draft("health").bundle.source == edited
    assert actions(console)[-1] == ("survey_source_edited", "survey health")


def test_the_question_form_changes_english_texts_and_the_next_version_asks_them(admin_console):
    console = admin_console
    admin, csrf = signed_in_admin(console)
    assert post(admin, "/console/surveys/demo/draft", csrf, version="1").status_code == 303
    form = admin.get("/console/surveys/demo/questions")
    assert form.status_code == 200 and "comments are not kept" in form.text
    assert "<code>access</code> <span class=\"badge\">scale</span>" in form.text
    fields = dict(re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>\n(.*?)</textarea>',
                             form.text, re.DOTALL))
    demo = store_of(console).published_survey("demo")
    assert fields["q0.text"] == demo.question("access").text["en"]
    assert fields["q1.o1"] == "Sometimes" and fields["q0.min"] == "very hard"
    draft_hash = re.search(r'name="draft_hash" value="([^"]+)"', form.text).group(1)
    # An empty text is refused, and what was typed comes back.
    empty = {**fields, "csrf_token": csrf, "draft_hash": draft_hash, "q1.o1": " ",
             "q0.text": "How easy is it to get care?"}
    refused = admin.post("/console/surveys/demo/questions", data=empty)
    assert refused.status_code == 400 and "Write the English text: it cannot be empty." in refused.text
    assert "How easy is it to get care?" in refused.text
    changed = {**fields, "csrf_token": csrf, "draft_hash": draft_hash,
               "q0.text": "How easy is it to get care?", "q1.o1": "Now and then",
               "q0.max": "really easy"}
    saved = admin.post("/console/surveys/demo/questions", data=changed)
    assert saved.status_code == 303, saved.text
    draft = store_of(console).draft("demo")
    assert draft is not None and "How easy is it to get care?" in draft.bundle.source
    assert "Texts edited in the console" in draft.bundle.source
    stale = admin.post("/console/surveys/demo/questions", data=changed)
    assert stale.status_code == 409 and "The draft was changed by" in stale.text
    before = answered(console)
    assert before["access"] > 0 and before["info_language"] > 0
    assert post(admin, "/console/surveys/demo/publish", csrf).headers["location"].endswith(
        "published=2&new=1")
    # The seeded answers (version 1) count under the same keys with version 2 live.
    assert answered(console) == before
    live = store_of(console).published_survey("demo")
    assert live.version == 2
    assert live.question("access").text["en"] == "How easy is it to get care?"
    assert live.question("access").scale["max"]["en"] == "really easy"
    sometimes = live.question("info_language").options[1]
    assert sometimes.key == "sometimes" and sometimes.text["en"] == "Now and then"
    # Other languages and other options are as they were.
    assert live.languages == demo.languages
    assert live.question("access").text["pl"] == demo.question("access").text["pl"]
    assert [o.text for o in live.question("got_interpreter").options] == [
        o.text for o in demo.question("got_interpreter").options]
    assert ("survey_texts_edited", "survey demo") in actions(console)
    # The officers' pages show what was published from the console.
    officer = console.signed_in(OFFICER_EMAIL)
    results = officer.get("/console/results?survey=demo")
    assert results.status_code == 200 and "How easy is it to get care?" in results.text


def test_rewrite_texts_keeps_other_languages_and_unshares_aliases():
    source = (
        "id: s\n_no: &prefer\n  key: prefer_not\n  text: {en: Prefer not to say, pl: Wolę nie}\n"
        "questions:\n"
        "  - key: a\n    type: single\n    text: A?\n    options:\n"
        "      - {key: x, text: X}\n      - *prefer\n"
        "  - key: b\n    type: single\n    text: {en: 'B?', pl: 'Be?'}\n    options:\n"
        "      - {key: 'yes', text: 'Yes'}\n      - *prefer\n")
    out = survey_pages.rewrite_texts(source, {"q0.o1": "Rather not", "q1.text": "Bee?"})
    data = yaml.safe_load(out)
    assert "_no" not in data and "&" not in out and "*prefer" not in out
    a, b = data["questions"]
    assert a["text"] == "A?" and a["options"][1]["text"] == {"en": "Rather not", "pl": "Wolę nie"}
    assert b["options"][1]["text"] == {"en": "Prefer not to say", "pl": "Wolę nie"}
    assert b["text"] == {"en": "Bee?", "pl": "Be?"} and b["options"][0]["key"] == "yes"


def test_the_question_form_adds_an_option(console):
    admin, csrf = signed_in_admin(console)
    choice = with_range(HEALTH).replace(
        "    type: yesno\n", "    type: single\n    options:\n"
        "      - {key: jab, text: {en: 'Yes'}}\n      - {key: no_jab, text: {en: Not yet}}\n")
    assert upload_file(admin, csrf, choice).status_code == 303
    form = admin.get("/console/surveys/health/questions").text
    assert 'name="q0.new_key"' in form and 'name="q2.new_key"' not in form, "choice questions only"
    fields = dict(re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>\n(.*?)</textarea>',
                             form, re.DOTALL))
    base = {**fields, "csrf_token": csrf,
            "draft_hash": re.search(r'name="draft_hash" value="([^"]+)"', form).group(1)}
    half = admin.post("/console/surveys/health/questions", data={**base, "q0.new_key": "booked"})
    assert half.status_code == 400 and "a new option needs both a key and an English text" in half.text
    assert 'value="booked"' in half.text, "what was typed comes back"
    bad_key = admin.post("/console/surveys/health/questions",
                         data={**base, "q0.new_key": "jab", "q0.new_text": "Booked"})
    assert bad_key.status_code == 400 and "jab" in bad_key.text
    assert len(store_of(console).draft_survey("health").question("flu_jab").options) == 2
    saved = admin.post("/console/surveys/health/questions",
                       data={**base, "q0.new_key": "booked", "q0.new_text": "Booked, not yet had"})
    assert saved.status_code == 303, saved.text
    assert post(admin, "/console/surveys/health/publish", csrf).status_code == 303
    options = store_of(console).published_survey("health").question("flu_jab").options
    assert [(o.key, o.text["en"]) for o in options] == [
        ("jab", "Yes"), ("no_jab", "Not yet"), ("booked", "Booked, not yet had")]
    assert ("survey_texts_edited", "survey health") in actions(console)


def test_a_draft_that_would_drop_languages_says_which_before_publishing(console):
    """The flow uploaded without its language files: the live version's 19 other languages
    would be lost, and the survey page says so (with where to add them) before publishing."""
    admin, csrf = signed_in_admin(console)
    demo = (Path(__file__).resolve().parents[2] / "surveys" / "demo.yml").read_text("utf-8")
    assert upload_file(admin, csrf, demo, name="demo.yml").status_code == 303
    page = admin.get("/console/surveys/demo").text
    notice = re.search(r'<div class="notice warn" id="dropped-languages">(.*?)</div>', page, re.S)
    assert notice, "no warning about the languages the draft drops"
    assert "19 languages of version 1 are not in this draft" in notice.group(1)
    assert "ar, bg, bn, ckb" in notice.group(1)
    # With the Arabic file back, Arabic is no longer listed.
    arabic = (Path(__file__).resolve().parents[2] / "surveys" / "demo" / "ar.yml").read_text("utf-8")
    assert upload_file(admin, csrf, demo, name="demo.yml",
                       languages={"ar.yml": arabic}).status_code == 303
    notice = re.search(r'id="dropped-languages">(.*?)</div>', admin.get("/console/surveys/demo").text,
                       re.S)
    assert notice and "18 languages" in notice.group(1) and "ar," not in notice.group(1)

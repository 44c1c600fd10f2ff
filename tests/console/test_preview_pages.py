"""The console's preview pages: an admin walks the demo survey's draft in Arabic over SMS with
the real Rasa server and model (the session's `rasa_server`) and the real engine; the page
shows the Arabic replies with their SMS cost, what was understood and stored, and the
database's contacts, conversations, messages and answers are untouched. Previews are the
admin's own, can end, and a Rasa server that does not answer is said plainly."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.console import accounts
from bot.console.tables import AuditEntry
from bot.settings import PROJECT_ROOT
from bot.storage.tables import Answer, Contact, Conversation, Message
from bot.survey.store import Bundle, SurveyStore
from bot.texts.catalogue import Catalogue
from tests.console.conftest import ADMIN_EMAIL, CLI, OFFICER_EMAIL, PASSWORD, Console, csrf_of
from tests.e2e.harness import free_port

CATALOGUE = Catalogue.load()


class Server:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture
def previewing(console: Console, rasa_server) -> Console:
    """The console with the demo survey published as version 1 and a draft of it, and the
    session's Rasa server as the app's own."""
    store = SurveyStore(console.db)
    bundle = Bundle.from_path(PROJECT_ROOT / "surveys" / "demo.yml")
    assert store.upload(bundle, "test").ok
    store.publish("demo", "test")
    assert store.upload(bundle, "test").ok
    console.app.state.surveys = store
    console.app.state.rasa_server = Server(rasa_server.url)
    return console


def counts(console: Console) -> dict[str, int]:
    with console.db.read() as session:
        return {t.__name__: session.scalar(select(func.count()).select_from(t)) or 0
                for t in (Contact, Conversation, Message, Answer)}


def start(client: TestClient, target: str = "demo@draft", language: str = "ar",
          channel: str = "sms") -> str:
    form = client.get("/console/preview")
    assert form.status_code == 200
    response = client.post("/console/preview", data={
        "csrf_token": csrf_of(form.text), "target": target, "language": language,
        "channel": channel})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def say(client: TestClient, page: str, text: str) -> str:
    csrf = csrf_of(client.get(page).text)
    response = client.post(f"{page}/say", data={"csrf_token": csrf, "text": text})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{page}#last"
    shown = client.get(page)
    assert shown.status_code == 200
    return unescape(shown.text)


def test_officers_may_not_preview(previewing: Console) -> None:
    admin = previewing.signed_in(ADMIN_EMAIL)
    page = start(admin)
    officer = previewing.signed_in(OFFICER_EMAIL)
    csrf = csrf_of(officer.get("/console/").text)
    assert officer.get("/console/preview").status_code == 403
    assert officer.get(page).status_code == 403
    for path in ("/console/preview", f"{page}/say", f"{page}/restart", f"{page}/end"):
        response = officer.post(path, data={"csrf_token": csrf, "target": "demo@draft",
                                            "text": "hello"})
        assert response.status_code == 403, path
    assert "Preview" not in re.findall(r'<nav aria-label="Main">.*?</nav>',
                                       officer.get("/console/").text, re.S)[0]


def test_the_draft_in_arabic_over_sms_with_the_real_model(previewing: Console) -> None:
    before = counts(previewing)
    assert before["Conversation"] > 0, "the seeded conversations are there to stay unchanged"
    admin = previewing.signed_in(ADMIN_EMAIL)
    form = unescape(admin.get("/console/preview?survey=demo&version=draft").text)
    assert 'value="demo@draft" selected' in form
    assert ">demo: version 1 (published)<" in form
    assert "العربية (ar)" in form and "As a new person" in form
    page = start(admin)

    hello = say(admin, page, "مرحبا")
    intro = CATALOGUE.dress(CATALOGUE.text("intro", "ar"), "ar")
    assert intro.strip("\u200f") in hello
    assert 'class="bubble person"' in hello and 'dir="auto"' in hello and 'lang="ar"' in hello
    assert re.search(r"UCS-2 · [12] segments?", hello)

    yes = say(admin, page, "نعم")  # consent, understood by the model
    assert "understood: <span class=\"mono\">affirm</span>" in yes
    survey = SurveyStore(previewing.db).draft_survey("demo")
    assert survey.question("access").text_in("ar") in yes

    four = say(admin, page, "٤")  # an answer in Arabic-Indic digits
    assert re.search(r'stored: <span class="mono">access</span> = 4 \(answered\)', four)
    assert survey.question("info_language").text_in("ar") in four
    assert four.count("UCS-2 · ") >= 3 and "over 2 segments" not in four

    assert counts(previewing) == before, "a preview writes no contact, conversation or answer"
    with previewing.db.read() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "preview_started")).one()
    assert entry.actor == ADMIN_EMAIL and entry.detail == {
        "survey": "demo", "version": "draft", "language": "ar", "channel": "sms"}

    # Restart: the same survey and settings from the start; End: gone.
    csrf = csrf_of(admin.get(page).text)
    restarted = admin.post(f"{page}/restart", data={"csrf_token": csrf})
    assert restarted.status_code == 303
    fresh = restarted.headers["location"]
    assert fresh != page and admin.get(page).status_code == 404
    assert "No messages yet" in admin.get(fresh).text
    ended = admin.post(f"{fresh}/end", data={"csrf_token": csrf})
    assert ended.status_code == 303 and ended.headers["location"] == "/console/preview?done=ended"
    assert admin.get(fresh).status_code == 404
    assert "The preview has ended." in admin.get(ended.headers["location"]).text


def test_a_new_person_gets_the_menu_and_its_cost_is_flagged(previewing: Console) -> None:
    """No language chosen and a first message in no clear language: the language menu, which
    names every language in its own script (UCS-2, over 2 segments): flagged."""
    admin = previewing.signed_in(ADMIN_EMAIL)
    page = start(admin, target="demo@1", language="")
    shown = say(admin, page, "👋")
    assert "started as a new person" in shown
    assert "ትግርኛ" in shown and "over 2 segments" in shown
    polish = say(admin, page, "Dzień dobry")
    assert "Polski (pl)" in polish, "the language is now the one chosen or detected"


def test_whatsapp_has_no_segments_and_a_detected_language(previewing: Console) -> None:
    admin = previewing.signed_in(ADMIN_EMAIL)
    page = start(admin, target="demo@1", language="", channel="whatsapp")
    shown = say(admin, page, "Dzień dobry")
    assert "WhatsApp" in shown and "segment" not in shown.split('class="phone"')[1]
    assert "Polski (pl)" in shown and 'lang="pl"' in shown


def test_previews_are_per_admin(previewing: Console) -> None:
    with previewing.db.transaction() as session:
        accounts.create(session, CLI, "other@example.org", "admin", PASSWORD, name="Other")
    mine = previewing.signed_in(ADMIN_EMAIL)
    page = start(mine)
    other = previewing.signed_in("other@example.org")
    assert other.get(page).status_code == 404
    csrf = csrf_of(other.get("/console/preview").text)
    assert other.post(f"{page}/say", data={"csrf_token": csrf, "text": "hi"}).status_code == 404
    assert other.post(f"{page}/end", data={"csrf_token": csrf}).status_code == 404
    assert mine.get(page).status_code == 200, "still there for its owner"
    gone = other.get("/console/preview/no-such-id")
    assert gone.status_code == 404 and "forgotten after 30 minutes" in gone.text


def test_bad_choices_and_rasa_not_answering_keep_the_input(previewing: Console) -> None:
    admin = previewing.signed_in(ADMIN_EMAIL)
    csrf = csrf_of(admin.get("/console/preview").text)
    for target, language, channel, error in (
        ("demo@7", "ar", "sms", "has no version 7"),
        ("nosuch@draft", "ar", "sms", "has no draft"),
        ("demo@1", "xx", "sms", "not one of the bot's languages"),
        ("demo@1", "ar", "fax", "Choose SMS or WhatsApp"),
    ):
        response = admin.post("/console/preview", data={
            "csrf_token": csrf, "target": target, "language": language, "channel": channel})
        assert response.status_code == 400 and error in unescape(response.text), target

    previewing.app.state.rasa_server = Server(f"http://127.0.0.1:{free_port()}")
    page = start(admin)
    csrf = csrf_of(admin.get(page).text)
    empty = admin.post(f"{page}/say", data={"csrf_token": csrf, "text": "  "})
    assert empty.status_code == 400 and "Type a message" in empty.text
    response = admin.post(f"{page}/say", data={"csrf_token": csrf, "text": "سلام عليكم"})
    assert response.status_code == 503
    assert "did not answer" in response.text
    assert 'value="سلام عليكم"' in unescape(response.text), "what was typed is kept"
    assert "No messages yet" in response.text


def test_a_language_the_version_lacks_is_said(previewing: Console) -> None:
    bundle = Bundle.from_path(PROJECT_ROOT / "surveys" / "demo.yml")
    files = {k: v for k, v in bundle.files.items() if not k.startswith("ar.")}
    store = SurveyStore(previewing.db)
    assert store.upload(Bundle(bundle.name, bundle.source, files), "test").ok
    admin = previewing.signed_in(ADMIN_EMAIL)
    draft = unescape(admin.get(start(admin, "demo@draft", "ar")).text)
    assert "no complete texts in العربية (ar)" in draft
    published = unescape(admin.get(start(admin, "demo@1", "ar")).text)
    assert "no complete texts" not in published

"""Issue 5's path in a real browser, as an admin would walk it from the README: the bot runs
(`listening-bot serve`: SQLite, its own Rasa, local mode); a person starts the demo survey
(version 1) with `listening-bot chat` and stops part-way; the admin signs in, uploads version 2
of the flow with a YAML mistake and sees the error with its line, fixes it in the page and
uploads again, machine-translates the one new Arabic text, previews the draft in Arabic over
SMS (segment counts shown), and publishes it. A new person texting the new keyword gets
version 2; the person part-way through finishes version 1.

One app and one browser serve every test in this file, in order. Each page is saved as a PNG
under test-artifacts/surveys/ for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.storage.tables import Conversation
from tests.console.browser_support import Bot, chromium, new_page, running_bot
from tests.e2e.harness import ROOT

pytestmark = pytest.mark.e2e

SHOTS = ROOT / "test-artifacts" / "surveys"
ADMIN_EMAIL = "surveys@example.nhs.uk"
ADMIN_PASSWORD = "publishing with care 2026"
OLD_PERSON, NEW_PERSON = "+447700900811", "+447700900812"
GP_QUESTION = "How many times did you see a GP in the last year?"

DEMO = (ROOT / "surveys" / "demo.yml").read_text(encoding="utf-8")
# Version 2: a keyword, and a number question after the first one.
FIXED = DEMO.replace("id: demo\n", "id: demo\nkeywords: [LISTEN]\n", 1).replace(
    "  - key: info_language\n",
    "  - key: gp_visits\n    type: number\n    range: [0, 50]\n"
    f'    text: {{en: "{GP_QUESTION}"}}\n\n'
    "  - key: info_language\n", 1)
BROKEN = FIXED.replace(f'{{en: "{GP_QUESTION}"}}', f'{{en: "{GP_QUESTION}"', 1)  # no closing }
BROKEN_LINE = BROKEN.splitlines().index(f'    text: {{en: "{GP_QUESTION}"') + 1


@pytest.fixture(scope="module")
def bot(rasa_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    with running_bot(tmp_path_factory.mktemp("surveys-bot")) as running:
        yield running


@pytest.fixture(scope="module")
def page(bot: Bot):
    with chromium(SHOTS) as browser:
        context, page = new_page(browser, bot.url)
        page.on("dialog", lambda dialog: dialog.accept())  # "Publish the draft?" and the like
        yield page
        context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def conversations(bot: Bot) -> list[tuple[str, int, str]]:
    """(survey, version, stage) of every conversation, oldest first."""
    engine = create_engine(f"sqlite:///{Path(bot.env['DATA_DIR']) / 'listening.db'}")
    try:
        with Session(engine) as session:
            rows = session.execute(select(Conversation.survey_id, Conversation.survey_version,
                                          Conversation.stage).order_by(Conversation.id))
            return [tuple(r) for r in rows]  # type: ignore[misc]
    finally:
        engine.dispose()


def test_a_person_starts_version_1_and_stops_part_way(bot):
    said = bot.chat(OLD_PERSON, "Hello, I would like to answer your survey please", "yes", "4",
                    "always")
    assert "did you need an interpreter" in said, said[-2000:]
    assert conversations(bot) == [("demo", 1, "question")]


def test_the_admin_signs_in(bot, page):
    made = bot.cli("create-admin", "--email", ADMIN_EMAIL, "--name", "Survey admin",
                   stdin=ADMIN_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    page.goto("/console/sign-in")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    page.get_by_role("link", name="Surveys", exact=True).click()
    page.wait_for_url("**/console/surveys")
    demo = page.locator("tr", has=page.get_by_role("link", name="demo", exact=True))
    assert re.sub(r"\s+", " ", demo.inner_text()).split(" ")[:1] == ["demo"]
    assert demo.locator("td.num").first.inner_text() == "1", "version 1 is live"
    shot(page, "01-surveys")


def test_a_flow_with_a_mistake_shows_the_error_and_stores_nothing(page, tmp_path):
    flow = tmp_path / "demo.yml"
    flow.write_text(BROKEN, encoding="utf-8")
    page.set_input_files("#up-flow", str(flow))
    page.set_input_files("#up-langs", [str(ROOT / "surveys" / "demo" / f"{lang}.yml")
                                       for lang in ("ar", "pl")])
    page.get_by_role("button", name="Check and upload as draft").click()
    alert = page.get_by_role("alert")
    assert "nothing was saved" in alert.inner_text()
    assert f"line {BROKEN_LINE}" in alert.inner_text(), alert.inner_text()
    assert page.locator("pre.excerpt .ln.bad mark").inner_text().strip() == \
        f'text: {{en: "{GP_QUESTION}"'
    shot(page, "02-upload-error")
    # Nothing stored: still no draft, and the YAML is on the page to fix.
    demo = page.locator("tr", has=page.get_by_role("link", name="demo", exact=True))
    assert "draft" not in demo.inner_text()
    assert page.locator("#up-source").input_value().strip() == BROKEN.strip()


def test_the_fixed_flow_becomes_the_draft(page):
    page.locator("#up-source").fill(FIXED)
    page.get_by_role("button", name="Check and upload as draft").click()
    page.wait_for_url(re.compile(r".*/console/surveys/demo(\?.*)?$"))
    draft = page.locator("section", has=page.get_by_role("heading", name="Draft"))
    assert "valid" in draft.inner_text()
    # Arabic's file misses the new question, so Arabic is left out of the draft for now.
    warnings = draft.locator(".notice.warn", has_text="Warnings").inner_text()
    assert "gp_visits" in warnings and "ar" in warnings, warnings
    # Only Arabic and Polish came with the flow, and both miss the new text: the page says
    # which of version 1's languages would be lost.
    dropped = page.locator("#dropped-languages").inner_text()
    assert "19 languages of version 1 are not in this draft: ar, bg" in dropped, dropped
    shot(page, "03-draft")


def test_the_missing_arabic_text_is_machine_translated(page, bot):
    page.locator("a.button", has_text="Texts by language").click()
    page.wait_for_url("**/console/surveys/demo/languages")
    shot(page, "04-languages")
    page.goto("/console/surveys/demo/languages/ar")
    before = len(bot.libre.requests)
    page.get_by_role("button", name="Machine-translate the 1 missing text").click()
    page.wait_for_url("**/console/surveys/demo/translation")
    done = page.locator("#translation-status .notice.ok")
    done.wait_for(timeout=30_000)  # the page follows the run by itself
    assert "1 texts translated" in done.inner_text()
    assert [r["q"] for r in bot.libre.requests[before:]] == [GP_QUESTION]
    shot(page, "05-translated")
    page.goto("/console/surveys/demo/languages/ar")
    row = page.locator("tr", has_text="gp_visits")
    assert row.locator("textarea").input_value() == f"[en->ar] {GP_QUESTION}"
    assert "machine" in row.inner_text()
    shot(page, "06-arabic-texts")
    page.goto("/console/surveys/demo")
    warnings = page.locator("section", has=page.get_by_role("heading", name="Draft")).locator(
        ".notice.warn", has_text="Warnings")
    assert "'ar'" not in warnings.inner_text() and "'pl'" in warnings.inner_text()
    dropped = page.locator("#dropped-languages").inner_text()
    assert "18 languages" in dropped and "ar," not in dropped, dropped


def test_the_draft_is_previewed_in_arabic_over_sms(page, bot):
    page.get_by_role("link", name="Preview the draft").click()
    page.wait_for_url("**/console/preview?*")
    page.get_by_label("Language").select_option("ar")
    page.locator("#p-channel-sms").check()
    page.get_by_role("button", name="Start the preview").click()
    page.wait_for_url(re.compile(r".*/console/preview/[^/?]+$"))
    assert "draft" in page.get_by_role("heading", level=1).inner_text()
    rows_before = conversations(bot)
    for text in ("مرحبا", "نعم", "٣", "٤"):
        page.get_by_label("Message from the person").fill(text)
        page.get_by_role("button", name="Send").click()
        page.locator("li.turn", has_text=text).last.wait_for()
    turns = page.locator("li.turn")
    assert turns.count() == 4
    # Consent in Arabic, then the first question; "3" answers it and the new question follows.
    assert re.search(r"[\u0600-\u06FF]", turns.nth(0).locator(".bubble.bot").first.inner_text())
    assert f"[en->ar] {GP_QUESTION}" in turns.nth(2).inner_text()
    assert "stored: gp_visits = 4" in turns.nth(3).inner_text()
    costs = page.locator(".sms-cost").all_inner_texts()
    assert costs and all(re.match(r"UCS-2 · \d+ segments?", c) for c in costs), costs
    shot(page, "07-preview-arabic-sms")
    assert conversations(bot) == rows_before, "a preview stores no conversation"


def test_the_draft_is_published(page):
    page.goto("/console/surveys/demo")
    page.get_by_role("button", name="Publish draft").click()
    status = page.get_by_role("status")
    status.wait_for()
    assert "2" in status.inner_text(), status.inner_text()
    assert "Version 2 is live" in page.locator("p.lead").inner_text()
    assert "LISTEN" in page.locator("p.lead").inner_text()
    shot(page, "08-published")


def test_a_new_person_texting_the_keyword_gets_version_2(bot):
    said = bot.chat(NEW_PERSON, "LISTEN", "1", "yes", "3")
    assert GP_QUESTION in said, said[-2000:]
    assert ("demo", 2, "question") in conversations(bot)


def test_the_person_part_way_finishes_version_1(bot):
    said = bot.chat(OLD_PERSON, "no", "3", "5", "More interpreters at the clinic", "4", "5", "3",
                    "IP4 2AB")
    assert "Thank you very much!" in said, said[-2000:]
    assert GP_QUESTION not in said
    assert conversations(bot)[0] == ("demo", 1, "completed")


def test_the_console_shows_both_versions(page):
    page.goto("/console/surveys/demo")
    history = page.locator("section", has=page.get_by_role("heading", name="Publication history"))
    versions = [int(v) for v in history.locator("td.num").all_inner_texts()]
    assert versions == [2, 1], "newest first"
    live = page.locator("section", has=page.get_by_role("heading", name="Versions")).locator(
        "tr", has=page.locator(".badge", has_text="live"))
    assert live.locator("td.num").first.inner_text() == "2"
    shot(page, "09-versions")

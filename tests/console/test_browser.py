"""The console in a real browser, as a new user meets it: `listening-bot serve` (SQLite, its own
Rasa, local mode), two people chat with `listening-bot chat`, the first admin is made with
`listening-bot create-admin` as the README says, then Debian's Chromium (driven by Playwright)
signs in, reads the charts, filters, opens a transcript and downloads the exports.

One app and one browser serve every test in this file, in order. Each page is saved as a PNG
under test-artifacts/console/ for a person to look at.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.console.browser_support import Bot, chromium, new_page, running_bot
from tests.e2e.harness import ROOT

pytestmark = pytest.mark.e2e

SHOTS = ROOT / "test-artifacts" / "console"
ADMIN_EMAIL = "lead@example.nhs.uk"
ADMIN_PASSWORD = "listening to people 2026"
POLISH_NUMBER, ENGLISH_NUMBER = "+447700900801", "+447700900802"
POLISH_CHAT = ["Dzień dobry", "tak", "2", "czasami", "nie", "3", "5",
               "Więcej tłumaczy w przychodni", "4", "5", "3", "IP4 2AB"]
ENGLISH_CHAT = ["Hello, I would like to answer your survey please", "yes", "4", "always"]  # stops early


@pytest.fixture(scope="module")
def bot(rasa_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    with running_bot(tmp_path_factory.mktemp("console-bot")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(bot: Bot):
    with chromium(SHOTS) as launched:
        yield launched


@pytest.fixture(scope="module")
def page(browser, bot: Bot):
    context, page = new_page(browser, bot.url)
    yield page
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_people_answer_with_listening_bot_chat(bot):
    polish = bot.cli("chat", "--number", POLISH_NUMBER, "--timeout", "20",
                     stdin="\n".join(POLISH_CHAT) + "\n")
    assert polish.returncode == 0, polish.stderr
    assert "< Bardzo dziękujemy!" in polish.stdout, polish.stdout[-2000:]
    english = bot.cli("chat", "--channel", "whatsapp", "--number", ENGLISH_NUMBER, "--timeout", "20",
                      stdin="\n".join(ENGLISH_CHAT) + "\n")
    assert english.returncode == 0, english.stderr
    assert "did you need an interpreter" in english.stdout, english.stdout[-2000:]
    assert "(no reply)" not in polish.stdout + english.stdout


def test_the_first_admin_is_made_as_the_readme_says(bot):
    readme = (ROOT / "README.md").read_text()
    assert "listening-bot create-admin --email" in readme
    made = bot.cli("create-admin", "--email", ADMIN_EMAIL, "--name", "Engagement lead",
                   stdin=ADMIN_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert f"{bot.url}/console/" in made.stdout


def test_sign_in(page, bot):
    page.goto("/console/")
    assert page.url.endswith("/console/sign-in"), "signed out: sent to sign in"
    # Keyboard only: the email field has the focus, Tab goes to the password, then the button.
    focused = "document.activeElement.id || document.activeElement.textContent"
    assert page.evaluate(focused) == "email"
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "password"
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "Sign in"
    shot(page, "01-sign-in")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert "That email and password do not match an account." in page.get_by_role("alert").inner_text()
    shot(page, "02-sign-in-failed")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url("**/console/")
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"


def test_overview_counts_the_conversations(page):
    stats = page.get_by_role("region", name="Totals")
    assert re.sub(r"\s+", " ", stats.inner_text()).startswith("2 conversations 2 agreed and started the questions 1 completed 50%")
    chart = page.locator("svg.days title").last.text_content()
    assert re.match(r"\d{4}-\d\d-\d\d: 2 started, 1 completed", chart), chart
    by_language = page.get_by_role("region", name="By language")
    assert "Polish (pl)" in by_language.inner_text() and "English (en)" in by_language.inner_text()
    waiting = page.locator("tr", has=page.locator("text=needed_interpreter"))
    assert waiting.locator("td.num").nth(3).inner_text() == "1", "the English chat waits there"
    shot(page, "03-overview")


def test_results_show_the_answer_in_the_charts_and_filter(page):
    page.get_by_role("link", name="Results").click()
    page.wait_for_url("**/console/results")
    access = page.locator("#q-access")
    row = access.locator("tr", has=page.locator("th", has_text=re.compile(r"^2$")))
    assert row.locator("td.num").first.inner_text() == "1", "the Polish answer 2 is in the bar chart"
    assert access.locator("tr", has=page.locator("th", has_text=re.compile(r"^4$"))).locator(
        "td.num").first.inner_text() == "1"
    # The free-text answer, beside its English (translated in the background: wait for it).
    one_thing = page.locator("#q-one_thing")
    deadline = time.monotonic() + 30
    while "More interpreters at the clinic" not in one_thing.inner_text() and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    assert "Więcej tłumaczy w przychodni" in one_thing.inner_text()
    assert "More interpreters at the clinic" in one_thing.inner_text()
    shot(page, "04-results")

    page.get_by_label("Language", exact=True).select_option("en")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**/console/results?*language=en*")
    assert "No answers yet." in page.locator("#q-one_thing").inner_text()
    row = page.locator("#q-access tr", has=page.locator("th", has_text=re.compile(r"^2$")))
    assert row.locator("td.num").first.inner_text() == "0", "the Polish answer is filtered out"
    shot(page, "05-results-filtered-english")


def test_conversations_search_and_transcript(page):
    page.get_by_role("link", name="Conversations").click()
    page.wait_for_url("**/console/conversations")
    assert "2 conversations" in page.get_by_role("heading", level=2, name=re.compile("conversation")).inner_text()
    shot(page, "06-conversations")
    page.get_by_label("Search").fill("tłumaczy")
    page.get_by_role("button", name="Search").click()
    assert "1 conversation matching" in page.locator("#list-heading").inner_text()
    page.get_by_role("link", name=re.compile("^Transcript")).click()
    page.wait_for_url(re.compile(r".*/console/conversations/\d+$"))
    text = page.locator("main").inner_text()
    said = [text.index(line) for line in ("Dzień dobry", "Więcej tłumaczy w przychodni", "Bardzo dziękujemy!")]
    assert said == sorted(said), "messages in order"
    english = page.locator("table.transcript tr", has_text="Więcej tłumaczy w przychodni").first
    assert "More interpreters at the clinic" in english.inner_text()
    assert page.locator("text=local mode, not sent").count() >= 12, "delivery state of every reply"
    assert re.search(r"\bC[A-Z0-9]{5,}\b", page.locator("h1").inner_text()), "a pseudonym"
    for number in (POLISH_NUMBER, POLISH_NUMBER.lstrip("+"), "7700900801"):
        assert number not in page.content()
    shot(page, "07-transcript")


def test_export_downloads_hold_the_answer(page, tmp_path):
    page.get_by_role("link", name="Export").click()
    page.wait_for_url("**/console/export")
    shot(page, "08-export")
    files = {}
    for label, fmt in (("Excel (.xlsx)", "xlsx"), ("CSV", "csv"), ("JSON", "json")):
        with page.expect_download() as info:
            page.get_by_role("link", name=label, exact=True).click()
        files[fmt] = tmp_path / info.value.suggested_filename
        info.value.save_as(files[fmt])
        assert files[fmt].name.startswith("demo-answers-") and files[fmt].suffix == f".{fmt}"
    sheet = load_workbook(files["xlsx"], read_only=True).active
    table = [["" if c is None else c for c in r] for r in sheet.iter_rows(values_only=True)]
    xlsx = {r[table[0].index("language")]: dict(zip(table[0], r, strict=True)) for r in table[1:]}
    rows_csv = {r["language"]: r for r in csv.DictReader(io.StringIO(files["csv"].read_text()))}
    rows_json = {r["language"]: r for r in json.loads(files["json"].read_text())}
    for rows in (xlsx, rows_csv, rows_json):
        polish = rows["pl"]
        assert (polish["access"], polish["info_language"], polish["stage"]) == ("2", "sometimes", "completed")
        assert polish["one_thing"] == "Więcej tłumaczy w przychodni"
        assert polish["one_thing_en"] == "More interpreters at the clinic"
        assert rows["en"]["access"] == "4" and rows["en"]["stage"] == "question"
    everything = "".join(p.read_bytes().decode("latin-1") for p in files.values())
    assert "447700900" not in everything


def test_admin_pages_accounts_audit_and_tokens(page, browser, bot):
    page.get_by_role("link", name="Accounts").click()
    page.get_by_label("Email").fill("officer@example.nhs.uk")
    page.get_by_label("Name").fill("Amira Officer")
    page.get_by_role("button", name="Add account").click()
    temporary = page.locator("#temp-password").inner_text().strip()
    assert len(temporary) >= 12
    shot(page, "09-accounts")

    page.get_by_role("link", name="Audit log").click()
    log = page.locator("main").inner_text()
    for action in ("sign in failed", "sign in", "transcript view", "export", "account created"):
        assert action in log
    shot(page, "10-audit-log")

    page.goto("/console/account")
    page.get_by_label("Token name").fill("weekly report")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text().strip()
    assert secret.startswith("lbt_")
    page.locator("main").evaluate(  # the screenshot must not hold a working token
        "(main, secret) => { main.innerHTML = main.innerHTML.replaceAll(secret, 'lbt_…hidden…') }", secret)
    shot(page, "11-my-account")

    import httpx

    me = httpx.get(f"{bot.url}/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["email"] == ADMIN_EMAIL

    page.goto("/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Listening Bot" in page.locator(".swagger-ui .info .title").inner_text()
    shot(page, "12-api-docs")

    # The new officer, on a tablet: a temporary password must be changed first; no admin menu.
    tablet = browser.new_context(base_url=bot.url, viewport={"width": 820, "height": 1180},
                                 locale="en-GB", has_touch=True)
    officer = tablet.new_page()
    officer.goto("/console/sign-in")
    officer.get_by_label("Email").fill("officer@example.nhs.uk")
    officer.get_by_label("Password").fill(temporary)
    officer.get_by_role("button", name="Sign in").click()
    officer.wait_for_url("**/console/account")
    officer.get_by_label("Current password").fill(temporary)
    officer.get_by_label("New password", exact=False).first.fill("amira's own passphrase")
    officer.get_by_label("New password again").fill("amira's own passphrase")
    officer.get_by_role("button", name="Change password").click()
    officer.wait_for_url("**/console/account?done=password")
    officer.goto("/console/")
    menu = officer.get_by_role("navigation", name="Main").inner_text()
    assert "Overview" in menu and "Accounts" not in menu and "Audit log" not in menu
    shot(officer, "13-tablet-overview-officer")
    officer.goto("/console/conversations")
    officer.get_by_role("link", name=re.compile("^Transcript")).first.click()
    shot(officer, "14-tablet-transcript-officer")
    assert officer.goto("/console/admin/accounts").status == 403
    shot(officer, "15-officer-not-allowed")
    tablet.close()

"""The console's pages over HTTP: sign-in (and its failures), sessions and their cookie, CSRF on
every form, who may open which page, account and token forms, audited transcripts and exports."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.console import pages
from bot.console.auth import SESSION_COOKIE, start_session
from bot.console.tables import Account, AuditEntry, ConsoleSession
from tests.console.conftest import ADMIN_EMAIL, OFFICER_EMAIL, PASSWORD, Console, csrf_of

OFFICER, ADMIN, ANYONE = "officer", "admin", "anyone"

PAGES = [  # every console route, the least role it needs
    ("GET", "/console/sign-in", ANYONE),
    ("POST", "/console/sign-in", ANYONE),
    ("POST", "/console/sign-out", OFFICER),
    ("GET", "/console/", OFFICER),
    ("GET", "/console/results", OFFICER),
    ("GET", "/console/conversations", OFFICER),
    ("GET", "/console/conversations/{conversation_id}", OFFICER),
    ("GET", "/console/export", OFFICER),
    ("GET", "/console/export/answers.{fmt}", OFFICER),
    ("GET", "/console/account", OFFICER),
    ("POST", "/console/account/password", OFFICER),
    ("POST", "/console/account/tokens", OFFICER),
    ("POST", "/console/account/tokens/{token_id}/revoke", OFFICER),
    ("GET", "/console/admin/accounts", ADMIN),
    ("POST", "/console/admin/accounts", ADMIN),
    ("POST", "/console/admin/accounts/{account_id}", ADMIN),
    ("POST", "/console/admin/accounts/{account_id}/reset-password", ADMIN),
    ("GET", "/console/admin/audit", ADMIN),
]
GUARDED = [p for p in PAGES if p[2] != ANYONE]


def fill(console: Console, path: str) -> str:
    return path.format(conversation_id=console.conversations["CAAAAA"], fmt="csv", token_id=1,
                       account_id=console.account_ids[OFFICER])


def audit_rows(console: Console, action: str) -> list[AuditEntry]:
    with console.db.read() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.id)))


def test_the_table_names_every_console_route(console):
    routed = {(m, r.path) for r in pages.router.routes if isinstance(r, APIRoute) for m in r.methods}
    assert routed == {(m, p) for m, p, _ in PAGES}


@pytest.mark.parametrize("method,path,role", GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED])
def test_without_a_session_every_page_sends_to_sign_in(console, method, path, role):
    response = console.client().request(method, fill(console, path))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in")


@pytest.mark.parametrize("method,path,role", GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED])
def test_roles_and_csrf_on_every_page(console, method, path, role):
    officer = console.signed_in(OFFICER_EMAIL)
    target = fill(console, path)
    if method == "GET":
        response = officer.get(target)
        if role == ADMIN:
            assert response.status_code == 403 and "This page is for the admin role" in response.text
        else:
            assert response.status_code == 200, response.text
        return
    # A POST without the form's token, or with another session's, changes nothing.
    other = csrf_of(console.signed_in(ADMIN_EMAIL).get("/console/account").text)
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": other}):
        response = officer.post(target, data=data)
        if role == ADMIN:
            assert response.status_code == 403 and "This page is for the admin role" in response.text
        else:
            assert response.status_code == 403 and "The form had expired" in response.text


def test_sign_in_cookie_and_sign_out(console):
    client = console.client()
    form = client.get("/console/sign-in")
    assert 'autocomplete="current-password"' in form.text
    response = client.post("/console/sign-in?next=/console/results",
                           data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": csrf_of(form.text)})
    assert response.status_code == 303 and response.headers["location"] == "/console/results"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = client.cookies[SESSION_COOKIE]
    with console.db.read() as session:
        stored = [s.token_hash for s in session.scalars(select(ConsoleSession))]
    assert stored and token not in stored, "only the token's hash is stored"

    page = client.get("/console/")
    assert page.status_code == 200 and "Admin" in page.text
    signed_out = client.post("/console/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert signed_out.status_code == 303
    stolen = console.client()
    stolen.cookies.set(SESSION_COOKIE, token)
    assert stolen.get("/console/").status_code == 303, "the old cookie no longer signs in"
    assert [r.actor for r in audit_rows(console, "sign_in")] == [ADMIN_EMAIL]
    assert [r.actor for r in audit_rows(console, "sign_out")] == [ADMIN_EMAIL]


def test_cookie_is_secure_behind_https(console):
    console.settings.public_base_url = "https://listening.example.nhs.uk"
    client = TestClient(console.app, base_url="https://testserver", follow_redirects=False)
    form = client.get("/console/sign-in")
    assert "Secure" in form.headers["set-cookie"]
    response = client.post("/console/sign-in", data={
        "email": OFFICER_EMAIL, "password": PASSWORD, "csrf_token": csrf_of(form.text)})
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "Secure" in cookie


def test_failed_sign_ins_are_audited_and_lock_the_email(console):
    client = console.client()
    csrf = csrf_of(client.get("/console/sign-in").text)
    for _ in range(5):
        bad = client.post("/console/sign-in", data={"email": OFFICER_EMAIL, "password": "wrong password!",
                                                    "csrf_token": csrf})
        assert bad.status_code == 401 and "do not match an account" in bad.text
    locked = client.post("/console/sign-in", data={"email": OFFICER_EMAIL, "password": PASSWORD,
                                                   "csrf_token": csrf})
    assert locked.status_code == 401 and "Too many failed attempts" in locked.text
    unknown = client.post("/console/sign-in", data={"email": "nobody@example.org", "password": PASSWORD,
                                                    "csrf_token": csrf})
    assert unknown.status_code == 401 and "do not match an account" in unknown.text
    reasons = [(r.actor, r.detail["reason"]) for r in audit_rows(console, "sign_in_failed")]
    assert reasons == [(OFFICER_EMAIL, "wrong_password")] * 5 + [
        (OFFICER_EMAIL, "locked"), ("nobody@example.org", "unknown_email")]
    assert console.signed_in(ADMIN_EMAIL), "another email is not locked"


def test_sign_in_form_needs_its_csrf_token_and_next_stays_in_the_console(console):
    client = console.client()
    client.get("/console/sign-in")
    missing = client.post("/console/sign-in", data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert missing.status_code == 400 and "had expired" in missing.text
    for evil in ("https://evil.example", "//evil.example", "/elsewhere"):
        form = client.get("/console/sign-in")
        response = client.post(f"/console/sign-in?next={evil}", data={
            "email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": csrf_of(form.text)})
        assert response.headers["location"] == "/console/"


def test_pages_are_private(console):
    page = console.signed_in(OFFICER_EMAIL).get("/console/conversations")
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_new_account_with_a_temporary_password_must_choose_its_own(console):
    admin = console.signed_in(ADMIN_EMAIL)
    csrf = csrf_of(admin.get("/console/admin/accounts").text)
    created = admin.post("/console/admin/accounts", data={
        "email": "Nadia@Example.org", "name": "Nadia", "role": "officer", "csrf_token": csrf})
    assert created.status_code == 200 and "Temporary password for nadia@example.org" in created.text
    temporary = re.search(r'id="temp-password">([^<]+)<', created.text).group(1)
    duplicate = admin.post("/console/admin/accounts", data={
        "email": "nadia@example.org", "role": "officer", "csrf_token": csrf})
    assert duplicate.status_code == 400 and "already exists" in duplicate.text

    nadia = console.client()
    form = nadia.get("/console/sign-in")
    first = nadia.post("/console/sign-in", data={"email": "nadia@example.org", "password": temporary,
                                                 "csrf_token": csrf_of(form.text)})
    assert first.headers["location"] == "/console/account"
    assert nadia.get("/console/results").headers["location"] == "/console/account"
    account = nadia.get("/console/account")
    assert "temporary password" in account.text and "API tokens" not in account.text
    weak = nadia.post("/console/account/password", data={
        "current": temporary, "new": "short", "confirm": "short", "csrf_token": csrf_of(account.text)})
    assert weak.status_code == 400 and "at least 12 characters" in weak.text
    done = nadia.post("/console/account/password", data={
        "current": temporary, "new": "a long new password", "confirm": "a long new password",
        "csrf_token": csrf_of(account.text)})
    assert done.status_code == 303
    assert nadia.get("/console/results").status_code == 200
    assert "Your password is changed" in nadia.get("/console/account?done=password").text
    assert [r.actor for r in audit_rows(console, "password_changed")] == ["nadia@example.org"]
    assert [r.target for r in audit_rows(console, "account_created")][-1] == "nadia@example.org"


def test_admin_disables_an_account_and_its_session_ends(console):
    officer = console.signed_in(OFFICER_EMAIL)
    admin = console.signed_in(ADMIN_EMAIL)
    csrf = csrf_of(admin.get("/console/admin/accounts").text)
    oid = console.account_ids[OFFICER]
    saved = admin.post(f"/console/admin/accounts/{oid}", data={"role": "officer", "csrf_token": csrf})
    assert saved.status_code == 303  # the checkbox unticked: not active
    assert officer.get("/console/").status_code == 303
    with console.db.read() as session:
        assert session.get(Account, oid).active is False
    last_admin = admin.post(f"/console/admin/accounts/{console.account_ids[ADMIN]}",
                            data={"role": "officer", "active": "yes", "csrf_token": csrf})
    assert last_admin.status_code == 400 and "at least one active admin" in last_admin.text
    reset = admin.post(f"/console/admin/accounts/{oid}/reset-password", data={"csrf_token": csrf})
    assert "Temporary password for officer@example.org" in reset.text
    assert [r.detail for r in audit_rows(console, "account_updated")] == [{"active": False}]
    assert [r.target for r in audit_rows(console, "password_reset")] == [OFFICER_EMAIL]


def test_api_token_shown_once_then_revoked(console):
    officer = console.signed_in(OFFICER_EMAIL)
    page = officer.get("/console/account")
    made = officer.post("/console/account/tokens", data={"name": "weekly report",
                                                         "csrf_token": csrf_of(page.text)})
    secret = re.search(r'id="new-token">([^<]+)<', made.text).group(1)
    assert console.api("GET", "/api/v1/me", token=secret).json()["email"] == OFFICER_EMAIL
    again = officer.get("/console/account")
    assert secret not in again.text and secret[:10] in again.text
    token_id = re.findall(r"/console/account/tokens/(\d+)/revoke", again.text)[0]
    revoked = officer.post(f"/console/account/tokens/{token_id}/revoke",
                           data={"csrf_token": csrf_of(again.text)})
    assert revoked.status_code == 303
    assert console.api("GET", "/api/v1/me", token=secret).status_code == 401
    assert [r.target for r in audit_rows(console, "token_created")] == ["weekly report"]
    assert [r.target for r in audit_rows(console, "token_revoked")] == ["weekly report"]


def test_transcript_page_shows_both_languages_and_delivery_and_is_audited(console):
    officer = console.signed_in(OFFICER_EMAIL)
    page = officer.get(f"/console/conversations/{console.conversations['CAAAAA']}")
    assert page.status_code == 200
    assert "Więcej tłumaczy w przychodni" in page.text and "More interpreters at the clinic" in page.text
    assert page.text.index("Dzień dobry! Tu NHS") < page.text.index("Bardzo dziękujemy!")
    assert "delivered" in page.text
    failed = officer.get(f"/console/conversations/{console.conversations['CDDDDD']}")
    assert "translation failed, will retry" in failed.text and "opted out" in failed.text
    whatsapp = officer.get(f"/console/conversations/{console.conversations['CBBBBB']}")
    assert "failed (63016)" in whatsapp.text
    assert officer.get("/console/conversations/99999").status_code == 404
    assert [r.detail["contact"] for r in audit_rows(console, "transcript_view")] == [
        "CAAAAA", "CDDDDD", "CBBBBB"]


def test_results_and_list_pages_apply_filters_and_explain_bad_ones(console):
    officer = console.signed_in(OFFICER_EMAIL)
    results = officer.get("/console/results?language=pl")
    assert results.status_code == 200 and "More interpreters at the clinic" in results.text
    assert '<option value="pl" selected>' in results.text
    listing = officer.get("/console/conversations?channel=whatsapp")
    assert "2 conversations" in listing.text and "CBBBBB" in listing.text and "CAAAAA" not in listing.text
    searched = officer.get("/console/conversations?q=interpreters")
    assert "1 conversation matching" in searched.text and "CAAAAA" in searched.text
    bad = officer.get("/console/results?from=yesterday")
    assert bad.status_code == 200
    assert "These filters could not be used: from must be a date like 2026-11-25" in bad.text


def test_export_download_from_the_page(console):
    officer = console.signed_in(OFFICER_EMAIL)
    page = officer.get("/console/export?completed=yes")
    assert "2 conversations" in page.text
    assert "/console/export/answers.xlsx?survey=demo&amp;completed=yes" in page.text
    download = officer.get("/console/export/answers.csv?survey=demo&completed=yes")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert sorted(r["contact"] for r in rows) == ["CAAAAA", "CDDDDD"]
    assert officer.get("/console/export/answers.pdf").status_code == 400
    [entry] = audit_rows(console, "export")
    assert (entry.actor, entry.via, entry.detail["format"], entry.detail["conversations"]) == (
        OFFICER_EMAIL, "console", "csv", 2)


def test_audit_page_lists_and_filters(console):
    console.client().post("/console/sign-in", data={"email": "x@example.org", "password": "y"})
    admin = console.signed_in(ADMIN_EMAIL)
    page = admin.get("/console/admin/audit?action=sign_in")
    assert "1 entry" in page.text and ADMIN_EMAIL in page.text
    assert "Audit log" in page.text


def test_api_docs_are_served_from_this_machine(console):
    docs = console.client().get("/docs")
    assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert console.client().get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    schema = console.client().get("/openapi.json").json()
    assert "API token" in schema["components"]["securitySchemes"]
    assert "/api/v1/export" in schema["paths"]


def test_an_expired_session_signs_nobody_in_and_is_cleared(console):
    officer = console.account_ids[OFFICER]
    expired = start_session(console.db, officer, hours=-1)
    client = console.client()
    client.cookies.set(SESSION_COOKIE, expired)
    assert client.get("/console/").status_code == 303
    start_session(console.db, officer, hours=1)
    with console.db.read() as session:
        assert len(list(session.scalars(select(ConsoleSession)))) == 1, "expired rows are deleted"

"""The REST API: every route with no token, a bad token, an officer's and an admin's; the
figures, filters, transcripts and exports against known conversations, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.routing import APIRoute
from openpyxl import load_workbook
from sqlalchemy import select

from bot.console import api
from bot.console.tables import AuditEntry
from tests.console.conftest import ADMIN_EMAIL, OFFICER_EMAIL, Console

OFFICER, ADMIN = "officer", "admin"

# Every /api/v1 route, the least role it needs, and a body where it takes one.
ROUTES = [
    ("GET", "/api/v1/me", OFFICER, None),
    ("GET", "/api/v1/surveys", OFFICER, None),
    ("GET", "/api/v1/overview", OFFICER, None),
    ("GET", "/api/v1/results", OFFICER, None),
    ("GET", "/api/v1/conversations", OFFICER, None),
    ("GET", "/api/v1/conversations/{conversation_id}", OFFICER, None),
    ("GET", "/api/v1/export", OFFICER, None),
    ("GET", "/api/v1/tokens", OFFICER, None),
    ("POST", "/api/v1/tokens", OFFICER, {"name": "new script"}),
    ("DELETE", "/api/v1/tokens/{token_id}", OFFICER, None),
    ("GET", "/api/v1/accounts", ADMIN, None),
    ("POST", "/api/v1/accounts", ADMIN, {"email": "new@example.org", "role": "officer"}),
    ("PATCH", "/api/v1/accounts/{account_id}", ADMIN, {"name": "Renamed"}),
    ("POST", "/api/v1/accounts/{account_id}/reset-password", ADMIN, None),
    ("GET", "/api/v1/audit", ADMIN, None),
]


def url(console: Console, template: str, role: str) -> str:
    own_token = _token_id(console, role)
    return template.format(conversation_id=console.conversations["CAAAAA"], token_id=own_token,
                           account_id=console.account_ids[OFFICER])


def _token_id(console: Console, role: str) -> int:
    listing = console.api("GET", "/api/v1/tokens", role)
    return listing.json()[0]["id"]


def test_the_table_names_every_api_route(console):
    paths = console.app.openapi()["paths"]
    documented = {(method.upper(), path) for path, item in paths.items()
                  if path.startswith("/api/v1") for method in item}
    routed = {(method, r.path) for r in api.router.routes if isinstance(r, APIRoute)
              for method in r.methods}
    assert documented == routed == {(m, p) for m, p, _, _ in ROUTES}


@pytest.mark.parametrize("method,path,role,body", ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_no_route_works_without_a_valid_token(console, method, path, role, body):
    target = url(console, path, ADMIN)
    for headers in ({}, {"Authorization": "Bearer lbt_not-a-real-token"},
                    {"Authorization": f"Basic {console.tokens[ADMIN]}"},
                    {"Authorization": console.tokens[ADMIN]}):
        response = console.client().request(method, target, headers=headers, json=body)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    # A session cookie is not an API credential either (no CSRF token on API calls).
    browser = console.signed_in(ADMIN_EMAIL)
    assert browser.request(method, target, json=body).status_code == 401


@pytest.mark.parametrize("method,path,role,body", ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_each_role_reaches_exactly_its_routes(console, method, path, role, body):
    officer = console.api(method, url(console, path, OFFICER), OFFICER, json=body)
    if role == ADMIN:
        assert officer.status_code == 403, officer.text
        assert officer.json()["detail"] == "this needs the admin role"
    else:
        assert officer.status_code in (200, 201, 204), officer.text
    admin = console.api(method, url(console, path, ADMIN), ADMIN,
                        json={**body, "email": "other@example.org"} if body and "email" in body else body)
    assert admin.status_code in (200, 201, 204), admin.text


def test_revoked_token_and_disabled_account_stop_at_once(console):
    created = console.api("POST", "/api/v1/tokens", OFFICER, json={"name": "cron"})
    assert created.status_code == 201
    secret, token_id = created.json()["secret"], created.json()["token"]["id"]
    assert secret.startswith("lbt_") and console.api("GET", "/api/v1/me", token=secret).json()["email"] == OFFICER_EMAIL
    assert console.api("DELETE", f"/api/v1/tokens/{token_id}", token=secret).status_code == 204
    assert console.api("GET", "/api/v1/me", token=secret).status_code == 401

    assert console.api("GET", "/api/v1/me", OFFICER).status_code == 200
    patch = console.api("PATCH", f"/api/v1/accounts/{console.account_ids[OFFICER]}", ADMIN,
                        json={"active": False})
    assert patch.status_code == 200 and patch.json()["active"] is False
    assert console.api("GET", "/api/v1/me", OFFICER).status_code == 401


def test_tokens_are_stored_hashed_and_listed_without_the_secret(console):
    from bot.console.tables import ApiToken

    with console.db.read() as session:
        stored = [t.token_hash for t in session.scalars(select(ApiToken))]
    assert all(console.tokens[r] not in stored for r in (OFFICER, ADMIN))
    listing = console.api("GET", "/api/v1/tokens", OFFICER).json()
    assert [t["name"] for t in listing] == ["officer script"]
    assert console.tokens[OFFICER] not in json.dumps(listing)
    assert listing[0]["prefix"] == console.tokens[OFFICER][:10]
    assert listing[0]["last_used_at"] is not None  # this very request used it


def test_officer_cannot_revoke_someone_elses_token(console):
    admin_token = _token_id(console, ADMIN)
    assert console.api("DELETE", f"/api/v1/tokens/{admin_token}", OFFICER).status_code == 404
    assert console.api("GET", "/api/v1/me", ADMIN).status_code == 200


def test_overview_figures(console_on):
    data = console_on.api("GET", "/api/v1/overview", OFFICER).json()["overview"]
    assert (data["conversations"], data["in_survey"], data["completed"], data["declined"]) == (4, 3, 2, 1)
    assert data["completion_rate"] == pytest.approx(2 / 3)
    assert [(d["day"], d["started"], d["completed"]) for d in data["per_day"]] == [
        ("2026-11-20", 1, 1), ("2026-11-21", 2, 0), ("2026-11-22", 1, 1)]
    assert [(c["key"], c["conversations"], c["completed"]) for c in data["by_language"]] == [
        ("pl", 3, 2), ("en", 1, 0)]
    assert sorted((c["key"], c["conversations"], c["completed"]) for c in data["by_channel"]) == [
        ("sms", 2, 2), ("whatsapp", 2, 0)]
    flow = {q["key"]: (q["reached"], q["answered"], q["waiting"]) for q in data["dropoff"]}
    assert flow["access"] == (3, 3, 0)
    assert flow["needed_interpreter"] == (3, 2, 1), "B waits at it"
    assert flow["got_interpreter"] == (1, 0, 0), "only D was asked, and did not know"
    assert flow["one_thing"] == (2, 2, 0)


def test_results_per_question(console_on):
    questions = {q["key"]: q for q in console_on.api("GET", "/api/v1/results", OFFICER).json()["questions"]}
    access = questions["access"]
    assert [(b["key"], b["count"]) for b in access["bars"]] == [("1", 0), ("2", 1), ("3", 1), ("4", 1), ("5", 0)]
    assert access["bars"][0]["label"] == "1 (very hard)" and access["mean"] == pytest.approx(3.0)
    info = questions["info_language"]
    assert {b["key"]: b["count"] for b in info["bars"]} == {"always": 1, "sometimes": 1, "never": 1}
    assert info["bars"][0]["label"] == "Always" and info["bars"][0]["share"] == pytest.approx(1 / 3)
    assert {b["key"]: b["count"] for b in questions["needed_interpreter"]["bars"]} == {"yes": 1, "no": 1}
    staff = questions["staff_respect"]
    assert (staff["answered"], staff["dont_know"]) == (1, 1)
    texts = questions["one_thing"]
    assert texts["free_text"] and texts["bars"] == []
    by_contact = {t["contact"]: t for t in texts["texts"]}
    assert by_contact["CAAAAA"]["original"] == "Więcej tłumaczy w przychodni"
    assert by_contact["CAAAAA"]["english"] == "More interpreters at the clinic"
    assert by_contact["CDDDDD"]["english"] is None and by_contact["CDDDDD"]["translation_status"] == "failed"


@pytest.mark.parametrize("query,expected", [
    ("", {"CAAAAA", "CBBBBB", "CCCCCC", "CDDDDD"}),
    ("language=pl", {"CAAAAA", "CCCCCC", "CDDDDD"}),
    ("channel=whatsapp", {"CBBBBB", "CCCCCC"}),
    ("from=2026-11-21&to=2026-11-21", {"CBBBBB", "CCCCCC"}),
    ("from=2026-11-22", {"CDDDDD"}),
    ("to=2026-11-20", {"CAAAAA"}),
    ("completed=yes", {"CAAAAA", "CDDDDD"}),
    ("completed=no", {"CBBBBB", "CCCCCC"}),
    ("version=1&language=pl&channel=sms&completed=yes", {"CAAAAA", "CDDDDD"}),
    ("version=2", set()),
])
def test_filters_are_shared_by_list_results_and_export(console_on, query, expected):
    listing = console_on.api("GET", f"/api/v1/conversations?{query}", OFFICER).json()
    assert {c["contact"] for c in listing["conversations"]} == expected
    assert listing["total"] == len(expected)
    overview = console_on.api("GET", f"/api/v1/overview?{query}", OFFICER).json()
    assert overview["overview"]["conversations"] == len(expected)
    results = console_on.api("GET", f"/api/v1/results?{query}", OFFICER).json()["questions"]
    access = next(q for q in results if q["key"] == "access")
    answered_access = {"CAAAAA", "CBBBBB", "CDDDDD"} & expected
    assert access["answered"] == len(answered_access)
    exported = console_on.api("GET", f"/api/v1/export?format=json&{query}", OFFICER).json()
    assert {row["contact"] for row in exported} == expected


@pytest.mark.parametrize("query,message", [
    ("survey=nope", "no survey 'nope' (known: demo)"),
    ("version=x", "version must be a whole number from 1, not 'x'"),
    ("channel=fax", "channel must be one of sms, whatsapp, not 'fax'"),
    ("from=25/11/2026", "from must be a date like 2026-11-25, not '25/11/2026'"),
    ("from=2026-11-23&to=2026-11-20", "'from' is after 'to'"),
    ("completed=maybe", "completed must be yes or no, not 'maybe'"),
    ("language=Polish!", "language must be a language code like 'pl', not 'polish!'"),
])
def test_bad_filters_get_a_clear_error(console, query, message):
    response = console.api("GET", f"/api/v1/conversations?{query}", OFFICER)
    assert response.status_code == 422 and response.json()["detail"] == message


def test_search_by_pseudonym_or_words_in_either_language(console):
    def found(q: str) -> set[str]:
        rows = console.api("GET", "/api/v1/conversations", OFFICER, params={"q": q}).json()
        return {c["contact"] for c in rows["conversations"]}

    assert found("cbbb") == {"CBBBBB"}
    assert found("tłumaczy") == {"CAAAAA"}
    assert found("interpreters") == {"CAAAAA"}, "the English translation is searched too"
    assert found("100%") == set() and found("_") == set(), "LIKE wildcards are literal"


def test_conversation_list_pages(console):
    first = console.api("GET", "/api/v1/conversations?per_page=3", OFFICER).json()
    second = console.api("GET", "/api/v1/conversations?per_page=3&page=2", OFFICER).json()
    assert first["total"] == second["total"] == 4
    assert [c["contact"] for c in first["conversations"]] == ["CDDDDD", "CCCCCC", "CBBBBB"]
    assert [c["contact"] for c in second["conversations"]] == ["CAAAAA"]
    d = first["conversations"][0]
    assert (d["stage"], d["opted_out"], d["answers"], d["language"], d["channel"]) == (
        "completed", True, 7, "pl", "sms")


def test_transcript_every_message_in_order_with_english_and_delivery(console_on):
    cid = console_on.conversations["CBBBBB"]
    t = console_on.api("GET", f"/api/v1/conversations/{cid}", OFFICER).json()
    assert t["conversation"]["contact"] == "CBBBBB"
    assert [(m["direction"], m["body"]) for m in t["lines"]] == [
        ("in", "Hello"), ("out", "Hello! This is the NHS. Do you agree?"),
        ("in", "yes"), ("out", "How easy is it to get care?"),
        ("in", "4"), ("out", "Do you get information you understand?"),
        ("in", "always"), ("out", "Did you need an interpreter?")]
    assert t["lines"][-1]["status"] == "failed" and t["lines"][-1]["error_code"] == "63016"
    assert [(a["key"], a["value"]) for a in t["answers"]] == [("access", "4"), ("info_language", "always")]

    polish = console_on.api("GET", f"/api/v1/conversations/{console_on.conversations['CAAAAA']}",
                            OFFICER).json()
    last_in = [m for m in polish["lines"] if m["direction"] == "in"][-1]
    assert (last_in["body"], last_in["english"], last_in["translation_status"]) == (
        "Więcej tłumaczy w przychodni", "More interpreters at the clinic", "done")
    one_thing = next(a for a in polish["answers"] if a["key"] == "one_thing")
    assert one_thing["english"] == "More interpreters at the clinic"
    assert console_on.api("GET", "/api/v1/conversations/99999", OFFICER).status_code == 404


def test_transcript_views_and_exports_are_audited(console):
    cid = console.conversations["CAAAAA"]
    console.api("GET", f"/api/v1/conversations/{cid}", OFFICER)
    console.api("GET", "/api/v1/export?format=csv&language=pl", OFFICER)
    with console.db.read() as session:
        rows = list(session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["transcript_view", "export"])).order_by(AuditEntry.id)))
    assert [(r.actor, r.action, r.target, r.via) for r in rows] == [
        (OFFICER_EMAIL, "transcript_view", f"conversation {cid}", "api"),
        (OFFICER_EMAIL, "export", "demo", "api")]
    assert rows[0].detail == {"contact": "CAAAAA"}
    assert rows[1].detail == {"format": "csv", "filters": {"survey": "demo", "language": "pl"},
                              "conversations": 3}
    audit = console.api("GET", "/api/v1/audit?action=export", ADMIN).json()
    assert audit["total"] == 1 and audit["entries"][0]["actor"] == OFFICER_EMAIL
    assert console.api("GET", "/api/v1/audit?action=nonsense", ADMIN).status_code == 422


def test_exports_in_three_formats_agree_and_hold_no_phone_numbers(console_on):
    def get(fmt: str):
        response = console_on.api("GET", f"/api/v1/export?format={fmt}", OFFICER)
        assert response.status_code == 200
        assert "attachment" in response.headers["content-disposition"]
        assert f".{fmt}" in response.headers["content-disposition"]
        return response

    rows_csv = list(csv.DictReader(io.StringIO(get("csv").text)))
    rows_json = get("json").json()
    sheet = load_workbook(io.BytesIO(get("xlsx").content), read_only=True).active
    table = [[c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]
    rows_xlsx = [dict(zip(table[0], r, strict=True)) for r in table[1:]]
    assert len(rows_csv) == len(rows_json) == len(rows_xlsx) == 4
    a = {r["contact"]: r for r in rows_json}["CAAAAA"]
    assert (a["access"], a["info_language"], a["one_thing"], a["one_thing_en"]) == (
        "2", "sometimes", "Więcej tłumaczy w przychodni", "More interpreters at the clinic")
    assert a["conversation"] == console_on.conversations["CAAAAA"] and a["survey_version"] == 1
    for rows in (rows_csv, rows_xlsx):
        assert {r["contact"]: r for r in rows}["CAAAAA"]["one_thing_en"] == "More interpreters at the clinic"
    # People's words that look like a formula stay text: quoted in CSV, a string cell in Excel.
    d_csv = {r["contact"]: r for r in rows_csv}["CDDDDD"]
    d_xlsx = {r["contact"]: r for r in rows_xlsx}["CDDDDD"]
    assert d_csv["one_thing"] == "'=1+1 lekarzy po polsku"
    assert d_xlsx["one_thing"] == "=1+1 lekarzy po polsku"
    assert {r["contact"]: r for r in rows_json}["CDDDDD"]["one_thing"] == "=1+1 lekarzy po polsku"
    assert d_csv["staff_respect"] == "[don't know]"
    everything = json.dumps(rows_json) + json.dumps(rows_csv) + json.dumps(rows_xlsx, default=str)
    assert "+44" not in everything and "447700" not in everything and "not-a-number" not in everything


def test_export_format_is_checked(console):
    response = console.api("GET", "/api/v1/export?format=pdf", OFFICER)
    assert response.status_code == 422


def test_accounts_api_rules(console):
    created = console.api("POST", "/api/v1/accounts", ADMIN,
                          json={"email": " New.Person@Example.ORG ", "name": "New", "role": "officer"})
    assert created.status_code == 201
    body = created.json()
    assert body["account"]["email"] == "new.person@example.org"
    assert body["account"]["must_change_password"] is True and len(body["temporary_password"]) >= 12
    again = console.api("POST", "/api/v1/accounts", ADMIN, json={"email": "new.person@example.org"})
    assert again.status_code == 422 and "already exists" in again.json()["detail"]
    bad = console.api("POST", "/api/v1/accounts", ADMIN, json={"email": "not an email"})
    assert bad.status_code == 422 and "not an email address" in bad.json()["detail"]
    role = console.api("POST", "/api/v1/accounts", ADMIN, json={"email": "x@example.org", "role": "owner"})
    assert role.status_code == 422

    admin_id = console.account_ids[ADMIN]
    last = console.api("PATCH", f"/api/v1/accounts/{admin_id}", ADMIN, json={"role": "officer"})
    assert last.status_code == 422 and last.json()["detail"] == "there must always be at least one active admin"
    assert console.api("GET", "/api/v1/accounts", ADMIN).status_code == 200, "still an admin"
    assert console.api("PATCH", "/api/v1/accounts/9999", ADMIN, json={"name": "x"}).status_code == 404

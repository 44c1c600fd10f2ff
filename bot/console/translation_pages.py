"""The console's texts pages: per language, which survey texts people wrote (reviewed or draft),
which a machine wrote and which are missing; editing them, accepting machine texts, marking a
language reviewed, and machine pre-translation of what is missing, in the background.

Texts change only in a survey's draft (a published version is frozen); the published version's
counts are shown read-only. An edit goes into the language's human file (`<lang>.yml`), which
always wins over the machine file, so a machine run never overwrites a person's text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.console import audit
from bot.console.audit import Actor
from bot.console.auth import Principal, admin_form, admin_page, db_of, settings_of
from bot.console.web import LANGUAGE_NAMES, private, render, survey_store
from bot.pretranslate import Unsupported
from bot.sms import segments
from bot.storage.tables import utcnow
from bot.survey import translations
from bot.survey.store import Bundle, SurveyStore, SurveyStoreError
from bot.survey.translations import HUMAN, MACHINE, TextInfo, TranslationError
from bot.texts.catalogue import FALLBACK, Catalogue
from bot.translation import make_translator

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)

Admin = Annotated[Principal, Depends(admin_page)]
AdminForm = Annotated[Principal, Depends(admin_form)]

LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})?$")
MAX_TEXT = 1000  # characters: a survey text is sent by SMS; ten segments is already far too long
BREAK_AFTER = 3  # provider failures in a row before the rest of a run is skipped
DONE_MESSAGES = {
    "draft": "A draft was started from the published version: its texts can be edited now.",
    "nothing": "No text was changed.",
    "reviewed": "The language is marked reviewed.",
}


# -- counting -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Counts:
    reviewed: int = 0
    draft: int = 0
    machine: int = 0
    missing: int = 0

    @property
    def total(self) -> int:
        return self.reviewed + self.draft + self.machine + self.missing


@dataclass(frozen=True)
class LanguageRow:
    code: str
    name_en: str
    name_own: str
    rtl: bool
    counts: Counts


def counts_of(report: list[TextInfo]) -> Counts:
    kinds = [kind_of(t) for t in report]
    return Counts(*(kinds.count(k) for k in ("reviewed", "draft", "machine", "missing")))


def kind_of(info: TextInfo) -> str:
    """reviewed | draft (people's texts) | machine | missing."""
    if info.origin == HUMAN:
        return "reviewed" if info.review == "reviewed" else "draft"
    return MACHINE if info.origin == MACHINE else "missing"


def bundle_languages(bundle: Bundle) -> set[str]:
    """The languages a bundle has a file for."""
    return {name.split(".", 1)[0] for name in bundle.files}


_reports: dict[tuple[str, str], list[TextInfo]] = {}
_reports_lock = threading.Lock()


def reports(bundle: Bundle, langs: list[str]) -> dict[str, list[TextInfo]]:
    """Every text of the bundle in each language, read through the file tools. Kept by the
    bundle's content (reading 20 languages takes most of a second; a bundle never changes,
    a draft's edit is a new bundle)."""
    digest = hashlib.sha256(json.dumps([bundle.name, bundle.source, sorted(bundle.files.items())],
                                       ensure_ascii=False).encode()).hexdigest()
    with _reports_lock:
        found = {lang: _reports[(digest, lang)] for lang in langs if (digest, lang) in _reports}
    todo = [lang for lang in langs if lang not in found]
    if todo:
        with tempfile.TemporaryDirectory(prefix="survey-texts-") as folder:
            path = bundle.write(Path(folder))
            made = {lang: translations.text_report(path, lang) for lang in todo}
        with _reports_lock:
            if len(_reports) > 400:
                _reports.clear()
            _reports.update({(digest, lang): report for lang, report in made.items()})
        found.update(made)
    return {lang: found[lang] for lang in langs}


def catalogue() -> Catalogue:
    return Catalogue.load()


def language_row(code: str, counts: Counts) -> LanguageRow:
    cat = catalogue()
    if code in cat.texts:
        return LanguageRow(code, cat.text("language_name_en", code), cat.language_name(code),
                           cat.meta(code).get("direction") == "rtl", counts)
    return LanguageRow(code, LANGUAGE_NAMES.get(code, code), "", False, counts)


def languages_for(bundle: Bundle) -> list[str]:
    """The launch languages and any other the survey has, English (the flow itself) left out."""
    launch = [c for c in catalogue().languages if c != FALLBACK]
    extra = sorted(bundle_languages(bundle) - set(launch) - {FALLBACK})
    return launch + extra


def rows_for(bundle: Bundle) -> list[LanguageRow]:
    langs = languages_for(bundle)
    found = reports(bundle, langs)
    return [language_row(lang, counts_of(found[lang])) for lang in langs]


# -- background machine pre-translation ---------------------------------------------------
@dataclass
class Job:
    """One machine pre-translation of a survey's draft (one language or several)."""

    survey_id: str
    languages: list[str]
    actor: Actor
    state: str = "running"  # running | done | failed
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None

    def snapshot(self) -> dict[str, Any]:
        return {"survey": self.survey_id, "languages": self.languages, "state": self.state,
                "lines": list(self.lines),
                "results": {k: dict(v) for k, v in list(self.results.items())},
                "error": self.error}


class _Breaker:
    """The translator, but after BREAK_AFTER failures in a row the rest fail at once: an
    unreachable provider should not be waited on once per text."""

    def __init__(self, translate: Any) -> None:
        self.translate = translate
        self.in_a_row = 0
        self.first_error: str | None = None

    @property
    def tripped(self) -> bool:
        return self.in_a_row >= BREAK_AFTER

    def __call__(self, text: str, source: str) -> str:
        if self.tripped:
            raise RuntimeError("skipped: the translation provider failed several times in a row")
        try:
            out: str = self.translate(text, source)
        except Exception as exc:
            if type(exc).__name__ == "LanguageNotSupportedException":
                raise
            self.in_a_row += 1
            self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"[:200]
            raise
        self.in_a_row = 0
        return out


_jobs_lock = threading.Lock()


def jobs_of(request: Request) -> dict[str, Job]:
    state = request.app.state
    with _jobs_lock:
        if getattr(state, "translation_jobs", None) is None:
            state.translation_jobs = {}
        return state.translation_jobs  # type: ignore[no-any-return]


def start_job(request: Request, survey_id: str, langs: list[str], actor: Actor) -> Job | None:
    """Start a run in a thread; None if one is already running for the survey (two runs would
    write the same draft at once)."""
    jobs = jobs_of(request)
    with _jobs_lock:
        running = jobs.get(survey_id)
        if running is not None and running.state == "running":
            return None
        job = jobs[survey_id] = Job(survey_id, langs, actor)
    store, settings = survey_store(request), settings_of(request)
    threading.Thread(target=run_job, args=(job, store, settings), daemon=True,
                     name=f"translate-{survey_id}").start()
    return job


def run_job(job: Job, store: SurveyStore, settings: Any) -> None:
    try:
        _run_job(job, store, settings)
        job.state = "failed" if job.error else "done"
    except Exception as exc:  # noqa: BLE001 - shown on the progress page, nothing half-written
        log.exception("machine pre-translation of %s failed", job.survey_id)
        job.error = f"The run stopped: {type(exc).__name__}: {exc}"[:300]
        job.state = "failed"
    job.finished_at = utcnow()


def _run_job(job: Job, store: SurveyStore, settings: Any) -> None:
    for lang in job.languages:
        translate = make_translator(settings, target=lang)
        if translate is None:
            job.error = ("Machine translation is switched off (TRANSLATION_PROVIDER=none). "
                         "Nothing was changed.")
            return
        breaker = _Breaker(translate)
        job.lines.append(f"{lang}: starting")

        def progress(line: str, lang: str = lang) -> None:
            job.lines.append(f"{lang} {line}")

        try:
            result = store.pretranslate_draft(job.survey_id, lang, breaker, progress,
                                              job.actor.email)
        except Unsupported as exc:
            job.results[lang] = {"translated": 0, "kept": 0, "failed": 0, "long": {},
                                 "error": f"the provider does not know this language ({exc})"}
            job.lines.append(f"{lang}: not supported by the provider")
            continue
        except SurveyStoreError as exc:
            job.error = f"{lang}: {exc}. Nothing more was changed."
            return
        job.results[lang] = {
            "translated": len(result.translated), "kept": result.kept,
            "failed": len(result.failed), "long": dict(result.long),
            "error": next(iter(result.failed.values()), None),
        }
        job.lines.append(f"{lang}: {len(result.translated)} translated, {result.kept} already "
                         f"written, {len(result.failed)} failed")
        if result.translated:
            with store.db.transaction() as session:
                audit.record(session, job.actor, audit.SURVEY_MACHINE_TRANSLATED,
                             f"survey {job.survey_id} {lang}",
                             {"translated": len(result.translated), "failed": len(result.failed)})
        if breaker.tripped and not result.translated:
            job.error = (f"The translation provider could not be reached ({breaker.first_error})."
                         " Nothing was changed: the missing texts are still missing. Try again "
                         "later, or check TRANSLATION_PROVIDER and TRANSLATION_URL.")
            return


# -- pages --------------------------------------------------------------------------------
def _not_found(request: Request, principal: Principal, message: str) -> HTMLResponse:
    return render(request, "error.html", principal, 404, title="Not found", message=message)


def _survey_exists(store: SurveyStore, survey_id: str) -> bool:
    return bool(store.versions(survey_id)) or store.draft(survey_id) is not None


def _languages_page(request: Request, principal: Principal, survey_id: str,
                    status_code: int = 200, **context: Any) -> HTMLResponse:
    store = survey_store(request)
    draft = store.draft(survey_id)
    version = store.published_versions().get(survey_id)
    published = None
    if version is not None:
        published = {"version": version,
                     "rows": rows_for(store.version_bundle(survey_id, version))}
    job = jobs_of(request).get(survey_id)
    return render(request, "texts_languages.html", principal, status_code, survey_id=survey_id,
                  draft=draft, draft_rows=rows_for(draft.bundle) if draft else None,
                  published=published, job=job,
                  done=DONE_MESSAGES.get(request.query_params.get("done", "")), **context)


@router.get("/surveys/{survey_id}/languages", response_class=HTMLResponse)
def languages_page(request: Request, principal: Admin, survey_id: str, lang: str = "") -> Response:
    if not _survey_exists(survey_store(request), survey_id):
        return _not_found(request, principal, f"There is no survey '{survey_id}'.")
    if lang:  # the "another language" form
        code = lang.strip()
        if LANG.match(code) and code != FALLBACK:
            return private(RedirectResponse(f"/console/surveys/{survey_id}/languages/{code}",
                                            status_code=303))
        return _languages_page(request, principal, survey_id, 400, other=lang, other_error=(
            "Give a language code of 2 or 3 small letters, like fr or so (English is the flow "
            "itself)."))
    return _languages_page(request, principal, survey_id)


@router.post("/surveys/{survey_id}/languages/start-draft", response_class=HTMLResponse)
def start_draft(request: Request, principal: AdminForm, survey_id: str) -> Response:
    store = survey_store(request)
    if store.draft(survey_id) is None:
        try:
            checked = store.start_draft(survey_id, principal.email)
        except SurveyStoreError as exc:
            return _languages_page(request, principal, survey_id, 400, error=str(exc))
        if not checked.ok:
            return _languages_page(request, principal, survey_id, 400, error=checked.errors[0])
        with db_of(request).transaction() as session:
            audit.record(session, principal.actor, audit.SURVEY_DRAFT_STARTED,
                         f"survey {survey_id}", {"from": "published version"})
    back = request.query_params.get("lang", "")
    path = f"/console/surveys/{survey_id}/languages"
    if LANG.match(back):
        path += f"/{back}"
    return private(RedirectResponse(f"{path}?done=draft", status_code=303))


def _text_rows(report: list[TextInfo], values: dict[str, str] | None = None) -> list[dict]:
    rows = []
    for info in report:
        shown = (values or {}).get(info.id, info.text or "")
        encoding, count = segments(shown) if shown else ("", 0)
        rows.append({"info": info, "kind": kind_of(info), "value": shown, "was": info.text or "",
                     "segments": count, "encoding": encoding})
    return rows


def _language_page(request: Request, principal: Principal, survey_id: str, lang: str,
                   status_code: int = 200, values: dict[str, str] | None = None,
                   **context: Any) -> HTMLResponse:
    store = survey_store(request)
    draft = store.draft(survey_id)
    version = store.published_versions().get(survey_id)
    if draft is not None:
        bundle = draft.bundle
    else:
        assert version is not None
        bundle = store.version_bundle(survey_id, version)
    report = reports(bundle, [lang])[lang]
    counts = counts_of(report)
    review = next((t.review for t in report if t.origin == HUMAN), None)
    job = jobs_of(request).get(survey_id)
    return render(request, "texts_language.html", principal, status_code, survey_id=survey_id,
                  lang=language_row(lang, counts), editable=draft is not None, version=version,
                  rows=_text_rows(report, values), counts=counts, review=review, job=job,
                  done=DONE_MESSAGES.get(request.query_params.get("done", ""))
                  or _saved_message(request.query_params.get("saved", "")), **context)


def _saved_message(saved: str) -> str | None:
    if not saved.isdigit():
        return None
    n = int(saved)
    return (f"Saved {n} text{'s' if n != 1 else ''}: written by people now, as a draft that "
            "needs a native speaker's review.")


def _check_lang(request: Request, principal: Principal, survey_id: str,
                lang: str) -> HTMLResponse | None:
    if not LANG.match(lang) or lang == FALLBACK:
        return _not_found(request, principal, f"'{lang}' is not a language whose texts are "
                          "edited here (English texts are the flow itself).")
    if not _survey_exists(survey_store(request), survey_id):
        return _not_found(request, principal, f"There is no survey '{survey_id}'.")
    return None


@router.get("/surveys/{survey_id}/languages/{lang}", response_class=HTMLResponse)
def language_page(request: Request, principal: Admin, survey_id: str, lang: str) -> Response:
    return _check_lang(request, principal, survey_id, lang) or _language_page(
        request, principal, survey_id, lang)


def _clean(value: object) -> str | None:
    """A textarea's value as stored: browsers send CRLF; edges of spaces are never meant."""
    if not isinstance(value, str):
        return None
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


@router.post("/surveys/{survey_id}/languages/{lang}", response_class=HTMLResponse)
async def save_texts(request: Request, principal: AdminForm, survey_id: str, lang: str) -> Response:
    """Save the texts the admin changed (and the machine texts they accepted) into the human
    file; the texts they did not touch stay as they are, machine ones included."""
    refused = await run_in_threadpool(_check_lang, request, principal, survey_id, lang)
    if refused is not None:
        return refused
    form = await request.form()
    return await run_in_threadpool(_save_texts, request, principal, survey_id, lang, form)


def _save_texts(request: Request, principal: Principal, survey_id: str, lang: str,
                form: Any) -> Response:
    store = survey_store(request)
    draft = store.draft(survey_id)
    values = {key[5:]: _clean(form.get(key)) or "" for key in form if key.startswith("text.")}
    if draft is None:
        return _language_page(request, principal, survey_id, lang, 409, values=values,
                              error="This survey has no draft any more (it was published or "
                              "discarded): start a draft, then make the changes again.")
    report = reports(draft.bundle, [lang])[lang]
    accept = str(form.get("accept") or "")
    accept_all = form.get("accept_all") == "yes"
    changes: dict[str, str | None] = {}
    accepted = 0
    errors = []
    for info in report:
        new = _clean(form.get(f"text.{info.id}"))
        if new is None:
            continue
        was = _clean(form.get(f"was.{info.id}")) or ""
        accepting = info.origin == MACHINE and (accept == info.id or accept_all)
        if len(new) > MAX_TEXT:
            errors.append(f"'{info.id}' is {len(new)} characters long; at most {MAX_TEXT}.")
        elif new != was or accepting:
            if new:
                changes[info.id] = new
                if accepting and new == info.text:
                    accepted += 1
            elif info.origin == HUMAN:
                changes[info.id] = None  # emptied: the person's text goes (machine or missing)
    if errors:
        return _language_page(request, principal, survey_id, lang, 400, values=values,
                              errors=errors)
    if not changes:
        return private(RedirectResponse(
            f"/console/surveys/{survey_id}/languages/{lang}?done=nothing", status_code=303))
    name = f"{lang}.yml"
    try:
        text = translations.human_file(draft.bundle.files.get(name), lang, changes, "draft")
    except TranslationError as exc:
        return _language_page(request, principal, survey_id, lang, 400, values=values,
                              errors=[f"{name} cannot be changed here: {exc}"])
    checked = store.set_language_file(survey_id, name, text, principal.email)
    if not checked.ok:
        return _language_page(request, principal, survey_id, lang, 400, values=values,
                              errors=["Nothing was saved: " + e for e in checked.errors])
    with db_of(request).transaction() as session:
        audit.record(session, principal.actor, audit.SURVEY_TEXTS_SAVED,
                     f"survey {survey_id} {lang}",
                     {"texts": len(changes), "accepted": accepted,
                      "removed": sum(v is None for v in changes.values()),
                      "ids": ", ".join(list(changes)[:20])})
    return private(RedirectResponse(
        f"/console/surveys/{survey_id}/languages/{lang}?saved={len(changes)}", status_code=303))


@router.post("/surveys/{survey_id}/languages/{lang}/reviewed", response_class=HTMLResponse)
def mark_reviewed(request: Request, principal: AdminForm, survey_id: str, lang: str) -> Response:
    """Only a language whose every text a person wrote can be reviewed: a machine text nobody
    looked at, or a missing one, cannot have been checked."""
    refused = _check_lang(request, principal, survey_id, lang)
    if refused is not None:
        return refused
    store = survey_store(request)
    draft = store.draft(survey_id)
    if draft is None:
        return _language_page(request, principal, survey_id, lang, 409,
                              error="Texts are changed in a draft: start one first.")
    counts = counts_of(reports(draft.bundle, [lang])[lang])
    if counts.missing or counts.machine:
        why = []
        if counts.missing:
            why.append(f"{counts.missing} text{'s are' if counts.missing != 1 else ' is'} missing")
        if counts.machine:
            why.append(f"{counts.machine} machine text{'s' if counts.machine != 1 else ''} "
                       "nobody has accepted or corrected")
        return _language_page(request, principal, survey_id, lang, 400, error=(
            "This language cannot be marked reviewed yet: " + " and ".join(why) + ". Write or "
            "accept every text first."))
    name = f"{lang}.yml"
    text = translations.human_file(draft.bundle.files.get(name), lang, {}, "reviewed")
    checked = store.set_language_file(survey_id, name, text, principal.email)
    if not checked.ok:
        return _language_page(request, principal, survey_id, lang, 400,
                              error="Nothing was changed: " + checked.errors[0])
    with db_of(request).transaction() as session:
        audit.record(session, principal.actor, audit.SURVEY_TEXTS_REVIEWED,
                     f"survey {survey_id} {lang}", {"texts": counts.total})
    return private(RedirectResponse(
        f"/console/surveys/{survey_id}/languages/{lang}?done=reviewed", status_code=303))


# -- machine pre-translation routes -------------------------------------------------------
def _start(request: Request, principal: Principal, survey_id: str, langs: list[str],
           back: str) -> Response:
    store = survey_store(request)
    if store.draft(survey_id) is None:
        return render(request, "error.html", principal, 409, title="No draft",
                      message="Machine texts are added to a draft: start a draft first.")
    if not langs:
        return private(RedirectResponse(back + "?done=nothing", status_code=303))
    if start_job(request, survey_id, langs, principal.actor) is None:
        return render(request, "error.html", principal, 409, title="Already running",
                      message="A machine pre-translation of this survey is running: wait for it "
                      f"to finish (see /console/surveys/{survey_id}/translation).")
    return private(RedirectResponse(f"/console/surveys/{survey_id}/translation", status_code=303))


@router.post("/surveys/{survey_id}/languages/{lang}/translate", response_class=HTMLResponse)
def translate_language(request: Request, principal: AdminForm, survey_id: str,
                       lang: str) -> Response:
    refused = _check_lang(request, principal, survey_id, lang)
    return refused or _start(request, principal, survey_id, [lang],
                             f"/console/surveys/{survey_id}/languages/{lang}")


@router.post("/surveys/{survey_id}/translate-missing", response_class=HTMLResponse)
def translate_missing(request: Request, principal: AdminForm, survey_id: str) -> Response:
    """Every language of the table that misses texts, one after the other."""
    store = survey_store(request)
    draft = store.draft(survey_id)
    langs = [r.code for r in rows_for(draft.bundle) if r.counts.missing] if draft else []
    return _start(request, principal, survey_id, langs, f"/console/surveys/{survey_id}/languages")


@router.get("/surveys/{survey_id}/translation", response_class=HTMLResponse)
def translation_page(request: Request, principal: Admin, survey_id: str) -> Response:
    job = jobs_of(request).get(survey_id)
    if job is None:
        return _not_found(request, principal, "No machine pre-translation of this survey has run "
                          "since the server started.")
    names = {code: language_row(code, Counts()) for code in job.languages}
    return render(request, "texts_translation.html", principal, survey_id=survey_id, job=job,
                  names=names)


@router.get("/surveys/{survey_id}/translation.json")
def translation_status(request: Request, principal: Admin, survey_id: str) -> Response:
    job = jobs_of(request).get(survey_id)
    if job is None:
        return private(JSONResponse({"state": "none"}, status_code=404))
    return private(JSONResponse(job.snapshot()))

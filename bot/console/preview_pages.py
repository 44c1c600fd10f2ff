"""The console's chat simulator (admins): walk a draft or a published survey version as a
person would, in a chosen language and channel, with the real Rasa model and survey engine.

A preview lives only in memory (`bot.survey.preview.Previews` on app.state): it writes no
contact, conversation, message or answer, belongs to the admin who started it, and is
forgotten when unused for `PREVIEW_TTL` seconds. Starting one is audited; what is typed in it
is not (it is the admin's test, not a person's words).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.console import audit
from bot.console.auth import Principal, admin_form, admin_page, db_of, settings_of
from bot.console.web import private, render
from bot.language import LanguageDetector
from bot.settings import PROJECT_ROOT
from bot.survey.flow import Survey
from bot.survey.preview import CHANNELS, Preview, Previews, PreviewTurn
from bot.survey.store import SurveyStore, SurveyStoreError
from bot.texts.catalogue import Catalogue

router = APIRouter(prefix="/console", include_in_schema=False)

Admin = Annotated[Principal, Depends(admin_page)]
AdminForm = Annotated[Principal, Depends(admin_form)]

PREVIEW_TTL = 30 * 60  # seconds unused before a preview is forgotten
MAX_MESSAGE = 1600  # characters: what Twilio takes in one message
DRAFT = "draft"
CHANNEL_NAMES = {"sms": "SMS", "whatsapp": "WhatsApp"}


@dataclass
class ConsolePreview(Preview):
    """A preview with what the console needs around it: whose it is and what it runs."""

    owner: int = 0
    survey_id: str = ""
    version: str = DRAFT  # "draft" or the version number
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    languages: list[str | None] = field(default_factory=list)  # each turn's reply language

    def say(self, text: str, now: datetime | None = None) -> PreviewTurn:
        turn = super().say(text, now)
        self.languages.append(self.state.language)
        return turn


@dataclass(frozen=True)
class Choice:
    value: str  # survey@version
    label: str


@dataclass(frozen=True)
class SurveyChoices:
    survey_id: str
    choices: list[Choice]


def store_of(request: Request) -> SurveyStore:
    """The app's survey store (set at start-up; made on first use where it was not)."""
    state = request.app.state
    if getattr(state, "surveys", None) is None:
        state.surveys = SurveyStore(db_of(request))
    return state.surveys  # type: ignore[no-any-return]


def previews_of(request: Request) -> Previews:
    state = request.app.state
    if getattr(state, "previews", None) is None:
        state.previews = Previews(ttl=PREVIEW_TTL)
    return state.previews  # type: ignore[no-any-return]


def rasa_url_of(request: Request) -> str:
    """Our own Rasa server's address when the app runs one, else the configured one."""
    server = getattr(request.app.state, "rasa_server", None)
    return server.url if server is not None else settings_of(request).effective_rasa_url


def detector_of(request: Request, catalogue: Catalogue) -> LanguageDetector:
    """The worker's first-contact detector when the app runs it, else one made once."""
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        return worker.detector  # type: ignore[no-any-return]
    state = request.app.state
    if getattr(state, "preview_detector", None) is None:
        state.preview_detector = LanguageDetector(catalogue.languages, PROJECT_ROOT / "nlu")
    return state.preview_detector  # type: ignore[no-any-return]


def survey_choices(store: SurveyStore) -> list[SurveyChoices]:
    """Per survey: its draft (if any), the published version, then the earlier ones."""
    found = []
    for summary in store.summaries():
        choices = []
        if summary.has_draft:
            choices.append(Choice(f"{summary.survey_id}@{DRAFT}", "draft (not published)"))
        for info in reversed(store.versions(summary.survey_id)):
            live = " (published)" if info.version == summary.published_version else ""
            choices.append(Choice(f"{summary.survey_id}@{info.version}",
                                  f"version {info.version}{live}"))
        found.append(SurveyChoices(summary.survey_id, choices))
    return found


def default_target(request: Request, groups: list[SurveyChoices]) -> str:
    """What the form starts on: the survey and version in the link that led here, else the
    default survey's draft, else its published version."""
    survey = request.query_params.get("survey") or settings_of(request).default_survey
    version = request.query_params.get("version") or ""
    values = [c.value for g in groups for c in g.choices]
    for wanted in (f"{survey}@{version}", f"{survey}@{DRAFT}"):
        if wanted in values:
            return wanted
    mine = [c.value for g in groups if g.survey_id == survey for c in g.choices]
    return (mine or values or [""])[0]


def load_survey(store: SurveyStore, target: str) -> tuple[str, str, Survey]:
    """survey@draft or survey@N -> (survey id, version, the survey). SurveyStoreError if none."""
    survey_id, _, version = target.partition("@")
    if not survey_id or not version:
        raise SurveyStoreError("Choose a survey and a version.")
    if version == DRAFT:
        if store.draft(survey_id) is None:
            raise SurveyStoreError(f"Survey '{survey_id}' has no draft.")
        return survey_id, version, store.draft_survey(survey_id)
    if not version.isdigit():
        raise SurveyStoreError(f"'{version}' is not a version.")
    try:
        return survey_id, version, store.get(survey_id, int(version))
    except SurveyStoreError:
        raise SurveyStoreError(f"Survey '{survey_id}' has no version {version}.") from None


def languages(catalogue: Catalogue) -> list[tuple[str, str, bool]]:
    """(code, name in its own script, right-to-left) for every launch language."""
    return [(code, catalogue.language_name(code), catalogue.is_rtl(code))
            for code in catalogue.languages]


# -- start ----------------------------------------------------------------------------------
def _start_page(request: Request, principal: Principal, status_code: int = 200,
                error: str | None = None, form: dict[str, str] | None = None) -> HTMLResponse:
    groups = survey_choices(store_of(request))
    catalogue = Catalogue.load()
    form = form or {"target": default_target(request, groups), "language": "",
                    "channel": "sms"}
    done = "The preview has ended." if request.query_params.get("done") == "ended" else None
    return render(request, "preview.html", principal, status_code, groups=groups,
                  languages=languages(catalogue), channels=CHANNEL_NAMES, form=form,
                  error=error, done=done, ttl_minutes=PREVIEW_TTL // 60)


@router.get("/preview", response_class=HTMLResponse)
def preview_start_page(request: Request, principal: Admin) -> Response:
    return _start_page(request, principal)


def _start(request: Request, principal: Principal, target: str, language: str,
           channel: str) -> str:
    """A new preview for this admin; its id. ValueError/SurveyStoreError with what is wrong."""
    survey_id, version, survey = load_survey(store_of(request), target)
    from bot.app import build_engine  # bot.app installs the console: import when used

    settings = settings_of(request)
    engine = build_engine(settings)  # as the app builds it, with the texts as they are now
    if language and language not in engine.catalogue.languages:
        raise ValueError(f"'{language}' is not one of the bot's languages.")
    if channel not in CHANNELS:
        raise ValueError("Choose SMS or WhatsApp.")
    preview = ConsolePreview(engine, survey, rasa_url_of(request), channel=channel,
                             language=language or None,
                             detector=detector_of(request, engine.catalogue),
                             owner=principal.account_id, survey_id=survey_id, version=version)
    preview_id = previews_of(request).start(preview)
    with db_of(request).transaction() as session:
        audit.record(session, principal.actor, audit.PREVIEW_STARTED,
                     f"survey {survey_id} {version}",
                     {"survey": survey_id, "version": version,
                      "language": language or "new person", "channel": channel})
    return preview_id


@router.post("/preview", response_class=HTMLResponse)
def start_preview(request: Request, principal: AdminForm,
                  target: Annotated[str, Form(max_length=200)] = "",
                  language: Annotated[str, Form(max_length=16)] = "",
                  channel: Annotated[str, Form(max_length=16)] = "sms") -> Response:
    try:
        preview_id = _start(request, principal, target, language, channel)
    except (SurveyStoreError, ValueError) as exc:
        return _start_page(request, principal, 400, str(exc),
                           {"target": target, "language": language, "channel": channel})
    return private(RedirectResponse(f"/console/preview/{preview_id}", status_code=303))


# -- the conversation -----------------------------------------------------------------------
def _mine(request: Request, principal: Principal, preview_id: str) -> ConsolePreview | None:
    """The preview, if it exists and this admin started it (another admin's is not found)."""
    preview = previews_of(request).get(preview_id)
    if not isinstance(preview, ConsolePreview) or preview.owner != principal.account_id:
        return None
    return preview


def _not_found(request: Request, principal: Principal) -> HTMLResponse:
    return render(request, "error.html", principal, 404, title="Preview not found",
                  message=f"There is no such preview of yours. Previews are forgotten after "
                  f"{PREVIEW_TTL // 60} minutes unused: start a new one from the Preview page.")


def _chat_page(request: Request, principal: Principal, preview_id: str,
               preview: ConsolePreview, status_code: int = 200, error: str | None = None,
               text: str = "") -> HTMLResponse:
    catalogue = preview.engine.catalogue
    language = preview.state.language
    return render(request, "preview_chat.html", principal, status_code, preview=preview,
                  preview_id=preview_id, error=error, text=text,
                  language=language,
                  untranslated=bool(language) and language not in preview.survey.languages,
                  language_label=(f"{catalogue.language_name(language)} ({language})"
                                  if language else "not chosen yet"),
                  started_language=preview.language, channel_name=CHANNEL_NAMES[preview.channel],
                  ttl_minutes=PREVIEW_TTL // 60, max_message=MAX_MESSAGE)


@router.get("/preview/{preview_id}", response_class=HTMLResponse)
def preview_page(request: Request, principal: Admin, preview_id: str) -> Response:
    preview = _mine(request, principal, preview_id)
    if preview is None:
        return _not_found(request, principal)
    return _chat_page(request, principal, preview_id, preview)


@router.post("/preview/{preview_id}/say", response_class=HTMLResponse)
def preview_say(request: Request, principal: AdminForm, preview_id: str,
                text: Annotated[str, Form(max_length=MAX_MESSAGE)] = "") -> Response:
    preview = _mine(request, principal, preview_id)
    if preview is None:
        return _not_found(request, principal)
    if not text.strip():
        return _chat_page(request, principal, preview_id, preview, 400,
                          "Type a message to send.", text)
    try:
        with preview.lock:
            preview.say(text)
    except httpx.HTTPError:
        return _chat_page(request, principal, preview_id, preview, 503,
                          f"The Rasa server ({preview.rasa_url}) did not answer, so the message "
                          "was not understood. Check that the bot is running (GET /healthz) and "
                          "send it again.", text)
    return private(RedirectResponse(f"/console/preview/{preview_id}#last", status_code=303))


@router.post("/preview/{preview_id}/restart", response_class=HTMLResponse)
def preview_restart(request: Request, principal: AdminForm, preview_id: str) -> Response:
    """The same survey, version, language and channel, from the start (a new preview)."""
    preview = _mine(request, principal, preview_id)
    if preview is None:
        return _not_found(request, principal)
    try:
        new_id = _start(request, principal, f"{preview.survey_id}@{preview.version}",
                        preview.language or "", preview.channel)
    except (SurveyStoreError, ValueError) as exc:  # e.g. the draft was published meanwhile
        return _chat_page(request, principal, preview_id, preview, 409,
                          f"Cannot restart: {exc}")
    previews_of(request).end(preview_id)
    return private(RedirectResponse(f"/console/preview/{new_id}", status_code=303))


@router.post("/preview/{preview_id}/end", response_class=HTMLResponse)
def preview_end(request: Request, principal: AdminForm, preview_id: str) -> Response:
    if _mine(request, principal, preview_id) is None:
        return _not_found(request, principal)
    previews_of(request).end(preview_id)
    return private(RedirectResponse("/console/preview?done=ended", status_code=303))

"""What every console page shares: templates, the navigation, the surveys, the filters from
the query string, and the response headers that keep officers' pages private."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from bot.console import queries
from bot.console.auth import Principal, csrf_token, db_of, settings_of
from bot.console.filters import FilterError, Filters, parse
from bot.console.tables import ADMIN, OFFICER
from bot.survey.flow import Survey
from bot.survey.store import SurveyStore

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

# Pages hold people's words: never cached, never framed, no script or style from elsewhere.
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    role: str


# The console's menu, in order. Admin-only areas come after the officers' ones.
NAV: list[NavItem] = [
    NavItem("Overview", "/console/", OFFICER),
    NavItem("Results", "/console/results", OFFICER),
    NavItem("Conversations", "/console/conversations", OFFICER),
    NavItem("Export", "/console/export", OFFICER),
    NavItem("Surveys", "/console/surveys", ADMIN),
    NavItem("Preview", "/console/preview", ADMIN),
    NavItem("Language model", "/console/admin/model", ADMIN),
    NavItem("Accounts", "/console/admin/accounts", ADMIN),
    NavItem("Audit log", "/console/admin/audit", ADMIN),
]


def survey_store(request: Request) -> SurveyStore:
    """The app's survey store (set by the app's lifespan). Made here when missing, e.g. an app
    without its lifespan, importing `surveys/` as the lifespan would, so pages work alike."""
    state = request.app.state
    store = getattr(state, "surveys", None)
    if store is None:
        store = SurveyStore(db_of(request))
        store.sync_folder(settings_of(request).surveys_dir)
        state.surveys = store
    return store  # type: ignore[no-any-return]


def surveys_of(request: Request) -> dict[str, Survey]:
    """The surveys officers can look at: each one's published version, read from the store
    each time, so a publication from the console or the CLI shows at once."""
    return survey_store(request).published()


def default_survey(request: Request) -> str:
    surveys = surveys_of(request)
    wanted = settings_of(request).default_survey
    return wanted if wanted in surveys else next(iter(sorted(surveys)), wanted)


def filters_from(request: Request) -> tuple[Filters, str | None]:
    """The page's filters, or the defaults and what was wrong with the ones asked for."""
    try:
        return parse(request.query_params, surveys_of(request), default_survey(request)), None
    except FilterError as exc:
        return Filters(default_survey(request)), str(exc)


LANGUAGE_NAMES = {
    "en": "English", "pl": "Polish", "ro": "Romanian", "ur": "Urdu", "bn": "Bengali",
    "ar": "Arabic", "pa": "Punjabi", "gu": "Gujarati", "so": "Somali", "pt": "Portuguese",
    "lt": "Lithuanian", "lv": "Latvian", "zh": "Chinese", "ku": "Kurdish", "fa": "Persian",
    "ps": "Pashto", "ti": "Tigrinya", "tr": "Turkish", "uk": "Ukrainian", "ru": "Russian",
    "hi": "Hindi", "ta": "Tamil", "es": "Spanish", "fr": "French", "it": "Italian",
}


def language_name(code: str | None) -> str:
    if not code:
        return "not chosen yet"
    return f"{LANGUAGE_NAMES[code]} ({code})" if code in LANGUAGE_NAMES else code


def when(value: datetime | None, seconds: bool = False) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") if value else ""


def detail(value: dict[str, Any] | None) -> str:
    """An audit entry's details as words: `format: csv; filters: language=pl, channel=sms`."""
    def show(v: Any) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{k}={x}" for k, x in v.items()) or "none"
        return str(v)

    return "; ".join(f"{k}: {show(v)}" for k, v in sorted((value or {}).items()))


def chart_days(days: list[queries.DayCount], minimum: int = 14) -> list[queries.DayCount]:
    """At least two weeks on the chart, ending with the last day, so one busy day is one bar."""
    missing = minimum - len(days)
    if not days or missing <= 0:
        return days
    first = days[0].day
    return [queries.DayCount(first - timedelta(days=i), 0, 0)
            for i in range(missing, 0, -1)] + days


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


templates.env.filters["when"] = when
templates.env.filters["percent"] = percent
templates.env.filters["detail"] = detail
templates.env.globals["chart_days"] = chart_days
templates.env.globals["stage_label"] = queries.stage_label
templates.env.globals["language_name"] = language_name


def render(request: Request, template: str, principal: Principal | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    nav = [item for item in NAV if principal and principal.can(item.role)]
    path = request.url.path
    current = max((i for i in nav if path == i.path or (i.path != "/console/" and
                                                         path.startswith(i.path))),
                  key=lambda i: len(i.path), default=None)
    context.update(
        principal=principal,
        nav=nav,
        current=current,
        csrf=csrf_token(settings_of(request), principal.bound_to) if principal else "",
    )
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(PRIVATE_HEADERS)
    return response


def private(response: Response) -> Response:
    response.headers.update(PRIVATE_HEADERS)
    return response

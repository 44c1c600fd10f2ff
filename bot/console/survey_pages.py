"""The console's survey pages (admins): every survey, uploading a flow as a draft, editing the
draft's YAML or its English texts, publishing, rollback and discarding.

Everything goes through the survey store (bot/survey/store.py), as the CLI does: a flow with
errors stores nothing, and the page shows the admin's YAML again with each error's line so it
can be fixed there. Every change is audited.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from bot.console import audit
from bot.console.auth import Principal, admin_form, admin_page, db_of
from bot.console.web import private, render, survey_store
from bot.survey.flow import Survey
from bot.survey.store import Bundle, SurveyStore, SurveyStoreError, Validation, validate

router = APIRouter(prefix="/console", include_in_schema=False)

Admin = Annotated[Principal, Depends(admin_page)]
AdminForm = Annotated[Principal, Depends(admin_form)]


async def _form(request: Request) -> FormData:
    """The posted form (already read, and cached, by the CSRF check), for the routes below,
    which are plain functions so the store's database work runs off the event loop."""
    return await request.form()


Posted = Annotated[FormData, Depends(_form)]

MAX_BYTES = 1_000_000  # per file or pasted flow: a big survey is ~10 kB; this stops accidents
MAX_LANGUAGE_FILES = 100
CONTEXT_LINES = 3  # lines shown either side of an error's line

DONE_MESSAGES = {
    "uploaded": "The flow is valid and is now this survey's draft. People still get the "
                "published version until you publish the draft.",
    "saved": "The draft is saved.",
    "discarded": "The draft is discarded.",
    "started": "A draft is started: edit it, check its texts by language, preview it, then "
               "publish it.",
}


def _audit(request: Request, principal: Principal, action: str, survey_id: str,
           detail: dict[str, Any] | None = None) -> None:
    with db_of(request).transaction() as session:
        audit.record(session, principal.actor, action, f"survey {survey_id}", detail)


def _error_page(request: Request, principal: Principal, status: int, title: str,
                message: str) -> HTMLResponse:
    return render(request, "error.html", principal, status, title=title, message=message)


# -- errors, placed in the files they name ----------------------------------------------------
@dataclass
class Excerpt:
    """The lines around an error's line, numbered, that line marked."""

    line: int
    lines: list[tuple[int, str]]


@dataclass
class Problem:
    message: str
    file: str | None = None
    excerpt: Excerpt | None = None


_LOCATED = re.compile(r"^(?P<file>\S+) line (?P<line>\d+):")


def _problems(messages: list[str], texts: dict[str, str]) -> list[Problem]:
    """Each error with the lines around its line, from the file it names ("demo.yml line 12:
    ..." or "demo/ar.yml line 3: ..."); `texts` are the files by those names."""
    out = []
    for message in messages:
        found = _LOCATED.match(message)
        if not found or found["file"] not in texts:
            out.append(Problem(message))
            continue
        number = int(found["line"])
        lines = texts[found["file"]].splitlines()
        first, last = max(number - CONTEXT_LINES, 1), min(number + CONTEXT_LINES, len(lines))
        excerpt = Excerpt(number, [(n, lines[n - 1]) for n in range(first, last + 1)])
        out.append(Problem(message, found["file"], excerpt if lines else None))
    return out


def _language_file_label(flow_name: str, name: str) -> str:
    """How errors name a language file: `demo/ar.yml` beside `demo.yml`."""
    return f"{flow_name.rsplit('.', 1)[0]}/{name}"


# -- the list of surveys and the upload form ----------------------------------------------
@dataclass
class UploadForm:
    """What the admin sent, kept to show again when it cannot be used."""

    name: str = ""
    source: str = ""
    files: dict[str, str] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)


def _title_of(store: SurveyStore, survey_id: str, published: dict[str, Survey]) -> str:
    if survey_id in published:
        return published[survey_id].title_in("en")
    try:
        return store.draft_survey(survey_id).title_in("en")
    except SurveyStoreError:
        return survey_id


def _list_page(request: Request, principal: Principal, status: int = 200,
               form: UploadForm | None = None) -> HTMLResponse:
    store = survey_store(request)
    published = store.published()
    rows = [(s, _title_of(store, s.survey_id, published)) for s in store.summaries()]
    return render(request, "surveys.html", principal, status, rows=rows, form=form or UploadForm(),
                  max_mb=MAX_BYTES // 1_000_000,
                  done=DONE_MESSAGES.get(request.query_params.get("done", "")))


@router.get("/surveys", response_class=HTMLResponse)
def surveys_page(request: Request, principal: Admin) -> Response:
    return _list_page(request, principal)


def _read_upload(upload: UploadFile) -> tuple[str | None, str | None]:
    """An uploaded file's text, or why it cannot be used."""
    data = upload.file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return None, f"{upload.filename}: the file is over {MAX_BYTES // 1_000_000} MB."
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        return None, f"{upload.filename}: not UTF-8 text (save it as UTF-8 and upload it again)."


def _chosen(value: object) -> UploadFile | None:
    """A file input's part, if a file was chosen (browsers send an empty part otherwise)."""
    return value if isinstance(value, UploadFile) and value.filename else None


def _flow_name(name: str, source: str) -> str:
    """A flow's file name: the one given (`.yaml` read as `.yml`), or `<id>.yml` for YAML
    pasted without one."""
    name = name.strip().replace("\\", "/").rsplit("/", 1)[-1]
    if not name:
        found = re.search(r"^id:\s*['\"]?([a-z0-9_-]+)", source, re.MULTILINE)
        name = f"{found[1] if found else 'survey'}.yml"
    if name.endswith(".yaml"):
        name = name[: -len(".yaml")] + ".yml"
    return name


def _upload_form(form: FormData) -> tuple[UploadForm, list[str]]:
    """The flow and language files sent, whichever way (files chosen, YAML pasted, or kept
    from an earlier attempt shown again), and what was wrong with them."""
    sent, problems = UploadForm(), []
    # Language files kept from an earlier attempt (shown again as text areas), then new ones.
    for kept, kept_text in zip(form.getlist("kept_name"), form.getlist("kept_text"),
                               strict=False):
        if isinstance(kept, str) and isinstance(kept_text, str) and kept:
            sent.files[kept] = kept_text.replace("\r\n", "\n")
    chosen = [u for u in (_chosen(v) for v in form.getlist("language_files")) if u]
    if len(chosen) + len(sent.files) > MAX_LANGUAGE_FILES:
        problems.append(f"Too many language files: at most {MAX_LANGUAGE_FILES}.")
        chosen = []
    for upload in chosen:
        text, problem = _read_upload(upload)
        if problem:
            problems.append(problem)
        elif text is not None:
            sent.files[(upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]] = text
    flow = _chosen(form.get("flow"))
    pasted = form.get("source")
    if flow is not None:
        source, problem = _read_upload(flow)
        sent.name = _flow_name(flow.filename or "", source or "")
        if problem:
            problems.append(problem)
        sent.source = source or ""
    elif isinstance(pasted, str) and pasted.strip():
        sent.source = pasted.replace("\r\n", "\n")
        given = form.get("name")
        sent.name = _flow_name(given if isinstance(given, str) else "", sent.source)
    else:
        problems.append("Choose the survey's .yml file, or paste its YAML.")
    if len(sent.source.encode()) > MAX_BYTES:
        problems.append(f"The flow is over {MAX_BYTES // 1_000_000} MB.")
    if sent.name and not sent.name.endswith(".yml"):
        problems.append(f"{sent.name}: a survey flow is a .yml file.")
    return sent, problems


@router.post("/surveys", response_class=HTMLResponse)
def upload(request: Request, principal: AdminForm, form: Posted) -> Response:
    sent, problems = _upload_form(form)
    if problems:
        sent.errors = [Problem(p) for p in problems]
        return _list_page(request, principal, 400, sent)
    store = survey_store(request)
    bundle = Bundle(sent.name, sent.source, dict(sent.files))
    checked = store.upload(bundle, principal.actor.email)
    if not checked.ok:
        texts = {sent.name: sent.source} | {
            _language_file_label(sent.name, n): t for n, t in sent.files.items()}
        sent.errors = _problems(checked.errors, texts)
        return _list_page(request, principal, 400, sent)
    assert checked.survey is not None
    _audit(request, principal, audit.SURVEY_UPLOADED, checked.survey.id,
           {"file": sent.name, "language files": len(sent.files),
            "warnings": len(checked.warnings)})
    return _back(checked.survey.id, "done=uploaded")


# -- one survey: versions, publications, the draft ---------------------------------------
def _survey_page(request: Request, principal: Principal, survey_id: str, status: int = 200,
                 **context: Any) -> HTMLResponse:
    store = survey_store(request)
    summary = next((s for s in store.summaries() if s.survey_id == survey_id), None)
    if summary is None:
        return _error_page(request, principal, 404, "Not found",
                           f"There is no survey '{survey_id}'.")
    published = store.published_survey(survey_id)
    versions = store.versions(survey_id)
    publications = store.publications(survey_id)
    draft = store.draft(survey_id)
    draft_check: Validation | None = None
    same_as = None
    if draft is not None:
        draft_check = validate(draft.bundle)
        if draft_check.ok:
            same_as = next((v.version for v in versions
                            if v.content_hash == draft_check.content_hash), None)
    # Languages the live version speaks that the draft would drop (a flow uploaded without
    # its language files): people who chose them would get English, so say it before publishing.
    dropped: list[str] = []
    if published is not None and draft_check is not None and draft_check.survey is not None:
        dropped = [lang for lang in published.languages
                   if lang not in draft_check.survey.languages]
    params = request.query_params
    if params.get("published", "").isdigit():
        number = int(params["published"])
        context.setdefault("published_message", (
            f"Published: version {number} is now live." if params.get("new") == "1" else
            f"Published: the content is the same as version {number}, which is re-published "
            "and live now."))
    return render(request, "survey.html", principal, status, summary=summary, survey=published,
                  title=_title_of(store, survey_id, {survey_id: published} if published else {}),
                  versions=versions, publications=list(reversed(publications)),
                  live=publications[-1] if publications else None, draft=draft,
                  draft_check=draft_check, same_as=same_as, dropped=dropped,
                  done=DONE_MESSAGES.get(params.get("done", "")), **context)


@router.get("/surveys/{survey_id}", response_class=HTMLResponse)
def survey_page(request: Request, principal: Admin, survey_id: str) -> Response:
    return _survey_page(request, principal, survey_id)


def _back(survey_id: str, query: str) -> Response:
    return private(RedirectResponse(f"/console/surveys/{quote(survey_id, safe='')}?{query}",
                                    status_code=303))


@router.post("/surveys/{survey_id}/publish", response_class=HTMLResponse)
def publish_draft(request: Request, principal: AdminForm, survey_id: str) -> Response:
    """The draft becomes the next version (or the earlier version with the same content)."""
    try:
        result = survey_store(request).publish(survey_id, principal.actor.email)
    except SurveyStoreError as exc:
        return _survey_page(request, principal, survey_id, 409,
                            publish_error=f"Not published: {exc}.")
    _audit(request, principal, audit.SURVEY_PUBLISHED, survey_id,
           {"version": result.version, "new version": result.new_version})
    return _back(survey_id, f"published={result.version}&new={int(result.new_version)}")


@router.post("/surveys/{survey_id}/versions/{version}/publish", response_class=HTMLResponse)
def republish(request: Request, principal: AdminForm, survey_id: str, version: int) -> Response:
    """Rollback: an earlier version is live again (new conversations get it)."""
    store = survey_store(request)
    before = store.published_versions().get(survey_id)
    try:
        store.publish(survey_id, principal.actor.email, version=version)
    except SurveyStoreError as exc:
        return _survey_page(request, principal, survey_id, 409,
                            publish_error=f"Not re-published: {exc}.")
    _audit(request, principal, audit.SURVEY_ROLLED_BACK, survey_id,
           {"version": version, "was": before})
    return _back(survey_id, f"published={version}&new=0")


@router.post("/surveys/{survey_id}/discard", response_class=HTMLResponse)
def discard(request: Request, principal: AdminForm, survey_id: str) -> Response:
    if not survey_store(request).discard_draft(survey_id):
        return _survey_page(request, principal, survey_id, 409,
                            draft_error="There is no draft to discard.")
    _audit(request, principal, audit.SURVEY_DRAFT_DISCARDED, survey_id)
    return _back(survey_id, "done=discarded")


@router.post("/surveys/{survey_id}/draft", response_class=HTMLResponse)
def start_draft(request: Request, principal: AdminForm, form: Posted, survey_id: str) -> Response:
    """A draft copied from a version, to edit. Never over a draft there is."""
    store = survey_store(request)
    version = str(form.get("version") or "")
    if store.draft(survey_id) is not None:
        return _survey_page(request, principal, survey_id, 409, draft_error=(
            "There is a draft already: publish or discard it before starting another."))
    if not version.isdigit():
        return _survey_page(request, principal, survey_id, 400,
                            draft_error="Choose the version to start the draft from.")
    try:
        checked = store.start_draft(survey_id, principal.actor.email, int(version))
    except SurveyStoreError as exc:
        return _survey_page(request, principal, survey_id, 404, draft_error=f"{exc}.")
    if not checked.ok:
        return _survey_page(request, principal, survey_id, 409, draft_error=(
            f"Version {version} no longer loads as a draft: {checked.errors[0]}"))
    _audit(request, principal, audit.SURVEY_DRAFT_STARTED, survey_id, {"from version": int(version)})
    return _back(survey_id, "done=started")


# -- the draft's YAML -----------------------------------------------------------------------
def _no_draft(request: Request, principal: Principal, survey_id: str) -> HTMLResponse:
    return _survey_page(request, principal, survey_id, 409, draft_error=(
        f"Survey '{survey_id}' has no draft to edit: start one from a version below."))


def _save_draft(store: SurveyStore, survey_id: str, bundle: Bundle, by: str) -> list[str]:
    """Validate the edited draft and store it; the errors when it cannot be (nothing stored).
    The id cannot change here: that would make another survey's draft."""
    checked = validate(bundle)
    if checked.ok and checked.survey is not None and checked.survey.id != survey_id:
        return [f"{bundle.name}: the id must stay '{survey_id}' here (to make a new survey, "
                "upload the flow from the Surveys page)"]
    if not checked.ok:
        return checked.errors
    return store.upload(bundle, by).errors


def _source_page(request: Request, principal: Principal, survey_id: str, name: str, source: str,
                 errors: list[str] | None = None, status: int = 200) -> HTMLResponse:
    return render(request, "survey_source.html", principal, status, survey_id=survey_id,
                  name=name, source=source, line_count=source.count("\n") + 1,
                  errors=_problems(errors or [], {name: source}))


@router.get("/surveys/{survey_id}/source", response_class=HTMLResponse)
def source_page(request: Request, principal: Admin, survey_id: str) -> Response:
    draft = survey_store(request).draft(survey_id)
    if draft is None:
        return _no_draft(request, principal, survey_id)
    return _source_page(request, principal, survey_id, draft.bundle.name, draft.bundle.source)


@router.post("/surveys/{survey_id}/source", response_class=HTMLResponse)
def save_source(request: Request, principal: AdminForm, form: Posted, survey_id: str) -> Response:
    store = survey_store(request)
    draft = store.draft(survey_id)
    if draft is None:
        return _no_draft(request, principal, survey_id)
    source = str(form.get("source") or "").replace("\r\n", "\n")
    name = draft.bundle.name
    if len(source.encode()) > MAX_BYTES:
        errors = [f"The flow is over {MAX_BYTES // 1_000_000} MB."]
    elif not source.strip():
        errors = ["The flow is empty: write or paste the survey's YAML."]
    else:
        errors = _save_draft(store, survey_id, Bundle(name, source, draft.bundle.files),
                             principal.actor.email)
    if errors:
        return _source_page(request, principal, survey_id, name, source, errors, 400)
    _audit(request, principal, audit.SURVEY_SOURCE_EDITED, survey_id, {"file": name})
    return _back(survey_id, "done=saved")


# -- the draft's English texts in a form ----------------------------------------------------
@dataclass
class TextField:
    name: str  # the form field
    label: str
    value: str
    error: str | None = None
    optional: bool = False


@dataclass
class QuestionForm:
    number: int
    key: str
    type: str
    fields: list[TextField]
    new_option: list[TextField] = field(default_factory=list)  # choice questions: key, text


def _text_fields(survey: Survey) -> tuple[TextField, list[QuestionForm]]:
    """The draft's English texts as form fields, named by position (q3.o2: question 3's
    second option), as the YAML lists them."""
    title = TextField("title", "Survey title", survey.title.get("en", ""))
    questions = []
    for i, q in enumerate(survey.questions):
        fields = [TextField(f"q{i}.text", "Question", q.text.get("en", ""))]
        if q.intro:
            fields.append(TextField(f"q{i}.intro", "Introduction (sent just before)",
                                    q.intro.get("en", "")))
        for j, option in enumerate(q.options):
            fields.append(TextField(f"q{i}.o{j}", f"Option {j + 1} ({option.key})",
                                    option.text.get("en", "")))
        for end, word in (("min", "Scale: the words for 1"), ("max", "Scale: the words for 5")):
            if end in q.scale:
                fields.append(TextField(f"q{i}.{end}", word, q.scale[end].get("en", "")))
        new = [] if not q.options else [
            TextField(f"q{i}.new_key", "New option's key", "", optional=True),
            TextField(f"q{i}.new_text", "New option's text", "", optional=True)]
        questions.append(QuestionForm(i + 1, q.key, q.type, fields, new))
    return title, questions


def _draft_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


class _PlainDumper(yaml.SafeDumper):
    """Writes every value out in full: a text shared through a YAML alias becomes its own
    copy, so editing one question's option never changes another's."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _set_english(holder: dict[str, Any], key: str, value: str) -> None:
    """A text is one English string or texts by language: change only the English."""
    current = holder.get(key)
    if isinstance(current, dict):
        holder[key] = {**current, "en": value}
    else:
        holder[key] = value


def rewrite_texts(source: str, changes: dict[str, str],
                  added: dict[int, tuple[str, str]] | None = None) -> str:
    """The flow's YAML with English texts changed (`changes` by form field name) and options
    added at the end of questions (`added`: question index -> key, English text). Read and
    written again with PyYAML, so comments and anchors are not kept (docs/decisions.md)."""
    data = yaml.safe_load(source)
    questions = data.get("questions") or []
    copies = [dict(q) for q in questions]
    for name, value in changes.items():
        if name == "title":
            _set_english(data, "title", value)
            continue
        found = re.fullmatch(r"q(\d+)\.(text|intro|min|max|o(\d+))", name)
        if not found or int(found[1]) >= len(copies):
            continue
        question = copies[int(found[1])]
        if found[2] in ("text", "intro"):
            _set_english(question, found[2], value)
        elif found[2] in ("min", "max"):
            question["scale"] = dict(question.get("scale") or {})
            _set_english(question["scale"], found[2], value)
        else:
            options = [dict(o) for o in question.get("options") or []]
            if int(found[3]) < len(options):
                _set_english(options[int(found[3])], "text", value)
            question["options"] = options
    for index, (key, text) in (added or {}).items():
        if index < len(copies):
            question = copies[index]
            question["options"] = [*question.get("options", []), {"key": key, "text": {"en": text}}]
    if copies:
        data["questions"] = copies
    # Anchor holders (`_prefer_not`) only served the aliases, which are now written out.
    data = {k: v for k, v in data.items() if not str(k).startswith("_")}
    header = "# Texts edited in the console's question form (comments are not kept).\n"
    body = yaml.dump(data, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
    return header + body


def _questions_page(request: Request, principal: Principal, survey_id: str, survey: Survey,
                    source: str, typed: dict[str, str] | None = None,
                    errors: list[str] | None = None, status: int = 200) -> HTMLResponse:
    title, questions = _text_fields(survey)
    for f in [title] + [f for q in questions for f in q.fields + q.new_option]:
        if typed is not None and f.name in typed:
            f.value = typed[f.name]
            if not f.value.strip() and not f.optional:
                f.error = "Write the English text: it cannot be empty."
    return render(request, "survey_questions.html", principal, status, survey_id=survey_id,
                  title=title, questions=questions, draft_hash=_draft_hash(source),
                  errors=errors or [])


@router.get("/surveys/{survey_id}/questions", response_class=HTMLResponse)
def questions_page(request: Request, principal: Admin, survey_id: str) -> Response:
    store = survey_store(request)
    draft = store.draft(survey_id)
    if draft is None:
        return _no_draft(request, principal, survey_id)
    survey = store.draft_survey(survey_id)
    return _questions_page(request, principal, survey_id, survey, draft.bundle.source)


@router.post("/surveys/{survey_id}/questions", response_class=HTMLResponse)
def save_questions(request: Request, principal: AdminForm, form: Posted,
                   survey_id: str) -> Response:
    store = survey_store(request)
    draft = store.draft(survey_id)
    if draft is None:
        return _no_draft(request, principal, survey_id)
    survey = store.draft_survey(survey_id)
    title, questions = _text_fields(survey)
    now = {f.name: f.value for f in [title] + [f for q in questions for f in q.fields]}
    typed = {name: str(form.get(name) or "").replace("\r\n", "\n").strip() for name in now}
    errors: list[str] = []
    added: dict[int, tuple[str, str]] = {}
    for i, q in enumerate(questions):
        if q.new_option:
            key, text = (str(form.get(f.name) or "").strip() for f in q.new_option)
            typed |= {q.new_option[0].name: key, q.new_option[1].name: text}
            if key and text:
                added[i] = (key, text)
            elif key or text:
                errors.append(f"Question {q.number} ({q.key}): a new option needs both a key "
                              "and an English text.")
    if form.get("draft_hash") != _draft_hash(draft.bundle.source):
        errors.append(f"The draft was changed by {draft.updated_by} since you opened this page. "
                      "Your texts are below: check them against the new draft and save again.")
        return _questions_page(request, principal, survey_id, survey, draft.bundle.source,
                               typed, errors, 409)
    if any(not typed[k] for k in now):
        errors.append("Some texts are empty: every question, option and scale end needs its "
                      "English text.")
    changes = {k: typed[k] for k in now if typed[k] != now[k]}
    if not errors and (changes or added):
        source = rewrite_texts(draft.bundle.source, changes, added)
        errors = _save_draft(store, survey_id, Bundle(draft.bundle.name, source,
                                                      draft.bundle.files), principal.actor.email)
    if errors:
        return _questions_page(request, principal, survey_id, survey, draft.bundle.source,
                               typed, errors, 400)
    if changes or added:
        _audit(request, principal, audit.SURVEY_TEXTS_EDITED, survey_id,
               {"texts changed": len(changes), "options added": len(added)})
    return _back(survey_id, "done=saved")

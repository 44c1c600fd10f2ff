"""The console's language model page (admins): which Rasa model answers, the retrainer's
state and the last run's progress (polled by static/model.js), "Retrain now", and NLU
examples added to `nlu/<lang>.yml` of the model's sources, which then retrain.

The sources are where the retrainer trains from (`Retrainer.root`, the project by default).
An NLU file is changed by inserting lines into its intent's `examples: |` block, so its
comments and layout stay; the result must parse and hold the new examples, and is written
atomically (a temporary file renamed over it), so a crash leaves the old file or the new one.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bot.console import audit
from bot.console.auth import Principal, admin_form, admin_page, db_of, settings_of
from bot.console.web import PRIVATE_HEADERS, private, render, when
from bot.retrain import Retrainer, RetrainStatus
from bot.settings import PROJECT_ROOT
from bot.texts.catalogue import Catalogue

router = APIRouter(prefix="/console", include_in_schema=False)

Admin = Annotated[Principal, Depends(admin_page)]
AdminForm = Annotated[Principal, Depends(admin_form)]

MAX_EXAMPLES = 50  # lines in one go
MAX_EXAMPLE_LENGTH = 200  # characters per example
# Rasa's entity annotation ([text](entity) or [text]{...}): not for plain examples.
ENTITY_MARKUP = re.compile(r"\[[^\]]*\]\s*[({]")
DONE_MESSAGES = {"retrain": "Retraining has started. The current model keeps answering until "
                            "the new one is loaded."}
_write_lock = threading.Lock()


class NluError(ValueError):
    pass


@dataclass(frozen=True)
class Added:
    path: Path
    added: list[str]
    skipped: list[str]  # already examples of this intent


def retrainer_of(request: Request) -> Retrainer | None:
    return getattr(request.app.state, "retrainer", None)


def sources_root(request: Request) -> Path:
    """Where the model is trained from: the retrainer's sources, else the project."""
    retrainer = retrainer_of(request)
    return retrainer.root if retrainer is not None else PROJECT_ROOT


def intents_of(root: Path) -> list[str]:
    """The intents the domain declares (what NLU examples can teach)."""
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8")) or {}
    names = []
    for item in domain.get("intents") or []:
        names.append(next(iter(item)) if isinstance(item, dict) else str(item))
    return names


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _examples(block: str) -> list[str]:
    return [line.strip()[1:].strip() for line in block.splitlines()
            if line.strip().startswith("-")]


def parse_lines(text: str) -> list[str]:
    """The examples an admin typed, one a line (a leading "- " is a list bullet, not text).
    NluError says what is wrong with them."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = " ".join(raw.strip().removeprefix("- ").split())
        if not line:
            continue
        if len(line) > MAX_EXAMPLE_LENGTH:
            raise NluError(f"Line {number} is {len(line)} characters long: keep each example "
                           f"under {MAX_EXAMPLE_LENGTH}.")
        if any(unicodedata.category(c) in ("Cc", "Cf") and c not in "\u200c\u200d"
               for c in line):
            raise NluError(f"Line {number} holds a control character: type the text plainly.")
        if ENTITY_MARKUP.search(line):
            raise NluError(f"Line {number} looks like Rasa's entity markup ([text](entity)): "
                           "add plain examples only.")
        lines.append(line)
    if not lines:
        raise NluError("Write at least one example, one a line.")
    if len(lines) > MAX_EXAMPLES:
        raise NluError(f"{len(lines)} examples: add at most {MAX_EXAMPLES} at a time.")
    return lines


def add_examples(root: Path, lang: str, intent: str, lines: list[str]) -> Added:
    """Append `lines` to `intent` in nlu/<lang>.yml under `root`, skipping the ones already
    there; an example that belongs to another intent is refused (NluError)."""
    path = root / "nlu" / f"{lang}.yml"
    with _write_lock:
        text = path.read_text(encoding="utf-8") if path.exists() else \
            'version: "3.1"\nnlu:\n'
        data = yaml.safe_load(text) or {}
        have: dict[str, str] = {}  # folded example -> its intent
        for item in data.get("nlu") or []:
            if isinstance(item, dict) and "intent" in item:
                for example in _examples(str(item.get("examples") or "")):
                    have.setdefault(_fold(example), str(item["intent"]))
        added, skipped, clashes = [], [], []
        for line in lines:
            owner = have.get(_fold(line))
            if owner == intent:
                skipped.append(line)
            elif owner is not None:
                clashes.append(f"'{line}' (already {owner})")
            else:
                have[_fold(line)] = intent
                added.append(line)
        if clashes:
            raise NluError("These are examples of another intent, and one example can teach "
                           f"only one: {', '.join(clashes)}.")
        if added:
            new = _insert(text, intent, added)
            _check(new, intent, added)
            _write(path, new)
    return Added(path, added, skipped)


def _insert(text: str, intent: str, added: list[str]) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    head = re.compile(rf"^(\s*)- intent:\s*['\"]?{re.escape(intent)}['\"]?\s*$")
    for i, line in enumerate(lines):
        found = head.match(line.rstrip("\n"))
        if not found:
            continue
        indent = len(found.group(1))
        end, example_indent = i + 1, " " * (indent + 4)
        for j in range(i + 1, len(lines)):
            stripped = lines[j].strip()
            if stripped and len(lines[j]) - len(lines[j].lstrip()) <= indent:
                break
            if stripped.startswith("- "):
                end, example_indent = j + 1, lines[j][: len(lines[j]) - len(lines[j].lstrip())]
            elif stripped:
                end = j + 1
        new = [f"{example_indent}- {example}\n" for example in added]
        return "".join(lines[:end] + new + lines[end:])
    # A new intent for this language: a block of its own at the end.
    return "".join(lines) + f"  - intent: {intent}\n    examples: |\n" + "".join(
        f"      - {example}\n" for example in added)


def _check(text: str, intent: str, added: list[str]) -> None:
    """The new file parses, and its intent's examples are the old ones plus the new ones."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise NluError(f"The examples could not be added safely ({exc}); nothing was "
                       "changed.") from None
    examples = [e for item in data.get("nlu") or [] if isinstance(item, dict)
                and item.get("intent") == intent for e in _examples(str(item.get("examples")))]
    if any(example not in examples for example in added):
        raise NluError("The examples could not be added safely; nothing was changed.")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- what the page shows ----------------------------------------------------------------
def status_data(status: RetrainStatus) -> dict[str, Any]:
    return {
        "state": status.state, "running": status.running, "reason": status.reason,
        "started_at": when(status.started_at, seconds=True),
        "finished_at": when(status.finished_at, seconds=True),
        "progress": list(status.progress), "error": status.error, "model": status.model,
        "queued": status.queued,
        "load_seconds": None if status.load_seconds is None else round(status.load_seconds, 1),
    }


def external_model(request: Request) -> str | None:
    """The model an external Rasa server says it runs (None if it does not answer)."""
    url = settings_of(request).effective_rasa_url
    try:
        response = httpx.get(f"{url}/status", timeout=2.0)
        response.raise_for_status()
        return Path(str(response.json().get("model_file") or "")).name or None
    except (httpx.HTTPError, ValueError):
        return None


def _page(request: Request, principal: Principal, status_code: int = 200,
          **context: object) -> HTMLResponse:
    retrainer = retrainer_of(request)
    root = sources_root(request)
    catalogue = Catalogue.load()
    context.setdefault("form", {"intent": "", "language": "", "examples": ""})
    return render(
        request, "model.html", principal, status_code,
        retrainer=retrainer is not None,
        status=status_data(retrainer.status) if retrainer is not None else None,
        external=None if retrainer is not None else external_model(request),
        rasa_url=settings_of(request).effective_rasa_url,
        intents=intents_of(root),
        languages=[(c, catalogue.language_name(c), catalogue.is_rtl(c))
                   for c in catalogue.languages],
        done=DONE_MESSAGES.get(request.query_params.get("done", "")),
        max_examples=MAX_EXAMPLES, max_length=MAX_EXAMPLE_LENGTH, **context)


@router.get("/admin/model", response_class=HTMLResponse)
def model_page(request: Request, principal: Admin) -> Response:
    return _page(request, principal)


@router.get("/admin/model/status.json")
def model_status(request: Request, principal: Admin) -> Response:
    retrainer = retrainer_of(request)
    body = {"retrainer": False} if retrainer is None else {
        "retrainer": True, **status_data(retrainer.status)}
    return JSONResponse(body, headers=PRIVATE_HEADERS)


@router.post("/admin/model/retrain", response_class=HTMLResponse)
def retrain(request: Request, principal: AdminForm) -> Response:
    retrainer = retrainer_of(request)
    if retrainer is None:
        return _page(request, principal, 409, error="This bot does not run its own Rasa "
                     "server (RASA_URL is set): retrain the model where that server runs.")
    reason = f"asked in the console by {principal.email}"
    status = retrainer.request(reason)
    with db_of(request).transaction() as session:
        audit.record(session, principal.actor, audit.RETRAIN_REQUESTED, "language model",
                     {"reason": reason, "queued": status.queued})
    return private(RedirectResponse("/console/admin/model?done=retrain", status_code=303))


@router.post("/admin/model/examples", response_class=HTMLResponse)
def add_nlu_examples(request: Request, principal: AdminForm,
                     intent: Annotated[str, Form(max_length=64)] = "",
                     language: Annotated[str, Form(max_length=16)] = "",
                     examples: Annotated[str, Form(max_length=20000)] = "") -> Response:
    form = {"intent": intent, "language": language, "examples": examples}
    root = sources_root(request)
    try:
        if intent not in intents_of(root):
            raise NluError("Choose an intent from the list.")
        if language not in Catalogue.load().languages:
            raise NluError("Choose a language from the list.")
        done = add_examples(root, language, intent, parse_lines(examples))
    except NluError as exc:
        return _page(request, principal, 400, nlu_error=str(exc), form=form)
    retrainer = retrainer_of(request)
    started = bool(done.added) and retrainer is not None
    reason = f"NLU examples added in the console by {principal.email}"
    with db_of(request).transaction() as session:
        audit.record(session, principal.actor, audit.NLU_EXAMPLES_ADDED,
                     f"nlu/{language}.yml",
                     {"intent": intent, "language": language, "added": len(done.added),
                      "skipped": len(done.skipped), "retrain": started})
    if started:
        assert retrainer is not None
        retrainer.request(reason)
    return _page(request, principal, nlu_done=done, nlu_language=language, nlu_intent=intent,
                 retrain_started=started,
                 form={"intent": intent, "language": language, "examples": ""})

"""Survey versions in the database: drafts, frozen published versions, and which one is live.

A flow is uploaded (or edited) as a **draft**, one per survey id; it is validated first and an
invalid upload stores nothing. **Publishing** freezes the draft as the next version number:
the merged document with every language, its content hash, its source YAML and language files,
who and when. New conversations get the survey's published version (the newest publication);
a conversation always finishes on the version it started on, so versions are never changed or
deleted. Re-publishing an earlier version is a rollback. The files in `surveys/` are imported
as published versions whenever their content is new (`sync_folder`), so the repository's
surveys work as before.

Versions never change, so a parsed `Survey` is cached by (id, version) for the life of the
process; which version is published is read from the database each time it is needed (one
small query), so a publication from the CLI or another worker counts at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.storage.db import Database
from bot.storage.tables import (
    Answer,
    Conversation,
    SurveyDraft,
    SurveyPublication,
    SurveyVersion,
    utcnow,
)
from bot.survey import translations
from bot.survey.flow import FlowError, Question, Survey, language_gap, parse_survey, read_flow
from bot.survey.routing import fold_keyword


class SurveyStoreError(ValueError):
    """A request the store cannot do (no such survey, version or draft; a keyword clash)."""


# -- a flow and its language files, as text ---------------------------------------------------
@dataclass(frozen=True)
class Bundle:
    """A flow's YAML and its language files (`ar.yml`, `ar.machine.yml`), all as text."""

    name: str  # "demo.yml": names the flow in messages; its language files live in "demo/"
    source: str
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_path(cls, path: Path) -> Bundle:
        """A flow file and the language files in the folder beside it (`demo.yml`, `demo/`)."""
        path = Path(path)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SurveyStoreError(f"{path}: cannot read it ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise SurveyStoreError(f"{path.name}: not UTF-8 text") from exc
        if path.suffix not in (".yml", ".yaml"):
            raise SurveyStoreError(f"{path.name}: a survey is a .yml file")
        name = path.with_suffix(".yml").name
        try:
            return cls(name, source, translations.read_files(path.with_suffix(".yml")))
        except translations.TranslationError as exc:
            raise SurveyStoreError(str(exc)) from exc

    def write(self, folder: Path) -> Path:
        """The bundle as files in `folder` (for tools that work on files); returns the flow."""
        path = Path(folder) / self.name
        path.write_text(self.source, encoding="utf-8")
        if self.files:
            beside = translations.translations_dir(path)
            beside.mkdir(exist_ok=True)
            for name, text in self.files.items():
                (beside / name).write_text(text, encoding="utf-8")
        return path


@dataclass(frozen=True)
class Validation:
    """A flow checked: the survey and its document, or the errors; warnings either way."""

    survey: Survey | None
    document: dict[str, Any] | None  # JSON-ready, every language merged in
    errors: list[str]
    warnings: list[str]
    error_lines: list[int | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def content_hash(self) -> str:
        assert self.document is not None
        return content_hash(self.document)


def validate(bundle: Bundle, *, strict: bool = False) -> Validation:
    """Check a flow. A language file that misses texts leaves its language out of the survey
    with a warning naming the first missing text and its line; `strict` makes that an error."""
    incomplete: dict[str, list[str]] = {}
    try:
        data = read_flow(bundle.source, bundle.name, bundle.files, incomplete)
        parse_survey(data, bundle.name)  # with line numbers: the located error
    except FlowError as exc:
        exc.file = exc.file or bundle.name
        return Validation(None, None, [str(exc)], [], [exc.line])
    warnings = []
    for lang, missing in incomplete.items():
        gap = language_gap(data, lang, bundle.name)
        first = str(gap) if gap is not None else f"{bundle.name}: '{missing[0]}' has no text"
        warnings.append(
            f"{first}; language '{lang}' is left out of the survey until its "
            f"{len(missing)} missing text{'s' if len(missing) != 1 else ''} are written"
        )
    if strict and warnings:
        return Validation(None, None, warnings, [], [None] * len(warnings))
    document = _document(data)
    try:
        survey = parse_survey(document, bundle.name)
    except FlowError as exc:  # something YAML can say and JSON cannot (a date, a number key)
        return Validation(None, None, [f"{exc} (after conversion to JSON)"], warnings, [None])
    return Validation(survey, document, [], warnings)


def _document(data: dict[str, Any]) -> dict[str, Any]:
    """The merged flow as plain JSON: what is stored and hashed. Anchor holders (`_...`) go;
    aliases were resolved when the YAML was read."""
    plain = {k: v for k, v in data.items() if not str(k).startswith("_")}
    document: dict[str, Any] = json.loads(json.dumps(plain, ensure_ascii=False, default=str))
    return document


def content_hash(document: dict[str, Any]) -> str:
    """sha256 of the document's meaning: key order, comments and `version` do not count."""
    body = {k: v for k, v in document.items() if k != "version"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- what the store hands out --------------------------------------------------------------
@dataclass(frozen=True)
class DraftInfo:
    survey_id: str
    bundle: Bundle
    warnings: list[str]
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class VersionInfo:
    survey_id: str
    version: int
    content_hash: str
    created_at: datetime
    created_by: str
    source_name: str
    warnings: list[str]


@dataclass(frozen=True)
class Publication:
    survey_id: str
    version: int
    published_at: datetime
    published_by: str


@dataclass(frozen=True)
class Published:
    """The outcome of publishing: the version now live, and whether it was new."""

    survey_id: str
    version: int
    new_version: bool  # False: the content was already a version, which was re-published
    warnings: list[str]


@dataclass(frozen=True)
class SurveySummary:
    survey_id: str
    published_version: int | None
    status: str | None  # of the published version
    keywords: tuple[str, ...]
    languages: tuple[str, ...]
    versions: int
    has_draft: bool


@dataclass(frozen=True)
class Imported:
    """What `sync_folder` did with one file."""

    path: Path
    survey_id: str
    version: int
    new_version: bool
    warnings: list[str]


class SurveyStore:
    def __init__(self, db: Database, reserved_words: Callable[[], set[str]] | None = None) -> None:
        """`reserved_words`: folded words no keyword may be (by default STOP, START, yes and
        no in every language of the system texts)."""
        self.db = db
        self._cache: dict[tuple[str, int], Survey] = {}
        self._lock = threading.Lock()
        self._reserved = reserved_words or _stop_and_start_words

    # -- reading: what conversations need --------------------------------------------------
    def get(self, survey_id: str, version: int, session: Session | None = None) -> Survey:
        """One published version (frozen, so cached for good)."""
        key = (survey_id, version)
        survey = self._cache.get(key)
        if survey is not None:
            return survey
        with self._session(session) as s:
            row = s.scalar(
                select(SurveyVersion).where(
                    SurveyVersion.survey_id == survey_id, SurveyVersion.version == version
                )
            )
            if row is None:
                raise SurveyStoreError(f"survey '{survey_id}' has no version {version}")
            survey = parse_survey(row.document, row.source_name, version=row.version)
        with self._lock:
            self._cache[key] = survey
        return survey

    def published_versions(self, session: Session | None = None) -> dict[str, int]:
        """survey id -> its published version (the newest publication)."""
        with self._session(session) as s:
            newest = select(func.max(SurveyPublication.id)).group_by(SurveyPublication.survey_id)
            rows = s.execute(
                select(SurveyPublication.survey_id, SurveyPublication.version).where(
                    SurveyPublication.id.in_(newest)
                )
            )
            return {survey_id: version for survey_id, version in rows}

    def published(self, session: Session | None = None) -> dict[str, Survey]:
        """Every survey's published version, by id."""
        with self._session(session) as s:
            return {
                survey_id: self.get(survey_id, version, s)
                for survey_id, version in sorted(self.published_versions(s).items())
            }

    def published_survey(self, survey_id: str, session: Session | None = None) -> Survey | None:
        with self._session(session) as s:
            version = self.published_versions(s).get(survey_id)
            return None if version is None else self.get(survey_id, version, s)

    def open_surveys(self, session: Session | None = None) -> dict[str, Survey]:
        """The surveys whose published version is open."""
        return {k: v for k, v in self.published(session).items() if v.is_open}

    # -- reading: what admins see -----------------------------------------------------------
    def summaries(self) -> list[SurveySummary]:
        with self.db.read() as s:
            published = self.published(s)
            counts = dict(
                s.execute(
                    select(SurveyVersion.survey_id, func.count()).group_by(SurveyVersion.survey_id)
                ).all()
            )
            drafts = set(s.scalars(select(SurveyDraft.survey_id)))
        summaries = []
        for survey_id in sorted(set(counts) | drafts):
            survey = published.get(survey_id)
            summaries.append(
                SurveySummary(
                    survey_id,
                    survey.version if survey else None,
                    survey.status if survey else None,
                    survey.keywords if survey else (),
                    survey.languages if survey else (),
                    int(counts.get(survey_id, 0)),
                    survey_id in drafts,
                )
            )
        return summaries

    def versions(self, survey_id: str) -> list[VersionInfo]:
        with self.db.read() as s:
            rows = s.scalars(
                select(SurveyVersion)
                .where(SurveyVersion.survey_id == survey_id)
                .order_by(SurveyVersion.version)
            )
            return [
                VersionInfo(r.survey_id, r.version, r.content_hash, r.created_at, r.created_by,
                            r.source_name, list(r.warnings or []))
                for r in rows
            ]

    def publications(self, survey_id: str) -> list[Publication]:
        with self.db.read() as s:
            rows = s.scalars(
                select(SurveyPublication)
                .where(SurveyPublication.survey_id == survey_id)
                .order_by(SurveyPublication.id)
            )
            return [Publication(r.survey_id, r.version, r.published_at, r.published_by)
                    for r in rows]

    def version_bundle(self, survey_id: str, version: int) -> Bundle:
        """The YAML and language files a version was published from."""
        with self.db.read() as s:
            row = s.scalar(
                select(SurveyVersion).where(
                    SurveyVersion.survey_id == survey_id, SurveyVersion.version == version
                )
            )
            if row is None:
                raise SurveyStoreError(f"survey '{survey_id}' has no version {version}")
            return Bundle(row.source_name, row.source, dict(row.language_files or {}))

    # -- drafts -----------------------------------------------------------------------------
    def upload(self, bundle: Bundle, by: str) -> Validation:
        """Validate a flow and, if it is valid, make it the survey's draft (replacing the one
        there was). An invalid flow stores nothing: the result lists the errors."""
        checked = validate(bundle)
        if not checked.ok:
            return checked
        assert checked.survey is not None
        with self.db.transaction() as s:
            row = s.scalar(select(SurveyDraft).where(SurveyDraft.survey_id == checked.survey.id))
            if row is None:
                row = SurveyDraft(survey_id=checked.survey.id, created_at=utcnow())
                s.add(row)
            row.source_name = bundle.name
            row.source = bundle.source
            row.language_files = dict(bundle.files)
            row.warnings = checked.warnings or None
            row.updated_at = utcnow()
            row.updated_by = by
        return checked

    def draft(self, survey_id: str) -> DraftInfo | None:
        with self.db.read() as s:
            row = s.scalar(select(SurveyDraft).where(SurveyDraft.survey_id == survey_id))
            if row is None:
                return None
            bundle = Bundle(row.source_name, row.source, dict(row.language_files or {}))
            return DraftInfo(survey_id, bundle, list(row.warnings or []), row.updated_at,
                             row.updated_by)

    def draft_survey(self, survey_id: str) -> Survey:
        """The draft as a survey (version 0), for a preview."""
        draft = self._need_draft(survey_id)
        checked = validate(draft.bundle)
        if checked.survey is None:  # valid when stored; only a code change could do this
            raise SurveyStoreError(f"draft of '{survey_id}' no longer loads: {checked.errors[0]}")
        return checked.survey

    def start_draft(self, survey_id: str, by: str, version: int | None = None) -> Validation:
        """A draft copied from a version (the published one by default), to edit."""
        if version is None:
            version = self.published_versions().get(survey_id)
            if version is None:
                raise SurveyStoreError(f"survey '{survey_id}' has no published version")
        return self.upload(self.version_bundle(survey_id, version), by)

    def set_language_file(self, survey_id: str, name: str, text: str | None, by: str) -> Validation:
        """Write (or with None, remove) one language file of the draft, e.g. 'ar.yml'; the
        draft changes only if the result is valid."""
        draft = self._need_draft(survey_id)
        files = dict(draft.bundle.files)
        if text is None:
            files.pop(name, None)
        else:
            files[name] = text
        return self.upload(Bundle(draft.bundle.name, draft.bundle.source, files), by)

    def discard_draft(self, survey_id: str) -> bool:
        with self.db.transaction() as s:
            gone = s.execute(delete(SurveyDraft).where(SurveyDraft.survey_id == survey_id))
            return bool(getattr(gone, "rowcount", 0))

    @contextlib.contextmanager
    def draft_files(self, survey_id: str) -> Iterator[Path]:
        """The draft written out as files in a temporary folder, for the file-based tools
        (`translations.text_report`, `pretranslate.survey`); yields the flow's path."""
        draft = self._need_draft(survey_id)
        with tempfile.TemporaryDirectory(prefix="survey-draft-") as folder:
            yield draft.bundle.write(Path(folder))

    def pretranslate_draft(
        self,
        survey_id: str,
        lang: str,
        translate: Callable[[str, str], str],
        progress: Callable[[str], None],
        by: str,
    ) -> Any:
        """Machine texts for what the draft misses in `lang` (never over a person's text), kept
        in the draft's `<lang>.machine.yml`. Returns bot.pretranslate's Result."""
        from bot import pretranslate

        with self.draft_files(survey_id) as path:
            result = pretranslate.survey(path, lang, translate, progress)
            if result.path is not None:
                written = result.path.read_text(encoding="utf-8")
                checked = self.set_language_file(survey_id, result.path.name, written, by)
                if not checked.ok:
                    raise SurveyStoreError(checked.errors[0])
        return result

    # -- publishing -------------------------------------------------------------------------
    def publish(self, survey_id: str, by: str, version: int | None = None) -> Published:
        """Publish the draft (it becomes the next version, or the earlier version with the
        same content), or with `version`, re-publish that earlier version (a rollback)."""
        if version is not None:
            with self.db.transaction() as s:
                survey = self.get(survey_id, version, s)
                self._check_keywords(s, survey)
                s.add(SurveyPublication(survey_id=survey_id, version=version,
                                        published_at=utcnow(), published_by=by))
            return Published(survey_id, version, False, [])
        draft = self._need_draft(survey_id)
        checked = validate(draft.bundle)
        if not checked.ok:
            raise SurveyStoreError(checked.errors[0])
        return self._freeze(draft.bundle, checked, by, drop_draft=True)

    def sync_folder(self, directory: Path, by: str = "") -> list[Imported]:
        """Import every `*.yml` flow in `directory` whose content is not a version yet, and
        publish it. Unchanged files do nothing, so a rollback or a console publication stays
        until the file itself changes. A flow with errors stops the import (FlowError)."""
        done = []
        for path in sorted(Path(directory).glob("*.yml")):
            bundle = Bundle.from_path(path)
            checked = validate(bundle)
            if not checked.ok:
                raise FlowError(checked.errors[0])
            assert checked.survey is not None
            known = self._version_with_hash(checked.survey.id, checked.content_hash)
            if known is not None:
                continue
            who = by or f"{path.parent.name}/{path.name}"
            result = self._freeze(bundle, checked, who)
            done.append(Imported(path, result.survey_id, result.version, result.new_version,
                                 checked.warnings))
        return done

    def _freeze(
        self, bundle: Bundle, checked: Validation, by: str, drop_draft: bool = False
    ) -> Published:
        """Store the checked flow as a new version (or find the version with its content) and
        publish it, in one transaction; with `drop_draft`, the draft goes in the same one."""
        assert checked.survey is not None and checked.document is not None
        survey_id, digest = checked.survey.id, checked.content_hash
        for _attempt in range(3):  # another process may take the same number: try the next
            try:
                with self.db.transaction() as s:
                    self._check_keywords(s, checked.survey)
                    existing = s.scalar(
                        select(SurveyVersion.version).where(
                            SurveyVersion.survey_id == survey_id,
                            SurveyVersion.content_hash == digest,
                        )
                    )
                    new = existing is None
                    if existing is None:
                        number = 1 + (
                            s.scalar(
                                select(func.max(SurveyVersion.version)).where(
                                    SurveyVersion.survey_id == survey_id
                                )
                            )
                            or 0
                        )
                        s.add(
                            SurveyVersion(
                                survey_id=survey_id,
                                version=number,
                                document={**checked.document, "version": number},
                                content_hash=digest,
                                source_name=bundle.name,
                                source=bundle.source,
                                language_files=dict(bundle.files),
                                warnings=checked.warnings or None,
                                created_at=utcnow(),
                                created_by=by,
                            )
                        )
                        s.flush()
                    else:
                        number = existing
                    s.add(SurveyPublication(survey_id=survey_id, version=number,
                                            published_at=utcnow(), published_by=by))
                    if drop_draft:
                        s.execute(delete(SurveyDraft).where(SurveyDraft.survey_id == survey_id))
                return Published(survey_id, number, new, checked.warnings)
            except IntegrityError:
                continue
        raise SurveyStoreError(f"could not publish '{survey_id}': others kept publishing at once")

    def _check_keywords(self, session: Session, survey: Survey) -> None:
        """A keyword starts one survey only, and is never a STOP or START word."""
        reserved = self._reserved()
        for word in survey.keywords:
            if fold_keyword(word) in reserved:
                raise SurveyStoreError(
                    f"survey '{survey.id}': keyword '{word}' is a STOP, START, yes or no word "
                    "in one of the bot's languages, which always means that"
                )
            if not any(c.isalpha() for c in word):
                raise SurveyStoreError(
                    f"survey '{survey.id}': keyword '{word}' needs a letter (numbers are answers)"
                )
        if not survey.is_open:
            return
        mine = {fold_keyword(w): w for w in survey.keywords}
        for other in self.open_surveys(session).values():
            if other.id == survey.id:
                continue
            for word in other.keywords:
                if fold_keyword(word) in mine:
                    raise SurveyStoreError(
                        f"survey '{survey.id}': keyword '{mine[fold_keyword(word)]}' already "
                        f"starts survey '{other.id}' (version {other.version})"
                    )

    def _version_with_hash(self, survey_id: str, digest: str) -> int | None:
        with self.db.read() as s:
            return s.scalar(
                select(SurveyVersion.version).where(
                    SurveyVersion.survey_id == survey_id, SurveyVersion.content_hash == digest
                )
            )

    def _need_draft(self, survey_id: str) -> DraftInfo:
        draft = self.draft(survey_id)
        if draft is None:
            raise SurveyStoreError(
                f"survey '{survey_id}' has no draft (upload one: listening-bot survey upload FILE)"
            )
        return draft

    @contextlib.contextmanager
    def _session(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
        else:
            with self.db.read() as s:
                yield s


def _stop_and_start_words() -> set[str]:
    """Words a keyword may not be: STOP and START (carriers' and every language's: the worker
    reads them before anything else), and yes and no (answers at the consent question)."""
    from bot.survey.shortcuts import keywords
    from bot.texts.catalogue import Catalogue

    catalogue = Catalogue.load()
    stop, start = keywords(catalogue)
    answers = {
        fold_keyword(w)
        for lang in catalogue.languages
        for key in ("yes_words", "no_words")
        for w in catalogue.words(lang, key)
    }
    return set(stop) | set(start) | answers


# -- results across versions ---------------------------------------------------------------
@dataclass(frozen=True)
class QuestionAcross:
    """A question key and the versions that ask it: one key is one question across versions."""

    key: str
    versions: tuple[int, ...]
    type: str  # in the newest version that asks it
    text_en: str
    changed_type: bool  # some versions ask it as another type: compare with care
    free_text: bool  # answered in people's own words (a text question without validation)


@dataclass(frozen=True)
class AnswerRow:
    conversation_id: int
    survey_version: int
    question_key: str
    status: str
    value: Any
    language: str | None
    created_at: datetime


def questions_across_versions(store: SurveyStore, survey_id: str) -> list[QuestionAcross]:
    """Every question key any version asked, in the newest version's order (keys only older
    versions have come after, newest first)."""
    versions = [v.version for v in store.versions(survey_id)]
    seen: dict[str, list[tuple[int, Question]]] = {}
    for number in sorted(versions, reverse=True):
        for q in store.get(survey_id, number).questions:
            seen.setdefault(q.key, []).append((number, q))
    return [
        QuestionAcross(
            key,
            tuple(sorted(n for n, _ in asked)),
            asked[0][1].type,
            asked[0][1].text_in("en"),
            len({q.type for _, q in asked}) > 1,
            asked[0][1].type == "text" and asked[0][1].validate is None,
        )
        for key, asked in seen.items()
    ]


def answers_by_question(
    db: Database, survey_id: str, versions: list[int] | None = None
) -> dict[str, list[AnswerRow]]:
    """Answers to a survey across its versions (or the ones given), grouped by question key:
    the same key is the same question, so version 1's and version 2's answers count together."""
    query = (
        select(Answer, Conversation.survey_version)
        .join(Conversation, Conversation.id == Answer.conversation_id)
        .where(Conversation.survey_id == survey_id)
        .order_by(Answer.id)
    )
    if versions is not None:
        query = query.where(Conversation.survey_version.in_(versions))
    grouped: dict[str, list[AnswerRow]] = {}
    with db.read() as s:
        for answer, version in s.execute(query):
            grouped.setdefault(answer.question_key, []).append(
                AnswerRow(answer.conversation_id, version, answer.question_key, answer.status,
                          answer.value, answer.language, answer.created_at)
            )
    return grouped

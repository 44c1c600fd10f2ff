"""Survey flows as data: load a YAML survey, check it, and walk its skip logic.

A bad flow fails at load time with a message naming the file, the line, the question and the
field, so a mistake is found when the survey is uploaded, not when a person meets it. YAML's
habit of reading a bare yes/no as true/false is caught (or, in `show_if` on a yes/no question,
understood). The format is documented in docs/survey-format.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.survey import lines, translations

QUESTION_TYPES = ("yesno", "single", "multiple", "scale", "text", "number")
CHOICE_TYPES = ("single", "multiple")
VALIDATORS = ("postcode_district",)
SCALE = (1, 5)
PREFER_NOT = "prefer_not"  # the value of "prefer not to say" on an optional question
QUESTION_FIELDS = {
    "key",
    "type",
    "text",
    "options",
    "scale",
    "show_if",
    "validate",
    "intro",
    "optional",
    "range",
}
OPTION_FIELDS = {"key", "text", "aliases", "range"}
# Top-level fields; any field starting with "_" is free (a place for YAML anchors).
SURVEY_FIELDS = {"id", "version", "title", "translations", "questions", "keywords", "status"}
OPEN, CLOSED = "open", "closed"
STATUSES = (OPEN, CLOSED)
NUMBER_LIMIT = 999_999  # a number question's range stays within what people type


class FlowError(ValueError):
    """What is wrong with a flow; `file` and `line` say where, when known."""

    def __init__(self, message: str, line: int | None = None, file: str | None = None) -> None:
        super().__init__(message)
        self.message, self.line, self.file = message, line, file

    def __str__(self) -> str:
        where = " ".join(p for p in (self.file, f"line {self.line}" if self.line else "") if p)
        return f"{where}: {self.message}" if where else self.message


@contextmanager
def _at(raw: Any) -> Iterator[None]:
    """An error raised inside gets the line of `raw`'s mapping, unless it has a nearer one."""
    try:
        yield
    except FlowError as exc:
        if exc.line is None:
            exc.line = lines.line_of(raw)
        raise


def _in(texts: dict[str, str], lang: str | None) -> str:
    return texts.get(lang or "en") or texts["en"]


@dataclass(frozen=True)
class Option:
    key: str
    text: dict[str, str]
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    range: tuple[int, int] | None = None  # numbers meaning this option, e.g. ages 35-44

    def text_in(self, lang: str | None) -> str:
        return _in(self.text, lang)


@dataclass(frozen=True)
class Question:
    key: str
    type: str
    text: dict[str, str]
    options: tuple[Option, ...] = ()
    scale: dict[str, dict[str, str]] = field(default_factory=dict)  # min/max -> texts
    show_if: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    validate: str | None = None
    intro: dict[str, str] = field(default_factory=dict)
    optional: bool = False  # "prefer not to say" in words is an answer
    range: tuple[int, int] | None = None  # a number question's lowest and highest answer

    def text_in(self, lang: str | None) -> str:
        return _in(self.text, lang)

    def intro_in(self, lang: str | None) -> str | None:
        return _in(self.intro, lang) if self.intro else None

    def scale_label(self, end: str, lang: str | None) -> str:
        return _in(self.scale[end], lang)

    def applies(self, answers: dict[str, Any]) -> bool:
        """Skip logic: every condition must match an earlier answer (a list matches any member)."""
        for key, allowed in self.show_if.items():
            value = answers.get(key)
            values = value if isinstance(value, list) else [value]
            if not any(v in allowed for v in values):
                return False
        return True


@dataclass(frozen=True)
class Survey:
    id: str
    version: int
    title: dict[str, str]
    questions: tuple[Question, ...]
    languages: tuple[str, ...]
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()  # a first message that is one of these starts this survey
    status: str = OPEN  # closed: people who write get a polite "closed" and no questions

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    def title_in(self, lang: str | None) -> str:
        return _in(self.title, lang)

    def question(self, key: str) -> Question:
        for q in self.questions:
            if q.key == key:
                return q
        raise KeyError(f"survey '{self.id}' has no question '{key}'")

    def first_question(self, answers: dict[str, Any]) -> Question | None:
        return self._next_from(0, answers)

    def next_question(self, after_key: str, answers: dict[str, Any]) -> Question | None:
        """The next question after `after_key` whose show_if holds; None at the end."""
        index = self.questions.index(self.question(after_key))
        return self._next_from(index + 1, answers)

    def _next_from(self, index: int, answers: dict[str, Any]) -> Question | None:
        return next((q for q in self.questions[index:] if q.applies(answers)), None)


# -- loading -----------------------------------------------------------------------------
def _texts(value: Any, where: str, languages: tuple[str, ...]) -> dict[str, str]:
    line = lines.line_of(value)
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, dict):
        raise FlowError(f"{where}: expected texts per language, got {type(value).__name__}", line)
    for lang, text in value.items():
        if isinstance(text, bool):
            raise FlowError(f"{where}: the '{lang}' text reads as {text}; put it in quotes", line)
    texts = {str(k): str(v).strip() for k, v in value.items() if v is not None}
    for lang in languages:
        if not texts.get(lang):
            raise FlowError(f"{where} has no '{lang}' text", line)
    return texts


def _unknown_fields(raw: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in set(raw) - known)
    if unknown:
        raise FlowError(
            f"{where}: unknown field '{unknown[0]}' (known: {', '.join(sorted(known))})"
        )


def _range(span: Any, where: str, limit: int | None = None) -> tuple[int, int]:
    if not (
        isinstance(span, list)
        and len(span) == 2
        and all(type(x) is int for x in span)
        and span[0] <= span[1]
    ):
        raise FlowError(f"{where} must be [lowest, highest] whole numbers")
    if limit is not None and not (-limit <= span[0] and span[1] <= limit):
        raise FlowError(f"{where} must stay within -{limit} and {limit}")
    return span[0], span[1]


def _option(raw: Any, n: int, where: str, languages: tuple[str, ...]) -> Option:
    with _at(raw):
        if isinstance(raw, dict) and isinstance(raw.get("key"), bool):
            raise FlowError(f"{where}: option {n} key reads as {raw['key']}; put it in quotes")
        if not isinstance(raw, dict) or not raw.get("key"):
            raise FlowError(f"{where}: option {n} needs a 'key'")
        _unknown_fields(raw, OPTION_FIELDS, f"{where}: option {n}")
        aliases = raw.get("aliases") or {}
        if not isinstance(aliases, dict) or not all(isinstance(v, list) for v in aliases.values()):
            raise FlowError(
                f"{where}: option {n} aliases must be lists per language, like {{en: [word]}}"
            )
        span = raw.get("range")
        return Option(
            str(raw["key"]),
            _texts(raw.get("text"), f"{where}: option {n}", languages),
            {str(lang): tuple(str(a) for a in words) for lang, words in aliases.items()},
            _range(span, f"{where}: option {n} range") if span is not None else None,
        )


def _show_if(
    raw: Any, where: str, earlier: dict[str, Question], known: set[str]
) -> dict[str, tuple[Any, ...]]:
    if not isinstance(raw, dict):
        raise FlowError(f"{where}: show_if must map earlier questions to answers")
    conditions: dict[str, tuple[Any, ...]] = {}
    for ref, allowed in raw.items():
        ref = str(ref)
        if ref not in known:
            raise FlowError(f"{where}: show_if refers to unknown question '{ref}'")
        if ref not in earlier:
            raise FlowError(f"{where}: show_if refers to '{ref}', which is not an earlier question")
        target = earlier[ref]
        values = allowed if isinstance(allowed, list) else [allowed]
        if target.type == "yesno":  # `{needed_interpreter: yes}` reads as True in YAML
            values = [
                {True: "yes", False: "no"}.get(v, v) if isinstance(v, bool) else v for v in values
            ]
            possible: list[Any] = ["yes", "no"]
        elif target.type in CHOICE_TYPES:
            possible = [o.key for o in target.options]
        elif target.type == "scale":
            possible = list(range(SCALE[0], SCALE[1] + 1))
        elif target.type == "number" and target.range:
            low, high = target.range
            possible = [v for v in values if type(v) is int and low <= v <= high]
            if len(possible) != len(values):
                bad = next(v for v in values if v not in possible)
                raise FlowError(
                    f"{where}: show_if value {bad!r} is not an answer to '{ref}' "
                    f"(a whole number from {low} to {high})"
                )
        else:
            possible = values
        for v in values:
            if v not in possible:
                raise FlowError(
                    f"{where}: show_if value {v!r} is not an answer to '{ref}' "
                    f"({', '.join(map(str, possible))})"
                )
        conditions[ref] = tuple(values)
    return conditions


def _question(
    raw: Any, index: int, languages: tuple[str, ...], earlier: dict[str, Question], known: set[str]
) -> Question:
    with _at(raw):
        if not isinstance(raw, dict) or not raw.get("key"):
            raise FlowError(f"question {index + 1}: needs a 'key'")
        key = str(raw["key"])
        return _question_fields(raw, key, languages, earlier, known)


def _question_fields(
    raw: dict[str, Any],
    key: str,
    languages: tuple[str, ...],
    earlier: dict[str, Question],
    known: set[str],
) -> Question:
    where = f"question '{key}'"
    _unknown_fields(raw, QUESTION_FIELDS, where)
    qtype = raw.get("type")
    if qtype not in QUESTION_TYPES:
        raise FlowError(f"{where}: type must be one of {', '.join(QUESTION_TYPES)}, got {qtype!r}")
    options: list[Option] = []
    if qtype in CHOICE_TYPES:
        raw_options = raw.get("options") or []
        if not isinstance(raw_options, list) or len(raw_options) < 2:
            raise FlowError(f"{where}: a {qtype} question needs at least 2 options")
        options = [_option(opt, n, where, languages) for n, opt in enumerate(raw_options, start=1)]
        keys = [o.key for o in options]
        if len(set(keys)) != len(keys):
            raise FlowError(f"{where}: option keys must be unique")
    elif raw.get("options"):
        raise FlowError(f"{where}: only single and multiple questions have options")
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        raise FlowError(f"{where}: optional must be true or false")
    if optional and qtype in CHOICE_TYPES and PREFER_NOT not in [o.key for o in options]:
        raise FlowError(f"{where}: an optional {qtype} question needs a '{PREFER_NOT}' option")
    scale = {}
    if qtype == "scale":
        raw_scale = raw.get("scale") or {}
        with _at(raw_scale):
            for end in ("min", "max"):
                scale[end] = _texts(raw_scale.get(end), f"{where}: scale {end} label", languages)
    elif raw.get("scale"):
        raise FlowError(f"{where}: only scale questions have a scale")
    span = None
    if qtype == "number":
        if raw.get("range") is None:
            raise FlowError(f"{where}: a number question needs a range, like range: [0, 120]")
        span = _range(raw["range"], f"{where}: range", NUMBER_LIMIT)
    elif raw.get("range") is not None:
        raise FlowError(f"{where}: only number questions have a range (options have their own)")
    validate = raw.get("validate")
    if validate is not None and (qtype != "text" or validate not in VALIDATORS):
        raise FlowError(
            f"{where}: validate must be one of {', '.join(VALIDATORS)}, on a text question"
        )
    show_if = {}
    if raw.get("show_if"):
        with _at(raw["show_if"]):
            show_if = _show_if(raw["show_if"], where, earlier, known)
    intro = {}
    if raw.get("intro"):
        intro = _texts(raw["intro"], f"{where}: intro", languages)
    return Question(
        key=key,
        type=qtype,
        text=_texts(raw.get("text"), where, languages),
        options=tuple(options),
        scale=scale,
        show_if=show_if,
        validate=validate,
        intro=intro,
        optional=optional,
        range=span,
    )


def _languages(data: dict[str, Any], source: str) -> tuple[str, ...]:
    """The survey's languages: those in `translations`, else those of its title."""
    declared = data.get("translations") or data.get("title")
    languages = (
        tuple(str(k) for k in declared) if isinstance(declared, dict) and declared else ("en",)
    )
    if "en" not in languages:
        raise FlowError("English ('en') texts are required as the fallback", file=source)
    return languages


def _keywords(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    with _at(raw):
        if not isinstance(raw, list):
            raise FlowError("keywords must be a list, like keywords: [HEALTH, ZDROWIE]")
        words: list[str] = []
        for n, word in enumerate(raw, start=1):
            if isinstance(word, bool):
                raise FlowError(f"keyword {n} reads as {word}; put it in quotes")
            if not isinstance(word, str | int) or not str(word).strip():
                raise FlowError(f"keyword {n} must be a word or a few words")
            if str(word).strip().casefold() in (w.casefold() for w in words):
                raise FlowError(f"keyword {n} ({word!r}) is listed twice")
            words.append(str(word).strip())
    return tuple(words)


SURVEY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def parse_survey(data: Any, source: str = "survey", version: int | None = None) -> Survey:
    """A survey from its merged document. `version` is the published version number (the
    store's); without it, the document's own `version`, else 0 (not published)."""
    if not isinstance(data, dict):
        raise FlowError("expected a mapping at the top", file=source)
    unknown = sorted(str(k) for k in data if str(k) not in SURVEY_FIELDS and not str(k).startswith("_"))
    if unknown:
        raise FlowError(
            f"unknown field '{unknown[0]}' (known: {', '.join(sorted(SURVEY_FIELDS))}; "
            "names starting with _ are free for YAML anchors)",
            file=source,
        )
    for name in ("id", "questions"):
        if name not in data:
            raise FlowError(f"missing '{name}'", file=source)
    if not SURVEY_ID.match(str(data["id"])):
        raise FlowError(
            "id must be lower-case letters, digits, - or _ (up to 64), like 'health-2027'",
            file=source,
        )
    if "version" in data and type(data["version"]) is not int:
        raise FlowError("version must be a whole number", file=source)
    status = data.get("status", OPEN)
    if status not in STATUSES:
        raise FlowError(f"status must be {' or '.join(STATUSES)}, got {status!r}", file=source)
    raw_questions = data["questions"] or []
    if not isinstance(raw_questions, list) or not raw_questions:
        raise FlowError("has no questions", file=source)
    languages = _languages(data, source)
    known = {str(q["key"]) for q in raw_questions if isinstance(q, dict) and q.get("key")}
    earlier: dict[str, Question] = {}
    for index, raw in enumerate(raw_questions):
        question = _question(raw, index, languages, earlier, known)
        if question.key in earlier:
            raise FlowError(f"question '{question.key}': key used twice", lines.line_of(raw))
        earlier[question.key] = question
    try:
        with _at(data.get("title")):
            title = _texts(data.get("title") or {"en": str(data["id"])}, "title", languages)
    except FlowError as exc:
        exc.file = exc.file or source
        raise
    number = version if version is not None else data.get("version", 0)
    return Survey(
        str(data["id"]),
        number,
        title,
        tuple(earlier.values()),
        languages,
        dict(data.get("translations") or {}),
        _keywords(data.get("keywords")),
        status,
    )


# -- from files and text ---------------------------------------------------------------------
def read_flow(
    text: str,
    name: str,
    language_files: Mapping[str, str] | None = None,
    incomplete: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The flow's YAML with its language files (file name -> text, as in `surveys/<id>/`)
    merged in: the document `parse_survey` reads. Mappings remember their lines."""
    try:
        try:
            data = lines.load(text)
        except yaml.YAMLError as exc:
            raise FlowError(f"not valid YAML: {lines.yaml_problem(exc)}",
                            lines.yaml_error_line(exc)) from exc
        if not isinstance(data, dict):
            raise FlowError("expected a mapping at the top")
        return translations.apply_files(data, name, language_files or {}, incomplete)
    except translations.TranslationError as exc:
        raise FlowError(exc.message, exc.line, exc.file) from exc
    except FlowError as exc:
        exc.file = exc.file or name
        raise


def load_text(
    text: str,
    name: str,
    language_files: Mapping[str, str] | None = None,
    incomplete: dict[str, list[str]] | None = None,
) -> Survey:
    """A survey from its YAML text and its language files' texts (see `read_flow`)."""
    data = read_flow(text, name, language_files, incomplete)
    try:
        return parse_survey(data, name)
    except FlowError as exc:
        exc.file = exc.file or name
        raise


def language_gap(data: dict[str, Any], lang: str, name: str) -> FlowError | None:
    """Why `lang` was left out of a leniently merged flow: its first missing text, located
    ("demo.yml line 42: question 'x': option 3 has no 'ar' text")."""
    strict = {**data, "translations": {**dict(data.get("translations") or {}), lang: {}}}
    try:
        parse_survey(strict, name)
    except FlowError as exc:
        exc.file = exc.file or name
        return exc
    return None


def load_survey(path: Path, incomplete: dict[str, list[str]] | None = None) -> Survey:
    """A survey and its language files. Strict by default: a language missing a text fails.
    Pass `incomplete` to leave such languages out instead (they are listed there)."""
    path = Path(path)
    return load_text(
        path.read_text(encoding="utf-8"), path.name, translations.read_files(path), incomplete
    )


def load_surveys(
    directory: Path, incomplete: dict[str, dict[str, list[str]]] | None = None
) -> dict[str, Survey]:
    """Every survey in a folder, by id; two files with one id is an error. With `incomplete`,
    languages missing texts are left out and listed there per survey id."""
    surveys: dict[str, Survey] = {}
    for path in sorted(Path(directory).glob("*.yml")):
        missing: dict[str, list[str]] | None = None if incomplete is None else {}
        survey = load_survey(path, missing)
        if incomplete is not None and missing:
            incomplete[survey.id] = missing
        if survey.id in surveys:
            raise FlowError(f"survey id '{survey.id}' is used by another file too", file=path.name)
        surveys[survey.id] = survey
    return surveys

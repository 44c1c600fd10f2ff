"""Survey flows as data: load a YAML survey, check it, and walk its skip logic.

A bad flow fails at load time with a message naming the question and the field, so a mistake
is found when the survey is published, not when a person meets it. YAML's habit of reading a
bare yes/no as true/false is caught (or, in `show_if` on a yes/no question, understood).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.survey import translations

QUESTION_TYPES = ("yesno", "single", "multiple", "scale", "text")
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
}
OPTION_FIELDS = {"key", "text", "aliases", "range"}


class FlowError(ValueError):
    pass


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
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, dict):
        raise FlowError(f"{where}: expected texts per language, got {type(value).__name__}")
    for lang, text in value.items():
        if isinstance(text, bool):
            raise FlowError(f"{where}: the '{lang}' text reads as {text}; put it in quotes")
    texts = {str(k): str(v).strip() for k, v in value.items() if v is not None}
    for lang in languages:
        if not texts.get(lang):
            raise FlowError(f"{where} has no '{lang}' text")
    return texts


def _unknown_fields(raw: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in set(raw) - known)
    if unknown:
        raise FlowError(
            f"{where}: unknown field '{unknown[0]}' (known: {', '.join(sorted(known))})"
        )


def _option(raw: Any, n: int, where: str, languages: tuple[str, ...]) -> Option:
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
    if span is not None and not (
        isinstance(span, list)
        and len(span) == 2
        and all(type(x) is int for x in span)
        and span[0] <= span[1]
    ):
        raise FlowError(f"{where}: option {n} range must be [lowest, highest] whole numbers")
    return Option(
        str(raw["key"]),
        _texts(raw.get("text"), f"{where}: option {n}", languages),
        {str(lang): tuple(str(a) for a in words) for lang, words in aliases.items()},
        (span[0], span[1]) if span else None,
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
    if not isinstance(raw, dict) or not raw.get("key"):
        raise FlowError(f"question {index + 1}: needs a 'key'")
    key = str(raw["key"])
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
        for end in ("min", "max"):
            scale[end] = _texts(
                (raw.get("scale") or {}).get(end), f"{where}: scale {end} label", languages
            )
    validate = raw.get("validate")
    if validate is not None and (qtype != "text" or validate not in VALIDATORS):
        raise FlowError(
            f"{where}: validate must be one of {', '.join(VALIDATORS)}, on a text question"
        )
    return Question(
        key=key,
        type=qtype,
        text=_texts(raw.get("text"), where, languages),
        options=tuple(options),
        scale=scale,
        show_if=_show_if(raw["show_if"], where, earlier, known) if raw.get("show_if") else {},
        validate=validate,
        intro=_texts(raw["intro"], f"{where}: intro", languages) if raw.get("intro") else {},
        optional=optional,
    )


def _languages(data: dict[str, Any], source: str) -> tuple[str, ...]:
    """The survey's languages: those in `translations`, else those of its title."""
    declared = data.get("translations") or data.get("title")
    languages = (
        tuple(str(k) for k in declared) if isinstance(declared, dict) and declared else ("en",)
    )
    if "en" not in languages:
        raise FlowError(f"{source}: English ('en') texts are required as the fallback")
    return languages


def parse_survey(data: Any, source: str = "survey") -> Survey:
    if not isinstance(data, dict):
        raise FlowError(f"{source}: expected a mapping at the top")
    for name in ("id", "version", "questions"):
        if name not in data:
            raise FlowError(f"{source}: missing '{name}'")
    if type(data["version"]) is not int:
        raise FlowError(f"{source}: version must be a whole number")
    raw_questions = data["questions"] or []
    if not isinstance(raw_questions, list) or not raw_questions:
        raise FlowError(f"{source}: has no questions")
    languages = _languages(data, source)
    known = {str(q["key"]) for q in raw_questions if isinstance(q, dict) and q.get("key")}
    earlier: dict[str, Question] = {}
    for index, raw in enumerate(raw_questions):
        question = _question(raw, index, languages, earlier, known)
        if question.key in earlier:
            raise FlowError(f"question '{question.key}': key used twice")
        earlier[question.key] = question
    title = _texts(data.get("title") or {"en": str(data["id"])}, f"{source}: title", languages)
    return Survey(
        str(data["id"]),
        data["version"],
        title,
        tuple(earlier.values()),
        languages,
        dict(data.get("translations") or {}),
    )


def load_survey(path: Path, incomplete: dict[str, list[str]] | None = None) -> Survey:
    """A survey and its language files. Strict by default: a language missing a text fails.
    Pass `incomplete` to leave such languages out instead (they are listed there)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FlowError(f"{path.name}: not valid YAML: {exc}") from exc
    try:
        if isinstance(data, dict):
            data = translations.apply(data, path, incomplete)
        return parse_survey(data, path.name)
    except translations.TranslationError as exc:
        raise FlowError(str(exc)) from exc
    except FlowError as exc:
        message = str(exc)
        raise FlowError(
            message if message.startswith(path.name) else f"{path.name}: {message}"
        ) from exc


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
            raise FlowError(f"{path.name}: survey id '{survey.id}' is used by another file too")
        surveys[survey.id] = survey
    return surveys

"""Survey flows as data: load a YAML survey, check it, and walk its skip logic.

A bad flow fails at load time with a message naming the question and field, so a mistake is
found when the survey is published, not when a person meets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

QUESTION_TYPES = ("yesno", "single", "multiple", "scale", "text")
VALIDATORS = ("postcode_district",)


class FlowError(ValueError):
    pass


@dataclass(frozen=True)
class Option:
    key: str
    text: dict[str, str]
    aliases: dict[str, list[str]] = field(default_factory=dict)

    def text_in(self, lang: str) -> str:
        return self.text.get(lang) or self.text["en"]


@dataclass(frozen=True)
class Question:
    key: str
    type: str
    text: dict[str, str]
    options: tuple[Option, ...] = ()
    scale: dict[str, dict[str, str]] = field(default_factory=dict)
    show_if: dict[str, list[Any]] = field(default_factory=dict)
    validate: str | None = None
    intro: dict[str, str] = field(default_factory=dict)

    def text_in(self, lang: str) -> str:
        return self.text.get(lang) or self.text["en"]

    def applies(self, answers: dict[str, Any]) -> bool:
        """Skip logic: every condition must match an earlier answer (lists match any member)."""
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
        raise KeyError(key)

    def first_question(self, answers: dict[str, Any]) -> Question | None:
        return self._next_from(0, answers)

    def next_question(self, after_key: str, answers: dict[str, Any]) -> Question | None:
        index = [q.key for q in self.questions].index(after_key)
        return self._next_from(index + 1, answers)

    def _next_from(self, index: int, answers: dict[str, Any]) -> Question | None:
        for q in self.questions[index:]:
            if q.applies(answers):
                return q
        return None


def _texts(value: Any, where: str, languages: tuple[str, ...]) -> dict[str, str]:
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, dict):
        raise FlowError(f"{where}: expected texts per language, got {type(value).__name__}")
    for lang, text in value.items():
        if isinstance(text, bool):
            # YAML reads a bare yes/no/on/off as true/false: the author meant words.
            raise FlowError(f"{where}: the '{lang}' text reads as {text}; put it in quotes")
    texts = {str(k): str(v).strip() for k, v in value.items() if v is not None}
    for lang in languages:
        if not texts.get(lang):
            raise FlowError(f"{where} has no '{lang}' text")
    return texts


def _question(raw: Any, index: int, languages: tuple[str, ...], earlier: list[str]) -> Question:
    if not isinstance(raw, dict) or not raw.get("key"):
        raise FlowError(f"question {index + 1}: needs a 'key'")
    key = str(raw["key"])
    where = f"question '{key}'"
    qtype = raw.get("type")
    if qtype not in QUESTION_TYPES:
        raise FlowError(f"{where}: type must be one of {', '.join(QUESTION_TYPES)}, got {qtype!r}")
    options: list[Option] = []
    if qtype in ("single", "multiple"):
        raw_options = raw.get("options") or []
        if len(raw_options) < 2:
            raise FlowError(f"{where}: a {qtype} question needs at least 2 options")
        for n, opt in enumerate(raw_options, start=1):
            if isinstance(opt, dict) and isinstance(opt.get("key"), bool):
                raise FlowError(f"{where}: option {n} key reads as {opt['key']}; put it in quotes")
            if not isinstance(opt, dict) or not opt.get("key"):
                raise FlowError(f"{where}: option {n} needs a 'key'")
            aliases = {str(k): [str(a) for a in v] for k, v in (opt.get("aliases") or {}).items()}
            options.append(Option(str(opt["key"]), _texts(opt.get("text"), f"{where}: option {n}", languages), aliases))
        keys = [o.key for o in options]
        if len(set(keys)) != len(keys):
            raise FlowError(f"{where}: option keys must be unique")
    scale = {}
    if qtype == "scale":
        for end in ("min", "max"):
            scale[end] = _texts((raw.get("scale") or {}).get(end), f"{where}: scale {end} label", languages)
    show_if: dict[str, list[Any]] = {}
    for ref, allowed in (raw.get("show_if") or {}).items():
        if ref not in earlier:
            raise FlowError(f"{where}: show_if refers to '{ref}', which is not an earlier question")
        show_if[str(ref)] = allowed if isinstance(allowed, list) else [allowed]
    validate = raw.get("validate")
    if validate is not None and validate not in VALIDATORS:
        raise FlowError(f"{where}: unknown validate {validate!r} (known: {', '.join(VALIDATORS)})")
    intro = _texts(raw["intro"], f"{where}: intro", languages) if raw.get("intro") else {}
    return Question(key, qtype, _texts(raw.get("text"), where, languages), tuple(options), scale,
                    show_if, validate, intro)


def parse_survey(data: Any, source: str = "survey") -> Survey:
    if not isinstance(data, dict):
        raise FlowError(f"{source}: expected a mapping at the top")
    for name in ("id", "version", "questions"):
        if name not in data:
            raise FlowError(f"{source}: missing '{name}'")
    title = data.get("title") or {}
    languages = tuple(title) if isinstance(title, dict) and title else ("en",)
    if "en" not in languages:
        raise FlowError(f"{source}: English ('en') texts are required as the fallback")
    questions: list[Question] = []
    for index, raw in enumerate(data["questions"] or []):
        question = _question(raw, index, languages, [q.key for q in questions])
        if any(q.key == question.key for q in questions):
            raise FlowError(f"question '{question.key}': key used twice")
        questions.append(question)
    if not questions:
        raise FlowError(f"{source}: has no questions")
    return Survey(str(data["id"]), int(data["version"]), _texts(title, f"{source}: title", languages),
                  tuple(questions), languages, data.get("translations") or {})


def load_survey(path: Path) -> Survey:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FlowError(f"{path.name}: not valid YAML: {exc}") from exc
    try:
        return parse_survey(data, path.name)
    except FlowError as exc:
        raise FlowError(f"{path.name}: {exc}") from exc


def load_surveys(directory: Path) -> dict[str, Survey]:
    surveys = {}
    for path in sorted(directory.glob("*.yml")):
        survey = load_survey(path)
        surveys[survey.id] = survey
    return surveys

"""A survey's texts in other languages, one file per language beside the survey.

`surveys/demo.yml` holds the flow and its English texts; `surveys/demo/<lang>.yml` holds one
language's texts, written by people (`origin: human`, `review: draft|reviewed`), and
`surveys/demo/<lang>.machine.yml` holds machine pre-translations (`origin: machine`,
`review: unreviewed`). A text in the human file always wins, so a person's edit is never
overwritten by a machine run. Translators work on one small file shaped like the survey:

    language: pl
    origin: human
    review: draft
    title: ...
    questions:
      access:
        text: ...
        scale: {min: ..., max: ...}
      info_language:
        text: ...
        options:
          always: {text: Zawsze, aliases: [tak zawsze]}
          never: Nigdy            # just the text

Every text has an id (`title`, `access.text`, `access.scale.min`, `info_language.options.always
.text`, `...aliases`), which is how origins are reported and machine runs fill gaps.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.survey import lines

HUMAN, MACHINE = "human", "machine"
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})?$")  # a language code: pl, ckb, pt-BR
HUMAN_REVIEW = ("draft", "reviewed")
MACHINE_REVIEW = "unreviewed"


class TranslationError(ValueError):
    """What is wrong with a language file; `file` and `line` say where, when known."""

    def __init__(self, message: str, line: int | None = None, file: str | None = None) -> None:
        super().__init__(message)
        self.message, self.line, self.file = message, line, file

    def __str__(self) -> str:
        where = " ".join(p for p in (self.file, f"line {self.line}" if self.line else "") if p)
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class TextInfo:
    """One text of one language, as listed for the people who review translations."""

    id: str
    english: str
    text: str | None
    origin: str | None  # human | machine | None (missing)
    review: str | None  # draft | reviewed | unreviewed | None


def translations_dir(survey_path: Path) -> Path:
    return survey_path.with_suffix("")


def overlay_paths(survey_path: Path) -> dict[str, dict[str, Path]]:
    """lang -> {origin -> file}, for the files beside a survey."""
    found: dict[str, dict[str, Path]] = {}
    folder = translations_dir(survey_path)
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.yml")):
        lang, origin = _name_parts(path.name, f"{folder.name}/{path.name}")
        found.setdefault(lang, {})[origin] = path
    return found


def _name_parts(name: str, rel: str) -> tuple[str, str]:
    """'ar.yml' -> ('ar', human); 'ar.machine.yml' -> ('ar', machine)."""
    lang, _, kind = name[: -len(".yml")].partition(".")
    if not name.endswith(".yml") or kind not in ("", MACHINE) or not _LANG.match(lang):
        raise TranslationError("name it <language>.yml or <language>.machine.yml", file=rel)
    return lang, MACHINE if kind == MACHINE else HUMAN


def read_files(survey_path: Path) -> dict[str, str]:
    """The texts of the language files beside a survey, by file name ('ar.machine.yml')."""
    return {
        path.name: path.read_text(encoding="utf-8")
        for files in overlay_paths(survey_path).values()
        for path in files.values()
    }


def _rel(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _read(path: Path, lang: str, origin: str) -> tuple[dict[str, Any], str]:
    return _parse(path.read_text(encoding="utf-8"), _rel(path), lang, origin)


def _parse(
    text: str, rel: str, lang: str, origin: str, lines_out: dict[str, int] | None = None
) -> tuple[dict[str, Any], str]:
    try:
        data = lines.load(text) or {}
    except yaml.YAMLError as exc:
        raise TranslationError(f"not valid YAML: {lines.yaml_problem(exc)}",
                               lines.yaml_error_line(exc), rel) from exc
    if not isinstance(data, dict):
        raise TranslationError("expected a mapping at the top", file=rel)
    if str(data.get("language", lang)) != lang:
        raise TranslationError(f"says language '{data.get('language')}', file is '{lang}'",
                               file=rel)
    if str(data.get("origin", origin)) != origin:
        raise TranslationError(f"origin must be '{origin}' in this file", file=rel)
    review = str(data.get("review", MACHINE_REVIEW if origin == MACHINE else "draft"))
    allowed = (MACHINE_REVIEW,) if origin == MACHINE else HUMAN_REVIEW
    if review not in allowed:
        raise TranslationError(f"review must be one of {', '.join(allowed)}", file=rel)
    return flatten(data, rel, lines_out), review


def flatten(
    data: dict[str, Any], source: str, lines_out: dict[str, int] | None = None
) -> dict[str, Any]:
    """A translation file's texts by id; an unknown field is an error naming it (and its
    line). `lines_out`, if given, gets the line of each text id."""
    out: dict[str, Any] = {}
    where_line: dict[str, int | None] = {}
    unknown = set(data) - {"language", "origin", "review", "title", "questions"}
    if unknown:
        raise TranslationError(f"unknown field '{sorted(unknown)[0]}'", file=source)
    if data.get("title") is not None:
        out["title"] = data["title"]
        where_line["title"] = lines.line_of(data)
    questions = data.get("questions") or {}
    if not isinstance(questions, dict):
        raise TranslationError("questions must map question keys to their texts", file=source)
    for qkey, q in questions.items():
        where = f"question '{qkey}'"
        line = lines.line_of(q) or lines.line_of(questions)
        if isinstance(q, str):
            q = {"text": q}
        if not isinstance(q, dict):
            raise TranslationError(f"{where}: expected its texts (text, intro, scale, options)",
                                   line, source)
        bad = set(q) - {"text", "intro", "scale", "options"}
        if bad:
            raise TranslationError(f"{where}: unknown field '{sorted(bad)[0]}'", line, source)
        for name in ("text", "intro"):
            if q.get(name) is not None:
                out[f"{qkey}.{name}"] = q[name]
                where_line[f"{qkey}.{name}"] = line
        scale = q.get("scale") or {}
        for end, label in scale.items():
            out[f"{qkey}.scale.{end}"] = label
            where_line[f"{qkey}.scale.{end}"] = lines.line_of(scale) or line
        options = q.get("options") or {}
        for okey, opt in options.items():
            okey = {True: "yes", False: "no"}.get(okey, okey) if isinstance(okey, bool) else okey
            opt_line = lines.line_of(opt) or lines.line_of(options) or line
            if isinstance(opt, str):
                opt = {"text": opt}
            if not isinstance(opt, dict):
                raise TranslationError(f"{where}: option '{okey}' needs a text", opt_line, source)
            for name in ("text", "aliases"):
                if opt.get(name) is not None:
                    out[f"{qkey}.options.{okey}.{name}"] = opt[name]
                    where_line[f"{qkey}.options.{okey}.{name}"] = opt_line
    for text_id, value in out.items():
        if isinstance(value, bool):
            raise TranslationError(f"'{text_id}' reads as {value}; put it in quotes",
                                   where_line.get(text_id), source)
    if lines_out is not None:
        lines_out.update({k: v for k, v in where_line.items() if v})
    return out


def english_texts(data: dict[str, Any]) -> dict[str, str]:
    """The ids and English texts of a survey (its raw YAML), in the order a person meets them."""
    out: dict[str, str] = {}

    def en(value: Any) -> str | None:
        if isinstance(value, dict):
            value = value.get("en")
        return None if value is None else str(value).strip()

    if en(data.get("title")):
        out["title"] = en(data.get("title")) or ""
    for q in data.get("questions") or []:
        if not isinstance(q, dict) or not q.get("key"):
            continue
        key = q["key"]
        for name in ("intro", "text"):
            if en(q.get(name)):
                out[f"{key}.{name}"] = en(q.get(name)) or ""
        for end in ("min", "max"):
            label = en((q.get("scale") or {}).get(end))
            if label:
                out[f"{key}.scale.{end}"] = label
        for opt in q.get("options") or []:
            if isinstance(opt, dict) and opt.get("key") is not None:
                text = en(opt.get("text"))
                if text:
                    out[f"{key}.options.{opt['key']}.text"] = text
    return out


def _slot(
    data: dict[str, Any], text_id: str, source: str, line: int | None = None
) -> tuple[dict[str, Any], str]:
    """Where a text id lives in the survey's raw YAML: (mapping, field name)."""
    if text_id == "title":
        return data, "title"
    qkey, _, rest = text_id.partition(".")
    question = next(
        (q for q in data.get("questions") or [] if isinstance(q, dict) and str(q.get("key")) == qkey),
        None,
    )
    if question is None:
        raise TranslationError(f"no question '{qkey}' in the survey", line, source)
    if rest in ("text", "intro"):
        return question, rest
    if rest.startswith("scale."):
        question.setdefault("scale", {})
        return question["scale"], rest.split(".", 1)[1]
    _, okey, name = rest.split(".", 2)
    option = next(
        (o for o in question.get("options") or [] if isinstance(o, dict) and str(o.get("key")) == okey),
        None,
    )
    if option is None:
        raise TranslationError(f"question '{qkey}' has no option '{okey}'", line, source)
    return option, name


def apply(
    data: dict[str, Any], survey_path: Path, incomplete: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The survey's raw YAML with every language file beside it merged in (see apply_files)."""
    return apply_files(data, Path(survey_path).name, read_files(survey_path), incomplete)


def apply_files(
    data: dict[str, Any],
    survey_name: str,
    files: Mapping[str, str],
    incomplete: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The survey's raw YAML with its language files (file name -> text) merged in, machine
    first, human over it.

    Shared YAML anchors (one "prefer not to say" option used by many questions) are copied
    first, so a text set on one question never leaks into another. With `incomplete` given,
    a language that misses texts is left out of the survey's languages (and listed there with
    the ids it misses) instead of failing the load: a translator's half-done file must not
    take the survey away from everyone else.
    """
    folder = survey_name.removesuffix(".yml")
    overlays: dict[str, dict[str, tuple[str, str]]] = {}
    for name in sorted(files):
        rel = f"{folder}/{name}"
        lang, origin = _name_parts(name, rel)
        overlays.setdefault(lang, {})[origin] = (rel, files[name])
    if not overlays:
        return data
    data = copy.deepcopy(data)
    data["questions"] = [copy.deepcopy(q) for q in data.get("questions") or []]
    for q in data["questions"]:
        if isinstance(q, dict) and isinstance(q.get("options"), list):
            q["options"] = [copy.deepcopy(o) for o in q["options"]]
    translations = dict(data.get("translations") or _inline_languages(data))
    for lang, layers in overlays.items():
        origins: list[str] = []
        review = None
        for origin in (MACHINE, HUMAN):
            if origin not in layers:
                continue
            rel, text = layers[origin]
            text_lines: dict[str, int] = {}
            texts, review_here = _parse(text, rel, lang, origin, text_lines)
            origins.append(origin)
            review = review_here if origin == HUMAN or review is None else review
            for text_id, value in texts.items():
                holder, name = _slot(data, text_id, rel, text_lines.get(text_id))
                current = holder.get(name)
                if name == "aliases":
                    words = value if isinstance(value, list) else [value]
                    current = dict(current or {}) if isinstance(current, dict) else {}
                    current[lang] = [str(w) for w in words]
                else:
                    if not isinstance(current, dict):
                        current = {} if current is None else {"en": current}
                    current = dict(current)
                    current[lang] = value
                holder[name] = current
        translations[lang] = {
            "origin": origins[0] if len(origins) == 1 else "mixed",
            "review": review or MACHINE_REVIEW,
        }
        if incomplete is not None:
            missing = _missing(data, lang)
            if missing:
                incomplete[lang] = missing
                del translations[lang]
    data["translations"] = translations
    return data


def _inline_languages(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """A flow without `translations`: the languages its title is written in (English at
    least), so that a language file left out for missing texts does not count as one."""
    title = data.get("title")
    codes = [str(k) for k in title] if isinstance(title, dict) and title else []
    return {
        code: {"origin": HUMAN, "review": "reviewed" if code == "en" else "draft"}
        for code in dict.fromkeys(["en", *codes])
    }


def _missing(data: dict[str, Any], lang: str) -> list[str]:
    """Ids of the texts the merged survey has in English but not in `lang`."""
    missing = []
    for text_id in english_texts(data):
        holder, name = _slot(data, text_id, "survey")
        value = holder.get(name)
        if not (isinstance(value, dict) and value.get(lang) not in (None, "")):
            missing.append(text_id)
    return missing


def text_report(survey_path: Path, lang: str) -> list[TextInfo]:
    """Every text of the survey in `lang`: the English, the translation, its origin and review."""
    data = yaml.safe_load(survey_path.read_text(encoding="utf-8")) or {}
    english = english_texts(data)
    files = overlay_paths(survey_path).get(lang, {})
    layers: dict[str, tuple[Any, str, str]] = {}
    for origin in (MACHINE, HUMAN):
        if origin in files:
            texts, review = _read(files[origin], lang, origin)
            for text_id, value in texts.items():
                layers[text_id] = (value, origin, review)
    inline = data.get("translations") or {}
    report = []
    for text_id, en_text in english.items():
        if lang == "en":
            meta = inline.get("en") or {}
            report.append(TextInfo(text_id, en_text, en_text, str(meta.get("origin", HUMAN)),
                                   str(meta.get("review", "reviewed"))))
        elif text_id in layers:
            value, origin, review = layers[text_id]
            report.append(TextInfo(text_id, en_text, str(value), origin, review))
        else:
            report.append(TextInfo(text_id, en_text, None, None, None))
    return report


def write_machine(survey_path: Path, lang: str, texts: dict[str, str]) -> Path:
    """Add machine texts to `<lang>.machine.yml`, never touching a text a person wrote."""
    folder = translations_dir(survey_path)
    folder.mkdir(exist_ok=True)
    path = folder / f"{lang}.machine.yml"
    existing: dict[str, Any] = {}
    if path.exists():
        existing, _ = _read(path, lang, MACHINE)
    human: dict[str, Any] = {}
    if (folder / f"{lang}.yml").exists():
        human, _ = _read(folder / f"{lang}.yml", lang, HUMAN)
    merged = {**existing, **{k: v for k, v in texts.items() if k not in human}}
    nested = _nest({"language": lang, "origin": MACHINE, "review": MACHINE_REVIEW}, merged)
    header = (
        f"# Machine translation of {survey_path.name} into '{lang}' (listening-bot translate).\n"
        f"# Unreviewed. To correct or approve a text, copy it into {lang}.yml: a person's text\n"
        "# always wins and is never overwritten by the next machine run.\n"
    )
    path.write_text(header + yaml.safe_dump(nested, allow_unicode=True, sort_keys=False,
                                            width=120), encoding="utf-8")
    return path


def _nest(head: dict[str, Any], texts: Mapping[str, Any]) -> dict[str, Any]:
    """Texts by id back into a language file's shape (the reverse of `flatten`)."""
    nested = dict(head)
    questions: dict[str, Any] = {}
    for text_id, value in texts.items():
        if text_id == "title":
            nested["title"] = value
            continue
        qkey, _, rest = text_id.partition(".")
        q = questions.setdefault(qkey, {})
        if rest in ("text", "intro"):
            q[rest] = value
        elif rest.startswith("scale."):
            q.setdefault("scale", {})[rest.split(".", 1)[1]] = value
        else:
            _, okey, name = rest.split(".", 2)
            q.setdefault("options", {}).setdefault(okey, {})[name] = value
    nested["questions"] = questions
    return nested


def human_file(
    existing: str | None, lang: str, texts: Mapping[str, str | None], review: str = "draft"
) -> str | None:
    """`<lang>.yml` (people's texts) with `texts` set (None removes one) and its review state,
    as text; None when no text is left. Everything else in the file (aliases, the comment at its
    top) is kept, so an edit in the console does not lose a translator's work."""
    if review not in HUMAN_REVIEW:
        raise TranslationError(f"review must be one of {', '.join(HUMAN_REVIEW)}")
    current: dict[str, Any] = {}
    comment = ""
    if existing is not None:
        parsed, _ = _parse(existing, f"{lang}.yml", lang, HUMAN)
        current = {k: [str(w) for w in v] if isinstance(v, list) else v for k, v in parsed.items()}
        for line in existing.splitlines(keepends=True):
            if not line.startswith("#"):
                break
            comment += line
    for text_id, value in texts.items():
        if value is None:
            current.pop(text_id, None)
        else:
            current[text_id] = value
    if not current:
        return None
    nested = _nest({"language": lang, "origin": HUMAN, "review": review}, current)
    if not comment:
        comment = (f"# Texts in '{lang}' written by people (the console or a translator). "
                   "review: reviewed once a\n# native speaker has checked every text.\n")
    if comment and not comment.endswith("\n"):
        comment += "\n"
    return comment + yaml.safe_dump(nested, allow_unicode=True, sort_keys=False, width=120,
                                    default_flow_style=None)

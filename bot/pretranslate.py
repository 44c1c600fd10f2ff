"""Machine pre-translation of a survey or of the system texts into one language.

Run by a person (`listening-bot translate`), never by the bot while it talks: the bot only ever
sends texts already in the catalogue. Only texts that no person has written are translated, and
the results go to the `.machine.yml` files, marked machine and unreviewed; a person's text
always wins and is never overwritten. `{placeholders}` are shielded from the translator and
checked on the way back; a text that comes back broken is reported and left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.sms import segments
from bot.survey.translations import text_report, write_machine
from bot.texts.catalogue import FALLBACK, MACHINE_SUFFIX, Catalogue

Translate = Callable[[str, str], str]  # (English text, "en") -> text in the target language
Progress = Callable[[str], None]
_FIELD = re.compile(r"\{(\w+)\}")
_SHIELD = re.compile(r"\[\[(\d+)\]\]")


class Unsupported(ValueError):
    """The translation provider does not know the language: nothing was written."""


@dataclass
class Result:
    path: Path | None = None
    translated: list[str] = field(default_factory=list)
    kept: int = 0  # texts a person (or an earlier machine run) already wrote
    failed: dict[str, str] = field(default_factory=dict)  # id -> why
    long: dict[str, int] = field(default_factory=dict)  # id -> SMS segments, when over 2


def _shielded(translate: Translate, text: str) -> str:
    """Translate with each {placeholder} replaced by [[n]], then put them back."""
    names = _FIELD.findall(text)
    shielded = _FIELD.sub(lambda m: f"[[{names.index(m.group(1))}]]", text)
    out = translate(shielded, FALLBACK)
    out = _SHIELD.sub(lambda m: "{" + names[int(m.group(1))] + "}"
                      if int(m.group(1)) < len(names) else m.group(0), out)
    if sorted(_FIELD.findall(out)) != sorted(names) or _SHIELD.search(out):
        raise ValueError(f"placeholders came back changed: {out!r}")
    return out


def _run(
    todo: dict[str, str], translate: Translate, progress: Progress, result: Result
) -> dict[str, str]:
    done: dict[str, str] = {}
    for n, (text_id, english) in enumerate(todo.items(), start=1):
        progress(f"[{n}/{len(todo)}] {text_id}")
        try:
            done[text_id] = _shielded(translate, english).strip()
        except Exception as exc:  # noqa: BLE001 - one bad text must not lose the others
            if type(exc).__name__ == "LanguageNotSupportedException":
                raise Unsupported(str(exc).splitlines()[0]) from exc
            result.failed[text_id] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        count = segments(done[text_id])[1]
        if count > 2:
            result.long[text_id] = count
        result.translated.append(text_id)
    return done


def survey(survey_path: Path, lang: str, translate: Translate, progress: Progress) -> Result:
    """Fill the survey's missing `lang` texts with machine translations."""
    result = Result()
    todo: dict[str, str] = {}
    for info in text_report(survey_path, lang):
        if info.text is None:
            todo[info.id] = info.english
        else:
            result.kept += 1
    done = _run(todo, translate, progress, result)
    if done:
        result.path = write_machine(survey_path, lang, done)
    return result


def system_texts(
    texts_dir: Path, lang: str, translate: Translate, progress: Progress
) -> Result:
    """Fill the system texts `lang` lacks; the language's own file must exist (its name, in its
    own script, and its STOP/YES/NO words are a person's job, not a machine's)."""
    if not (texts_dir / f"{lang}.yml").exists():
        raise FileNotFoundError(
            f"{texts_dir / (lang + '.yml')} does not exist: write it first with _meta "
            "(origin: human, review: draft) and language_name in the language's own script"
        )
    catalogue = Catalogue.load(texts_dir)
    result = Result()
    todo: dict[str, str] = {}
    for key in catalogue.text_keys():
        if key.startswith("language_name"):
            continue
        if catalogue.origin(key, lang) is None:
            todo[key] = catalogue.text(key, FALLBACK)
        else:
            result.kept += 1
    done = _run(todo, translate, progress, result)
    if done:
        path = texts_dir / f"{lang}{MACHINE_SUFFIX}.yml"
        existing: dict[str, Any] = {}
        if path.exists():
            existing = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        header = (
            f"# Machine translation of the system texts into '{lang}' (listening-bot translate).\n"
            f"# Unreviewed. To correct or approve a text, copy it into {lang}.yml: a person's\n"
            "# text always wins and is never overwritten by the next machine run.\n"
        )
        path.write_text(
            header + yaml.safe_dump({**existing, **done}, allow_unicode=True, sort_keys=False,
                                    width=120),
            encoding="utf-8",
        )
        result.path = path
    return result

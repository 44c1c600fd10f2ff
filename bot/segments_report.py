"""`listening-bot segments`: what every message the bot can send costs in SMS, per language.

A text with one character outside GSM 03.38 goes as UCS-2 (70 characters a segment, 67 when
split), so the same message costs more in Polish, Arabic or Tigrinya than in English. For each
language this lists the encoding and segments of every system text (placeholders filled in),
of every survey question as the engine renders it (with its options and hints) and its intro,
and walks a full survey path through the real engine (consent, every question with a first
answer, the thanks) to count what a whole survey costs. System texts must stay within
MAX_SEGMENTS; the language menu, which lists every language in its own script, is the one
documented exception and is reported on its own. `tests/test_sms_segments.py` uses the same
functions.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO

from bot.settings import Settings
from bot.sms import segments
from bot.survey.engine import MAX_SEGMENTS, Engine
from bot.survey.flow import Question, Survey
from bot.survey.model import COMPLETED, QUESTION, State, Turn

SYSTEM, QUESTION_TEXT, MENU = "system", "question", "menu"


@dataclass(frozen=True)
class Sent:
    kind: str  # SYSTEM, QUESTION_TEXT or MENU
    key: str
    text: str

    @property
    def cost(self) -> tuple[str, int]:
        return segments(self.text)


def system_texts(engine: Engine, lang: str) -> list[Sent]:
    """Every system text of the catalogue in `lang`, as sent (placeholders filled in)."""
    catalogue = engine.catalogue
    return [
        Sent(SYSTEM, key, catalogue.text(key, lang, privacy_url=engine.privacy_url, min="-", max="-"))
        for key in catalogue.text_keys()
    ]


def menus(engine: Engine, lang: str) -> list[Sent]:
    return [
        Sent(MENU, "language_menu", engine.language_menu(lang)),
        Sent(MENU, "language_menu (before a language)", engine.language_menu(None)),
    ]


def question_texts(engine: Engine, survey: Survey, lang: str) -> list[Sent]:
    """Every question as the engine renders it (text, options, hints), and its intro."""
    out = []
    for q in survey.questions:
        intro = q.intro_in(lang)
        if intro:
            out.append(Sent(QUESTION_TEXT, f"{q.key}.intro", intro))
        out.append(Sent(QUESTION_TEXT, q.key, engine.render(q, lang)))
    return out


def sent_texts(engine: Engine, survey: Survey, lang: str) -> list[Sent]:
    return system_texts(engine, lang) + menus(engine, lang) + question_texts(engine, survey, lang)


def _first_answer(question: Question) -> Turn:
    now = datetime.now(UTC)
    if question.type == "yesno":
        return Turn("affirm", "yes", now)
    if question.type == "text":
        text = "IP1" if question.validate == "postcode_district" else "It was fine"
        return Turn("inform", text, now)
    return Turn("choose", "1", now, entities={"number": 1})


def survey_path(engine: Engine, survey: Survey, lang: str) -> tuple[list[str], bool]:
    """The replies of one whole survey in `lang` through the engine: first contact, consent,
    every question answered "yes" or with its first option, the end. (replies, completed)"""
    now = datetime.now(UTC)
    state = State(stage=None, language=None)
    turns: Iterable[Turn] = [
        Turn("greet", "hello", now, detected_language=lang),
        Turn("affirm", "yes", now),
    ]
    replies: list[str] = []
    for turn in turns:
        outcome = engine.handle(state, turn, survey.id)
        state, replies = outcome.state, replies + [r.text for r in outcome.replies]
    for _ in range(3 * len(survey.questions)):
        if state.stage != QUESTION or state.question_key is None:
            break
        before = state.question_key
        outcome = engine.handle(state, _first_answer(survey.question(before)), survey.id)
        state = outcome.state
        replies += [r.text for r in outcome.replies]
        if state.stage == QUESTION and state.question_key == before:
            break  # the engine did not take the answer: stop rather than loop
    return replies, state.stage == COMPLETED


@dataclass
class LanguageSummary:
    lang: str
    sent: list[Sent]
    path: list[str]
    completed: bool

    @property
    def over(self) -> list[Sent]:
        return [s for s in self.sent if s.kind != MENU and s.cost[1] > MAX_SEGMENTS]

    def max_segments(self, kind: str) -> int:
        return max((s.cost[1] for s in self.sent if s.kind == kind), default=0)

    @property
    def path_segments(self) -> int:
        return sum(segments(text)[1] for text in self.path)


def summarise(engine: Engine, survey: Survey, languages: Iterable[str]) -> list[LanguageSummary]:
    out = []
    for lang in languages:
        path, completed = survey_path(engine, survey, lang)
        out.append(LanguageSummary(lang, sent_texts(engine, survey, lang), path, completed))
    return out


def write_report(summaries: list[LanguageSummary], out: IO[str], detail: bool) -> None:
    if detail:
        for s in summaries:
            out.write(f"\n== {s.lang} ==\n")
            for item in s.sent:
                encoding, count = item.cost
                flag = "  <-- over" if item in s.over else ""
                out.write(f"{item.kind:8} {item.key:40} {encoding:5} {count} "
                          f"({len(item.text)} chars){flag}\n")
        out.write("\n")
    head = ("lang", "encodings (texts)", "max system", "max question", "menu", "survey path",
            "path messages", "over 2")
    out.write("{:<6}{:<20}{:>11}{:>13}{:>6}{:>13}{:>15}{:>8}\n".format(*head))
    for s in summaries:
        counts = Counter(item.cost[0] for item in s.sent if item.kind != MENU)
        encodings = [f"{enc} {n}" for enc, n in counts.most_common()]
        path = f"{s.path_segments}" + ("" if s.completed else " (incomplete)")
        out.write("{:<6}{:<20}{:>11}{:>13}{:>6}{:>13}{:>15}{:>8}\n".format(
            s.lang, ", ".join(encodings), s.max_segments(SYSTEM),
            s.max_segments(QUESTION_TEXT), s.max_segments(MENU), path, len(s.path),
            len(s.over),
        ))
    out.write(
        f"\nsystem texts and questions must fit {MAX_SEGMENTS} segments; the language menu "
        "lists every language in its own script and is the documented exception.\n"
        "survey path: segments of every reply of one whole survey (consent, each question "
        "answered 'yes' or with its first option, thanks).\n"
    )
    for s in summaries:
        for item in s.over:
            encoding, count = item.cost
            out.write(f"OVER: {s.lang}.{item.key}: {count} {encoding} segments "
                      f"({len(item.text)} chars)\n")


def engine_for(surveys: dict[str, Survey], survey_id: str, privacy_url: str) -> Engine:
    """An engine as the app builds one (the pauses do not change what is sent)."""
    from bot.texts.catalogue import Catalogue

    return Engine(
        surveys,
        Catalogue.load(),
        default_survey=survey_id,
        privacy_url=privacy_url,
        welcome_back_after=timedelta(hours=1),
        resume_expiry=timedelta(days=3),
    )


# -- the command ------------------------------------------------------------------------------
def cmd_segments(args: argparse.Namespace, settings: Settings) -> int:
    import sys

    from bot.survey.flow import FlowError, load_surveys

    try:
        surveys = load_surveys(settings.surveys_dir)
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    survey_id = args.survey or settings.default_survey
    if survey_id not in surveys:
        known = ", ".join(sorted(surveys)) or "none"
        print(f"error: no survey {survey_id!r} (known: {known})", file=sys.stderr)
        return 2
    engine = engine_for(surveys, survey_id, settings.privacy_url)
    languages = args.languages.split(",") if args.languages else engine.catalogue.languages
    unknown = [lang for lang in languages if lang not in engine.catalogue.languages]
    if unknown:
        print(f"error: no texts for {', '.join(unknown)} (known: "
              f"{', '.join(engine.catalogue.languages)})", file=sys.stderr)
        return 2
    summaries = summarise(engine, surveys[survey_id], languages)
    write_report(summaries, sys.stdout, args.detail)
    over = sum(len(s.over) for s in summaries)
    if over:
        print(f"{over} texts over {MAX_SEGMENTS} segments (listed above).", file=sys.stderr)
    return 1 if over else 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    segs = sub.add_parser(
        "segments",
        help="SMS encoding and segments of every text the bot can send, per language; "
        f"exit 1 if a system text or question is over {MAX_SEGMENTS} segments",
    )
    segs.add_argument("--survey", help="survey id (default: DEFAULT_SURVEY)")
    segs.add_argument("--languages", help="comma-separated codes (default: every language)")
    segs.add_argument("--detail", action="store_true", help="list every text, not just the summary")
    segs.set_defaults(func=cmd_segments)

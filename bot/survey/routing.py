"""Which survey a message belongs to: keywords start surveys, anything else the default.

Pure functions, used by `bot.conversation` before the engine runs. Keywords are matched only
when no survey is in progress for the person (a first message, or after they finished,
declined, or were still at the consent question), so an answer can never be taken for a
keyword. A message matches a keyword when it is the keyword, or starts with it ("Health
please"), ignoring case, accents and punctuation.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.survey.answers import fold
from bot.survey.flow import Survey
from bot.survey.model import LANGUAGE, QUESTION, RESUME


def fold_keyword(word: str) -> str:
    """'Zdrowie!' -> 'zdrowie'; 'Santé' -> 'sante': how keywords and messages are compared."""
    return fold(word)


def keyword_survey(text: str, surveys: Iterable[Survey]) -> Survey | None:
    """The survey whose keyword the message is (or starts with); the longest keyword wins,
    so "HEALTH CHECK" beats "HEALTH", and an open survey beats a closed one."""
    said = fold_keyword(text).split()
    if not said:
        return None
    best: tuple[tuple[int, bool], Survey] | None = None
    for survey in surveys:
        for word in survey.keywords:
            words = fold_keyword(word).split()
            rank = (len(words), survey.is_open)
            if words and said[: len(words)] == words and (best is None or rank > best[0]):
                best = (rank, survey)
    return best[1] if best else None


def in_progress(stage: str | None, resume_stage: str | None = None) -> bool:
    """A survey is under way: a question is waiting for its answer (or the person was asked
    whether to carry on, or is choosing a language in the middle of it)."""
    if stage in (QUESTION, RESUME):
        return True
    return stage == LANGUAGE and resume_stage in (QUESTION, RESUME)

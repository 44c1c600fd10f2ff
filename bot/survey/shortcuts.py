"""Messages that need no language model: a number, or an opt-out/opt-in keyword.

These go to Rasa as `/intent{...}` so no NLU runs, and so STOP can never be misread.
The keywords are the carriers' and Twilio's standard ones plus each language's own words
(from the text catalogue), so adding a language adds its words.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from bot.survey.answers import fold, parse_number, parse_numbers
from bot.texts.catalogue import Catalogue

STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
START_WORDS = {"start", "unstop", "subscribe"}


@lru_cache(maxsize=1)
def _keywords() -> tuple[frozenset[str], frozenset[str]]:
    catalogue = Catalogue.load()
    stop, start = set(STOP_WORDS), set(START_WORDS)
    for lang in catalogue.languages:
        stop |= {fold(w) for w in catalogue.words(lang, "stop_words")}
        start |= {fold(w) for w in catalogue.words(lang, "start_words")}
    return frozenset(stop), frozenset(start)


def shortcut(text: str) -> tuple[str, dict[str, Any]] | None:
    stripped = text.strip()
    if not stripped:
        return None
    number = parse_number(stripped)
    if number is not None:
        return "choose", {"number": number}
    numbers = parse_numbers(stripped)
    if numbers and len(numbers) > 1:
        return "choose", {"numbers": numbers}
    word = fold(stripped)
    stop, start = _keywords()
    if word in stop:
        return "stop", {}
    if word in start:
        return "start", {}
    return None

"""Messages that need no language model: a number, a list of numbers, or STOP/START.

These go to Rasa as `/intent{...}`, so no NLU runs and STOP can never be misread as something
else. The keywords are the carriers' and Twilio's standard ones plus each language's own
words from the text catalogue, so adding a language adds its words. Only the whole message
counts ("stop" is STOP; "stop the waiting lists" is not), ignoring case and punctuation.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from bot.survey.answers import fold, parse_number, parse_numbers
from bot.texts.catalogue import Catalogue

# Twilio's own opt-out and opt-in keywords (it acts on them for SMS whatever we do, so we agree).
CARRIER_STOP = frozenset(
    {"stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
)
CARRIER_START = frozenset({"start", "unstop"})


@lru_cache(maxsize=4)
def keywords(catalogue: Catalogue | None = None) -> tuple[frozenset[str], frozenset[str]]:
    """(stop words, start words), folded, across every language of the catalogue."""
    catalogue = catalogue or Catalogue.load()
    stop, start = set(CARRIER_STOP), set(CARRIER_START)
    for lang in catalogue.languages:
        stop |= {fold(w) for w in catalogue.words(lang, "stop_words")}
        start |= {fold(w) for w in catalogue.words(lang, "start_words")}
    return frozenset(stop), frozenset(start)


def shortcut(text: str, catalogue: Catalogue | None = None) -> tuple[str, dict[str, Any]] | None:
    """("choose", {"number": n}), ("choose", {"numbers": [...]}), ("stop", {}), ("start", {}),
    ("nlu_fallback", {}) for a message of only emoji or punctuation, or None: the message needs
    the language model. An emoji-only message has no tokens, so the classifier would answer it
    with its prior (measured: "affirm" for "😡" with 20 languages of examples): the survey
    engine reads 👍/👎 itself, and anything else is not understood."""
    stripped = text.strip()
    if not stripped:
        return None
    number = parse_number(stripped)
    if number is not None:
        return "choose", {"number": number}
    numbers = parse_numbers(stripped)
    if numbers and len(numbers) > 1:
        return "choose", {"numbers": numbers}
    if not any(c.isalnum() for c in stripped):
        return "nlu_fallback", {}
    word = fold(stripped)
    stop, start = keywords(catalogue)
    if word in stop:
        return "stop", {}
    if word in start:
        return "start", {}
    return None

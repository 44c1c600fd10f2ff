"""Understanding an answer: numbers in any script, option words, close misspellings, emoji.

Pure functions: given the question, the person's words, their language and what Rasa made of
it, say which value it is, or that it does not fit.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from bot.survey.flow import Question

YES_EMOJI = {"👍", "👌", "✅", "✔", "✔️", "☑️", "🙆"}
NO_EMOJI = {"👎", "❌", "✖", "✖️", "🙅", "⛔"}
_KEYCAP = "\ufe0f\u20e3"
_SPLIT = re.compile(r"[\s,;/&+.]+|\band\b|\bi\b|\boraz\b", re.UNICODE)
OUTWARD_CODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)(?:\s*[0-9][A-Z]{2})?$")


@dataclass(frozen=True)
class Understood:
    ok: bool
    value: Any = None


NOT_UNDERSTOOD = Understood(False)


def fold(text: str) -> str:
    """Casefold, drop diacritics and punctuation: 'Tak, często!' -> 'tak czesto'."""
    text = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L")).casefold()
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def parse_number(text: str) -> int | None:
    """'3', '٣' (Arabic-Indic), '۳' (Persian), '৩', '३', '੩', '３', '3️⃣', ' 3. ' -> 3."""
    cleaned = text.replace(_KEYCAP, "").replace("\u20e3", "").strip().rstrip(".)")
    cleaned = cleaned.lstrip("#(").strip()
    if not cleaned or len(cleaned) > 3:
        return None
    digits = []
    for ch in cleaned:
        value = unicodedata.decimal(ch, None)
        if value is None:
            return None
        digits.append(str(value))
    return int("".join(digits))


def parse_numbers(text: str) -> list[int] | None:
    """'1, 3', '1 and 3', '1 3', '1,3' -> [1, 3]; None if any part is not a number."""
    parts = [p for p in _SPLIT.split(text.replace(_KEYCAP, " ")) if p and p.strip()]
    if not parts:
        return None
    numbers = [parse_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    return list(dict.fromkeys(n for n in numbers if n is not None))


def _option_words(option: Any, lang: str) -> list[str]:
    words = [option.text.get(lang, ""), option.text.get("en", "")]
    words += option.aliases.get(lang, []) + option.aliases.get("en", [])
    return [fold(w) for w in words if w]


def match_option(question: Question, text: str, lang: str) -> str | None:
    """An option named in words: exact, contained, or a close misspelling. Ambiguous -> None."""
    said = fold(text)
    if not said:
        return None
    exact = [o.key for o in question.options if said in _option_words(o, lang)]
    if len(exact) == 1:
        return exact[0]
    scored = []
    for option in question.options:
        best = max((difflib.SequenceMatcher(None, said, w).ratio() for w in _option_words(option, lang)),
                   default=0.0)
        scored.append((best, option.key))
    scored.sort(reverse=True)
    if scored and scored[0][0] >= 0.8 and (len(scored) == 1 or scored[0][0] - scored[1][0] >= 0.1):
        return scored[0][1]
    return None


def postcode_district(text: str) -> str | None:
    """'ip4 2ab' -> 'IP4'; 'CO1' -> 'CO1'. Only the outward code is ever kept."""
    candidate = re.sub(r"\s+", " ", text.upper().strip())
    match = OUTWARD_CODE.match(candidate) or OUTWARD_CODE.match(candidate.replace(" ", ""))
    if match:
        return match.group(1)
    compact = candidate.replace(" ", "")
    if 5 <= len(compact) <= 7:  # full postcode typed without a space: inward part is 3 chars
        match = OUTWARD_CODE.match(compact[:-3])
        if match and re.fullmatch(r"[0-9][A-Z]{2}", compact[-3:]):
            return match.group(1)
    return None


def understand(question: Question, text: str, lang: str, intent: str,
               entities: dict[str, Any]) -> Understood:
    """The answer's normalised value, or NOT_UNDERSTOOD."""
    stripped = text.strip()
    if question.type == "yesno":
        if intent == "affirm" or stripped in YES_EMOJI:
            return Understood(True, "yes")
        if intent == "deny" or stripped in NO_EMOJI:
            return Understood(True, "no")
        number = entities.get("number") if intent == "choose" else parse_number(stripped)
        return Understood(True, {1: "yes", 2: "no"}[number]) if number in (1, 2) else NOT_UNDERSTOOD

    if question.type == "scale":
        number = entities.get("number") if intent == "choose" else parse_number(stripped)
        if number is None and stripped and set(stripped) <= {"⭐", "\ufe0f"}:
            number = stripped.count("⭐")
        return Understood(True, number) if isinstance(number, int) and 1 <= number <= 5 else NOT_UNDERSTOOD

    if question.type in ("single", "multiple"):
        count = len(question.options)
        numbers = entities.get("numbers") or ([entities["number"]] if "number" in entities else None)
        if numbers is None:
            numbers = parse_numbers(stripped)
        if numbers:
            if not all(1 <= n <= count for n in numbers):
                return NOT_UNDERSTOOD
            if question.type == "single":
                return Understood(True, question.options[numbers[0] - 1].key) if len(numbers) == 1 else NOT_UNDERSTOOD
            return Understood(True, [question.options[n - 1].key for n in numbers])
        key = match_option(question, stripped, lang)
        if key is not None:
            return Understood(True, key if question.type == "single" else [key])
        if question.type == "multiple":
            keys = [match_option(question, part, lang) for part in re.split(r"[,;\n]+", stripped)]
            if len(keys) > 1 and all(keys):
                return Understood(True, list(dict.fromkeys(keys)))
        return NOT_UNDERSTOOD

    # free text
    if not stripped:
        return NOT_UNDERSTOOD
    if question.validate == "postcode_district":
        district = postcode_district(stripped)
        return Understood(True, district) if district else NOT_UNDERSTOOD
    return Understood(True, stripped)

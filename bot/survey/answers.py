"""Understanding an answer: numbers in any script, option words, close misspellings, emoji.

Pure functions: given the question, the person's words, their language and what Rasa made of
them, say which value it is, or that it does not fit. People answer the way they text: "3",
"٣", "3️⃣", "sometims", "not always", "👍", "42" for an age, "ip4 2ab" for a postcode.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.survey.flow import NUMBER_LIMIT, PREFER_NOT, SCALE, Question

YES_EMOJI = frozenset({"👍", "👌", "✅", "✔", "☑", "🙆"})
NO_EMOJI = frozenset({"👎", "❌", "✖", "🙅", "⛔"})
STAR = "⭐"
_EMOJI_NOISE = re.compile(
    "[\ufe0f\ufe0e\u200d\U0001f3fb-\U0001f3ff]"
)  # variation, joiner, skin tone
_KEYCAP = "\u20e3"
_LIST_SPLIT = re.compile(r"(?:\s*[,;/&+]\s*|\s+(?:and|or|i|oraz|lub)\s+|\s+)", re.IGNORECASE)
# A UK outward code (the postcode district): A9, A99, AA9, AA99, A9A, AA9A.
_OUTWARD = r"[A-Z]{1,2}[0-9][A-Z0-9]?"
_FULL_POSTCODE = re.compile(rf"\b({_OUTWARD})\s*([0-9][A-Z]{{2}})\b")
_OUTWARD_ONLY = re.compile(rf"\b({_OUTWARD})\b")
_FULL_POSTCODE_ANY_CASE = re.compile(_FULL_POSTCODE.pattern, re.IGNORECASE)
# Words that turn an option named inside a longer reply into its opposite ("not always"), per
# language (English's always count too: people mix it in). Folded like replies before use.
_NEGATION_WORDS = {
    "en": "not no never dont didn doesn isn wasn",
    "pl": "nie nigdy", "ro": "nu niciodata", "pt": "nao nunca", "es": "no nunca",
    "lt": "ne niekada", "lv": "ne nekad", "bg": "не никога", "ru": "не нет никогда",
    "uk": "не ні ніколи", "tr": "değil hiç asla", "ar": "لا ليس لم أبدا", "fa": "نه هرگز نمی",
    "ur": "نہیں نہ کبھی nahi nahin", "ps": "نه هیڅکله", "ckb": "نا نە هەرگیز", "bn": "না নয় কখনো",
    "pa": "ਨਹੀਂ ਨਾ ਕਦੇ", "ne": "होइन छैन कहिल्यै", "ti": "ኣይ ኣይኮነን ፈጺሙ",
}
# "and"/"or" between numbers ("1 и 3", "1 ve 3"), any language: only ever dropped between numbers.
_CONNECTIVES = frozenset(
    ["and", "or", "i", "oraz", "lub", "si", "sau", "e", "ou", "y", "o", "ir", "ar", "un", "vai", "и", "или", "і", "або", "ve", "veya", "ya", "و", "او", "أو", "یا", "اور", "یان", "এবং", "আর", "বা", "ਅਤੇ", "ਜਾਂ", "र", "वा", "ን", "ወይ"]
)
FUZZY = 0.8  # difflib ratio for a misspelling to count as the word


@dataclass(frozen=True)
class Understood:
    """An answer's normalised value (ok), or that the message does not answer the question."""

    ok: bool
    value: Any = None
    exact: bool = True  # False: found inside a longer reply, which a command intent outranks


NOT_UNDERSTOOD = Understood(False)


@dataclass(frozen=True)
class Words:
    """The person's words for yes, no and "prefer not to say" (their language, then English)."""

    yes: tuple[str, ...] = ("yes", "y", "yeah", "yep", "ok")
    no: tuple[str, ...] = ("no", "n", "nope")
    prefer_not: tuple[str, ...] = ("prefer not to say", "rather not say")


# -- text helpers -----------------------------------------------------------------------
# Arabic-script letters that differ only by keyboard (Arabic ي ك ة vs Persian/Urdu ی ک ه),
# the elongation stroke, and the invisible joiners and direction marks phones insert.
_SCRIPT_FOLD = str.maketrans({
    "ي": "ی", "ى": "ی", "ې": "ی", "ك": "ک", "ة": "ه", "ہ": "ه", "ۀ": "ه", "ھ": "ه",
    "ـ": None, "\u200c": " ", "\u200d": None, "\u200e": None, "\u200f": None,
})


def fold(text: str) -> str:
    """Casefold, drop diacritics and punctuation: 'Tak, często!' -> 'tak czesto'.

    Accents and Arabic vowel marks go (they have a combining class); the vowel signs of
    Bengali, Devanagari and Gurmukhi stay (class 0), since without them words fall apart.
    """
    text = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L")).casefold()
    text = "".join(c for c in text if not unicodedata.combining(c)).translate(_SCRIPT_FOLD)
    text = "".join(
        " " if unicodedata.category(c)[0] in "PSZC" or unicodedata.category(c) == "Me"
        or "\ufe00" <= c <= "\ufe0f" else c
        for c in text
    )
    return re.sub(r"\s+", " ", text).strip()


def _emoji(text: str) -> str:
    return _EMOJI_NOISE.sub("", text).strip()


def parse_number(text: str, max_digits: int = 3) -> int | None:
    """'3', '٣' (Arabic-Indic), '۳' (Persian), '৩', '३', '੩', '３', '3️⃣', ' 3. ' -> 3."""
    cleaned = _emoji(text).replace(_KEYCAP, "").strip().rstrip(".)").lstrip("#(").strip()
    if not cleaned or len(cleaned) > max_digits:
        return None
    value = 0
    for ch in cleaned:
        digit = unicodedata.decimal(ch, None)
        if digit is None:
            return None
        value = value * 10 + digit
    return value


def parse_numbers(text: str) -> list[int] | None:
    """'1, 3', '1 and 3', '1 i 3', '1 3', '1,3', '١،٣' -> [1, 3]; None unless every part is a number."""
    cleaned = _emoji(text).replace(_KEYCAP, " ").replace("،", ",").strip()
    parts = [p for p in _LIST_SPLIT.split(cleaned) if p and p.strip()]
    if len(parts) > 2:
        parts = [p for p in parts if fold(p) not in _connectives()]
    if not parts:
        return None
    numbers = [parse_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    return list(dict.fromkeys(n for n in numbers if n is not None))


def matches_words(text: str, words: Iterable[str]) -> bool:
    """The whole message is one of `words`, or a close misspelling of one."""
    said = fold(text)
    if not said:
        return False
    folded = [fold(w) for w in words]
    if said in folded:
        return True
    # Very short words ("y", "no") only match exactly: "n" is not a misspelling of "no".
    return any(
        len(w) > 3 and difflib.SequenceMatcher(None, said, w).ratio() >= FUZZY for w in folded
    )


# -- options ----------------------------------------------------------------------------
def _option_words(option: Any, lang: str) -> list[str]:
    words = [option.text.get(lang, ""), option.text.get("en", "")]
    words += [*option.aliases.get(lang, ()), *option.aliases.get("en", ())]
    return [w for w in dict.fromkeys(fold(w) for w in words) if w]


@lru_cache(maxsize=1)
def _connectives() -> frozenset[str]:
    return frozenset(fold(w) for w in _CONNECTIVES)


@lru_cache(maxsize=64)
def _negations(lang: str) -> frozenset[str]:
    words = f"{_NEGATION_WORDS['en']} {_NEGATION_WORDS.get(lang, '')}"
    return frozenset(fold(w) for w in words.split())


def number_in_short_reply(text: str, max_digits: int = 3) -> int | None:
    """The one number in a reply of at most three words: "option 3", "номер 2", "nr 2"."""
    tokens = fold(text).split()
    if not 1 < len(tokens) <= 3:
        return None
    numbers = [n for n in (parse_number(t, max_digits) for t in tokens) if n is not None]
    return numbers[0] if len(numbers) == 1 else None


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def match_option(question: Question, text: str, lang: str) -> Understood:
    """An option named in words: exact, a close misspelling, or named inside a longer reply
    ("I'd say sometimes"). Two options equally likely, or a negation around it: not understood."""
    said = fold(text)
    if not said:
        return NOT_UNDERSTOOD
    tokens = said.split()
    negations = set(tokens) & _negations(lang)
    # An option's words, except those the reply negates ("not sometimes" is not "sometimes").
    words = {
        o.key: [w for w in _option_words(o, lang) if not negations - set(w.split())]
        for o in question.options
    }
    exact = [key for key, ws in words.items() if said in ws]
    if len(exact) == 1:
        return Understood(True, exact[0])
    scored = sorted(
        (
            (max((difflib.SequenceMatcher(None, said, w).ratio() for w in ws), default=0.0), key)
            for key, ws in words.items()
        ),
        reverse=True,
    )
    if scored[0][0] >= FUZZY and (len(scored) == 1 or scored[0][0] - scored[1][0] >= 0.1):
        return Understood(True, scored[0][1])
    inside = {key for key, ws in words.items() for w in ws if _contains(tokens, w.split())}
    if len(inside) == 1:
        return Understood(True, inside.pop(), exact=False)
    # A part of an option's words ("never" for "No, never"), if only one option has it.
    part = {
        key
        for key, ws in words.items()
        for w in ws
        if len(said) >= 3 and _contains(w.split(), tokens)
    }
    if len(part) == 1:
        return Understood(True, part.pop())
    return NOT_UNDERSTOOD


def _entity_numbers(entities: dict[str, Any]) -> list[int] | None:
    """Rasa's `number`/`numbers` entities as ints (a model may hand them over as text)."""
    raw = entities.get("numbers") or ([entities["number"]] if "number" in entities else None)
    if not raw:
        return None
    numbers = [n if isinstance(n, int) else parse_number(str(n)) for n in raw]
    return [n for n in numbers if n is not None] if all(n is not None for n in numbers) else None


def _choice(question: Question, text: str, lang: str, entities: dict[str, Any]) -> Understood:
    count = len(question.options)
    numbers = _entity_numbers(entities)
    if numbers is None:
        numbers = parse_numbers(text)
    if numbers is None and not match_option(question, text, lang).ok:
        single = number_in_short_reply(text)
        numbers = None if single is None else [single]
    if numbers:
        if len(numbers) == 1 and not 1 <= numbers[0] <= count:
            # Not an option number: a number an option stands for, like an age in years.
            spans = [
                o.key
                for o in question.options
                if o.range and o.range[0] <= numbers[0] <= o.range[1]
            ]
            return (
                Understood(True, spans[0] if question.type == "single" else spans)
                if spans
                else NOT_UNDERSTOOD
            )
        if not all(isinstance(n, int) and 1 <= n <= count for n in numbers):
            return NOT_UNDERSTOOD
        keys = [question.options[n - 1].key for n in numbers]
        if question.type == "single":
            return Understood(True, keys[0]) if len(keys) == 1 else NOT_UNDERSTOOD
        return Understood(True, keys)
    found = match_option(question, text, lang)
    if found.ok:
        return found if question.type == "single" else Understood(True, [found.value], found.exact)
    if question.type == "multiple":
        parts = [p for p in re.split(r"\s*(?:[,;\n]|\band\b|\boraz\b)\s*", text) if p.strip()]
        found_each = [match_option(question, part, lang) for part in parts]
        if len(found_each) > 1 and all(f.ok for f in found_each):
            return Understood(True, list(dict.fromkeys(f.value for f in found_each)))
    return NOT_UNDERSTOOD


def _scale_end(question: Question, text: str, lang: str) -> int | None:
    """An end label in words: 1 or 5. Exact first; a misspelling only when it is clearly nearer
    one end ("muy difícil" is close to "muy fácil" too: it must be nearer "muy difícil")."""
    said = fold(text)
    if not said:
        return None
    ends = {SCALE[0]: "min", SCALE[1]: "max"}
    labels = {
        value: {fold(question.scale[end].get(code, "")) for code in (lang, "en")} - {""}
        for value, end in ends.items()
    }
    exact = [value for value, words in labels.items() if said in words]
    if len(exact) == 1:
        return exact[0]
    score = {
        value: max((difflib.SequenceMatcher(None, said, w).ratio() for w in words), default=0.0)
        for value, words in labels.items()
    }
    best, other = sorted(score, key=lambda v: score[v], reverse=True)
    if score[best] >= FUZZY and score[best] - score[other] >= 0.1:
        return best
    return None


def _single_number(intent: str, entities: dict[str, Any], text: str) -> int | None:
    numbers = _entity_numbers(entities) if intent == "choose" else None
    if numbers is not None:
        return numbers[0] if len(numbers) == 1 else None
    return parse_number(text)


def _whole_number(intent: str, entities: dict[str, Any], text: str) -> int | None:
    """A number question's answer: '42', '٤٢', 'I am 42', '42 years' (one number, any digits)."""
    digits = len(str(NUMBER_LIMIT))
    number = _single_number(intent, entities, text) if intent == "choose" else None
    if number is None:
        number = parse_number(text, digits)
    if number is None:
        number = number_in_short_reply(text, digits)
    return number


# -- postcodes --------------------------------------------------------------------------
def postcode_district(text: str) -> str | None:
    """'ip4 2ab' -> 'IP4'; 'CO1' -> 'CO1'; 'my postcode is IP4 2AB' -> 'IP4'. Only the outward
    code is ever kept: it says the area without pointing at a home."""
    upper = re.sub(r"\s+", " ", text.upper()).strip()
    full = _FULL_POSTCODE.search(upper)
    if full:
        return full.group(1)
    outward = _OUTWARD_ONLY.findall(upper)
    return outward[0] if len(outward) == 1 else None


def redact_postcodes(text: str) -> str:
    """Full postcodes cut to their outward part, so a stored answer never holds a full one."""
    return _FULL_POSTCODE_ANY_CASE.sub(lambda m: m.group(1).upper(), text)


# -- one entry point --------------------------------------------------------------------
def understand(
    question: Question,
    text: str,
    lang: str,
    intent: str = "inform",
    entities: dict[str, Any] | None = None,
    words: Words | None = None,
) -> Understood:
    """The answer's normalised value, or NOT_UNDERSTOOD. `intent` and `entities` are Rasa's."""
    entities = entities or {}
    words = words or Words()
    stripped = text.strip()
    if question.optional and matches_words(stripped, words.prefer_not):
        return Understood(True, [PREFER_NOT] if question.type == "multiple" else PREFER_NOT)

    if question.type == "yesno":
        emoji = _emoji(stripped)
        if intent == "affirm" or emoji in YES_EMOJI or matches_words(stripped, words.yes):
            return Understood(True, "yes")
        if intent == "deny" or emoji in NO_EMOJI or matches_words(stripped, words.no):
            return Understood(True, "no")
        number = _single_number(intent, entities, stripped)
        return Understood(True, {1: "yes", 2: "no"}[number]) if number in (1, 2) else NOT_UNDERSTOOD

    if question.type == "scale":
        low, high = SCALE
        number = _single_number(intent, entities, stripped)
        emoji = _emoji(stripped)
        if number is None and emoji and set(emoji) == {STAR}:
            number = len(emoji)
        if number is None and question.scale:
            number = _scale_end(question, stripped, lang)
        return (
            Understood(True, number)
            if isinstance(number, int) and low <= number <= high
            else NOT_UNDERSTOOD
        )

    if question.type in ("single", "multiple"):
        return _choice(question, stripped, lang, entities)

    if question.type == "number":
        number = _whole_number(intent, entities, stripped)
        low, high = question.range or (0, NUMBER_LIMIT)
        return (
            Understood(True, number)
            if number is not None and low <= number <= high
            else NOT_UNDERSTOOD
        )

    if not stripped:
        return NOT_UNDERSTOOD
    if question.validate == "postcode_district":
        district = postcode_district(stripped)
        return Understood(True, district) if district else NOT_UNDERSTOOD
    return Understood(True, stripped)

"""SMS segment counting, so every text can be checked to cost at most two segments.

A text with any character outside GSM 03.38 goes as UCS-2: 70 UTF-16 units in one segment,
67 a segment when split, so Polish (ą, ę, ł) or Arabic costs more than English. Splitting
never cuts an escape pair (GSM extension characters) or a surrogate pair (emoji) in half,
which is why segments are packed one character at a time rather than divided.
"""

from __future__ import annotations

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")  # sent as ESC + character: two septets

GSM7 = "GSM-7"
UCS2 = "UCS-2"
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}  # (single message, each part of a long one)


def _units(text: str) -> tuple[str, list[int]]:
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        return GSM7, [2 if c in GSM_EXTENSION else 1 for c in text]
    return UCS2, [len(c.encode("utf-16-le")) // 2 for c in text]


def segments(text: str) -> tuple[str, int]:
    """(encoding, number of segments) as a phone network would send `text`."""
    encoding, units = _units(text)
    single, part = _LIMITS[encoding]
    if sum(units) <= single:
        return encoding, 1
    count, used = 1, 0
    for width in units:
        if used + width > part:
            count, used = count + 1, 0
        used += width
    return encoding, count

"""The text catalogue: one YAML file per language, each with its origin and review state.

A text missing in a language falls back to English rather than failing: a person should
always get an answer. `tests/test_texts.py` makes sure no launch language actually misses one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEXTS_DIR = Path(__file__).resolve().parent
FALLBACK = "en"


@dataclass(frozen=True)
class Catalogue:
    texts: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, directory: Path = TEXTS_DIR) -> Catalogue:
        return _load(directory)

    @property
    def languages(self) -> list[str]:
        """English first, then the others in file order; the language menu uses this order."""
        return [FALLBACK] + sorted(lang for lang in self.texts if lang != FALLBACK)

    def text(self, key: str, lang: str | None, **fmt: Any) -> str:
        found = self.texts.get(lang or FALLBACK, {}).get(key)
        if not isinstance(found, str):
            found = self.texts[FALLBACK][key]
        return found.format(**fmt) if fmt else found

    def words(self, lang: str, key: str) -> list[str]:
        return [str(w) for w in self.texts.get(lang, {}).get(key, [])]

    def meta(self, lang: str) -> dict[str, str]:
        return dict(self.texts.get(lang, {}).get("_meta", {}))

    def text_keys(self) -> list[str]:
        return [k for k, v in self.texts[FALLBACK].items() if isinstance(v, str)]


@lru_cache(maxsize=4)
def _load(directory: Path) -> Catalogue:
    texts = {}
    for path in sorted(directory.glob("*.yml")):
        texts[path.stem] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if FALLBACK not in texts:
        raise ValueError(f"no {FALLBACK}.yml in {directory}")
    return Catalogue(texts)

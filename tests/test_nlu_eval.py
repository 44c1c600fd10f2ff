"""Floors on what `bench/nlu_eval.py` reports, on the session's trained model: intent accuracy
and language-ID accuracy per language on the dev set (tests/data/dev), and few confident wrong
languages. Floors sit a little below the figures measured (README, Languages) and never below
what would still be useful; a language without an NLU file is skipped, not passed."""

from __future__ import annotations

import httpx
import pytest

from bench.devset import SENTENCE, SHORT, load_all
from bench.nlu_eval import NLU_DIR, Report, evaluate, format_report, rasa_parser
from bot.language import LanguageDetector
from bot.texts.catalogue import Catalogue

DEV = load_all()
INTENT_FLOOR = 0.75          # per language; measured 83-100%
INTENT_FLOOR_ALL = 0.85      # all languages together; measured 92%
ID_SHORT_FLOOR = 0.55        # per language; measured 64-100% (the rest is mostly the menu)
ID_SENTENCE_FLOOR = 0.70     # per language; measured 76-100%
ID_WRONG_MAX = 0.03          # confident and wrong, all languages; measured 1.8% short, 0.8% sentences


@pytest.fixture(scope="module")
def report(rasa_server) -> Report:
    detector = LanguageDetector(Catalogue.load().languages, NLU_DIR)
    with httpx.Client(timeout=30.0) as client:
        result = evaluate(DEV, rasa_parser(rasa_server.url, client), detector)
    print(format_report(result))
    return result


@pytest.mark.parametrize("lang", list(DEV))
def test_intent_accuracy_per_language(report, lang):
    r = report.languages[lang]
    if not r.has_nlu:
        pytest.skip(f"{lang}: no nlu/{lang}.yml yet")
    assert r.intents_scored >= 15, f"{lang}: only {r.intents_scored} unseen intent messages"
    assert r.intent_accuracy is not None and r.intent_accuracy >= INTENT_FLOOR, (
        f"{lang}: {r.intents_right}/{r.intents_scored} intents right"
    )


def test_intent_accuracy_overall(report):
    scored = [r for r in report.languages.values() if r.has_nlu]
    right, total = sum(r.intents_right for r in scored), sum(r.intents_scored for r in scored)
    assert total > 0 and right / total >= INTENT_FLOOR_ALL, f"{right}/{total}"


@pytest.mark.parametrize("lang", list(DEV))
def test_language_id_per_language(report, lang):
    r = report.languages[lang]
    if not r.id_in_bot:
        pytest.skip(f"{lang}: not among the catalogue's languages yet")
    short, sentence = r.id_accuracy(SHORT), r.id_accuracy(SENTENCE)
    assert short is not None and short >= ID_SHORT_FLOOR, f"{lang} short: {r.id[SHORT]}"
    assert sentence is not None and sentence >= ID_SENTENCE_FLOOR, f"{lang}: {r.id[SENTENCE]}"


@pytest.mark.parametrize("kind", [SHORT, SENTENCE])
def test_a_wrong_language_is_rare(report, kind):
    """The menu is a safe answer; a confident wrong language is not."""
    counts = [r.id[kind] for r in report.languages.values() if r.id_in_bot]
    wrong, total = sum(c["wrong"] for c in counts), sum(c.total() for c in counts)
    assert total > 0 and wrong / total <= ID_WRONG_MAX, f"{kind}: {wrong}/{total} wrong"

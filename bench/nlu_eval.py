"""How well does the bot understand each language? Intent accuracy and language ID on the dev set.

    .venv/bin/python bench/nlu_eval.py [--model PATH | --rasa-url URL] [--languages en,pl] [--markdown]

Without --model it trains a Rasa model from the repo's config.yml, nlu/, stories/ and domain.yml
into a temporary directory (never into models/), starts it on a free loopback port, and sends
every intent message of `tests/data/dev/` to `/model/parse`, as the worker would: a message
the worker answers without NLU (a bare number, a STOP or START word) counts as that shortcut's
intent. A dev message that is also a training example (after normalising) is left out and
counted, so the accuracy is on unseen words. Language ID goes through
`bot.language.LanguageDetector` built as the app builds it (the catalogue's languages).

Prints per language: intent accuracy, language-ID accuracy on short and on sentence-length
messages (right / abstained / wrong), then the most frequent wrong intents and confused
languages. Progress goes to stderr. `tests/test_nlu_eval.py` asserts floors on the same figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.devset import SENTENCE, SHORT, DevSet, load_all  # noqa: E402
from bot.language import LanguageDetector, _nlu_examples, normalise  # noqa: E402
from bot.rasa_client import escape_user_text  # noqa: E402
from bot.survey.shortcuts import shortcut  # noqa: E402
from bot.texts.catalogue import Catalogue  # noqa: E402

NLU_DIR = ROOT / "nlu"
Parse = Callable[[str], str]  # text -> intent name
Progress = Callable[[str], None]


@dataclass
class LangReport:
    lang: str
    has_nlu: bool
    intents_total: int = 0  # dev messages, before leaving out training copies
    intents_seen: int = 0  # left out: also training examples
    intents_right: int = 0
    by_shortcut: int = 0
    id_in_bot: bool = True  # the bot's detector knows this language
    id: dict[str, Counter[str]] = field(default_factory=dict)  # kind -> right/abstain/wrong

    @property
    def intents_scored(self) -> int:
        return self.intents_total - self.intents_seen

    @property
    def intent_accuracy(self) -> float | None:
        return self.intents_right / self.intents_scored if self.has_nlu and self.intents_scored else None

    def id_accuracy(self, kind: str) -> float | None:
        c = self.id.get(kind)
        return c["right"] / c.total() if c and c.total() else None


@dataclass
class Report:
    languages: dict[str, LangReport]
    intent_confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    language_confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    parse_seconds: float = 0.0


def training_examples(lang: str, nlu_dir: Path = NLU_DIR) -> set[str]:
    path = nlu_dir / f"{lang}.yml"
    return {normalise(e) for e in _nlu_examples(path)} if path.exists() else set()


def rasa_parser(url: str, client: httpx.Client | None = None) -> Parse:
    """The intent Rasa's /model/parse gives a message, sent as the worker would send it."""
    http = client or httpx.Client(timeout=30.0)

    def parse(text: str) -> str:
        reply = http.post(f"{url.rstrip('/')}/model/parse", json={"text": escape_user_text(text)})
        reply.raise_for_status()
        return str(reply.json()["intent"]["name"])

    return parse


def evaluate(
    sets: dict[str, DevSet],
    parse: Parse,
    detector: LanguageDetector,
    progress: Progress = lambda line: None,
    nlu_dir: Path = NLU_DIR,
) -> Report:
    report = Report({})
    start = time.perf_counter()
    for n, (lang, dev) in enumerate(sets.items(), start=1):
        seen = training_examples(lang, nlu_dir)
        r = report.languages[lang] = LangReport(lang, has_nlu=bool(seen))
        r.id_in_bot = lang in detector.languages
        if r.has_nlu:
            for sample in dev.intent_samples:
                r.intents_total += 1
                if normalise(sample.text) in seen:
                    r.intents_seen += 1
                    continue
                found = shortcut(sample.text)
                if found is not None and found[0] in ("stop", "start"):
                    r.by_shortcut += 1
                    intent = found[0]
                else:
                    intent = parse(sample.text)
                if intent == sample.kind:
                    r.intents_right += 1
                else:
                    report.intent_confusions[(sample.kind, intent)] += 1
        for sample in dev.language_id:
            said = detector.detect(sample.text)
            outcome = "abstain" if said is None else "right" if said == lang else "wrong"
            r.id.setdefault(sample.kind, Counter())[outcome] += 1
            if outcome == "wrong":
                report.language_confusions[(lang, str(said))] += 1
        progress(f"  [{n}/{len(sets)}] {lang}: " + (
            f"{r.intents_right}/{r.intents_scored} intents" if r.has_nlu else "no nlu file"
        ))
    report.parse_seconds = time.perf_counter() - start
    return report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _id_cell(r: LangReport, kind: str) -> str:
    c = r.id.get(kind, Counter())
    if not r.id_in_bot:
        return "not a bot language"
    total = c.total()
    return f"{_pct(r.id_accuracy(kind))} ({c['abstain']} menu, {c['wrong']} wrong)" if total else "-"


def format_report(report: Report, markdown: bool = False) -> str:
    head = ["language", "intent accuracy", "language ID, short", "language ID, sentences"]
    rows = []
    for r in report.languages.values():
        intent = (
            f"{_pct(r.intent_accuracy)} ({r.intents_right}/{r.intents_scored})"
            if r.has_nlu else "skipped: no nlu file"
        )
        rows.append([r.lang, intent, _id_cell(r, SHORT), _id_cell(r, SENTENCE)])
    scored = [r for r in report.languages.values() if r.has_nlu]
    right = sum(r.intents_right for r in scored)
    total = sum(r.intents_scored for r in scored)
    ids = {k: Counter() for k in (SHORT, SENTENCE)}  # type: dict[str, Counter[str]]
    for r in report.languages.values():
        if r.id_in_bot:
            for k in ids:
                ids[k].update(r.id.get(k, Counter()))
    rows.append([
        "all", f"{_pct(right / total if total else None)} ({right}/{total})",
        *(f"{_pct(ids[k]['right'] / ids[k].total() if ids[k].total() else None)} "
          f"({ids[k]['abstain']} menu, {ids[k]['wrong']} wrong)" for k in (SHORT, SENTENCE)),
    ])
    lines = []
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
        for row in [head, *rows]:
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    seen = sum(r.intents_seen for r in report.languages.values())
    shortcuts = sum(r.by_shortcut for r in report.languages.values())
    lines.append("")
    lines.append(f"Intent messages: {total} scored, {seen} left out as copies of training "
                 f"examples, {shortcuts} answered by the STOP/START shortcut without NLU.")
    top = ", ".join(f"{a} -> {b} ({n})" for (a, b), n in report.intent_confusions.most_common(10))
    lines.append(f"Most frequent wrong intents (expected -> got): {top or 'none'}")
    top = ", ".join(f"{a} -> {b} ({n})" for (a, b), n in report.language_confusions.most_common(10))
    lines.append(f"Languages taken for another (written in -> detected): {top or 'none'}")
    return "\n".join(lines)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Per-language intent accuracy (Rasa /model/parse) and language-ID accuracy "
        "(bot.language) on the dev set in tests/data/dev. Trains a model into a temporary "
        "directory unless --model or --rasa-url is given.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", type=Path, help="a trained model (.tar.gz) to serve and use")
    source.add_argument("--rasa-url", help="an already running Rasa server with --enable-api")
    parser.add_argument("--languages", help="comma-separated codes (default: every dev set)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    try:
        sets = load_all(languages=args.languages.split(",") if args.languages else None)
    except ValueError as exc:
        parser.error(str(exc))
    if args.model is not None and not args.model.is_file():
        parser.error(f"--model {args.model}: no such file")
    detector = LanguageDetector(Catalogue.load().languages, NLU_DIR)

    if args.rasa_url:
        report = evaluate(sets, rasa_parser(args.rasa_url), detector, _progress)
    else:
        from bot import rasa_runtime
        from bot.settings import Settings
        from tests.e2e.harness import free_port

        with tempfile.TemporaryDirectory(prefix="nlu-eval-") as tmp:
            settings = Settings(
                data_dir=Path(tmp), models_dir=Path(tmp) / "models", port=free_port(),
                rasa_port=free_port(), public_base_url="", action_token="nlu-eval",
                encryption_key="unused-by-nlu-eval", rasa_url="",
            )
            rasa_runtime.ensure_rasa_env(settings, _progress)
            model = args.model or rasa_runtime.train(settings, _progress)
            _progress(f"Starting Rasa with {model.name}...")
            with rasa_runtime.RasaServer(settings, model) as server:
                _progress(f"Parsing the dev set's intent messages on {server.url}...")
                report = evaluate(sets, rasa_parser(server.url), detector, _progress)
    print(format_report(report, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())

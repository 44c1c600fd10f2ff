"""`listening-bot texts` and `listening-bot translate`: what the bot says in each language, who
wrote it (a person or a machine), whether it has been reviewed, and machine pre-translation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.settings import Settings
from bot.texts.catalogue import TEXTS_DIR, Catalogue


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _survey_path(settings: Settings, survey_id: str | None) -> Path:
    from bot.survey.flow import load_survey

    wanted = survey_id or settings.default_survey
    for path in sorted(Path(settings.surveys_dir).glob("*.yml")):
        if load_survey(path, incomplete={}).id == wanted:
            return path
    raise SystemExit(f"error: no survey {wanted!r} in {settings.surveys_dir}")


def cmd_texts(args: argparse.Namespace, settings: Settings) -> int:
    """Per language: how many texts are human/machine/missing and their review state; with
    --lang, every text beside its English."""
    from bot.survey.translations import text_report

    catalogue = Catalogue.load(TEXTS_DIR)
    survey_path = _survey_path(settings, args.survey)
    languages = [args.lang] if args.lang else catalogue.languages
    if args.lang and args.lang not in catalogue.texts:
        print(f"error: no language {args.lang!r} (known: {', '.join(catalogue.languages)})",
              file=sys.stderr)
        return 2
    if not args.lang:
        print(f"{'language':<22} {'system texts':<34} survey {survey_path.stem}")
    for lang in languages:
        meta = catalogue.meta(lang)
        keys = catalogue.text_keys()
        sys_origins = [catalogue.origin(k, lang) for k in keys]
        report = text_report(survey_path, lang)
        if not args.lang:
            name = f"{lang} {catalogue.language_name(lang)}"
            print(
                f"{name:<22} {_counts(sys_origins, meta.get('review', '?')):<34} "
                f"{_counts([t.origin for t in report], _survey_review(report))}"
            )
            continue
        print(f"# {lang} {catalogue.language_name(lang)}: system texts "
              f"(review: {meta.get('review', '?')})")
        for key, origin in zip(keys, sys_origins, strict=True):
            state = "MISSING" if origin is None else (
                "machine, unreviewed" if origin == "machine" else f"human, {meta.get('review')}")
            text = catalogue.text(key, lang) if origin else ""
            print(f"{key:<22} [{state}] {text}")
        print(f"\n# {lang}: survey {survey_path.stem}")
        for info in report:
            state = "MISSING" if info.origin is None else f"{info.origin}, {info.review}"
            print(f"{info.id:<40} [{state}] {info.text or ''}")
    if not args.lang:
        print("\nDraft and machine texts need a native speaker's review before launch "
              "(`listening-bot texts --lang CODE` lists them).")
    return 0


def _counts(origins: list[str | None], review: str) -> str:
    human = sum(o == "human" for o in origins)
    machine = sum(o == "machine" for o in origins)
    missing = sum(o is None for o in origins)
    parts = [f"{human} human ({review})"]
    if machine:
        parts.append(f"{machine} machine")
    if missing:
        parts.append(f"{missing} MISSING")
    return ", ".join(parts)


def _survey_review(report: list) -> str:  # type: ignore[type-arg]
    reviews = {t.review for t in report if t.origin == "human"}
    return "/".join(sorted(r for r in reviews if r)) or "-"


def cmd_translate(args: argparse.Namespace, settings: Settings) -> int:
    from bot import pretranslate
    from bot.translation import make_translator

    if settings.translation_provider.lower() == "none":
        print("error: TRANSLATION_PROVIDER is none; set google, deepl, microsoft or libre",
              file=sys.stderr)
        return 2
    translator = make_translator(settings, target=args.lang)
    assert translator is not None
    results = []
    try:
        if args.system:
            _progress(f"System texts -> {args.lang} ({settings.translation_provider})")
            results.append(pretranslate.system_texts(TEXTS_DIR, args.lang, translator, _progress))
        if args.survey or not args.system:
            path = _survey_path(settings, args.survey)
            _progress(f"Survey {path.stem} -> {args.lang} ({settings.translation_provider})")
            results.append(pretranslate.survey(path, args.lang, translator, _progress))
    except (FileNotFoundError, pretranslate.Unsupported) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for result in results:
        where = result.path or "nothing written"
        _progress(f"{len(result.translated)} translated, {result.kept} already written, "
                  f"{len(result.failed)} failed -> {where}")
        for text_id, why in result.failed.items():
            _progress(f"  failed {text_id}: {why}")
        for text_id, count in result.long.items():
            _progress(f"  too long for SMS: {text_id} is {count} segments; shorten it by hand")
        failed += len(result.failed)
    return 1 if failed else 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    texts = sub.add_parser(
        "texts", help="what the bot says per language: human, machine or missing; review state"
    )
    texts.add_argument("--lang", help="list every text of this language beside the English")
    texts.add_argument("--survey", help="survey id (default: DEFAULT_SURVEY)")
    texts.set_defaults(func=cmd_texts)

    translate = sub.add_parser(
        "translate",
        help="machine pre-translate missing texts into a language (stored as machine, unreviewed)",
        description="Translates only texts no person has written, with TRANSLATION_PROVIDER "
        "(google, deepl, microsoft, libre), into <lang>.machine.yml files. A person's text always "
        "wins and is never overwritten. Without --system or --survey: the default survey.",
    )
    translate.add_argument("--lang", required=True, help="target language code, e.g. ar, so, ti")
    translate.add_argument("--survey", help="survey id to translate")
    translate.add_argument("--system", action="store_true",
                           help="translate the system texts (bot/texts/<lang>.yml must exist)")
    translate.set_defaults(func=cmd_translate)

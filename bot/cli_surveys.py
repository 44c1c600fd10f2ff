"""`listening-bot survey ...`: list, validate, upload, publish and show survey versions.

The files in `surveys/` are imported first (as the bot does when it starts), so the list
always shows what people get. An upload that fails validation stores nothing and prints each
error with its file and line; publishing freezes the draft as the next version number;
`publish ID --version N` puts an earlier version back (a rollback).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.survey.flow import Survey
    from bot.survey.store import SurveyStore, Validation


def _who(args: argparse.Namespace) -> str:
    if getattr(args, "by", None):
        return str(args.by)
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _store(settings: Settings, out: TextIO) -> SurveyStore:
    from bot.storage.db import Database
    from bot.storage.migrate import upgrade
    from bot.survey.store import SurveyStore

    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines say nothing here
    upgrade(settings)
    store = SurveyStore(Database(settings))
    for item in store.sync_folder(settings.surveys_dir):
        print(f"imported {item.path.name} as survey '{item.survey_id}' version {item.version} "
              "(published)", file=out)
    return store


def _print_validation(checked: Validation, out: TextIO) -> None:
    for error in checked.errors:
        print(f"error: {error}", file=out)
    for warning in checked.warnings:
        print(f"warning: {warning}", file=out)


def _describe(survey: Survey) -> str:
    keywords = ", ".join(survey.keywords) or "none"
    return (f"survey '{survey.id}': {len(survey.questions)} questions, {survey.status}, "
            f"languages {', '.join(survey.languages)}; keywords: {keywords}")


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings, sys.stderr)
    rows = store.summaries()
    if not rows:
        print("no surveys yet: upload one with `listening-bot survey upload FILE`")
        return 0
    head = f"{'survey':<20}{'live':>6}  {'status':<8}{'versions':>9}  {'draft':<6}{'languages':>10}  keywords"
    print(head)
    for r in rows:
        live = f"v{r.published_version}" if r.published_version else "-"
        default = " (default)" if r.survey_id == settings.default_survey else ""
        print(f"{r.survey_id + default:<20}{live:>6}  {r.status or '-':<8}{r.versions:>9}  "
              f"{'yes' if r.has_draft else 'no':<6}{len(r.languages):>10}  "
              f"{', '.join(r.keywords) or '-'}")
    return 0


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.survey.store import Bundle, SurveyStoreError, validate

    try:
        bundle = Bundle.from_path(Path(args.file))
    except SurveyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    checked = validate(bundle, strict=args.strict)
    _print_validation(checked, sys.stderr)
    if not checked.ok:
        print(f"{args.file}: {len(checked.errors)} error(s); fix them and validate again",
              file=sys.stderr)
        return 2
    assert checked.survey is not None
    print(f"{args.file}: valid: {_describe(checked.survey)}")
    return 0


def cmd_upload(args: argparse.Namespace, settings: Settings) -> int:
    from bot.survey.store import Bundle, SurveyStoreError

    try:
        bundle = Bundle.from_path(Path(args.file))
    except SurveyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = _store(settings, sys.stderr)
    checked = store.upload(bundle, _who(args))
    _print_validation(checked, sys.stderr)
    if not checked.ok:
        print(f"{args.file}: not uploaded (nothing was stored); fix the error(s) and upload again",
              file=sys.stderr)
        return 2
    assert checked.survey is not None
    print(f"draft stored: {_describe(checked.survey)}")
    print(f"publish it with: listening-bot survey publish {checked.survey.id}")
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from bot.survey.store import SurveyStoreError

    store = _store(settings, sys.stderr)
    try:
        done = store.publish(args.survey_id, _who(args), version=args.version)
    except SurveyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in done.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    survey = store.get(done.survey_id, done.version)
    if args.version is not None:
        how = f"version {done.version} re-published"
    elif done.new_version:
        how = f"published as version {done.version}"
    else:
        how = f"same content as version {done.version}, which is re-published"
    print(f"survey '{done.survey_id}': {how}; new conversations get it ({survey.status}). "
          "Conversations already under way finish on the version they started.")
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from bot.survey.store import SurveyStoreError

    store = _store(settings, sys.stderr)
    survey_id = args.survey_id
    versions = store.versions(survey_id)
    draft = store.draft(survey_id)
    if not versions and draft is None:
        known = ", ".join(s.survey_id for s in store.summaries()) or "none"
        print(f"error: no survey '{survey_id}' (known: {known})", file=sys.stderr)
        return 2
    live = store.published_versions().get(survey_id)
    try:
        if args.draft:
            if draft is None:
                raise SurveyStoreError(f"survey '{survey_id}' has no draft")
            survey, bundle = store.draft_survey(survey_id), draft.bundle
            label = "draft"
        else:
            number = args.version or live or versions[-1].version
            survey, bundle = store.get(survey_id, number), store.version_bundle(survey_id, number)
            label = f"version {number}" + (" (live)" if number == live else "")
    except SurveyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.source:
        print(bundle.source, end="" if bundle.source.endswith("\n") else "\n")
        return 0
    print(f"{label}: {_describe(survey)}")
    print(f"title: {survey.title_in('en')}")
    print("\nversions:")
    for v in versions:
        mark = " <- live" if v.version == live else ""
        print(f"  v{v.version}  {v.created_at:%Y-%m-%d %H:%M}  {v.created_by:<24} "
              f"{v.source_name}  sha256 {v.content_hash[:12]}{mark}")
    if draft is not None:
        print(f"  draft  {draft.updated_at:%Y-%m-%d %H:%M}  {draft.updated_by}")
    print("\npublished:")
    for p in store.publications(survey_id):
        print(f"  {p.published_at:%Y-%m-%d %H:%M}  v{p.version}  by {p.published_by}")
    print(f"\nquestions ({label}):")
    for n, q in enumerate(survey.questions, start=1):
        extra = []
        if q.show_if:
            extra.append("if " + " and ".join(f"{k} in {list(v)}" for k, v in q.show_if.items()))
        if q.optional:
            extra.append("optional")
        if q.range:
            extra.append(f"range {q.range[0]}-{q.range[1]}")
        if q.validate:
            extra.append(f"validate {q.validate}")
        print(f"  {n:>2}. {q.key} [{q.type}{'; ' + '; '.join(extra) if extra else ''}] "
              f"{q.text_in('en')}")
        for i, option in enumerate(q.options, start=1):
            print(f"       {i}. {option.key}: {option.text_in('en')}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    survey = sub.add_parser(
        "survey",
        help="survey flows: list, validate, upload a draft, publish a version, show",
        description="Survey flows and their versions (docs/survey-format.md). The files in "
        "SURVEYS_DIR are imported first, as the bot does when it starts.",
    )
    commands = survey.add_subparsers(dest="survey_command", required=True, metavar="ACTION")

    listing = commands.add_parser("list", help="every survey: live version, status, keywords")
    listing.set_defaults(func=cmd_list)

    check = commands.add_parser(
        "validate", help="check a flow file and its language files; stores nothing",
        description="Check FILE (and the language files in the folder beside it, e.g. "
        "demo/ar.yml for demo.yml). Errors name the file, line, question and field. Exit 2 on "
        "errors; warnings (a language left out for missing texts) do not fail.")
    check.add_argument("file", help="the survey's .yml file")
    check.add_argument("--strict", action="store_true",
                       help="a language file that misses texts is an error, not a warning")
    check.set_defaults(func=cmd_validate)

    upload = commands.add_parser(
        "upload", help="validate a flow file and store it as the survey's draft",
        description="Validate FILE and its language files; if valid, store them as the draft "
        "of the survey named by its id (replacing an earlier draft). Invalid: nothing is "
        "stored, exit 2.")
    upload.add_argument("file", help="the survey's .yml file")
    upload.add_argument("--by", help="who uploads it, for the record (default: cli:<user>)")
    upload.set_defaults(func=cmd_upload)

    publish = commands.add_parser(
        "publish", help="publish the draft as a new version, or re-publish --version N",
        description="Freeze the survey's draft as its next version number and make it the one "
        "new conversations get; with --version N, make earlier version N that one again "
        "(rollback). Conversations under way finish on the version they started.")
    publish.add_argument("survey_id", metavar="ID", help="the survey id")
    publish.add_argument("--version", type=int, help="re-publish this earlier version")
    publish.add_argument("--by", help="who publishes it, for the record (default: cli:<user>)")
    publish.set_defaults(func=cmd_publish)

    show = commands.add_parser(
        "show", help="a survey's versions, publications and questions",
        description="Show the live version (or --version N, or --draft): its versions, when "
        "each was published and by whom, and its questions; --source prints its YAML.")
    show.add_argument("survey_id", metavar="ID", help="the survey id")
    which = show.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="this version instead of the live one")
    which.add_argument("--draft", action="store_true", help="the draft instead of the live one")
    show.add_argument("--source", action="store_true", help="print the YAML it was made from")
    show.set_defaults(func=cmd_show)

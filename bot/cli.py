"""`listening-bot`: serve, train, chat, export, migrate. Each subcommand has --help."""

from __future__ import annotations

import argparse
import logging
import sys

from bot.settings import Settings


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Both log request URLs at INFO, and Twilio's list queries carry phone numbers.
    for noisy in ("twilio", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def ensure_model(settings: Settings, force: bool = False) -> None:
    from bot import rasa_runtime

    rasa_runtime.ensure_rasa_env(settings, _progress)
    if force or not rasa_runtime.is_model_current(settings):
        rasa_runtime.train(settings, _progress)
    else:
        _progress(f"Rasa model is up to date: {rasa_runtime.model_path(settings).name}")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from bot.app import create_app
    from bot.storage.migrate import upgrade

    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    upgrade(settings)
    if not settings.rasa_url and not args.no_train:
        ensure_model(settings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level.lower(), access_log=False)
    return 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    ensure_model(settings, force=args.force)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.storage.migrate import upgrade

    upgrade(settings)
    _progress("Database is up to date.")
    return 0


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.chat import Phone, input_lines, run

    phone = Phone(settings, args.number, args.channel, args.to)
    return run(phone, input_lines(), sys.stdout, args.timeout, interactive=sys.stdin.isatty())


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.export import write_csv
    from bot.storage.db import Database
    from bot.survey.store import SurveyStore, questions_across_versions

    db = Database(settings)
    store = SurveyStore(db)
    store.sync_folder(settings.surveys_dir)
    survey_id = args.survey or settings.default_survey
    # Every version's questions: one key is one question, so versions share a column.
    questions = questions_across_versions(store, survey_id)
    if not questions:
        known = ", ".join(s.survey_id for s in store.summaries()) or "none"
        print(f"error: no survey {survey_id!r} (known: {known})", file=sys.stderr)
        return 2
    keys = [q.key for q in questions]
    english_for = {q.key for q in questions if q.free_text}
    from bot.console.cli import audit_export

    audit_export(settings, db, survey_id, to_file=bool(args.output))  # before any row leaves
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        count = write_csv(db, survey_id, keys, english_for, out)
    finally:
        if args.output:
            out.close()
    _progress(f"Exported {count} conversations of survey {survey_id!r}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="listening-bot",
        description="Multilingual WhatsApp/SMS listening survey bot. Settings come from the "
        "environment and .env (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the bot: migrate, train if needed, start Rasa and the app")
    serve.add_argument("--host", help="interface to listen on (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT or 8000)")
    serve.add_argument("--no-train", action="store_true", help="fail instead of training a stale model")
    serve.set_defaults(func=cmd_serve)

    train = sub.add_parser("train", help="train the Rasa model if its sources changed")
    train.add_argument("--force", action="store_true", help="train even if the model is current")
    train.set_defaults(func=cmd_train)

    chat = sub.add_parser("chat", help="a terminal phone that texts the running bot")
    chat.add_argument("--channel", choices=["sms", "whatsapp"], default="sms")
    chat.add_argument("--number", default="+447700900123",
                      help="the phone number to pretend to be (default: a UK drama number)")
    chat.add_argument("--to", default="+447700900000", help="the bot's number (default: %(default)s)")
    chat.add_argument("--timeout", type=float, default=15.0,
                      help="seconds to wait for replies to each message (default: %(default)s)")
    chat.set_defaults(func=cmd_chat)

    export = sub.add_parser("export", help="answers of a survey as CSV on stdout")
    export.add_argument("--survey", help="survey id (default: DEFAULT_SURVEY)")
    export.add_argument("--output", "-o", help="write to this file instead of stdout")
    export.set_defaults(func=cmd_export)

    migrate = sub.add_parser("migrate", help="create or upgrade the database tables")
    migrate.set_defaults(func=cmd_migrate)

    from bot.console.cli import add_commands as add_console_commands

    add_console_commands(sub)  # create-admin, user

    from bot.cli_texts import add_commands as add_text_commands

    add_text_commands(sub)

    from bot.segments_report import add_commands as add_segment_commands

    add_segment_commands(sub)  # segments

    from bot.cli_surveys import add_commands as add_survey_commands

    add_survey_commands(sub)  # survey list|validate|upload|publish|show
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings)
    try:
        return args.func(args, settings)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

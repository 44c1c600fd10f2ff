"""The FastAPI app: webhooks in, Rasa's custom actions, health; the worker runs inside it.

Assembly only: each part lives in its own module and this file wires them together once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Response
from sqlalchemy import text

from bot import rasa_actions
from bot.console import install as console
from bot.conversation import ConversationService
from bot.language import LanguageDetector
from bot.outbox import Outbox
from bot.rasa_actions import ActionCall
from bot.rasa_runtime import RasaServer
from bot.retrain import Retrainer
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.db import Database
from bot.storage.phones import PhoneVault
from bot.survey.engine import Engine
from bot.survey.store import SurveyStore
from bot.texts.catalogue import Catalogue
from bot.translation import Translations, make_translator
from bot.worker import Worker
from webhooks import twilio_channel

log = logging.getLogger("bot")


def load_surveys(settings: Settings, db: Database) -> SurveyStore:
    """The survey store, with the files in `surveys/` imported as published versions when
    their content is new; the default survey must be published."""
    store = SurveyStore(db)
    for item in store.sync_folder(settings.surveys_dir):
        log.info("survey %s: %s published as version %d", item.survey_id, item.path.name,
                 item.version)
    published = store.published()
    if settings.default_survey not in published:
        raise SystemExit(f"DEFAULT_SURVEY {settings.default_survey!r} is not a published survey "
                         f"(in {settings.surveys_dir} or uploaded with `listening-bot survey`)")
    for survey in published.values():
        log.info("survey %s: version %d is live (%s, %d languages)", survey.id, survey.version,
                 survey.status, len(survey.languages))
        live = [v for v in store.versions(survey.id) if v.version == survey.version]
        for warning in live[0].warnings if live else []:
            log.warning("survey %s: %s", survey.id, warning)
    return store


def build_engine(settings: Settings) -> Engine:
    """The survey engine; surveys come to it per message, as the version a conversation is on."""
    from datetime import timedelta

    return Engine(
        None,
        Catalogue.load(),
        default_survey=settings.default_survey,
        privacy_url=settings.privacy_url,
        welcome_back_after=timedelta(minutes=settings.welcome_back_after_minutes),
        resume_expiry=timedelta(hours=settings.resume_expiry_hours),
    )


async def _bring_up_rasa(app: FastAPI, settings: Settings, worker: Worker) -> None:
    """Start our own Rasa (or wait for an external one); the worker waits until it is ready."""
    if settings.rasa_url:
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{settings.effective_rasa_url}/status")).status_code == 200:
                        break
                await asyncio.sleep(0.5)
    else:
        server = RasaServer(settings)
        app.state.rasa_server = server
        server.launch()  # from the event loop's thread, which lives as long as the app
        await asyncio.to_thread(server.wait_ready, 180.0)
        app.state.retrainer = _retrainer(app, settings, server, worker)
    log.info("Rasa is ready")
    worker.rasa_ready.set()


def _retrainer(app: FastAPI, settings: Settings, server: RasaServer, worker: Worker) -> Retrainer:
    """Our own Rasa server's model is retrained and swapped in when its sources change (and
    when the console asks); the first-message language lexicon follows the new NLU examples."""

    def loaded(model: Path) -> None:
        server.model = model
        worker.detector = LanguageDetector(worker.detector.languages, PROJECT_ROOT / "nlu")

    retrainer = Retrainer(settings, server.url, server.model, on_loaded=loaded)
    if settings.retrain_watch_seconds > 0:
        threading.Thread(target=retrainer.watch, name="retrain-watch", daemon=True,
                         args=(settings.retrain_watch_seconds, app.state.stopping)).start()
    return retrainer


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    db = Database(settings)
    surveys = await asyncio.to_thread(load_surveys, settings, db)
    engine = build_engine(settings)
    detector = LanguageDetector(engine.catalogue.languages, PROJECT_ROOT / "nlu")
    outbox = Outbox(db, settings, app.state.vault)
    translations = Translations(db, settings, make_translator(settings))
    worker = Worker(db, outbox, detector, settings.effective_rasa_url, translations,
                    settings.worker_poll_seconds)
    conversation = ConversationService(db, engine, surveys, settings.default_survey,
                                       worker.notify_outbox)

    async def handle_action(call: ActionCall) -> None:
        await asyncio.to_thread(conversation.handle, call)

    app.state.db = db
    app.state.surveys = surveys  # the console's survey pages use the same store
    app.state.worker = worker
    app.state.action_handler = handle_action
    app.state.rasa_server = None
    app.state.retrainer = None  # a Retrainer when we run Rasa ourselves (not with RASA_URL)
    app.state.stopping = threading.Event()
    if settings.local_mode:
        log.warning("No Twilio credentials: local mode. Replies are kept for `listening-bot chat`.")
    await worker.start()
    rasa_task = asyncio.create_task(_bring_up_rasa(app, settings, worker))
    try:
        yield
    finally:
        app.state.stopping.set()
        rasa_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await rasa_task
        await worker.stop()
        if app.state.rasa_server is not None:
            await asyncio.to_thread(app.state.rasa_server.stop)
        db.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # /docs is served by the console from local files (FastAPI's own loads them from a CDN).
    app = FastAPI(title="Listening Bot", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.vault = PhoneVault(settings.fernet_key, settings.hash_key)
    app.include_router(twilio_channel.router)
    app.include_router(rasa_actions.router)
    console.install(app)  # officers' pages under /console, the API under /api/v1

    @app.get("/healthz", tags=["health"])
    async def healthz() -> Response:
        """200 once the database answers and Rasa has its model loaded; 503 before."""
        problems = []
        try:
            def ping() -> None:
                with app.state.db.read() as session:
                    session.execute(text("SELECT 1"))

            await asyncio.to_thread(ping)
        except Exception:
            problems.append("database")
        if not app.state.worker.rasa_ready.is_set():
            problems.append("rasa")
        if problems:
            return Response(f"not ready: {', '.join(problems)}\n", status_code=503)
        return Response("ok\n")

    return app

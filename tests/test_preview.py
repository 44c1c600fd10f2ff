"""The chat simulator under the console's preview page: a draft survey walked in Arabic over
SMS with the real Rasa model and the real engine, each reply with its SMS cost, and nothing
written to the database."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from bot.app import build_engine
from bot.settings import PROJECT_ROOT, Settings
from bot.sms import UCS2
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.tables import Answer, Contact, Conversation, Message
from bot.survey.preview import Preview, Previews
from bot.survey.store import Bundle, SurveyStore
from bot.texts.catalogue import Catalogue

CATALOGUE = Catalogue.load()


def test_a_draft_previewed_in_arabic_over_sms_touches_nothing(rasa_server, tmp_path: Path):
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'p.db'}",
                        encryption_key="k")
    upgrade(settings)
    db = Database(settings)
    store = SurveyStore(db)
    assert store.upload(Bundle.from_path(PROJECT_ROOT / "surveys" / "demo.yml"), "admin").ok
    draft = store.draft_survey("demo")

    preview = Preview(build_engine(settings), draft, rasa_server.url, channel="sms", language="ar")
    hello = preview.say("مرحبا")
    assert hello.stage == "consent"
    assert CATALOGUE.dress(CATALOGUE.text("intro", "ar"), "ar") in hello.replies[0].text
    yes = preview.say("نعم")  # understood by the model, in Arabic
    assert yes.intent == "affirm" and yes.stage == "question" and yes.question_key == "access"
    assert draft.question("access").text_in("ar") in yes.replies[0].text
    assert all(r.encoding == UCS2 and r.segments in (1, 2) for r in yes.replies)
    four = preview.say("٤")  # Arabic-Indic digit: the no-NLU shortcut, as the worker does it
    assert four.intent == "choose" and four.answer == ("access", "answered", 4)
    assert four.question_key == "info_language"

    whatsapp = Preview(build_engine(settings), draft, rasa_server.url, channel="whatsapp",
                       language="ar")
    assert whatsapp.say("مرحبا").replies[0].segments is None, "segments are an SMS matter"

    with db.read() as session:
        for table in (Contact, Conversation, Message, Answer):
            assert session.scalar(select(func.count()).select_from(table)) == 0, table
    db.dispose()


def test_previews_are_forgotten_when_unused():
    previews = Previews(ttl=0.2)
    preview_id = previews.start(object())  # type: ignore[arg-type]
    assert previews.get(preview_id) is not None and len(previews) == 1
    time.sleep(0.3)
    assert previews.get(preview_id) is None and len(previews) == 0
    other = previews.start(object())  # type: ignore[arg-type]
    previews.end(other)
    assert previews.get(other) is None

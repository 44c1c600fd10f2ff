"""People's words in English for officers: deep-translator's real LibreTranslate client against
a local fake of its API, on a real SQLite file."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.tables import Base, Contact, Message, TranslationCache, utcnow
from bot.translation import Translations, make_translator, needs_translation
from tests.fakes.libretranslate import FakeLibreTranslate


@pytest.fixture
def libre():
    with FakeLibreTranslate() as fake:
        yield fake


@pytest.fixture
def setup(tmp_path, libre):
    settings = Settings(data_dir=tmp_path, encryption_key="k", translation_provider="libre",
                        translation_url=libre.url, translation_api_key="test-key")
    db = Database(settings)
    Base.metadata.create_all(db.engine)
    with db.transaction() as s:
        s.add(Contact(public_id="CT", phone_hash="h", phone_encrypted=b"x", language="pl"))
    yield settings, db, Translations(db, settings, make_translator(settings))
    db.dispose()


def add_inbound(db: Database, body: str, language: str = "pl") -> int:
    with db.transaction() as s:
        m = Message(contact_id=1, direction="in", channel="sms", our_address="+447700900000",
                    body=body, language=language, status="processed", translation_status="pending")
        s.add(m)
        s.flush()
        return m.id


def get(db: Database, message_id: int) -> Message:
    with db.read() as s:
        return s.get(Message, message_id)


def test_translated_in_background_and_cached(setup, libre):
    _, db, translations = setup
    first = add_inbound(db, "Więcej tłumaczy w przychodni")
    second = add_inbound(db, "Więcej tłumaczy w przychodni")
    assert translations.translate_due() == 2
    for mid in (first, second):
        m = get(db, mid)
        assert m.translation_status == "done" and m.text_en == "More interpreters at the clinic"
        assert m.body == "Więcej tłumaczy w przychodni", "the original is kept"
    assert len(libre.requests) == 1, "the same words are translated once"
    assert libre.requests[0]["source"] == "pl" and libre.requests[0]["target"] == "en"
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(TranslationCache)) == 1


def test_provider_down_is_visible_and_retried(setup, libre):
    _, db, translations = setup
    mid = add_inbound(db, "Listy po polsku")
    libre.fail_next = 1
    translations.translate_due()
    m = get(db, mid)
    assert m.translation_status == "failed" and m.text_en is None
    assert "ServerException" in (m.translation_error or "") and m.translation_next_at is not None
    assert translations.translate_due() == 0, "not due yet"
    translations.translate_due(now=utcnow() + timedelta(hours=7))
    assert get(db, mid).translation_status == "done"
    assert get(db, mid).text_en == "[pl->en] Listy po polsku"


def test_unreachable_provider_breaks_nothing(tmp_path):
    settings = Settings(data_dir=tmp_path, encryption_key="k", translation_provider="libre",
                        translation_url="http://127.0.0.1:9", translation_api_key="k")
    db = Database(settings)
    Base.metadata.create_all(db.engine)
    with db.transaction() as s:
        s.add(Contact(public_id="CT", phone_hash="h", phone_encrypted=b"x"))
    mid = add_inbound(db, "Nie mogę się dodzwonić")
    Translations(db, settings, make_translator(settings)).translate_due()
    assert get(db, mid).translation_status == "failed"
    db.dispose()


def test_switched_off(setup):
    settings, db, _ = setup
    settings.translation_provider = "none"
    assert make_translator(settings) is None
    assert Translations(db, settings, None).translate_due() == 0


@pytest.mark.parametrize(("body", "lang", "expected"), [
    ("Więcej tłumaczy", "pl", True), ("more interpreters", "en", False), ("3", "pl", False),
    ("👍", "pl", False), ("", "pl", False), ("tak", None, False),
])
def test_what_needs_translation(body, lang, expected):
    assert needs_translation(body, lang) is expected

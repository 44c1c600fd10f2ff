"""End to end: signed Twilio webhooks into the real app, the real Rasa server and model, the
real twilio client sending to a local fake of Twilio's API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from bot.settings import PROJECT_ROOT
from bot.storage.tables import Contact, Message
from bot.survey.flow import load_surveys
from tests.e2e.harness import AUTH_TOKEN, Phone
from tests.e2e.respondent import Respondent

pytestmark = pytest.mark.e2e

SURVEY = load_surveys(PROJECT_ROOT / "surveys")["demo"]

# What a person might type for each kind of question, per language. Choice questions are
# answered by number except one per run, answered in words, so both paths are exercised.
YES = {"en": "yes", "pl": "tak"}
GREETING = {"en": "Hello", "pl": "Dzień dobry"}
FREE_TEXT = {
    "en": "More interpreters at the GP surgery, and letters in my language please",
    "pl": "Więcej tłumaczy w przychodni i listy po polsku",
}


def answer_for(question, lang: str, answered_in_words: set[str]) -> str:
    if question.type == "yesno":
        return YES[lang]
    if question.type == "scale":
        return "4"
    if question.type == "multiple":
        return "1, 2"
    if question.type == "single":
        if not answered_in_words:
            answered_in_words.add(question.key)
            return question.options[0].text_in(lang)
        return "1"
    if getattr(question, "validate", None) == "postcode_district":
        return "IP4 2AB"
    return FREE_TEXT[lang]


def complete_survey(who: Respondent, lang: str) -> int:
    """Greet, consent and answer every question asked; returns the conversation id."""
    first = who.say(GREETING[lang])
    assert first.replies, "the bot must answer a first message"
    consent = who.say(YES[lang])
    conversation = who.conversation(consent.inbound.contact_id)
    assert conversation is not None and conversation.stage == "question"
    words: set[str] = set()
    asked = []
    for _ in range(20):
        conversation = who.conversation(consent.inbound.contact_id)
        if conversation.stage == "completed":
            break
        question = SURVEY.question(conversation.question_key)
        asked.append(question.key)
        exchange = who.say(answer_for(question, lang, words))
        assert exchange.replies, f"no reply after answering {question.key}"
    assert conversation.stage == "completed", f"survey not completed; asked {asked}"
    assert 8 <= len(asked) <= 11
    return conversation.id


@pytest.mark.parametrize(
    ("lang", "channel"), [("en", "sms"), ("pl", "whatsapp"), ("pl", "sms"), ("en", "whatsapp")]
)
def test_full_survey(make_app, database_url, fake_twilio, lang, channel):
    app = make_app(database_url)
    number = f"+44770090{abs(hash((lang, channel, database_url))) % 10000:04d}"
    who = Respondent(Phone(app.url, number, channel), database_url)

    conversation_id = complete_survey(who, lang)

    answers = who.answers(conversation_id)
    asked_keys = set(answers)
    assert all(a.status == "answered" for a in answers.values()), {
        k: (a.status, a.raw_text) for k, a in answers.items() if a.status != "answered"}
    assert all(a.language == lang for a in answers.values())
    free = [a for a in answers.values() if a.raw_text == FREE_TEXT[lang]]
    assert free and free[0].value == FREE_TEXT[lang]
    postcode = [k for k in asked_keys if getattr(SURVEY.question(k), "validate", None) == "postcode_district"]
    assert postcode and answers[postcode[0]].value == "IP4"
    with Session(who.engine) as session:
        bodies = list(session.scalars(select(Message.body).where(Message.direction == "in")))
    assert "IP4" in " ".join(bodies) and "2AB" not in " ".join(bodies).upper(), "no full postcode kept"

    # Every reply went out through Twilio's API to this person on their channel, once.
    to = f"whatsapp:{number}" if channel == "whatsapp" else number
    with Session(who.engine) as session:
        out = list(session.scalars(select(Message).where(Message.direction == "out")
                                   .join(Contact).where(Message.channel == channel)
                                   .order_by(Message.id)))
    mine = [m for m in out if m.twilio_sid in {f.sid for f in fake_twilio.messages_to(to)}]
    assert mine and len({m.twilio_sid for m in mine}) == len(mine)
    sent_bodies = [f.body for f in fake_twilio.messages_to(to)]
    assert sent_bodies == [m.body for m in mine]
    who.close()

    # The logs never show the number or what the person wrote.
    log = app.log_text()
    assert number not in log and number.lstrip("+") not in log
    assert FREE_TEXT[lang] not in log


def test_stop_mid_survey_then_start(make_app, sqlite_url, fake_twilio):
    app = make_app(sqlite_url)
    number = "+447700900701"
    who = Respondent(Phone(app.url, number, "sms"), sqlite_url)
    who.say("Hello")
    who.say("yes")
    stop = who.say("STOP")
    assert len(stop.replies) == 1, "exactly one confirmation"
    sent_before = len(fake_twilio.messages_to(number))
    silent = who.say("hello again")
    assert silent.replies == []
    time.sleep(0.5)
    assert len(fake_twilio.messages_to(number)) == sent_before, "nothing sent after STOP"
    with Session(who.engine) as session:
        contact = session.get(Contact, stop.inbound.contact_id)
        assert contact.opted_out_at is not None
    back = who.say("START")
    assert back.replies, "START brings the person back"
    with Session(who.engine) as session:
        assert session.get(Contact, stop.inbound.contact_id).opted_out_at is None
    who.close()


def test_duplicate_delivery_is_ignored(make_app, sqlite_url, fake_twilio):
    app = make_app(sqlite_url)
    number = "+447700900702"
    phone = Phone(app.url, number, "sms")
    who = Respondent(phone, sqlite_url)
    form = phone.form("Hello")
    assert phone.post(form).status_code == 200
    assert phone.post(form).status_code == 200  # Twilio's retry of the same MessageSid
    first = who.wait_processed(form["MessageSid"])
    time.sleep(1.0)
    with Session(who.engine) as session:
        inbound = session.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "in", Message.contact_id == first.inbound.contact_id))
    assert inbound == 1
    assert len(fake_twilio.messages_to(number)) == len(first.replies)
    who.close()


def test_forged_signature_is_refused_and_nothing_stored(make_app, sqlite_url):
    app = make_app(sqlite_url)
    phone = Phone(app.url, "+447700900703", "sms")
    form = phone.form("Hello")
    assert phone.post(form, token="not-the-auth-token").status_code == 403
    unsigned = phone.http.post(app.url + "/webhooks/twilio/messages", data=form)
    assert unsigned.status_code == 403
    tampered = phone.form("Hello")
    good_sig_form = dict(tampered)
    tampered["Body"] = "changed in transit"
    from webhooks.signature import SIGNATURE_HEADER, sign
    url = app.url + "/webhooks/twilio/messages"
    response = phone.http.post(url, data=tampered,
                               headers={SIGNATURE_HEADER: sign(AUTH_TOKEN, url, good_sig_form)})
    assert response.status_code == 403
    engine = create_engine(sqlite_url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
    engine.dispose()


def test_media_message_is_stored_and_answered_politely(make_app, sqlite_url):
    app = make_app(sqlite_url)
    who = Respondent(Phone(app.url, "+447700900704", "whatsapp"), sqlite_url)
    who.say("Hello")
    voice = who.say("", NumMedia="1", MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
                    MediaContentType0="audio/ogg", MessageType="audio")
    assert voice.inbound.media == [{"url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
                                    "content_type": "audio/ogg"}]
    assert voice.replies, "a voice note gets a polite answer"
    who.close()


def test_killed_mid_conversation_loses_nothing_and_sends_nothing_twice(
    make_app, sqlite_url, fake_twilio
):
    app = make_app(sqlite_url)
    number = "+447700900705"
    phone = Phone(app.url, number, "sms")
    who = Respondent(phone, sqlite_url)
    who.say("Hello")
    who.say("yes")
    # A burst of answers, then a power cut while they are being processed.
    forms = [phone.form(text) for text in ("3", "1", "2")]
    for form in forms:
        assert phone.post(form).status_code == 200
    app.kill()
    app.start()
    for form in forms:
        who.wait_processed(form["MessageSid"], timeout=30)
    with Session(who.engine) as session:
        out = list(session.scalars(select(Message).where(
            Message.direction == "out", Message.contact_id == who.wait_processed(forms[0]["MessageSid"]).inbound.contact_id)))
        inbound = list(session.scalars(select(Message).where(
            Message.direction == "in", Message.twilio_sid.in_([f["MessageSid"] for f in forms]))))
    assert all(m.status == "processed" for m in inbound)
    sent = fake_twilio.messages_to(number)
    sids = [m.sid for m in sent]
    assert len(sids) == len(set(sids))
    assert sorted(sids) == sorted(m.twilio_sid for m in out if m.twilio_sid)
    assert len(sent) == len(out), "every stored reply sent exactly once"
    who.close()


def test_health_and_status_callbacks(make_app, sqlite_url, fake_twilio):
    app = make_app(sqlite_url)
    assert Phone(app.url, "+447700900706").http.get(app.url + "/healthz").status_code == 200
    who = Respondent(Phone(app.url, "+447700900706", "sms"), sqlite_url)
    first = who.say("Hello")
    reply = first.replies[0]
    callback = {"MessageSid": reply.twilio_sid, "MessageStatus": "delivered",
                "AccountSid": "AC" + "e2e0" * 8, "From": "+447700900000", "To": "+447700900706",
                "ApiVersion": "2010-04-01", "SmsSid": reply.twilio_sid, "SmsStatus": "delivered"}
    assert who.phone.post(callback, path="/webhooks/twilio/status").status_code < 300
    assert who.phone.post(callback, path="/webhooks/twilio/status", token="forged").status_code == 403
    with Session(who.engine) as session:
        assert session.get(Message, reply.id).status == "delivered"
    who.close()

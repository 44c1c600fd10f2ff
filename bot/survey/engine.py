"""The survey engine: given where a person is and what they said, decide what happens next.

Pure: no database, no network, no clock (the time comes in the `Turn`). `bot.conversation`
loads the `State` and the survey version the conversation is on, calls `handle`, and saves the
`Outcome` in one transaction. Order of precedence, so nothing can swallow the important things:
STOP, then opted-out silence (START excepted), then first contact (a closed survey says so and
asks nothing), then the stage the person is in. Nothing is asked before consent.

Replies are short and in the person's language. A short acknowledgement ("OK, we will skip
that one.") goes in the same message as what follows when both fit in two SMS segments:
fewer messages to pay for, and SMS parts sent separately can arrive out of order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from bot.sms import segments
from bot.survey.answers import (
    NO_EMOJI,
    YES_EMOJI,
    Words,
    matches_words,
    redact_postcodes,
    understand,
)
from bot.survey.flow import CHOICE_TYPES, Option, Question, Survey
from bot.survey.model import (
    COMPLETED,
    CONSENT,
    DECLINED,
    LANGUAGE,
    QUESTION,
    RESUME,
    AnswerWrite,
    Outcome,
    Reply,
    State,
    Turn,
)
from bot.texts.catalogue import LRM, Catalogue

FAQ = {"ask_who": "faq_who", "ask_confidential": "faq_confidential", "ask_why": "faq_why"}
# Skills rather than answers. On a free-text question they count only in a short, confident
# message: people write long answers that a classifier may well call "help".
COMMANDS = frozenset(
    {
        "help",
        "skip",
        "dont_know",
        "repeat",
        "change_language",
        "greet",
        "thanks",
        "goodbye",
        "start",
        *FAQ,
    }
)
COMMAND_MAX_WORDS = 4
COMMAND_MIN_CONFIDENCE = 0.7
MAX_SEGMENTS = 2
OPT_OUT_PURPOSE = "opt_out_confirmation"


class Engine:
    def __init__(
        self,
        surveys: Mapping[str, Survey] | None,
        catalogue: Catalogue,
        *,
        default_survey: str,
        privacy_url: str,
        welcome_back_after: timedelta,
        resume_expiry: timedelta,
    ) -> None:
        self.surveys = dict(surveys or {})  # by id, for callers that name a survey by its id
        self.catalogue = catalogue
        self.default_survey = default_survey
        self.privacy_url = privacy_url
        self.welcome_back_after = welcome_back_after
        self.resume_expiry = resume_expiry
        self._words: dict[str | None, Words] = {}
        self._language_question = _language_question(catalogue)

    # -- entry point ----------------------------------------------------------------------
    def handle(self, state: State, turn: Turn, survey: Survey | str | None = None) -> Outcome:
        """What happens after `turn`, on `survey`: the version the conversation is on (the app
        passes it), or a survey id looked up in `surveys` (the default survey if None)."""
        s = replace(state, answers=dict(state.answers))
        out = Outcome(state=s)
        if not isinstance(survey, Survey):
            survey = self.surveys.get(survey or self.default_survey) or self.surveys[
                self.default_survey
            ]
        if turn.intent == "stop":
            if not s.opted_out:
                s.opted_out = True
                out.events.append("opted_out")
                self._say(out, "stopped", purpose=OPT_OUT_PURPOSE)
            return out
        if s.opted_out:
            if turn.intent == "start":
                self._opt_in(out, turn, survey)
            return out
        stage = {
            LANGUAGE: self._language_stage,
            CONSENT: self._consent_stage,
            QUESTION: self._question_stage,
            RESUME: self._resume_stage,
            COMPLETED: self._completed_stage,
            DECLINED: self._declined_stage,
        }.get(s.stage or "")
        if stage is None:
            self._first_contact(out, turn, survey)
        elif turn.intent == "media":
            self._say(out, "media")
            self._prompt(out, survey, join=True)
        else:
            stage(out, turn, survey)
        return out

    # -- what the person sees -----------------------------------------------------------------
    def render(self, question: Question, lang: str | None) -> str:
        """A question and its options as one message."""
        lines = [question.text_in(lang)]
        if question.type in CHOICE_TYPES:
            number = self.catalogue.number
            lines += [
                f"{number(n, lang)}. {o.text_in(lang)}"
                for n, o in enumerate(question.options, start=1)
            ]
        elif question.type == "yesno":
            lines.append(self.catalogue.text("yes_no_hint", lang))
        elif question.type == "scale":
            lines.append(
                self.catalogue.text(
                    "scale_hint",
                    lang,
                    min=question.scale_label("min", lang),
                    max=question.scale_label("max", lang),
                )
            )
        return "\n".join(lines)

    def language_menu(self, lang: str | None = None) -> str:
        """Each language in its own script, numbered; the heading in the current language.

        In a left-to-right menu, a left-to-right mark keeps "11. العربية" a left-aligned line
        with its number first, like the others.
        """
        lines = [self.catalogue.text("language_menu", lang)]
        mark = "" if self.catalogue.is_rtl(lang) else LRM
        lines += [
            f"{mark if self.catalogue.is_rtl(code) else ''}{self.catalogue.number(n, lang)}. "
            f"{self.catalogue.language_name(code)}"
            for n, code in enumerate(self.catalogue.languages, start=1)
        ]
        return "\n".join(lines)

    def _send(
        self, out: Outcome, text: str, purpose: str | None = None, *, join: bool = False
    ) -> None:
        text = self.catalogue.dress(text, out.state.language)
        last = out.replies[-1] if out.replies else None
        if join and last is not None and last.purpose is None and purpose is None:
            merged = f"{last.text}\n{text}"
            if segments(merged)[1] <= MAX_SEGMENTS:
                out.replies[-1] = Reply(merged)
                return
        out.replies.append(Reply(text, purpose))

    def _say(
        self, out: Outcome, key: str, purpose: str | None = None, *, join: bool = False, **fmt: str
    ) -> None:
        self._send(out, self.catalogue.text(key, out.state.language, **fmt), purpose, join=join)

    def _words_for(self, lang: str | None) -> Words:
        if lang not in self._words:
            langs = [lang, "en"] if lang and lang != "en" else ["en"]
            self._words[lang] = Words(
                *(
                    tuple(w for code in langs for w in self.catalogue.words(code, key))
                    for key in ("yes_words", "no_words", "prefer_not_words")
                )
            )
        return self._words[lang]

    def _yes_no(self, turn: Turn, lang: str | None) -> str | None:
        """A plain yes or no (intent, emoji or words); numbers do not count as consent."""
        words = self._words_for(lang)
        if (
            turn.intent == "affirm"
            or turn.text.strip() in YES_EMOJI
            or matches_words(turn.text, words.yes)
        ):
            return "yes"
        if (
            turn.intent == "deny"
            or turn.text.strip() in NO_EMOJI
            or matches_words(turn.text, words.no)
        ):
            return "no"
        return None

    def _retry(self, out: Outcome, question: Question) -> None:
        """Say what kind of answer we need ("a number from 0 to 20")."""
        if question.type == "number" and question.range:
            lang = out.state.language
            low, high = (self.catalogue.number(n, lang) if n >= 0 else str(n)
                         for n in question.range)
            self._say(out, "retry_number", min=low, max=high)
        else:
            self._say(out, _retry_key(question))

    # -- moving through the survey ------------------------------------------------------------
    def _ask(self, out: Outcome, question: Question, *, join: bool = False) -> None:
        s = out.state
        s.stage, s.question_key, s.attempts = QUESTION, question.key, 0
        intro = question.intro_in(s.language)
        if intro:
            self._send(out, intro, join=join)
        self._send(out, self.render(question, s.language), join=join or bool(intro))

    def _prompt(self, out: Outcome, survey: Survey, *, join: bool = False) -> None:
        """Bring the person back to what we are waiting for from them."""
        s = out.state
        question = _current(survey, s)
        if s.stage == QUESTION and question is not None:
            self._send(out, self.render(question, s.language), join=join)
        elif s.stage == CONSENT:
            self._say(out, "consent_again", join=join)
        elif s.stage == LANGUAGE:
            self._send(out, self.language_menu(s.language), join=join)
        elif s.stage == RESUME:
            self._say(out, "resume_ask", join=join)

    def _advance(
        self, out: Outcome, survey: Survey, after: str | None, *, join: bool = False
    ) -> None:
        """Ask the next question that applies (the first one if `after` is None), or finish."""
        answers = out.state.answers
        nxt = (
            survey.first_question(answers)
            if after is None
            else survey.next_question(after, answers)
        )
        if nxt is not None:
            self._ask(out, nxt, join=join)
            return
        s = out.state
        s.stage, s.question_key, s.attempts = COMPLETED, None, 0
        out.events.append("survey_completed")
        self._say(out, "completed", join=join)

    # -- first contact, language, consent ------------------------------------------------------
    def _first_contact(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        s = out.state
        lang = s.language or turn.detected_language
        if not survey.is_open:
            self._closed(out, lang)
        elif lang in self.catalogue.languages and turn.intent != "change_language":
            if s.language != lang:
                s.language = lang
                out.events.append("language_changed")
            self._introduce(out, confirm_language=True)
        else:
            s.stage = LANGUAGE
            self._send(out, self.language_menu(s.language), join=True)

    def _closed(self, out: Outcome, lang: str | None) -> None:
        """A closed survey: a polite word in the person's language (English if we cannot tell
        yet), no questions, and no conversation is started (the stage stays None)."""
        s = out.state
        if lang in self.catalogue.languages and s.language != lang:
            s.language = lang
            out.events.append("language_changed")
        self._say(out, "survey_closed")

    def _introduce(self, out: Outcome, *, confirm_language: bool = False) -> None:
        """Who is asking and why, how to change language, then the consent question."""
        out.state.stage = CONSENT
        self._say(out, "intro", join=True)
        if confirm_language:
            self._say(out, "language_set", join=True)
        self._say(out, "consent", privacy_url=self.privacy_url)

    def _language_stage(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        s = out.state
        chosen = understand(self._language_question, turn.text, "en", turn.intent, turn.entities)
        lang = chosen.value if chosen.ok else None
        if lang is None and turn.detected_language in self.catalogue.languages:
            lang = turn.detected_language
        if lang is None:
            if turn.intent == "help":
                self._say(out, "help")
            elif turn.intent in FAQ:
                self._say(out, FAQ[turn.intent])
            self._send(out, self.language_menu(s.language), join=True)
            return
        if lang != s.language:
            s.language = lang
            out.events.append("language_changed")
        self._say(out, "language_set")
        back, s.resume_stage = s.resume_stage, None
        if back in (QUESTION, RESUME, COMPLETED, DECLINED):
            s.stage = back
            self._prompt(out, survey, join=True)  # the same place, now in the new language
        else:  # first contact, or not yet consented: introduce in the chosen language
            self._introduce(out)

    def _consent_stage(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        s = out.state
        # "Start" to "Can we start?" is a yes (START words skip NLU, so their intent is `start`).
        answer = "yes" if turn.intent == "start" else self._yes_no(turn, s.language)
        if answer == "yes":
            s.consented = True
            out.events += ["consent_given", "survey_started"]
            self._advance(out, survey, None)
        elif answer == "no":
            s.stage = DECLINED
            out.events.append("consent_declined")
            self._say(out, "declined")
        elif not self._common(out, turn, survey):
            self._say(out, "consent_again")

    # -- questions ------------------------------------------------------------------------
    def _is_command(self, turn: Turn, question: Question) -> bool:
        if turn.intent not in COMMANDS:
            return False
        if question.type != "text":
            return True
        return (
            len(turn.text.split()) <= COMMAND_MAX_WORDS
            and turn.confidence >= COMMAND_MIN_CONFIDENCE
        )

    def _question_stage(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        s = out.state
        question = _current(survey, s)
        if question is None:  # the survey changed under them: the first unanswered question
            nxt = survey.first_question(s.answers)
            while nxt is not None and nxt.key in s.answers:
                nxt = survey.next_question(nxt.key, s.answers)
            if nxt is None:
                self._advance(out, survey, survey.questions[-1].key)
            else:
                self._ask(out, nxt)
            return
        gap = turn.now - s.last_inbound_at if s.last_inbound_at else timedelta(0)
        if gap > self.resume_expiry:
            s.stage = RESUME
            self._say(out, "resume_ask")
            return
        command = self._is_command(turn, question)
        if not command or question.type in CHOICE_TYPES:
            # On a choice question an option's own words win over a skill: "prefer not to say"
            # is an answer there, though a classifier may call it "skip".
            understood = understand(
                question,
                turn.text,
                s.language or "en",
                turn.intent,
                turn.entities,
                self._words_for(s.language),
            )
            if understood.ok and (understood.exact or not command):
                s.answers[question.key] = understood.value
                out.answer = AnswerWrite(
                    question.key, "answered", redact_postcodes(turn.text), understood.value
                )
                self._advance(out, survey, question.key)
                return
        if command:
            self._question_command(out, turn, survey, question, gap)
        elif gap > self.welcome_back_after:
            self._say(out, "welcome_back")
            self._prompt(out, survey, join=True)
        elif s.attempts == 0:
            s.attempts = 1
            self._retry(out, question)
        else:
            out.answer = AnswerWrite(question.key, "unclear", redact_postcodes(turn.text))
            if survey.next_question(question.key, s.answers) is not None:
                self._say(out, "move_on")
            self._advance(out, survey, question.key, join=True)

    def _question_command(
        self, out: Outcome, turn: Turn, survey: Survey, question: Question, gap: timedelta
    ) -> None:
        intent = turn.intent
        if intent in ("skip", "dont_know"):
            status = "skipped" if intent == "skip" else "dont_know"
            out.answer = AnswerWrite(question.key, status, redact_postcodes(turn.text))
            self._say(out, status)
            self._advance(out, survey, question.key, join=True)
        elif intent in ("greet", "start"):
            if gap > self.welcome_back_after:
                self._say(out, "welcome_back")
            self._prompt(out, survey, join=True)
        elif intent == "thanks":
            self._say(out, "faq_thanks")
            self._prompt(out, survey, join=True)
        elif intent == "goodbye":
            self._say(out, "paused")
        else:
            self._common(out, turn, survey)

    def _common(self, out: Outcome, turn: Turn, survey: Survey) -> bool:
        """Skills that work in every stage: help, side questions, repeat, change language."""
        s = out.state
        if turn.intent == "change_language":
            if s.stage != LANGUAGE:
                s.resume_stage, s.stage = s.stage, LANGUAGE
            self._send(out, self.language_menu(s.language))
        elif turn.intent == "help":
            self._say(out, "help")
            self._prompt(out, survey, join=True)
        elif turn.intent in FAQ:
            self._say(out, FAQ[turn.intent])
            self._prompt(out, survey, join=True)
        elif turn.intent == "repeat":
            self._prompt(out, survey)
        else:
            return False
        return True

    # -- coming back, the end --------------------------------------------------------------
    def _resume_stage(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        s = out.state
        answer = self._yes_no(turn, s.language)
        if answer == "yes":
            s.stage, s.attempts = QUESTION, 0
            self._prompt(out, survey)
        elif answer == "no":
            out.events.append("survey_restarted")
            s.answers = {}
            self._advance(out, survey, None)
        elif not self._common(out, turn, survey):
            self._say(out, "resume_ask")

    def _opt_in(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        """START: back to where they were, or to the introduction if they never consented."""
        s = out.state
        s.opted_out = False
        out.events.append("opted_in")
        self._say(out, "started")
        if s.stage is None:
            self._first_contact(out, turn, survey)
        elif not s.consented and s.stage in (CONSENT, DECLINED):
            self._introduce(out)
        else:
            self._prompt(out, survey, join=True)

    def _completed_stage(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        if turn.intent == "thanks":
            self._say(out, "faq_thanks")
        elif turn.intent == "goodbye":
            self._say(out, "goodbye")
        elif not self._common(out, turn, survey):
            self._say(out, "already_completed")

    def _declined_stage(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        """No pressure: a thank-you or goodbye gets a kind word; anything else is read as
        having changed their mind, and they are asked for consent again."""
        if turn.intent == "thanks":
            self._say(out, "faq_thanks")
        elif turn.intent in ("goodbye", "deny"):
            self._say(out, "goodbye")
        elif not self._common(out, turn, survey):
            self._introduce(out)


def _language_question(catalogue: Catalogue) -> Question:
    """The language menu as a choice question: numbers, names in any script, misspellings."""
    options = []
    for lang in catalogue.languages:
        names = (catalogue.language_name(lang), lang, *catalogue.words(lang, "language_aliases"))
        options.append(
            Option(lang, {"en": catalogue.text("language_name_en", lang)}, {"en": names})
        )
    return Question(key="language", type="single", text={"en": "language"}, options=tuple(options))


def _current(survey: Survey, state: State) -> Question | None:
    return next((q for q in survey.questions if q.key == state.question_key), None)


def _retry_key(question: Question) -> str:
    if question.validate == "postcode_district":
        return "retry_postcode"
    return f"retry_{question.type}"

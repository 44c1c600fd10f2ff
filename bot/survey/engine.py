"""The survey engine: given where a person is and what they said, decide what happens next.

Pure: no database, no network. `bot.conversation` loads the `State`, calls `handle`, and
saves the `Outcome` in one transaction. Order of precedence, so that nothing can swallow
the important things: STOP, then opted-out silence (START excepted), then first contact,
then the stage the person is in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.survey.answers import fold, understand
from bot.survey.flow import Question, Survey
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
from bot.texts.catalogue import Catalogue

ANSWER_INTENTS = {"affirm", "deny", "choose", "inform", "nlu_fallback"}
FAQ = {"ask_who": "faq_who", "ask_confidential": "faq_confidential", "ask_why": "faq_why"}
# Skills that, on a free-text question, are only taken as such when the message is short.
COMMANDS = {"help", "skip", "dont_know", "repeat", "change_language", "greet", "thanks",
            "goodbye", *FAQ}


class Engine:
    def __init__(
        self,
        surveys: dict[str, Survey],
        catalogue: Catalogue,
        *,
        default_survey: str,
        privacy_url: str,
        welcome_back_after: timedelta,
        resume_expiry: timedelta,
    ) -> None:
        self.surveys = surveys
        self.catalogue = catalogue
        self.default_survey = default_survey
        self.privacy_url = privacy_url
        self.welcome_back_after = welcome_back_after
        self.resume_expiry = resume_expiry

    # -- entry point ----------------------------------------------------------------------
    def handle(self, state: State, turn: Turn, survey_id: str | None = None) -> Outcome:
        s = replace(state, answers=dict(state.answers))
        out = Outcome(state=s)
        survey = self.surveys[survey_id or self.default_survey]
        if turn.intent == "stop":
            if not s.opted_out:
                s.opted_out = True
                out.events.append("opted_out")
                self._say(out, "stopped", purpose="opt_out_confirmation")
            return out
        if s.opted_out:
            if turn.intent == "start":
                s.opted_out = False
                out.events.append("opted_in")
                self._say(out, "started")
                if s.stage is None:
                    self._first_contact(out, turn)
                else:
                    self._prompt(out, survey)
            return out
        if s.stage is None:
            self._first_contact(out, turn)
            return out
        if turn.intent == "media":
            self._say(out, "media")
            self._prompt(out, survey)
            return out
        if s.stage == LANGUAGE:
            self._choose_language(out, turn, survey)
        elif s.stage == QUESTION:
            self._question(out, turn, survey)
        else:
            self._other_stage(out, turn, survey)
        return out

    # -- helpers --------------------------------------------------------------------------
    def _t(self, out: Outcome, key: str, **fmt: str) -> str:
        return self.catalogue.text(key, out.state.language, **fmt)

    def _say(self, out: Outcome, key: str, purpose: str | None = None, **fmt: str) -> None:
        out.replies.append(Reply(self._t(out, key, **fmt), purpose))

    def render(self, question: Question, lang: str | None) -> str:
        """A question and its options as one short message."""
        lang = lang or "en"
        lines = [question.text_in(lang)]
        if question.type in ("single", "multiple"):
            lines += [f"{n}. {o.text_in(lang)}" for n, o in enumerate(question.options, start=1)]
        elif question.type == "yesno":
            lines.append(self.catalogue.text("yes_no_hint", lang))
        elif question.type == "scale":
            lines.append(self.catalogue.text(
                "scale_hint", lang,
                min=question.scale["min"].get(lang) or question.scale["min"]["en"],
                max=question.scale["max"].get(lang) or question.scale["max"]["en"]))
        return "\n".join(lines)

    def language_menu(self) -> str:
        lines = [self.catalogue.text("language_menu", "en")]
        lines += [f"{n}. {self.catalogue.text('language_name', lang)}"
                  for n, lang in enumerate(self.catalogue.languages, start=1)]
        return "\n".join(lines)

    def _ask(self, out: Outcome, question: Question, with_intro: bool = True) -> None:
        s = out.state
        s.stage, s.question_key, s.attempts = QUESTION, question.key, 0
        if with_intro and question.intro:
            out.replies.append(Reply(question.intro.get(s.language or "en") or question.intro["en"]))
        out.replies.append(Reply(self.render(question, s.language)))

    def _prompt(self, out: Outcome, survey: Survey) -> None:
        """Bring the person back to what we were waiting for."""
        s = out.state
        if s.stage == QUESTION and s.question_key:
            out.replies.append(Reply(self.render(survey.question(s.question_key), s.language)))
        elif s.stage == CONSENT:
            self._say(out, "consent_again")
        elif s.stage == LANGUAGE:
            out.replies.append(Reply(self.language_menu()))
        elif s.stage == RESUME:
            self._say(out, "resume_ask")

    def _advance(self, out: Outcome, survey: Survey, after: str) -> None:
        nxt = survey.next_question(after, out.state.answers)
        if nxt is None:
            s = out.state
            s.stage, s.question_key, s.attempts = COMPLETED, None, 0
            out.events.append("survey_completed")
            self._say(out, "completed")
        else:
            self._ask(out, nxt)

    def _start_survey(self, out: Outcome, survey: Survey) -> None:
        first = survey.first_question(out.state.answers)
        assert first is not None, "a survey has at least one question"
        self._ask(out, first)

    # -- first contact and language --------------------------------------------------------
    def _first_contact(self, out: Outcome, turn: Turn) -> None:
        s = out.state
        lang = turn.detected_language
        if lang in self.catalogue.languages and turn.intent != "change_language":
            s.language = lang
            out.events.append("language_changed")
            self._introduce(out)
        else:
            s.stage = LANGUAGE
            out.replies.append(Reply(self.language_menu()))

    def _introduce(self, out: Outcome) -> None:
        out.state.stage = CONSENT
        self._say(out, "intro")
        self._say(out, "consent", privacy_url=self.privacy_url)

    def _language_named(self, turn: Turn) -> str | None:
        languages = self.catalogue.languages
        number = turn.entities.get("number") if turn.intent == "choose" else None
        if isinstance(number, int) and 1 <= number <= len(languages):
            return languages[number - 1]
        said = fold(turn.text)
        for lang in languages:
            names = {fold(self.catalogue.text("language_name", lang)), lang}
            names |= {fold(n) for n in self.catalogue.words(lang, "language_aliases")}
            if said in names:
                return lang
        if turn.detected_language in languages:
            return turn.detected_language
        return None

    def _choose_language(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        s = out.state
        lang = self._language_named(turn)
        if lang is None:
            if turn.intent == "help":
                self._say(out, "help")
            out.replies.append(Reply(self.language_menu()))
            return
        s.language = lang
        out.events.append("language_changed")
        self._say(out, "language_set")
        if s.resume_stage is None:
            self._introduce(out)
            return
        s.stage, s.resume_stage = s.resume_stage, None
        if s.stage == CONSENT:
            self._introduce(out)
        else:
            self._prompt(out, survey)

    # -- the survey -------------------------------------------------------------------------
    def _is_command(self, turn: Turn) -> bool:
        return (turn.intent in COMMANDS and len(turn.text.split()) <= 4
                and turn.confidence >= 0.7)

    def _common(self, out: Outcome, turn: Turn, survey: Survey) -> bool:
        """Skills that work in any stage. True if handled."""
        s = out.state
        if turn.intent == "change_language":
            s.resume_stage = s.stage
            s.stage = LANGUAGE
            out.replies.append(Reply(self.language_menu()))
            return True
        if turn.intent == "help":
            self._say(out, "help")
            self._prompt(out, survey)
            return True
        if turn.intent in FAQ:
            self._say(out, FAQ[turn.intent])
            self._prompt(out, survey)
            return True
        if turn.intent == "repeat":
            self._prompt(out, survey)
            return True
        return False

    def _question(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        s = out.state
        question = survey.question(s.question_key or "")
        gap = turn.now - s.last_inbound_at if s.last_inbound_at else timedelta(0)
        if gap > self.resume_expiry:
            s.stage = RESUME
            self._say(out, "resume_ask")
            return
        lang = s.language or "en"
        free_text = question.type == "text"
        command = self._is_command(turn) if free_text else turn.intent in COMMANDS
        if not command or question.type in ("single", "multiple"):
            # An option's own words win over a skill ("Prefer not to say" is an answer here).
            understood = understand(question, turn.text, lang, turn.intent, turn.entities)
            if understood.ok and (not command or question.type != "text"):
                s.answers[question.key] = understood.value
                out.answer = AnswerWrite(question.key, "answered", turn.text, understood.value)
                self._advance(out, survey, question.key)
                return
        if command:
            if turn.intent == "skip":
                out.answer = AnswerWrite(question.key, "skipped", turn.text)
                self._say(out, "skipped")
                self._advance(out, survey, question.key)
                return
            if turn.intent == "dont_know":
                out.answer = AnswerWrite(question.key, "dont_know", turn.text)
                self._say(out, "dont_know")
                self._advance(out, survey, question.key)
                return
            if turn.intent in ("greet", "thanks", "goodbye"):
                if gap > self.welcome_back_after:
                    self._say(out, "welcome_back")
                self._prompt(out, survey)
                return
            if self._common(out, turn, survey):
                return
        if s.attempts == 0:
            s.attempts = 1
            self._say(out, _retry_key(question))
            return
        out.answer = AnswerWrite(question.key, "unclear", turn.text)
        self._say(out, "move_on")
        self._advance(out, survey, question.key)

    # -- consent, resume, the end -----------------------------------------------------------
    def _other_stage(self, out: Outcome, turn: Turn, survey: Survey) -> None:
        s = out.state
        if s.stage == CONSENT:
            if turn.intent == "affirm":
                s.consented = True
                out.events += ["consent_given", "survey_started"]
                self._start_survey(out, survey)
            elif turn.intent == "deny":
                s.stage = DECLINED
                out.events.append("consent_declined")
                self._say(out, "declined")
            elif not self._common(out, turn, survey):
                self._say(out, "consent_again")
        elif s.stage == RESUME:
            if turn.intent == "affirm":
                s.stage = QUESTION
                self._prompt(out, survey)
            elif turn.intent == "deny":
                out.events.append("survey_restarted")
                s.answers = {}
                self._start_survey(out, survey)
            elif not self._common(out, turn, survey):
                self._say(out, "resume_ask")
        elif s.stage == DECLINED:
            if not self._common(out, turn, survey):
                self._introduce(out)
        elif s.stage == COMPLETED:
            if turn.intent in ("thanks", "goodbye"):
                self._say(out, "thanks")
            elif turn.intent == "change_language":
                self._common(out, turn, survey)
            else:
                self._say(out, "already_completed")


def _retry_key(question: Question) -> str:
    if question.validate == "postcode_district":
        return "retry_postcode"
    return f"retry_{question.type}"

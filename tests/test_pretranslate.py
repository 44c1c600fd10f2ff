"""Machine pre-translation through deep-translator's real LibreTranslate client and a local
LibreTranslate: only missing texts are sent, results are stored as machine and unreviewed,
placeholders survive, people's texts are never overwritten, and a failure loses nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from bot import pretranslate
from bot.settings import PROJECT_ROOT, Settings
from bot.survey.flow import load_survey
from bot.texts.catalogue import TEXTS_DIR, Catalogue
from bot.translation import make_translator
from tests.fakes.libretranslate import FakeLibreTranslate


@pytest.fixture
def libre():
    with FakeLibreTranslate() as fake:
        yield fake


def settings_for(libre, tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, encryption_key="k", translation_provider="libre",
                    translation_url=libre.url, translation_api_key="test-key")


def test_translate_command_fills_only_missing_survey_texts(libre, tmp_path):
    surveys = tmp_path / "surveys"
    (surveys / "demo").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "surveys" / "demo.yml", surveys / "demo.yml")
    # A person already wrote two Arabic texts: they must be kept and never sent to the provider.
    (surveys / "demo" / "ar.yml").write_text(yaml.safe_dump({
        "language": "ar", "origin": "human", "review": "draft",
        "title": "تجربتك مع الرعاية الصحية",
        "questions": {"access": {"text": "هل من السهل الحصول على الرعاية؟"}},
    }, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "SURVEYS_DIR": str(surveys), "DATA_DIR": str(tmp_path),
           "ENCRYPTION_KEY": "k", "TRANSLATION_PROVIDER": "libre",
           "TRANSLATION_URL": libre.url, "TRANSLATION_API_KEY": "test-key"}
    run = subprocess.run([sys.executable, "-m", "bot.cli", "translate", "--lang", "ar"],
                         env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert run.returncode == 0, run.stderr
    english = load_survey(PROJECT_ROOT / "surveys" / "demo.yml")
    total = 1 + sum(1 + bool(q.intro) + len(q.options) + len(q.scale) for q in english.questions)
    assert f"{total - 2} translated, 2 already written, 0 failed" in run.stderr
    assert "[1/" in run.stderr, "progress is shown"
    sent = [r["q"] for r in libre.requests]
    assert len(sent) == total - 2 and all(r["source"] == "en" and r["target"] == "ar"
                                          for r in libre.requests)
    assert english.question("access").text_in("en") not in sent

    survey = load_survey(surveys / "demo.yml")
    assert "ar" in survey.languages
    assert survey.translations["ar"] == {"origin": "mixed", "review": "draft"}
    assert survey.question("access").text_in("ar") == "هل من السهل الحصول على الرعاية؟"
    assert survey.question("staff_respect").text_in("ar") == (
        "[en->ar] " + english.question("staff_respect").text_in("en"))

    listing = subprocess.run([sys.executable, "-m", "bot.cli", "texts", "--lang", "ar"],
                             env=env, capture_output=True, text=True, timeout=120,
                             cwd=PROJECT_ROOT)
    assert listing.returncode == 0, listing.stderr
    assert "access.text" in listing.stdout and "[human, draft]" in listing.stdout
    assert "[machine, unreviewed]" in listing.stdout

    # A second run has nothing left to do and asks the provider nothing.
    before = len(libre.requests)
    again = subprocess.run([sys.executable, "-m", "bot.cli", "translate", "--lang", "ar"],
                           env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert again.returncode == 0 and len(libre.requests) == before
    assert f"0 translated, {total} already written" in again.stderr


def test_system_texts_keep_placeholders_and_failures_are_reported(libre, tmp_path):
    texts = tmp_path / "texts"
    texts.mkdir()
    shutil.copy(TEXTS_DIR / "en.yml", texts / "en.yml")
    with pytest.raises(FileNotFoundError, match="write it first"):
        pretranslate.system_texts(texts, "fr", lambda t, s: t, print)
    (texts / "fr.yml").write_text(yaml.safe_dump({
        "_meta": {"origin": "human", "review": "draft"}, "language_name": "Français",
        "help": "Répondez avec le numéro.",
    }, allow_unicode=True), encoding="utf-8")
    # deep-translator knows which languages LibreTranslate has: Somali is refused up front.
    (texts / "so.yml").write_text(yaml.safe_dump({
        "_meta": {"origin": "human", "review": "draft"}, "language_name": "Soomaali"}),
        encoding="utf-8")
    unsupported = make_translator(settings_for(libre, tmp_path), target="so")
    assert unsupported is not None
    with pytest.raises(pretranslate.Unsupported, match="No support"):
        pretranslate.system_texts(texts, "so", unsupported, print)
    assert not (texts / "so.machine.yml").exists() and not libre.requests
    (texts / "so.yml").unlink()
    translate = make_translator(settings_for(libre, tmp_path), target="fr")
    assert translate is not None
    libre.fail_next = 1  # the provider fails once: that text is reported, the rest go through
    lines: list[str] = []
    result = pretranslate.system_texts(texts, "fr", translate, lines.append)
    english = Catalogue.load(texts)
    assert len(result.failed) == 1 and result.kept == 1
    assert len(result.translated) == len(english.text_keys()) - 4  # 2 names, help, the failure
    assert lines[0].startswith("[1/")
    machine = yaml.safe_load((texts / "fr.machine.yml").read_text(encoding="utf-8"))
    assert "help" not in machine, "a person's text is never sent or stored over"
    assert machine["consent"].count("{privacy_url}") == 1, machine["consent"]
    assert "[[" not in machine["consent"]
    # The loader is cached per folder; load a fresh copy to see the machine file.
    shutil.copytree(texts, tmp_path / "texts2")
    loaded = Catalogue.load(tmp_path / "texts2")
    assert loaded.origin("consent", "fr") == "machine" and loaded.origin("help", "fr") == "human"
    assert "https://x" in loaded.text("consent", "fr", privacy_url="https://x")


def test_translate_help():
    run = subprocess.run([sys.executable, "-m", "bot.cli", "translate", "--help"],
                         capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)
    assert run.returncode == 0 and "never overwritten" in run.stdout

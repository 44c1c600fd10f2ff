"""Survey versions in the database, on a real SQLite file and on PostgreSQL, migrated by the
real migrations: drafts, publishing freezes a version, rollback, the files in surveys/ imported
once per content, keywords that clash, and an invalid upload that stores nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.settings import PROJECT_ROOT, Settings
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.tables import Base
from bot.survey.store import Bundle, SurveyStore, SurveyStoreError, content_hash, validate
from tests.e2e.conftest import _postgres_database

DEMO = PROJECT_ROOT / "surveys" / "demo.yml"

HEALTH = """\
id: health
title: {en: Health check}
keywords: [HEALTH, Santé]
questions:
  - key: visits
    type: number
    range: [0, 50]
    text: {en: "How many times did you see a GP this year?"}
  - key: interpreter
    type: yesno
    text: {en: "Did you need an interpreter?"}
"""


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path / 'store.db'}"])
    else:
        urls = _postgres_database()
    for url in urls:
        settings = Settings(data_dir=tmp_path, database_url=url, encryption_key="k")
        upgrade(settings)
        database = Database(settings)
        yield database
        database.dispose()


@pytest.fixture
def store(db: Database) -> SurveyStore:
    return SurveyStore(db)


def bundle(text: str, name: str = "health.yml", **files: str) -> Bundle:
    return Bundle(name, text, {f"{k}.yml": v for k, v in files.items()})


def test_migrations_build_exactly_the_tables_the_code_uses(db: Database) -> None:
    import bot.console.tables  # noqa: F401  (their tables share Base)

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    mine = [d for d in diff if "survey" in repr(d)]
    assert mine == []


def test_upload_makes_a_draft_and_publishing_freezes_numbered_versions(store: SurveyStore) -> None:
    checked = store.upload(bundle(HEALTH), "alice")
    assert checked.ok and checked.survey is not None and checked.survey.id == "health"
    assert store.published_versions() == {}, "a draft is not published"
    assert store.draft("health") is not None

    first = store.publish("health", "alice")
    assert (first.version, first.new_version) == (1, True)
    assert store.draft("health") is None, "the draft became version 1"
    assert store.published_versions() == {"health": 1}

    v2_text = HEALTH.replace("range: [0, 50]", "range: [0, 60]")
    store.upload(bundle(v2_text), "bob")
    assert store.publish("health", "bob").version == 2
    assert store.published_survey("health").question("visits").range == (0, 60)
    assert store.get("health", 1).question("visits").range == (0, 50), "version 1 is frozen"

    back = store.publish("health", "carol", version=1)  # rollback
    assert (back.version, back.new_version) == (1, False)
    assert store.published_versions() == {"health": 1}
    assert [(p.version, p.published_by) for p in store.publications("health")] == [
        (1, "alice"), (2, "bob"), (1, "carol")]

    # The same content again is not a new version: it is version 2, re-published.
    store.upload(bundle(v2_text.replace("title:", "# a comment\ntitle:")), "dan")
    again = store.publish("health", "dan")
    assert (again.version, again.new_version) == (2, False)
    assert [v.version for v in store.versions("health")] == [1, 2]
    assert store.version_bundle("health", 1).source == HEALTH, "the YAML as written is kept"
    [summary] = store.summaries()
    assert (summary.published_version, summary.versions, summary.keywords) == (
        2, 2, ("HEALTH", "Santé"))


def test_an_invalid_upload_stores_nothing_and_says_where(store: SurveyStore) -> None:
    store.upload(bundle(HEALTH), "alice")
    broken = HEALTH.replace("type: yesno", "type: yes-no")
    checked = store.upload(bundle(broken), "alice")
    assert not checked.ok
    assert checked.errors == [
        "health.yml line 9: question 'interpreter': type must be one of yesno, single, "
        "multiple, scale, text, number, got 'yes-no'"]
    assert store.draft("health").bundle.source == HEALTH, "the earlier draft is untouched"

    syntax = store.upload(bundle(HEALTH + "  - key: [\n"), "alice")
    assert syntax.errors[0].startswith("health.yml line 13: not valid YAML")
    with pytest.raises(SurveyStoreError, match="survey 'nope' has no draft"):
        store.publish("nope", "alice")
    with pytest.raises(SurveyStoreError, match="survey 'health' has no version 7"):
        store.publish("health", "alice", version=7)


def test_a_language_file_missing_texts_is_left_out_with_a_located_warning() -> None:
    ar = "language: ar\norigin: human\nreview: draft\ntitle: فحص صحي\nquestions:\n" \
         "  visits: {text: كم مرة؟}\n"
    checked = validate(bundle(HEALTH, ar=ar))
    assert checked.ok and checked.survey is not None
    assert "ar" not in checked.survey.languages
    assert checked.warnings == [
        "health.yml line 11: question 'interpreter' has no 'ar' text; language 'ar' is left "
        "out of the survey until its 1 missing text are written"]
    strict = validate(bundle(HEALTH, ar=ar), strict=True)
    assert not strict.ok and strict.errors == checked.warnings

    whole = ar + "  interpreter: هل احتجت مترجم؟\n"
    assert validate(bundle(HEALTH, ar=whole)).survey.languages == ("en", "ar")
    bad_file = validate(bundle(HEALTH, ar=whole + "  visits2: {text: x}\n"))
    assert bad_file.errors == ["health/ar.yml line 8: no question 'visits2' in the survey"]


def test_content_hash_ignores_order_comments_and_the_version_field() -> None:
    a = validate(bundle(HEALTH))
    b = validate(bundle("# comment\nversion: 9\n" + HEALTH))
    assert a.content_hash == b.content_hash
    assert content_hash({"id": "x", "version": 1}) == content_hash({"version": 2, "id": "x"})
    c = validate(bundle(HEALTH.replace("GP", "doctor")))
    assert c.content_hash != a.content_hash


def test_the_surveys_folder_is_imported_once_per_content(store: SurveyStore, tmp_path: Path) -> None:
    folder = tmp_path / "surveys"
    folder.mkdir()
    shutil.copy(DEMO, folder / "demo.yml")
    shutil.copytree(DEMO.with_suffix(""), folder / "demo")
    (folder / "health.yml").write_text(HEALTH, encoding="utf-8")

    done = store.sync_folder(folder)
    assert sorted((d.survey_id, d.version) for d in done) == [("demo", 1), ("health", 1)]
    demo = store.published_survey("demo")
    assert demo is not None and demo.version == 1 and "ar" in demo.languages
    assert store.sync_folder(folder) == [], "unchanged files do nothing"

    (folder / "health.yml").write_text(HEALTH.replace("GP", "doctor"), encoding="utf-8")
    [changed] = store.sync_folder(folder)
    assert (changed.survey_id, changed.version) == ("health", 2)
    assert [p.published_by for p in store.publications("health")] == [
        "surveys/health.yml", "surveys/health.yml"]

    # An admin's rollback survives a restart: the file's content is already a version.
    store.publish("health", "admin", version=1)
    assert store.sync_folder(folder) == []
    assert store.published_versions()["health"] == 1


def test_keywords_start_one_survey_only_and_are_never_stop_or_start(store: SurveyStore) -> None:
    store.upload(bundle(HEALTH), "alice")
    store.publish("health", "alice")
    other = HEALTH.replace("id: health", "id: clinic").replace("[HEALTH, Santé]", "[sante]")
    store.upload(bundle(other, "clinic.yml"), "alice")
    with pytest.raises(SurveyStoreError, match="keyword 'sante' already starts survey 'health'"):
        store.publish("clinic", "alice")
    # Closed, it starts nothing, so the word is free.
    store.upload(bundle(other.replace("id: clinic", "id: clinic\nstatus: closed"), "clinic.yml"),
                 "alice")
    assert store.publish("clinic", "alice").version == 1
    assert set(store.open_surveys()) == {"health"}
    assert set(store.published()) == {"health", "clinic"}

    for word in ("Stop", "cancel", "tak"):  # a carrier's STOP word; Polish yes
        stop = HEALTH.replace("id: health", "id: stopper").replace("[HEALTH, Santé]", f"[{word}]")
        store.upload(bundle(stop, "stopper.yml"), "alice")
        with pytest.raises(SurveyStoreError, match=f"keyword '{word}' is a STOP, START, yes or no"):
            store.publish("stopper", "alice")


def test_a_draft_can_be_started_from_a_version_edited_per_language_and_previewed(
    store: SurveyStore,
) -> None:
    store.upload(bundle(HEALTH), "alice")
    store.publish("health", "alice")
    store.start_draft("health", "bob")
    assert store.draft("health").bundle.source == HEALTH
    ar = ("language: ar\norigin: human\nreview: draft\ntitle: فحص صحي\nquestions:\n"
          "  visits: كم مرة رأيت طبيبا؟\n  interpreter: هل احتجت مترجم؟\n")
    assert store.set_language_file("health", "ar.yml", ar, "bob").ok
    preview = store.draft_survey("health")
    assert preview.version == 0 and preview.question("visits").text_in("ar") == "كم مرة رأيت طبيبا؟"
    with store.draft_files("health") as path:
        assert (path.parent / "health" / "ar.yml").read_text(encoding="utf-8") == ar
    outside = store.set_language_file("health", "../../evil.yml", ar, "bob")
    assert outside.errors == [
        "health/../../evil.yml: name it <language>.yml or <language>.machine.yml"]
    bad = store.set_language_file("health", "ar.yml", ar + "  nope: x\n", "bob")
    assert not bad.ok and "no question 'nope'" in bad.errors[0]
    assert store.draft("health").bundle.files == {"ar.yml": ar}, "a bad edit changes nothing"
    assert store.publish("health", "bob").version == 2
    assert store.published_survey("health").languages == ("en", "ar")
    assert store.discard_draft("health") is False


def test_machine_pretranslation_of_a_draft_keeps_peoples_texts(store: SurveyStore) -> None:
    from bot.translation import make_translator
    from tests.fakes.libretranslate import FakeLibreTranslate

    store.upload(bundle(HEALTH), "alice")
    human = "language: ar\norigin: human\nreview: draft\nquestions:\n  visits: كم مرة؟\n"
    store.set_language_file("health", "ar.yml", human, "alice")
    with FakeLibreTranslate() as libre:
        settings = Settings(encryption_key="k", translation_provider="libre",
                            translation_url=libre.url, translation_api_key="key")
        translator = make_translator(settings, target="ar")
        assert translator is not None
        result = store.pretranslate_draft("health", "ar", translator, lambda line: None, "alice")
        sent = [r["q"] for r in libre.requests]
    assert result.kept == 1 and len(result.translated) == 2
    assert "How many times did you see a GP this year?" not in sent, "a person's text is kept"
    files = store.draft("health").bundle.files
    machine = yaml.safe_load(files["ar.machine.yml"])
    assert machine["origin"] == "machine" and set(machine["questions"]) == {"interpreter"}
    preview = store.draft_survey("health")
    assert "ar" in preview.languages and preview.translations["ar"]["origin"] == "mixed"
    assert preview.question("visits").text_in("ar") == "كم مرة؟"

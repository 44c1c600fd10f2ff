"""A survey's languages live in files beside it: people's texts win over machine texts, a machine
run never overwrites a person's text, and a bad file says which file and which text."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from bot.settings import PROJECT_ROOT
from bot.survey.flow import FlowError, load_survey
from bot.survey.translations import text_report, write_machine

DEMO = PROJECT_ROOT / "surveys" / "demo.yml"


@pytest.fixture
def survey_dir(tmp_path):
    shutil.copy(DEMO, tmp_path / "demo.yml")
    (tmp_path / "demo").mkdir()
    shutil.copy(DEMO.with_suffix("") / "pl.yml", tmp_path / "demo" / "pl.yml")
    return tmp_path


def write(path, data):
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_polish_file_gives_every_text_its_polish(survey_dir):
    survey = load_survey(survey_dir / "demo.yml")
    assert "pl" in survey.languages
    assert survey.translations["pl"] == {"origin": "human", "review": "draft"}
    q = survey.question("ethnic_white")
    assert q.text_in("pl") == "Która najlepiej Cię opisuje?"
    assert q.options[-1].text_in("pl") == "Wolę nie odpowiadać"
    assert q.options[0].aliases["pl"] == ("angielska", "szkocka", "walijska")
    assert q.options[0].aliases["en"][0] == "english", "English aliases are kept"
    # The shared "prefer not to say" option got its text in every question, not only one.
    assert survey.question("age").options[-1].text_in("pl") == "Wolę nie odpowiadać"


def test_machine_texts_fill_gaps_and_human_texts_win(survey_dir):
    pl = yaml.safe_load((survey_dir / "demo" / "pl.yml").read_text(encoding="utf-8"))
    del pl["questions"]["access"]["text"]
    write(survey_dir / "demo" / "pl.yml", pl)
    with pytest.raises(FlowError, match=r"demo.yml line \d+: question 'access' has no 'pl' text"):
        load_survey(survey_dir / "demo.yml")

    write_machine(survey_dir / "demo.yml", "pl", {
        "access.text": "MASZYNA: jak łatwo?",
        "info_language.text": "MASZYNA: informacje?",  # a person wrote this one: kept
    })
    survey = load_survey(survey_dir / "demo.yml")
    assert survey.question("access").text_in("pl") == "MASZYNA: jak łatwo?"
    assert survey.question("info_language").text_in("pl").startswith("Czy informacje")
    assert survey.translations["pl"] == {"origin": "mixed", "review": "draft"}

    machine = yaml.safe_load((survey_dir / "demo" / "pl.machine.yml").read_text(encoding="utf-8"))
    assert machine["origin"] == "machine" and machine["review"] == "unreviewed"
    assert "info_language" not in machine["questions"], "a person's text is never stored over"

    report = {t.id: t for t in text_report(survey_dir / "demo.yml", "pl")}
    assert (report["access.text"].origin, report["access.text"].review) == ("machine", "unreviewed")
    assert (report["info_language.text"].origin, report["info_language.text"].review) == (
        "human", "draft")
    assert report["access.text"].english.startswith("How easy")

    # A second machine run adds to the file and keeps what the first one wrote.
    write_machine(survey_dir / "demo.yml", "pl", {"title": "MASZYNA tytuł"})
    machine = yaml.safe_load((survey_dir / "demo" / "pl.machine.yml").read_text(encoding="utf-8"))
    assert machine["questions"]["access"]["text"] == "MASZYNA: jak łatwo?"
    assert "title" not in machine, "Polish title is a person's"


def test_a_language_with_only_machine_texts_is_reported_missing_where_it_is(survey_dir):
    report = text_report(survey_dir / "demo.yml", "ar")
    assert report and all(t.text is None and t.origin is None for t in report)
    assert [t.id for t in report][:3] == ["title", "access.text", "access.scale.min"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["questions"].update({"acess": {"text": "x"}}),
         r"demo/pl.yml line \d+: no question 'acess' in the survey"),
        (lambda d: d["questions"]["info_language"]["options"].update({"alwys": "x"}),
         r"demo/pl.yml line \d+: question 'info_language' has no option 'alwys'"),
        (lambda d: d.update({"language": "ro"}), "demo/pl.yml: says language 'ro', file is 'pl'"),
        (lambda d: d.update({"review": "done"}), "demo/pl.yml: review must be one of draft, reviewed"),
        (lambda d: d["questions"]["access"].update({"txt": "x"}),
         r"demo/pl.yml line \d+: question 'access': unknown field 'txt'"),
    ],
)
def test_a_bad_language_file_names_the_file_and_the_text(survey_dir, change, message):
    pl = yaml.safe_load((survey_dir / "demo" / "pl.yml").read_text(encoding="utf-8"))
    change(pl)
    write(survey_dir / "demo" / "pl.yml", pl)
    with pytest.raises(FlowError) as err:
        load_survey(survey_dir / "demo.yml")
    assert re.fullmatch(message, str(err.value)), str(err.value)

"""Survey flows: the demo loads, skip logic walks, and bad flows say what is wrong and where."""

from __future__ import annotations

import pytest
import yaml

from bot.settings import PROJECT_ROOT
from bot.survey.flow import FlowError, load_survey, parse_survey

DEMO = PROJECT_ROOT / "surveys" / "demo.yml"


def demo_data() -> dict:
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


def test_demo_survey_loads_with_both_languages():
    survey = load_survey(DEMO)
    assert survey.id == "demo" and survey.version == 1
    assert survey.languages == ("en", "pl")
    assert survey.translations["pl"]["review"] == "draft"


def test_skip_logic():
    survey = load_survey(DEMO)
    assert survey.next_question("needed_interpreter", {"needed_interpreter": "yes"}).key == "got_interpreter"
    assert survey.next_question("needed_interpreter", {"needed_interpreter": "no"}).key == "children_translate"
    assert survey.next_question("ethnic_group", {"ethnic_group": "black"}).key == "ethnic_black"
    assert survey.next_question("ethnic_group", {"ethnic_group": "prefer_not"}).key == "age"
    assert survey.next_question("postcode", {}) is None


@pytest.mark.parametrize("choices", [
    {"needed_interpreter": "no", "ethnic_group": "prefer_not"},
    {"needed_interpreter": "yes", "ethnic_group": "asian"},
])
def test_a_person_sees_8_to_11_questions(choices):
    survey = load_survey(DEMO)
    seen, q = [], survey.first_question({})
    while q is not None:
        seen.append(q.key)
        q = survey.next_question(q.key, choices)
    assert 8 <= len(seen) <= 11


def broken(mutate) -> str:
    data = demo_data()
    mutate(data)
    with pytest.raises(FlowError) as err:
        parse_survey(data, "demo.yml")
    return str(err.value)


def test_missing_translation_names_question_and_option():
    def drop(data):
        del data["questions"][1]["options"][2]["text"]["pl"]
    assert broken(drop) == "question 'info_language': option 3 has no 'pl' text"


def test_show_if_must_refer_to_an_earlier_question():
    def bad(data):
        data["questions"][0]["show_if"] = {"age": "18_24"}
    assert "show_if refers to 'age'" in broken(bad)


def test_unknown_type_and_duplicate_keys():
    def bad_type(data):
        data["questions"][0]["type"] = "slider"
    assert "type must be one of" in broken(bad_type)

    def dup(data):
        data["questions"][1]["key"] = "access"
    assert "key used twice" in broken(dup)


def test_bare_yes_no_in_yaml_is_caught(tmp_path):
    text = DEMO.read_text(encoding="utf-8").replace('text: {en: "No", pl: "Nie"}', "text: {en: No, pl: Nie}")
    path = tmp_path / "demo.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FlowError, match="reads as False; put it in quotes"):
        load_survey(path)


def test_invalid_yaml_is_reported_with_the_file_name(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("id: x\nquestions: [\n", encoding="utf-8")
    with pytest.raises(FlowError, match="broken.yml: not valid YAML"):
        load_survey(path)

"""Survey flows: the demo loads, skip logic walks, and bad flows say what is wrong and where."""

from __future__ import annotations

import copy
import itertools

import pytest
import yaml

from bot.settings import PROJECT_ROOT
from bot.survey import translations
from bot.survey.flow import FlowError, Question, Survey, load_survey, load_surveys, parse_survey

DEMO = PROJECT_ROOT / "surveys" / "demo.yml"
SURVEY = load_survey(DEMO)
# The survey as parse_survey sees it: the flow with every language file merged in.
DATA = translations.apply(yaml.safe_load(DEMO.read_text(encoding="utf-8")), DEMO)

CENSUS_DETAIL = {
    "ethnic_asian": ["Bangladeshi", "Chinese", "Indian", "Pakistani", "Any other Asian background"],
    "ethnic_black": ["African", "Caribbean", "Any other Black background"],
    "ethnic_mixed": [
        "White and Asian",
        "White and Black African",
        "White and Black Caribbean",
        "Any other Mixed background",
    ],
    "ethnic_white": [
        "English, Welsh, Scottish, Northern Irish or British",
        "Irish",
        "Gypsy or Irish Traveller",
        "Roma",
        "Any other White background",
    ],
    "ethnic_other": ["Arab", "Any other ethnic group"],
}


def walk(survey: Survey, answers: dict) -> list[str]:
    seen, q = [], survey.first_question(answers)
    while q is not None:
        seen.append(q.key)
        q = survey.next_question(q.key, answers)
    return seen


def test_demo_survey_loads_with_its_languages():
    assert SURVEY.id == "demo" and SURVEY.version == 1
    assert SURVEY.languages[0] == "en" and "pl" in SURVEY.languages
    assert SURVEY.translations["pl"] == {"origin": "human", "review": "draft"}
    assert SURVEY.translations["en"]["review"] == "reviewed"
    for lang in SURVEY.languages[1:]:
        for q in SURVEY.questions:
            assert q.text_in(lang) != q.text_in("en"), f"{lang} {q.key}: not translated"


def test_text_in_falls_back_to_english():
    q = SURVEY.question("access")
    assert q.text_in("pl").startswith("Jak łatwo")
    assert q.text_in("xx") == q.text_in("en") == q.text["en"]
    assert q.text_in(None) == q.text["en"]


def test_skip_logic():
    assert (
        SURVEY.next_question("needed_interpreter", {"needed_interpreter": "yes"}).key
        == "got_interpreter"
    )
    assert (
        SURVEY.next_question("needed_interpreter", {"needed_interpreter": "no"}).key
        == "children_translate"
    )
    assert SURVEY.next_question("needed_interpreter", {}).key == "children_translate", (
        "skipped: not shown"
    )
    assert SURVEY.next_question("ethnic_group", {"ethnic_group": "black"}).key == "ethnic_black"
    assert SURVEY.next_question("ethnic_group", {"ethnic_group": "prefer_not"}).key == "age"
    assert SURVEY.next_question("postcode", {}) is None
    assert SURVEY.first_question({}).key == "access"
    with pytest.raises(KeyError, match="no question 'nope'"):
        SURVEY.next_question("nope", {})


def test_ethnic_groups_follow_the_2021_census_for_england():
    top = SURVEY.question("ethnic_group")
    assert [o.key for o in top.options] == [
        "asian",
        "black",
        "mixed",
        "white",
        "other",
        "prefer_not",
    ]
    for key, labels in CENSUS_DETAIL.items():
        q = SURVEY.question(key)
        assert [o.text["en"] for o in q.options] == [*labels, "Prefer not to say"], key
        assert q.show_if == {"ethnic_group": (key.removeprefix("ethnic_"),)}
        assert q.optional


@pytest.mark.parametrize(
    ("needed", "group"),
    list(
        itertools.product(
            ["yes", "no", None], ["asian", "black", "mixed", "white", "other", "prefer_not", None]
        )
    ),
)
def test_a_person_sees_8_to_11_questions_and_at_most_one_detail_question(needed, group):
    answers = {k: v for k, v in {"needed_interpreter": needed, "ethnic_group": group}.items() if v}
    seen = walk(SURVEY, answers)
    assert 8 <= len(seen) <= 11, seen
    assert ("got_interpreter" in seen) == (needed == "yes")
    details = [k for k in seen if k.startswith("ethnic_") and k != "ethnic_group"]
    assert details == ([f"ethnic_{group}"] if group and group != "prefer_not" else [])


def test_about_you_questions_are_optional_and_introduced_once():
    about = ["ethnic_group", *CENSUS_DETAIL, "age", "postcode"]
    assert [q.key for q in SURVEY.questions if q.optional] == about
    assert [q.key for q in SURVEY.questions if q.intro] == ["ethnic_group"]
    assert SURVEY.question("postcode").validate == "postcode_district"
    assert SURVEY.question("age").options[3].range == (35, 44)


def test_load_surveys_by_id(tmp_path):
    (tmp_path / "a.yml").write_text(DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_surveys(tmp_path)["demo"].languages == ("en",), "no language files beside a.yml"
    assert list(load_surveys(tmp_path)) == ["demo"]
    (tmp_path / "b.yml").write_text(DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(FlowError, match="b.yml: survey id 'demo' is used by another file too"):
        load_surveys(tmp_path)


# -- bad flows fail at load time, naming the question and the field --------------------------
def broken(mutate) -> str:
    data = copy.deepcopy(DATA)
    mutate(data)
    with pytest.raises(FlowError) as err:
        parse_survey(data, "demo.yml")
    return str(err.value)


def question(data: dict, key: str) -> dict:
    return next(q for q in data["questions"] if q["key"] == key)


def test_missing_translation_names_question_and_option():
    def drop(data):
        del question(data, "info_language")["options"][2]["text"]["pl"]

    assert broken(drop) == "question 'info_language': option 3 has no 'pl' text"

    def drop_scale(data):
        del question(data, "access")["scale"]["max"]["pl"]

    assert broken(drop_scale) == "question 'access': scale max label has no 'pl' text"

    def drop_intro(data):
        del question(data, "ethnic_group")["intro"]["pl"]

    assert broken(drop_intro) == "question 'ethnic_group': intro has no 'pl' text"


def test_show_if_must_refer_to_a_known_earlier_question():
    def unknown(data):
        question(data, "got_interpreter")["show_if"] = {"x": "yes"}

    assert broken(unknown) == "question 'got_interpreter': show_if refers to unknown question 'x'"

    def later(data):
        question(data, "access")["show_if"] = {"age": "18_24"}

    assert (
        broken(later)
        == "question 'access': show_if refers to 'age', which is not an earlier question"
    )


def test_show_if_values_must_be_possible_answers():
    def bad_option(data):
        question(data, "ethnic_asian")["show_if"] = {"ethnic_group": ["asain"]}

    assert broken(bad_option) == (
        "question 'ethnic_asian': show_if value 'asain' is not an answer to "
        "'ethnic_group' (asian, black, mixed, white, other, prefer_not)"
    )

    def bad_yes(data):
        question(data, "got_interpreter")["show_if"] = {"needed_interpreter": "maybe"}

    assert "show_if value 'maybe' is not an answer to 'needed_interpreter' (yes, no)" in broken(
        bad_yes
    )


def test_bare_yes_in_show_if_means_yes():
    data = copy.deepcopy(DATA)
    question(data, "got_interpreter")["show_if"] = {"needed_interpreter": True}  # `yes` unquoted
    survey = parse_survey(data)
    assert survey.question("got_interpreter").show_if == {"needed_interpreter": ("yes",)}
    assert (
        survey.next_question("needed_interpreter", {"needed_interpreter": "yes"}).key
        == "got_interpreter"
    )


def test_unknown_type_field_duplicate_keys_and_options():
    def bad_type(data):
        question(data, "access")["type"] = "slider"

    assert "question 'access': type must be one of yesno, single, multiple, scale, text" in broken(
        bad_type
    )

    def typo(data):
        question(data, "got_interpreter")["show-if"] = question(data, "got_interpreter").pop(
            "show_if"
        )

    assert "question 'got_interpreter': unknown field 'show-if'" in broken(typo)

    def dup(data):
        question(data, "info_language")["key"] = "access"

    assert broken(dup) == "question 'access': key used twice"

    def one_option(data):
        question(data, "info_language")["options"] = question(data, "info_language")["options"][:1]

    assert (
        broken(one_option) == "question 'info_language': a single question needs at least 2 options"
    )

    def same_option(data):
        opts = question(data, "info_language")["options"]
        opts[1]["key"] = opts[0]["key"]

    assert broken(same_option) == "question 'info_language': option keys must be unique"


def test_optional_choice_needs_prefer_not_and_validators_are_known():
    def no_prefer_not(data):
        question(data, "age")["options"] = question(data, "age")["options"][:-1]

    assert (
        broken(no_prefer_not)
        == "question 'age': an optional single question needs a 'prefer_not' option"
    )

    def bad_validate(data):
        question(data, "postcode")["validate"] = "zip"

    assert "question 'postcode': validate must be one of postcode_district" in broken(bad_validate)

    def bad_range(data):
        question(data, "age")["options"][0]["range"] = [17, 0]

    assert (
        broken(bad_range)
        == "question 'age': option 1 range must be [lowest, highest] whole numbers"
    )


def test_english_is_required_and_a_survey_needs_questions():
    def no_english(data):
        data["translations"] = {"pl": {"origin": "human", "review": "draft"}}

    assert "English ('en') texts are required" in broken(no_english)

    def empty(data):
        data["questions"] = []

    assert broken(empty) == "demo.yml: has no questions"


def test_bare_yes_no_in_yaml_texts_is_caught(tmp_path):
    text = DEMO.read_text(encoding="utf-8").replace('text: {en: "No"}', "text: {en: No}")
    assert text != DEMO.read_text(encoding="utf-8")
    path = tmp_path / "demo.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        FlowError,
        match="demo.yml line 77: question 'children_translate': option 3: the 'en' text "
        "reads as False; put it in quotes",
    ):
        load_survey(path)


def test_invalid_yaml_is_reported_with_the_file_name(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("id: x\nquestions: [\n", encoding="utf-8")
    with pytest.raises(FlowError, match="broken.yml line 3: not valid YAML"):
        load_survey(path)


def test_a_brace_left_open_is_blamed_on_its_own_line(tmp_path):
    """PyYAML notices an unclosed `{` only at the next question: the admin needs the first line."""
    path = tmp_path / "open.yml"
    path.write_text("id: x\nquestions:\n  - key: a\n    type: yesno\n    text: {en: Hi\n\n"
                    "  - key: b\n    type: yesno\n    text: {en: Bye}\n", encoding="utf-8")
    with pytest.raises(FlowError, match=r"open.yml line 5: not valid YAML: the '\{' on this line "
                       r"is never closed with '\}' \(the reader ran into line 7 still inside it\)"):
        load_survey(path)


def test_questions_are_plain_typed_objects():
    q = SURVEY.question("got_interpreter")
    assert isinstance(q, Question) and q.type == "single"
    assert q.options[0].text_in("pl") == "Tak, za każdym razem"
    assert SURVEY.question("access").scale_label("max", "pl") == "bardzo łatwo"

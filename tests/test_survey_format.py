"""The survey format as documented (docs/survey-format.md, docs/survey.schema.json): the schema
accepts the demo and agrees with the loader's fields; keywords, status and number questions;
and errors that name the file, the line and the field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.settings import PROJECT_ROOT
from bot.survey import flow, translations
from bot.survey.flow import FlowError, load_text
from bot.survey.store import Bundle, validate

SCHEMA = json.loads((PROJECT_ROOT / "docs" / "survey.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
DEMO = PROJECT_ROOT / "surveys" / "demo.yml"
FORMAT_DOC = (PROJECT_ROOT / "docs" / "survey-format.md").read_text(encoding="utf-8")

SMALL = """\
id: clinic
title: {en: Clinic visits}
status: open
keywords: [CLINIC, "Clínica"]
questions:
  - key: visits
    type: number
    range: [0, 20]
    text: {en: "How many times did you visit the clinic this year?"}
  - key: why
    type: text
    show_if: {visits: [1, 2, 3]}
    text: {en: "What did you go for?"}
"""


def errors(document: object) -> list[str]:
    return sorted(e.message for e in VALIDATOR.iter_errors(document))


def test_the_schema_is_valid_and_accepts_the_demo_as_written_and_as_published() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    assert errors(raw) == []
    assert errors(translations.apply(raw, DEMO)) == [], "with all 20 languages merged in"
    checked = validate(Bundle.from_path(DEMO))
    assert checked.ok and errors(checked.document) == [], "the document the store freezes"
    assert errors(yaml.safe_load(SMALL)) == []


def test_the_schema_names_the_same_fields_as_the_loader() -> None:
    defs = SCHEMA["$defs"]
    assert set(SCHEMA["properties"]) == flow.SURVEY_FIELDS
    assert set(defs["question"]["properties"]) == flow.QUESTION_FIELDS
    assert set(defs["option"]["properties"]) == flow.OPTION_FIELDS
    assert defs["question"]["properties"]["type"]["enum"] == list(flow.QUESTION_TYPES)
    assert SCHEMA["properties"]["status"]["enum"] == list(flow.STATUSES)
    assert defs["question"]["properties"]["validate"]["enum"] == list(flow.VALIDATORS)


def test_every_field_and_type_is_documented() -> None:
    for name in flow.SURVEY_FIELDS | flow.QUESTION_FIELDS | flow.OPTION_FIELDS:
        assert f"`{name}`" in FORMAT_DOC, f"{name} is not in docs/survey-format.md"
    for qtype in flow.QUESTION_TYPES:
        assert f"`{qtype}`" in FORMAT_DOC, qtype


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda d: d.update(stauts="open"), "'stauts'"),
        (lambda d: d["questions"][0].pop("range"), "'range' is a required property"),
        (lambda d: d["questions"][1].update(options=[{"key": "a", "text": "A"}] * 2),
         "should not be valid under"),
        (lambda d: d.update(status="paused"), "'paused' is not one of ['open', 'closed']"),
        (lambda d: d.update(id="Clinic Visits"), "does not match"),
    ],
)
def test_the_schema_rejects_what_the_loader_rejects(change, complaint) -> None:
    data = yaml.safe_load(SMALL)
    change(data)
    found = errors(data)
    assert any(complaint in e for e in found), found
    with pytest.raises(FlowError):
        flow.parse_survey(data, "clinic.yml")


def test_keywords_status_and_number_questions_load() -> None:
    survey = load_text(SMALL, "clinic.yml")
    assert survey.keywords == ("CLINIC", "Clínica") and survey.is_open
    visits = survey.question("visits")
    assert visits.type == "number" and visits.range == (0, 20)
    assert survey.question("why").show_if == {"visits": (1, 2, 3)}
    assert survey.version == 0, "a flow not yet published has no version number"
    closed = load_text(SMALL.replace("status: open", "status: closed"), "clinic.yml")
    assert not closed.is_open


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("status: open", "status: paused",
         "clinic.yml: status must be open or closed, got 'paused'"),
        ('keywords: [CLINIC, "Clínica"]', "keywords: [CLINIC, clinic]",
         "clinic.yml line 4: keyword 2 ('clinic') is listed twice"),
        ('keywords: [CLINIC, "Clínica"]', "keywords: [yes]",
         "clinic.yml line 4: keyword 1 reads as True; put it in quotes"),
        ('keywords: [CLINIC, "Clínica"]', "keywords: CLINIC",
         "clinic.yml: keywords must be a list, like keywords: [HEALTH, ZDROWIE]"),
        ("    range: [0, 20]\n", "",
         "clinic.yml line 6: question 'visits': a number question needs a range, like "
         "range: [0, 120]"),
        ("range: [0, 20]", "range: [20, 0]",
         "clinic.yml line 6: question 'visits': range must be [lowest, highest] whole numbers"),
        ("show_if: {visits: [1, 2, 3]}", "show_if: {visits: [1, 25]}",
         "clinic.yml line 12: question 'why': show_if value 25 is not an answer to 'visits' "
         "(a whole number from 0 to 20)"),
        ("    type: text\n", "    type: text\n    range: [1, 2]\n",
         "clinic.yml line 10: question 'why': only number questions have a range (options "
         "have their own)"),
        ("status: open", "status: open\nstatus_note: x",
         "clinic.yml: unknown field 'status_note' (known: id, keywords, questions, status, "
         "title, translations, version; names starting with _ are free for YAML anchors)"),
        ("id: clinic", "id: Clinic Visits",
         "clinic.yml: id must be lower-case letters, digits, - or _ (up to 64), like "
         "'health-2027'"),
    ],
)
def test_errors_name_the_file_the_line_and_the_field(old, new, message) -> None:
    assert old in SMALL
    with pytest.raises(FlowError) as err:
        load_text(SMALL.replace(old, new), "clinic.yml")
    assert str(err.value) == message


def test_the_line_is_the_one_with_the_mistake_in_a_real_file(tmp_path: Path) -> None:
    """The demo declaring Arabic, with one option's Arabic text taken out of demo/ar.yml."""
    text = DEMO.read_text(encoding="utf-8").replace(
        "  en: {origin: human, review: reviewed}\n",
        "  en: {origin: human, review: reviewed}\n  ar: {origin: human, review: draft}\n",
    )
    path = tmp_path / "demo.yml"
    path.write_text(text, encoding="utf-8")
    ar = (DEMO.with_suffix("") / "ar.yml").read_text(encoding="utf-8")
    broken_ar = re.sub(r"(  got_interpreter:.*?      never:\n        text: )[^\n]*\n",
                       r"\1\n", ar, count=1, flags=re.S)
    assert broken_ar != ar
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "ar.yml").write_text(broken_ar, encoding="utf-8")
    with pytest.raises(FlowError) as err:
        flow.load_survey(path)
    text_line = next(n for n, line in enumerate(text.splitlines(), start=1)
                     if line.strip() == 'text: {en: "No, never"}')
    assert str(err.value) == (
        f"demo.yml line {text_line}: question 'got_interpreter': option 3 has no 'ar' text")

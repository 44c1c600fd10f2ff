"""The text catalogue: machine texts fill gaps under people's texts, right-to-left lines are
marked, option numbers use a language's own digits, and bad metadata fails at load."""

from __future__ import annotations

import shutil

import pytest
import yaml

from bot.texts.catalogue import LRM, RLM, TEXTS_DIR, Catalogue, CatalogueError


@pytest.fixture
def texts(tmp_path):
    shutil.copy(TEXTS_DIR / "en.yml", tmp_path / "en.yml")
    return tmp_path


def write(path, data):
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


RTL_META = {"origin": "human", "review": "draft", "direction": "rtl", "digits": "٠١٢٣٤٥٦٧٨٩"}


def test_machine_texts_fill_gaps_but_never_hide_a_persons_text(texts):
    write(texts / "xx.yml", {"_meta": RTL_META, "language_name": "عربي", "help": "مساعدة"})
    write(texts / "xx.machine.yml", {"help": "آلة", "skipped": "تم التخطي"})
    catalogue = Catalogue.load(texts)
    assert catalogue.text("help", "xx") == "مساعدة"
    assert catalogue.origin("help", "xx") == "human"
    assert catalogue.text("skipped", "xx") == "تم التخطي"
    assert catalogue.origin("skipped", "xx") == "machine"
    assert catalogue.origin("goodbye", "xx") is None
    assert catalogue.text("goodbye", "xx") == catalogue.text("goodbye", "en"), "English fallback"


def test_right_to_left_lines_are_marked_and_numbers_use_own_digits(texts):
    write(texts / "xx.yml", {"_meta": RTL_META, "language_name": "عربي"})
    catalogue = Catalogue.load(texts)
    assert catalogue.dress("NHS هنا\n1. نعم", "xx") == f"{RLM}NHS هنا\n{RLM}1. نعم"
    assert catalogue.dress(catalogue.dress("a\nb", "xx"), "xx") == f"{RLM}a\n{RLM}b", "idempotent"
    assert catalogue.dress("NHS here", "en") == "NHS here"
    assert catalogue.number(12, "xx") == "١٢"
    assert catalogue.number(12, "en") == "12"
    assert RLM != LRM


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"_meta": {**RTL_META, "direction": "up"}}, "xx.yml: _meta direction must be ltr or rtl"),
        ({"_meta": {**RTL_META, "digits": "0123"}}, "xx.yml: _meta digits must be the ten digits"),
        ({"_meta": {"origin": "human"}}, "xx.yml: needs _meta with origin and review"),
    ],
)
def test_bad_metadata_fails_at_load(texts, entries, message):
    write(texts / "xx.yml", {"language_name": "x", **entries})
    with pytest.raises(CatalogueError, match=message):
        Catalogue.load(texts)


def test_a_machine_file_without_a_language_file_is_refused(texts):
    write(texts / "xx.machine.yml", {"help": "x"})
    with pytest.raises(CatalogueError, match=r"xx.machine.yml: write xx.yml first"):
        Catalogue.load(texts)


def test_machine_texts_must_keep_the_placeholders(texts):
    write(texts / "xx.yml", {"_meta": RTL_META, "language_name": "x"})
    write(texts / "xx.machine.yml", {"consent": "no url here"})
    with pytest.raises(CatalogueError, match="'consent' must use the placeholders"):
        Catalogue.load(texts)

"""Custom-field values as people type them: converted where the meaning is clear, else refused (the caller
leaves the field empty and keeps the original)."""

from __future__ import annotations

import pytest

from migration_assets.values import coerce, parse_date, parse_number


@pytest.mark.parametrize("text, number", [
    ("1.234,56", 1234.56), ("1 234,56", 1234.56), ("1234,5", 1234.5), ("1,234.56", 1234.56), ("-12.5", -12.5),
    ("€ 12,50", 12.5), ("12 %", 12.0), ("1'234'567.89", 1234567.89), (7, 7.0), ("0,5", 0.5),
])
def test_numbers_in_european_and_english_forms(text, number):
    assert parse_number(text) == number


@pytest.mark.parametrize("text", ["n.v.t.", "twelve", "1.2.3,4,5", "12-3", ""])
def test_what_is_not_a_number(text):
    assert parse_number(text) is None


@pytest.mark.parametrize("word", ["n.v.t.", "N/A", "-", "?", "k.A.", "s.o.", "NVT", "onbekend"])
def test_no_value_words_convert_to_empty_but_say_they_converted(word):
    outcome = coerce(word, "number")
    assert outcome.ok and outcome.value is None and outcome.converted


@pytest.mark.parametrize("word, flag", [("ja", True), ("Nee", False), ("oui", True), ("non", False), ("sí", True),
                                        ("wahr", True), ("falsch", False), ("x", True), (1, True), (False, False)])
def test_booleans_in_five_languages(word, flag):
    outcome = coerce(word, "boolean")
    assert outcome.ok and outcome.value is flag


@pytest.mark.parametrize("text, iso", [("31-12-2024", "2024-12-31"), ("31.12.2024", "2024-12-31"),
                                       ("01/02/24", "2024-02-01"), ("2024-12-31", "2024-12-31"),
                                       ("2024/12/31", "2024-12-31"), ("12/31/2024", "2024-12-31")])
def test_dates_day_first_unless_the_day_cannot_be_a_month(text, iso):
    assert parse_date(text).isoformat() == iso


def test_month_first_when_the_caller_knows():
    assert parse_date("01/02/2024", day_first=False).isoformat() == "2024-01-02"


@pytest.mark.parametrize("value, kind", [("maybe", "boolean"), ("31-02-2024", "date"), ("1,5", "integer"),
                                         ("abc", "number"), ("yesterday", "datetime")])
def test_unclear_values_are_refused_with_the_reason(value, kind):
    outcome = coerce(value, kind)
    assert not outcome.ok and repr(value) in outcome.problem


def test_text_passes_through_untouched():
    assert coerce(" Platinum ", "text").value == " Platinum "
    assert not coerce("Platinum", "text").converted

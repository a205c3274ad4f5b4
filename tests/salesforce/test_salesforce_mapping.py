"""Pure conversions: SOQL escaping, splitting, type conversion, names, tags, image references."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest

from helpdesk_migrate.plugins.salesforce.emulator.org import encode_valid_for
from helpdesk_migrate.plugins.salesforce.emulator.soql import parse, tokenize
from helpdesk_migrate.plugins.salesforce.load_messages import comment_parts, parse_header
from helpdesk_migrate.plugins.salesforce.mapping import (
    ConversionError,
    convert,
    rewrite_images,
    split_bytes,
    split_name,
    to_bool,
    to_date,
    to_number,
    valid_email,
)
from helpdesk_migrate.plugins.salesforce.schema import api_name, decode_valid_for
from helpdesk_migrate.plugins.salesforce.soql import MAX_QUERY_URL, in_chunks, in_list, like_prefix, quote
from helpdesk_migrate.plugins.salesforce.tags import tag_value_for


def test_quote_escapes_quotes_backslashes_and_control_characters():
    nasty = "O'Brien \\ \"x\"\n' OR Name != '"
    literal = quote(nasty)
    assert literal == "'O\\'Brien \\\\ \\\"x\\\"\\n\\' OR Name != \\''"
    # The emulator's SOQL tokenizer reads it back as one string literal with the original value.
    assert tokenize(f"SELECT Id FROM Contact WHERE LastName = {literal}")[-1] == ("value", nasty)
    assert like_prefix("50%_off") == "'50\\%\\_off%'"


@pytest.mark.parametrize(("prefix", "matches", "misses"), [
    ("back\\", ["back\\slash", "back\\"], ["backslash", "back"]),
    ("50%_off", ["50%_off today"], ["50x_off", "50%xoff"]),
    ("a\\%", ["a\\% b"], ["a\\x", "a%"]),
])
def test_the_emulators_like_takes_one_escape_layer_as_salesforce_does(prefix, matches, misses):
    """'\\\\' in a SOQL literal is one literal backslash; only \\% and \\_ stand for a literal % or _."""
    from helpdesk_migrate.plugins.salesforce.emulator.soql import _like

    pattern = _like(tokenize("SELECT Id FROM Contact WHERE LastName LIKE " + like_prefix(prefix))[-1][1])
    assert [v for v in matches + misses if pattern.match(v)] == matches


def test_in_chunks_keep_every_query_under_the_url_limit():
    values = [f"{i:012d}'x" for i in range(5000)]
    chunks = list(in_chunks(values, fixed_length=60))
    assert sum(len(c) for c in chunks) == 5000 and len(chunks) > 1
    for chunk in chunks:
        assert len(quote_plus("SELECT Id FROM Case WHERE Trengo_Id__c IN " + in_list(chunk))) < MAX_QUERY_URL - 1000
    parse("SELECT Id FROM Case WHERE Trengo_Id__c IN " + in_list(chunks[0]))


def test_split_bytes_respects_the_limit_and_character_boundaries():
    text = "naïve café " * 900 + "€" * 1000
    parts = split_bytes(text, lambda i, n: f"[note · part {i}/{n}]\n", 4000)
    assert all(len(p.encode("utf-8")) <= 4000 for p in parts)
    assert "".join(p.split("]\n", 1)[1] for p in parts) == text
    assert parts[0].startswith(f"[note · part 1/{len(parts)}]")
    assert split_bytes("short", lambda i, n: "[h]\n") == ["[h]\nshort"]


def test_comment_headers_carry_a_parseable_reference():
    msg = {"id": "123", "kind": "note", "author_name": "Jane [Ops]", "created_at": "2024-01-02T10:24:40+00:00",
           "body_text": "x" * 9000}
    parts = comment_parts(msg, "trengo")
    assert len(parts) == 3 and parse_header(parts[2]) == ("trengo", "123", 3)
    assert parts[0].startswith("[Internal note by Jane (Ops) · 2024-01-02 10:24 UTC · trengo message 123 · part 1/3]")
    assert parse_header("an ordinary comment") is None


@pytest.mark.parametrize("value, kind, expected", [
    ("31-12-1990", "date", "1990-12-31"), ("1990-12-31T10:00:00+02:00", "date", "1990-12-31"),
    ("ja", "boolean", True), ("No", "boolean", False), (1, "boolean", True),
    ("1.234,56", "double", 1234.56), ("1,234.56", "double", 1234.56), ("42", "int", 42),
    ("Golf, Chess; Golf", "multipicklist", "Golf;Chess"), (["A", "B"], "multipicklist", "A;B"),
    ("", "double", None), ("Jane@Example.ORG", "email", "Jane@example.org"),
])
def test_custom_property_conversion(value, kind, expected):
    assert convert(value, kind) == expected


def test_conversion_errors_say_what_is_wrong():
    with pytest.raises(ConversionError, match="not a number"):
        to_number("many")
    with pytest.raises(ConversionError, match="yes/no"):
        to_bool("perhaps")
    with pytest.raises(ConversionError, match="not a date"):
        to_date("someday")
    with pytest.raises(ConversionError, match="holds 5"):
        convert("too long", "string", length=5)


def test_last_name_is_derived_with_a_placeholder_as_last_resort():
    assert split_name({"name": "Mary Ann Smith"}, "Unknown") == ("Mary Ann", "Smith", False)
    assert split_name({"first_name": "Cher"}, "Unknown") == ("Cher", "Unknown", True)
    assert split_name({"email": "j.doe@example.org"}, "Unknown") == (None, "j.doe", False)
    assert split_name({"identifier": "+31612345678"}, "Unknown") == (None, "+31612345678", False)


def test_email_syntax_is_checked_by_the_library():
    assert valid_email("jane@example.org") == "jane@example.org"
    assert valid_email("jane@@example.org") is None and valid_email("no-at-sign") is None


def test_tag_values_get_a_prefix_only_on_a_case_only_collision():
    assert tag_value_for("VIP", ["VIP"], "Tag: ") == "VIP"
    assert tag_value_for("vip", ["VIP"], "Tag: ") == "Tag: vip"
    assert tag_value_for("a;b", [], "Tag: ") == "a,b"
    assert tag_value_for("new", ["VIP"], "Tag: ") == "new"


def test_image_references_are_rewritten_and_others_kept():
    html = '<img src="cid:a"><IMG alt=x SRC=\'https://x.example/b.png\'>'
    out = rewrite_images(html, lambda src: "/files/1" if src == "cid:a" else None)
    assert out == '<img src="/files/1"><IMG alt=x SRC=\'https://x.example/b.png\'>'


def test_valid_for_decoding_matches_salesforces_bitmap():
    assert decode_valid_for(encode_valid_for([0, 2, 9])) == {0, 2, 9}
    assert decode_valid_for("gAAA") == {0}  # 0x80: valid for the first controlling value


def test_api_names_are_valid_field_stems():
    assert api_name("last order date") == "Last_Order_Date"
    assert api_name("1st-choice!!") == "F_1st_Choice"
    assert len(api_name("x" * 80, 30)) == 30

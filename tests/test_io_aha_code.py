"""SPH AHA_Code grammar edge cases (labels.md 1.2)."""

import pytest

from ecgtriage.io.aha_code import Statement, format_statements, parse_aha_code
from ecgtriage.labels.tables import aha_modifier_codes, aha_primary_codes

KNOWN = {int(c) for c in aha_primary_codes()}
MODS = {int(c) for c in aha_modifier_codes()}


def test_exact_duplicate_is_dropped():
    assert parse_aha_code("1;1") == (Statement(1),)


def test_same_code_with_different_modifiers_kept_in_order():
    assert parse_aha_code("60+310;60+341") == (Statement(60, 310), Statement(60, 341))
    assert parse_aha_code("145+363;145+362") == (Statement(145, 363), Statement(145, 362))


def test_whitespace_around_separators_is_tolerated():
    assert parse_aha_code(" 22 ; 23 ") == (Statement(22), Statement(23))
    assert parse_aha_code("60 + 310;147") == (Statement(60, 310), Statement(147))


def test_space_inside_a_code_is_an_error():
    with pytest.raises(ValueError, match=r"malformed statement '2 2'"):
        parse_aha_code("2 2;23")


def test_unknown_code_error_names_it():
    with pytest.raises(ValueError, match=r"AHA_Code: unknown statement code 999 in '22;999'"):
        parse_aha_code("22;999", KNOWN, MODS)
    with pytest.raises(ValueError, match=r"unknown modifier code 311 in '60\+311'"):
        parse_aha_code("60+311", KNOWN, MODS)


@pytest.mark.parametrize("text", ["", "  ", "22;;23", "22+", "+310", "60+310+341", "A1"])
def test_malformed_fields_raise(text):
    with pytest.raises(ValueError, match="AHA_Code"):
        parse_aha_code(text)


def test_round_trip():
    text = "60+310;147;22"
    assert format_statements(parse_aha_code(text)) == text

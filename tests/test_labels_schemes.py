"""Scheme files: built-ins, user schemes (extends, rules, multi-label), malformed files."""

import numpy as np
import pandas as pd
import pytest

from ecgtriage.labels import encode_targets, load_scheme, parse_scheme

HEADER = "# name: user\n# version: 1\n# multilabel: false\n# ordered: true\n# classes: Low|High\n"


def write(tmp_path, text, name="scheme.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_schemes_have_versions_and_classes():
    tier4 = load_scheme("tier4")
    assert tier4.version == "aha-tiers-2026.12-1"
    assert tier4.classes == ("Normal", "Mild", "Moderate", "Serious") and tier4.ordered
    assert load_scheme("tier3").classes == ("Normal", "Monitor", "Serious")
    aha = load_scheme("aha44")
    assert aha.multilabel and len(aha.classes) == 44
    sizes = {n: len(load_scheme(n).classes) for n in ("all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm")}
    assert sizes == {"all": 71, "diagnostic": 44, "subdiagnostic": 23, "superdiagnostic": 5, "form": 19, "rhythm": 12}
    assert load_scheme("superdiagnostic").classes == ("CD", "HYP", "MI", "NORM", "STTC")


def test_default_schemes_are_builtin_and_load():
    from ecgtriage.labels import DEFAULT_SCHEMES, builtin_names

    assert DEFAULT_SCHEMES == ("aha44", "tier4", "tier3")
    assert set(DEFAULT_SCHEMES) <= set(builtin_names())
    assert [load_scheme(n).name for n in DEFAULT_SCHEMES] == list(DEFAULT_SCHEMES)


def test_user_scheme_extending_tier4_overrides_one_code(tmp_path):
    path = write(tmp_path, "# name: qt-moderate\n# version: 2\n# extends: tier4\n"
                 "vocabulary,statement,modifier,when,class,rule_id\naha,148,,,Moderate,QT1\n")
    scheme = load_scheme(str(path))
    assert scheme.version == "2+tier4@aha-tiers-2026.12-1"
    index = pd.DataFrame({"record_id": list("abc"), "statements": ["148", "88", "50+346"]})
    t = encode_targets(index, "sph", scheme)
    assert t.y.tolist() == [2, 3, 3]
    assert t.details["rules"].tolist() == ["QT1", "", "R2"]


def test_user_rules_with_modifier_and_context(tmp_path):
    text = HEADER + "# default_class: Low\nstatement,modifier,when,class\n" \
        "60,310|341,,High\n147,,codes_any(145),High\n147,,,Low\n60,,,Low\n1,,,Low\n"
    index = pd.DataFrame({"record_id": list("abcde"), "statements": ["60+310", "60+308", "147;145", "147", "22"]})
    # 145 and 22 have no row: a single-label scheme cannot tell, so those records are unknown
    t = encode_targets(index, "sph", load_scheme(str(write(tmp_path, text))))
    assert t.y.tolist() == [1, 0, 1, 0, -1]
    assert t.known.tolist() == [True, True, True, True, False]


def test_unordered_single_label_conflict_is_unknown(tmp_path):
    text = "# version: 1\n# ordered: false\n# classes: AF|Block\nstatement,class\n50,AF\n88,Block\n"
    index = pd.DataFrame({"record_id": list("abc"), "statements": ["50", "88", "50;88"]})
    t = encode_targets(index, "sph", load_scheme(str(write(tmp_path, text))))
    assert t.y.tolist() == [0, 1, -1]


def test_multilabel_user_scheme_rows_with_several_classes(tmp_path):
    text = "# version: 1\n# multilabel: true\n# classes: rhythm|ischaemia\nstatement,class\n50|51,rhythm\n161|165,ischaemia|rhythm\n"
    index = pd.DataFrame({"record_id": list("ab"), "statements": ["50", "165+332;22"]})
    t = encode_targets(index, "sph", load_scheme(str(write(tmp_path, text))))
    np.testing.assert_array_equal(t.y, [[1, 0], [1, 1]])


@pytest.mark.parametrize(
    "body, message",
    [
        ("statement,class\n22,Low\n88,Severe\n", r"line 8: class 'Severe' is not one of Low\|High"),
        ("statement,class\n999,Low\n", r"line 7: unknown aha statement '999'"),
        ("statement,modifier,class\n60,311,High\n", r"line 7: unknown modifier '311'"),
        ("statement,when,class\n60,codes_some(50),High\n", r"line 7: when: unknown condition 'codes_some'"),
        ("statement,when,class\n60,attr_gt(rate: fast),High\n", r"line 7: when: attr_gt threshold must be a number, found 'fast'"),
        ("statement,class\n22,Low,extra\n", r"line 7: 3 fields, expected 2"),
        ("statement,colour\n22,red\n", r"line 6: unknown columns \['colour'\]"),
        ("statement,class\n,Low\n", r"line 7: empty 'statement'"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, body, message):
    path = write(tmp_path, HEADER + body)
    with pytest.raises(ValueError, match=message) as info:
        load_scheme(str(path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "header, message",
    [
        ("# name: x\n# classes: A|B\n", "header 'version' is required"),
        ("# version: 1\n# colour: red\n", r"line 2: unknown header key 'colour'"),
        ("# version: 1\n# multilabel: maybe\n# classes: A\n", "header 'multilabel' must be true or false, found 'maybe'"),
        ("# version: 1\n# classes: A|B\n# default_class: C\n", "default_class 'C' is not one of"),
        ("# version: 1\n# extends: tier4\n# classes: N|S\n# coarsen: Normal>N; Mild>S; Moderate>N; Serious>S\n",
         "coarsen must keep the class order"),
    ],
)
def test_malformed_headers(tmp_path, header, message):
    with pytest.raises(ValueError, match=message):
        load_scheme(str(write(tmp_path, header + "statement,class\n1,A\n")))


def test_unknown_scheme_name_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown scheme 'tier5'; expected a scheme CSV or one of aha44"):
        load_scheme("tier5")
    with pytest.raises(FileNotFoundError, match="scheme file not found"):
        load_scheme(str(tmp_path / "nope.csv"))


def test_parse_scheme_digest_changes_with_content():
    a = parse_scheme("# version: 1\n# classes: A\nstatement,class\n1,A\n")
    b = parse_scheme("# version: 1\n# classes: A\nstatement,class\n22,A\n")
    assert a.digest != b.digest and a.version == b.version == "1"


def test_extends_with_narrower_classes_needs_coarsen(tmp_path):
    path = write(tmp_path, "# version: 1\n# extends: tier4\n# classes: Normal|Serious\nstatement,class\n1,Normal\n")
    with pytest.raises(ValueError, match=r"rows of 'tier4' use classes \['Mild', 'Moderate'\] missing from 'classes'"):
        load_scheme(str(path))


def test_user_coarsening_of_tier4(tmp_path):
    path = write(tmp_path, "# version: 1\n# extends: tier4\n# classes: Routine|Urgent\n"
                 "# coarsen: Normal>Routine; Mild>Routine; Moderate>Routine; Serious>Urgent\n")
    index = pd.DataFrame({"record_id": list("ab"), "statements": ["50+346", "50"]})
    assert encode_targets(index, "sph", load_scheme(str(path))).y.tolist() == [1, 0]

"""Rules C1-C2, R1-R5 and their PTB-XL/Challenge analogues on hand-built records; collapse."""

import numpy as np
import pandas as pd
import pytest

from ecgtriage.labels import coarsen, collapse_to_tier, encode_targets, load_scheme
from ecgtriage.labels.tables import aha_primary_codes

TIER4 = ("Normal", "Mild", "Moderate", "Serious")


def tier_of(statements, source_format="sph", **columns):
    index = pd.DataFrame({"record_id": ["r1"], "statements": [statements], **{k: [v] for k, v in columns.items()}})
    targets = encode_targets(index, source_format, "tier4")
    label = int(targets.y[0])
    return (TIER4[label] if label >= 0 else None), targets.details.loc[0, "rules"]


@pytest.mark.parametrize(
    "statements, tier, rule",
    [
        ("51;85", "Moderate", "C1"),
        ("50;86", "Moderate", "C1"),
        ("85", "Serious", ""),
        ("86", "Serious", ""),
        ("51;81", "Moderate", "C1"),
        ("50;108", "Serious", "C2"),
        ("51;108", "Serious", "C2"),  # pre-excited flutter (decision 7)
        ("108", "Moderate", ""),
        ("121", "Mild", ""),  # a cardiologist's axis statement keeps its tier in SPH
        ("120;22", "Mild", ""),
        ("165+330", "Serious", "R1a"),
        ("161+331", "Serious", "R1a"),
        ("160+332", "Moderate", "R1b"),
        ("166", "Moderate", "R1b"),
        ("50+346", "Serious", "R2"),
        ("50+347", "Moderate", ""),
        ("50", "Moderate", ""),
        ("145+363", "Serious", "R3b"),
        ("145+363;161+332", "Moderate", "R3a"),
        ("145+363;161", "Serious", "R3b"),
        ("145+362", "Moderate", ""),
        ("60+310", "Moderate", "R4"),
        ("60+341", "Moderate", "R4"),
        ("60+308", "Mild", ""),
        ("30+341", "Mild", ""),
        ("147+367", "Moderate", "R5"),
        ("147", "Mild", ""),
    ],
)
def test_sph_rules(statements, tier, rule):
    got, fired = tier_of(statements)
    assert got == tier
    if rule:
        assert rule in fired.split(";")
    else:
        assert fired == ""


def test_most_severe_statement_wins_per_statement_modifiers():
    assert tier_of("60+308;60+341")[0] == "Moderate"
    assert tier_of("22;23")[0] == "Mild"
    assert tier_of("1;1")[0] == "Normal"
    assert tier_of("22;148")[0] == "Serious"


def test_tier3_is_nested_coarsening_of_tier4():
    index = pd.DataFrame({"record_id": list("abcd"), "statements": ["1", "22", "50", "88"]})
    t4 = encode_targets(index, "sph", "tier4").y
    t3 = encode_targets(index, "sph", "tier3")
    assert t3.classes == ("Normal", "Monitor", "Serious")
    assert t3.y.tolist() == [0, 1, 1, 2]
    assert coarsen(t4, "tier3").tolist() == [0, 1, 1, 2]
    assert coarsen(np.array([-1, 1]), "tier3b").tolist() == [-1, 0]


def test_aha44_multi_hot_dedups_primary_codes():
    index = pd.DataFrame({"record_id": ["a"], "statements": ["60+310;60+341;147"]})
    t = encode_targets(index, "sph", "aha44")
    codes = aha_primary_codes()
    assert t.y.shape == (1, 44)
    assert [codes[i] for i in np.flatnonzero(t.y[0])] == ["60", "147"]
    assert list(codes) == sorted(codes, key=int)


def _hot(*codes):
    order = aha_primary_codes()
    row = np.zeros(44, bool)
    for c in codes:
        row[order.index(str(c))] = True
    return row


def test_collapse_uses_modifier_free_rules():
    preds = np.stack([
        _hot(1), _hot(50), _hot(165), _hot(51, 85), _hot(85), _hot(50, 108),
        _hot(60, 147), _hot(), _hot(148), _hot(145), _hot(22, 161),
    ])
    got = [TIER4[i] for i in collapse_to_tier(preds, "tier4")]
    assert got == ["Normal", "Moderate", "Moderate", "Moderate", "Serious", "Serious",
                   "Mild", "Normal", "Serious", "Moderate", "Moderate"]
    assert collapse_to_tier(preds[:3], "tier3").tolist() == [0, 1, 1]


def test_collapse_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"expected shape \(N, 44\), found \(2, 5\)"):
        collapse_to_tier(np.zeros((2, 5), bool))


@pytest.mark.parametrize(
    "statements, stadium1, stadium2, tier",
    [
        ("IMI;SR", "Stadium I", "", "Serious"),
        ("ASMI;SR", "Stadium II", "", "Serious"),
        ("ILMI", "Stadium I-II", "", "Serious"),
        ("IMI;SR", "Stadium III", "", "Moderate"),
        ("IMI;SR", "Stadium II-III", "", "Moderate"),
        ("IMI;SR", "unknown", "", "Moderate"),
        ("IMI;SR", "", "", "Moderate"),
        ("AMI", "Stadium III", "Stadium II", "Serious"),
        ("INJAS;SR", "", "", "Serious"),
        ("SR", "", "", "Normal"),
        ("NORM;SR", "", "", "Normal"),
        ("NORM;PVC;SR", "", "", "Mild"),
        ("NORM;AFIB", "", "", "Moderate"),
        ("STE_;SR", "", "", "Moderate"),             # decision 7: non-specific ST elevation
        ("NORM;STE_;SR", "", "", "Moderate"),
        ("STE_;IMI", "Stadium III", "", "Moderate"),
        ("STE_;IMI", "unknown", "", "Moderate"),     # unknown stadium: not acute, in every rule
        ("STE_;IMI", "", "", "Moderate"),
        ("STE_;IMI", "Stadium I", "", "Serious"),    # Serious only through an acute stadium ...
        ("STE_;INJAS", "", "", "Serious"),           # ... or injury
        ("INVT", "", "", "Moderate"),
        ("WPW;AFIB", "", "", "Serious"),
        ("WPW;AFLT", "", "", "Serious"),             # pre-excited flutter (decision 7)
        ("WPW;SR", "", "", "Moderate"),
    ],
)
def test_ptbxl_tiers(statements, stadium1, stadium2, tier):
    got, _ = tier_of(statements, "ptbxl", infarction_stadium1=stadium1, infarction_stadium2=stadium2, heart_axis="LAD")
    assert got == tier


def test_ptbxl_af_without_signal_falls_back_and_says_so():
    index = pd.DataFrame({"record_id": ["1"], "statements": ["AFIB;SR"]})
    t = encode_targets(index, "ptbxl", "tier4")
    assert TIER4[t.y[0]] == "Moderate"
    assert t.details.loc[0, "rate_status"].startswith("no_signal")


def test_heart_axis_counts_for_aha44_not_tier():
    index = pd.DataFrame({"record_id": ["1", "2"], "statements": ["NORM;SR", "NORM"], "heart_axis": ["LAD", "RAD"]})
    a = encode_targets(index, "ptbxl", "aha44")
    codes = aha_primary_codes()
    assert [codes[i] for i in np.flatnonzero(a.y[0])] == ["1", "121"]
    assert [codes[i] for i in np.flatnonzero(a.y[1])] == ["1", "120"]
    assert encode_targets(index, "ptbxl", "tier4").y.tolist() == [0, 0]


@pytest.mark.parametrize(
    "statements, tier",
    [
        ("426783006", "Normal"),            # sinus rhythm only
        ("314208002", "Serious"),           # rapid AF (50+346)
        ("164931005", "Moderate"),          # ST elevation: Moderate as PTB-XL STE_ (decision 7)
        ("164931005;57054005", "Serious"),  # ... Serious through acute MI
        ("164931005;164867002", "Moderate"),  # ST elevation with old MI
        ("27885002", "Serious"),            # complete heart block
        ("195060002;164889003", "Serious"),  # pre-excited AF (S2)
        ("74390002;164890007", "Serious"),   # pre-excited flutter (S2, decision 7)
        ("39732003", "Normal"),              # LAD: aha44 121, no tier (decision 7)
        ("47665007;426783006", "Normal"),    # RAD with sinus rhythm
        ("39732003;426177001", "Mild"),      # LAD beside a Mild statement: the Mild decides
        ("251139008", None),                # lead reversal: tier unknown
        ("251139008;27885002", "Serious"),  # unknown does not matter once Serious
        ("251139008;426177001", None),      # Mild + unknown: undeterminable
    ],
)
def test_challenge_tiers(statements, tier):
    assert tier_of(statements, "challenge")[0] == tier


def test_class_observable_reflects_source_vocabulary():
    index = pd.DataFrame({"record_id": ["1"], "statements": ["NORM"]})
    obs = encode_targets(index, "ptbxl", "aha44").class_observable
    codes = aha_primary_codes()
    unseen = {"31", "36", "37", "54", "80", "81", "86", "152", "155"}  # labels.md 3.6
    assert not any(obs[codes.index(c)] for c in unseen)
    assert obs[codes.index("147")] and obs[codes.index("82")]


def test_ladder_scheme_on_sph_is_refused():
    index = pd.DataFrame({"record_id": ["1"], "statements": ["1"]})
    with pytest.raises(ValueError, match="scheme 'superdiagnostic' has no rows for sph statements"):
        encode_targets(index, "sph", load_scheme("superdiagnostic"))


def test_unknown_sph_code_names_record_and_code():
    index = pd.DataFrame({"record_id": ["A00007"], "statements": ["22;999"]})
    with pytest.raises(ValueError, match=r"record A00007: statements: unknown statement code 999 in '22;999'"):
        encode_targets(index, "sph", "tier4")


def test_axis_deviation_same_in_ptbxl_and_challenge():
    """Decision 7: heart_axis LAD/RAD and the Challenge LAD/RAD labels give aha44 121/120 and
    no tier, identically; an SPH axis statement keeps its tier (Mild)."""
    codes = aha_primary_codes()
    ptb = pd.DataFrame({"record_id": ["1", "2"], "statements": ["SR", "SR"], "heart_axis": ["ALAD", "RAD"]})
    chal = pd.DataFrame({"record_id": ["1", "2"], "statements": ["426783006;39732003", "426783006;47665007"]})
    for scheme in ("aha44", "tier4", "tier3"):
        a = encode_targets(ptb, "ptbxl", scheme)
        b = encode_targets(chal, "challenge", scheme)
        np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(a.known, b.known)
    aha = encode_targets(chal, "challenge", "aha44").y
    assert [codes[i] for i in np.flatnonzero(aha[0])] == ["121"]
    assert [codes[i] for i in np.flatnonzero(aha[1])] == ["120"]
    assert encode_targets(chal, "challenge", "tier4").y.tolist() == [0, 0]


def test_mi_age_is_decided_in_one_table():
    from ecgtriage.labels.record_statements import mi_age
    from ecgtriage.labels.tables import mi_age_of_stadium

    table = mi_age_of_stadium()
    assert {k for k, v in table.items() if v == "acute"} == {"Stadium I", "Stadium I-II", "Stadium II"}
    assert table["unknown"] == table[""] == table["Stadium III"] == "not_acute"
    assert mi_age(frozenset()) == {"not_acute"}
    assert mi_age(frozenset({"Stadium III", "Stadium I"})) == {"acute", "not_acute"}
    # No rule reads the stadium text any more: every MI rule goes through mi_age.
    rules = load_scheme("tier4").rows
    assert not any("infarction_stadium" in r.when.attributes for r in rules)
    assert any("mi_age" in r.when.attributes for r in rules)
    index = pd.DataFrame({"record_id": ["e9"], "statements": ["IMI"], "infarction_stadium1": ["Stadium IV"]})
    with pytest.raises(ValueError, match=r"record e9: infarction_stadium 'Stadium IV' is not one of"):
        encode_targets(index, "ptbxl", "tier4")


@pytest.mark.parametrize(
    "ptbxl, axis, challenge",
    [
        ("STE_;SR", "", "164931005;426783006"),                 # ST elevation: Moderate
        ("NORM;STE_;SR", "LAD", "164931005;426783006;39732003"),
        ("WPW;AFLT", "", "74390002;164890007"),                 # pre-excited flutter: Serious
        ("WPW;AFIB", "RAD", "74390002;164889003;47665007"),     # pre-excited AF: Serious
        ("SR", "LAD", "426783006;39732003"),                    # axis only: Normal
        ("IMI;STD_;SR", "", "164865005;429622005;426783006"),   # MI, no stadium: Moderate
    ],
)
def test_decision_7_pairs_same_tier_in_ptbxl_and_challenge(ptbxl, axis, challenge):
    """The same ECG coded as PTB-XL statements and as the Challenge's SNOMED labels for it."""
    assert tier_of(ptbxl, "ptbxl", heart_axis=axis)[0] == tier_of(challenge, "challenge")[0]


def test_modifier_free_counts_collapse_aha44_targets():
    from ecgtriage.labels.summary import modifier_free_counts

    index = pd.DataFrame({"record_id": list("abcde"),
                          "statements": ["1", "165+330", "50+346", "145+363;22", "147+367"]})
    aha = encode_targets(index, "sph", "aha44")
    split = pd.Series(["train", "train", "val", "test", "test"])
    frame = modifier_free_counts(aha, split)
    total = frame[frame["split"] == "all"].set_index("class")["count"].to_dict()
    # Every modifier that made these Serious/Moderate is lost: MI, AF, ST deviation -> Moderate,
    # T-wave abnormality -> Mild.
    assert total == {"Normal": 1, "Mild": 1, "Moderate": 3, "Serious": 0}
    assert np.bincount(encode_targets(index, "sph", "tier4").y, minlength=4).tolist() == [1, 0, 1, 3]
    assert set(frame["scheme"]) == {"tier4 (aha44 collapsed)"}
    with pytest.raises(ValueError, match="expected aha44 targets"):
        modifier_free_counts(encode_targets(index, "sph", "tier4"), split)

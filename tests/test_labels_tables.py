"""The package's label data tables: complete, consistent, every referenced code exists."""

import pandas as pd

from ecgtriage.labels import load_scheme, tables
from ecgtriage.labels.conditions import Condition
from ecgtriage.labels.schemes import parse_scheme


def test_aha_statement_table_matches_sph_vocabulary():
    frame = tables.aha_statements()
    assert (frame["kind"] == "primary").sum() == 44
    assert (frame["kind"] == "modifier").sum() == 15
    primary = frame[frame["kind"] == "primary"]
    assert set(primary["tier4"]) == set(tables.TIER4)
    assert (primary["tier3"] == primary["tier4"].map(tables.TIER4_TO_TIER3)).all()
    assert primary["rationale"].str.len().min() > 0 and primary["source"].str.len().min() > 0


def test_aha_statement_table_matches_code_csv(shared_data):
    code = pd.read_csv(shared_data / "sph" / "code.csv", dtype=str)
    frame = tables.aha_statements()
    assert sorted(code["Code"], key=int) == sorted(frame["code"], key=int)
    category = dict(zip(code["Code"], code["Category"]))
    assert all(category[c] == cat for c, cat in zip(frame["code"], frame["category"]))


def test_rules_reference_known_codes_and_parse():
    for rule in tables.tier_rules().to_dict("records"):
        known = tables.known_statements(rule["vocabulary"])
        codes = set(rule["statement"].split("|")) | Condition.parse(rule["when"]).referenced_codes
        assert codes <= known, rule["rule_id"]
        assert rule["tier4"] in tables.TIER4


def test_scp_table_against_ptbxl_statements(shared_data):
    scp = pd.read_csv(shared_data / "ptbxl" / "scp_statements.csv", index_col=0, dtype=str)
    table = tables.scp_table()
    ours = table[table["vocabulary"] == "scp"].set_index("statement")
    assert set(ours.index) == set(scp.index)  # all 71
    aha_column = scp["AHA code"].fillna("")
    assert (ours["aha_column"] == aha_column.loc[ours.index]).all()
    # "direct" means the CSV's AHA code column equals the SPH code (labels.md 1.3 legend)
    direct = ours[ours["match_type"] == "direct"]
    assert (direct["aha_code"] == direct["aha_column"]).all()
    # labels.md 1.3: "24 SPH codes have a PTB-XL statement with the same AHA code"
    assert sorted(map(int, direct["aha_code"])) == [1, 21, 22, 23, 30, 50, 51, 60, 82, 88, 101, 102, 104,
                                                    105, 106, 140, 142, 143, 145, 147, 148, 160, 161, 165]
    primary = set(tables.aha_primary_codes())
    assert set(ours.index[ours["aha_column"].isin(primary)]) == set(direct.index)
    same = dict(ours.loc[ours["match_type"] == "same", "aha_code"])
    expected_same = {"1AVB": "82", "NDT": "147", "NT_": "147", "INVT": "147", "LOWT": "147", "STD_": "145",
                     "STE_": "145", "ILMI": "161", "IPLMI": "161", "IPMI": "161", "WPW": "108", "LVOLT": "125"}
    assert expected_same.items() <= same.items()
    assert ours.loc[["INJAS", "INJAL", "INJIN", "INJLA", "INJIL"], "tier4"].eq("Serious").all()
    assert ours.loc["SR", "tier4"] == "ignore"


def test_snomed_table_covers_challenge_lists(shared_data):
    table = tables.snomed_table()
    for name, scored in (("dx_mapping_scored.csv", "True"), ("dx_mapping_unscored.csv", "False")):
        dx = pd.read_csv(shared_data / "cinc2021" / name, dtype=str)
        rows = table[table["scored"] == scored]
        assert list(rows["statement"]) == list(dx["SNOMEDCTCode"])
        assert list(rows["abbreviation"]) == list(dx["Abbreviation"])
    primary = set(tables.aha_primary_codes())
    assert set(table.loc[table["aha_code"] != "", "aha_code"]) <= primary
    mapped = table[table["match_type"].isin(["direct", "same"])]
    assert len(mapped) > 50 and (table["match_type"] == "none").sum() > 30


def test_ladder_schemes_regenerate_identically(shared_data, tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_ptbxl_schemes.py"
    spec = importlib.util.spec_from_file_location("make_ptbxl_schemes", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(shared_data / "ptbxl" / "scp_statements.csv"), "--out", str(tmp_path)]) == 0
    for name in module.EXPECTED:
        shipped = tables.data_path(f"schemes/{name}.csv").read_text(encoding="utf-8")
        assert (tmp_path / f"{name}.csv").read_text(encoding="utf-8") == shipped
        assert parse_scheme(shipped).classes == load_scheme(name).classes


def test_superdiagnostic_matches_scp_statements(shared_data):
    scp = pd.read_csv(shared_data / "ptbxl" / "scp_statements.csv", index_col=0)
    scheme = load_scheme("superdiagnostic")
    expected = scp.loc[scp["diagnostic"] == 1, "diagnostic_class"].to_dict()
    got = {code: row.classes[0] for row in scheme.rows for code in row.statements}
    assert got == expected

"""`ecgtriage labels` on a source folder, on a cache (rate measured) and with a bad scheme."""

import ast
import json

import numpy as np
import pandas as pd
import pytest

from ecgtriage.cli import main


@pytest.mark.realdata
def test_labels_superdiagnostic_on_ptbxl_source(shared_data, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["labels", str(shared_data / "ptbxl"), "--scheme", "superdiagnostic", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "scheme superdiagnostic" in printed and "cannot be measured" in printed
    counts = pd.read_csv(out / "class_counts.csv")
    total = counts[counts["split"] == "all"].set_index("class")["count"]
    assert list(total.index) == ["CD", "HYP", "MI", "NORM", "STTC"]
    db = pd.read_csv(shared_data / "ptbxl" / "ptbxl_database.csv")
    scp = pd.read_csv(shared_data / "ptbxl" / "scp_statements.csv", index_col=0)
    superclass = scp.loc[scp["diagnostic"] == 1, "diagnostic_class"]
    expected = pd.Series(
        [c for codes in db["scp_codes"] for c in {superclass[s] for s in ast.literal_eval(codes) if s in superclass}]
    ).value_counts()
    assert total.to_dict() == expected.to_dict()
    splits = pd.read_csv(out / "splits.csv", dtype=str)
    assert len(splits) == len(db) and set(splits["split"]) == {"train", "val", "test"}
    meta = json.loads((out / "labels.json").read_text())
    assert meta["schemes"][0]["version"] == "ptbxl-benchmark-1"
    assert meta["split_roles"]["folds"]["test"] == [9]
    coverage = pd.read_csv(out / "aha_coverage.csv")
    assert len(coverage) == 44


def _tiny_cache(root, beats_fast, beats_slow):
    from test_signal_rate import spike_train  # reuse the known-beat generator

    fs, n = 100, 1000
    signals = np.zeros((3, 12, n), np.float16)
    signals[0, 1] = spike_train(beats_fast, fs)
    signals[1, 1] = spike_train(beats_slow, fs)
    root.mkdir()
    np.save(root / "signals.npy", signals)
    pd.DataFrame({
        "record_id": ["1", "2", "3"], "row": [0, 1, 2], "patient_id": ["a", "b", "c"], "fold": [1, 2, 9],
        "statements": ["AFIB;SR", "AFIB", "NORM;SR"], "age": [60, 70, 50], "sex": ["M", "F", "M"],
        "heart_axis": ["", "", "MID"], "infarction_stadium1": ["", "", ""], "infarction_stadium2": ["", "", ""],
    }).to_csv(root / "index.csv", index=False)
    (root / "manifest.json").write_text(json.dumps({"format": "ptbxl", "fs": fs, "n_samples": n, "seconds": 10}))


def test_labels_on_cache_measures_af_rate(tmp_path, capsys):
    from test_signal_rate import irregular_beats

    rng = np.random.default_rng(1)
    cache = tmp_path / "cache"
    _tiny_cache(cache, irregular_beats(150, rng), irregular_beats(70, rng))
    out = tmp_path / "out"
    assert main(["labels", str(cache), "--scheme", "tier4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ventricular rate (tier4): measured 2" in printed
    counts = pd.read_csv(out / "class_counts.csv")
    total = counts[counts["split"] == "all"].set_index("class")["count"].to_dict()
    assert total == {"Normal": 1, "Mild": 0, "Moderate": 1, "Serious": 1}


def test_labels_bad_scheme_file_reports_line(tmp_path, capsys, shared_data):
    bad = tmp_path / "bad.csv"
    bad.write_text("# version: 1\n# classes: A|B\nstatement,class\nNORM,A\nXYZ,B\n", encoding="utf-8")
    # the vocabulary defaults to aha, so 'NORM' is the first unknown statement
    assert main(["labels", str(shared_data / "ptbxl"), "--scheme", str(bad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert f"{bad} line 4: unknown aha statement 'NORM'" in err


@pytest.mark.realdata
@pytest.mark.slow
def test_labels_prints_modifier_free_collapse_on_sph(shared_data, tmp_path, capsys):
    """labels.md decision 4: a perfect aha44 model collapsed without modifiers reaches
    13,905 / 7,421 / 4,392 / 52 on the real SPH metadata (292 Serious with modifiers)."""
    sph = shared_data / "sph"
    if not (sph / "metadata.csv").is_file():
        pytest.skip(f"no {sph / 'metadata.csv'}")
    out = tmp_path / "out"
    assert main(["labels", str(sph), "--scheme", "tier4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("modifier-free collapse (aha44 codes -> tier4 without modifiers, labels.md decision 4): "
            "Normal 13,905 / Mild 7,421 / Moderate 4,392 / Serious 52") in printed
    assert "Serious      292 (1.1%)" in printed
    meta = json.loads((out / "labels.json").read_text())
    assert meta["modifier_free_collapse"] == {"Normal": 13905, "Mild": 7421, "Moderate": 4392, "Serious": 52}

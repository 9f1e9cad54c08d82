"""Prediction tables are keyed by the content of the weights that made them (issue 13): a
cell whose weights changed never reuses the old model's tables."""

from __future__ import annotations

import os

from ecgtriage.study.cells import Cell


def _cell(tmp_path) -> Cell:
    return Cell("tier3", 0, {}, "abc", tmp_path / "cells" / "tier3-s0-abc")


def test_changed_weights_give_a_new_prediction_table(tmp_path):
    cell = _cell(tmp_path)
    assert cell.weights_hash is None
    assert cell.predictions_path("internal-1234").name == "internal-1234.csv"
    cell.run_dir.mkdir(parents=True)
    weights = cell.run_dir / "model.safetensors"
    weights.write_bytes(b"weights of model one")
    first = cell.predictions_path("internal-1234")
    assert first.name.startswith("internal-1234-w") and first == cell.predictions_path("internal-1234")
    first.parent.mkdir()
    first.write_text("record_id,patient_id,prob:Normal\n")
    # Same size, same mtime: only the content differs (a cache on stat alone would miss it
    # if the inode changed too; replacing the file gives a new inode, as a retrain does).
    replacement = cell.run_dir / "new.safetensors"
    replacement.write_bytes(b"weights of model two")
    st = weights.stat()
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, weights)
    second = cell.predictions_path("internal-1234")
    assert second != first and not second.is_file()  # ensure_predictions will predict again
    assert _cell(tmp_path).weights_hash == cell.weights_hash  # same bytes, same key

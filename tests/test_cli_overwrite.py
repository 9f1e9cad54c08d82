"""No command replaces an output it was not asked to replace (issue 13, data loss)."""

from __future__ import annotations

import numpy as np
import pytest

from ecgtriage.cli import main
from ecgtriage.errors import ConfigError
from ecgtriage.synth.corpus import write_sph_corpus
from test_prepare_cache import _write_sph


def _sph(tmp_path):
    t = np.arange(5000) / 500.0
    sig = np.tile((np.sin(2 * np.pi * 1.2 * t) > 0.99).astype(np.float32), (12, 1))
    return _write_sph(tmp_path / "sph", {"A1": sig, "A2": sig, "A3": sig})


def test_synth_figure_keeps_an_existing_file_without_overwrite(tmp_path, capsys):
    out = tmp_path / "fig.png"
    out.write_text("my figure")
    assert main(["synth-figure", "--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "my figure"
    assert main(["synth-figure", "--out", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_labels_out_keeps_existing_tables_without_overwrite(tmp_path, capsys):
    root = _sph(tmp_path)
    out = tmp_path / "tables"
    out.mkdir()
    (out / "splits.csv").write_text("edited by hand")
    assert main(["labels", str(root), "--scheme", "tier3", "--out", str(out)]) == 1
    assert "splits.csv: exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "splits.csv").read_text() == "edited by hand"
    assert main(["labels", str(root), "--scheme", "tier3", "--out", str(out), "--overwrite"]) == 0
    assert (out / "splits.csv").read_text().startswith("record_id,split")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["labels", str(root), "--scheme", "tier3", "--out", str(blocker)]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_plot_never_replaces_a_folder(tmp_path, capsys):
    root = _sph(tmp_path)
    target = tmp_path / "figs"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    assert main(["plot", str(root), "--out", str(target), "--overwrite"]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert (target / "keep.txt").is_file()


def test_synth_never_replaces_a_file(tmp_path, capsys):
    out = tmp_path / "corpus"
    out.write_text("not a folder")
    assert main(["synth", "--format", "sph", "--n", "2", "--out", str(out), "--overwrite"]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert out.read_text() == "not a folder"


def test_synth_overwrite_replaces_only_a_corpus_it_wrote(tmp_path):
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="not empty"):
        write_sph_corpus(out, 2, 0, workers=1, progress=False)
    # A real data set in the same layout carries no marker: never replaced, even when asked.
    with pytest.raises(ConfigError, match="not a synthetic corpus"):
        write_sph_corpus(out, 2, 0, workers=1, progress=False, overwrite=True)
    assert (out / "notes.txt").is_file()
    made = write_sph_corpus(tmp_path / "synthetic", 2, 0, workers=1, progress=False)
    (made / "stale.txt").write_text("from an earlier version")
    write_sph_corpus(made, 2, 1, workers=1, progress=False, overwrite=True)
    assert not (made / "stale.txt").exists() and (made / "metadata.csv").is_file()

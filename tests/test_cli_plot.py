"""``ecgtriage plot``: a record of a source folder or cache drawn as a clinical printout."""

from __future__ import annotations

import numpy as np
import pytest

from ecgtriage.cli import main
from ecgtriage.errors import ConfigError
from ecgtriage.synth.plot import record_figure


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from ecgtriage.synth.corpus import write_ptbxl_corpus

    root = tmp_path_factory.mktemp("plot")
    return write_ptbxl_corpus(root / "ptbxl", 4, 5, workers=1, progress=False)


def _png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_plot_draws_the_named_record_and_refuses_to_overwrite(corpus, tmp_path, capsys):
    out = tmp_path / "ecg.png"
    assert main(["plot", str(corpus), "--record", "2", "--out", str(out)]) == 0
    width, height = _png_size(out)
    # 10 s at 25 mm/s plus the calibration margin: a landscape printout.
    assert width > 1.5 * height
    assert main(["plot", str(corpus), "--record", "2", "--out", str(out)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["plot", str(corpus), "--out", str(out), "--overwrite"]) == 0


def test_plot_names_a_missing_record(corpus, tmp_path, capsys):
    assert main(["plot", str(corpus), "--record", "nope", "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "--record nope: no such record" in err and "first ids: 1" in err
    assert not (tmp_path / "x.png").exists()


def test_record_figure_draws_short_records_over_their_length_and_refuses_tiny_ones(tmp_path):
    rng = np.random.default_rng(0)
    short = record_figure(rng.standard_normal((12, 500)) * 0.1, 100.0, tmp_path / "s.png")
    full = record_figure(rng.standard_normal((12, 1000)) * 0.1, 100.0, tmp_path / "f.png")
    assert _png_size(short) == _png_size(full)  # same paper, the short one leaves it blank
    with pytest.raises(ConfigError, match="expected at least 2 s"):
        record_figure(np.zeros((12, 150)), 100.0, tmp_path / "t.png")

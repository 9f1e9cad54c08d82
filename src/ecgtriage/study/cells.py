"""The study grid: one cell per (label scheme, seed), keyed by the hash of its configuration.

A cell's directory name ends in ``config_hash`` of everything its model depends on (scheme and
its version, seed, training settings, preprocessing, the training cache's content hash and the
split), so changing any of them trains a new model beside the old one, and rerunning an
unchanged study finds the finished cell and skips it. A cell counts as trained once its
``cell.json`` exists, which is written only after training returned, so an interrupted training
is never mistaken for a finished one.
Prediction files are keyed the same way (test set content hash, corruption, severity, seed),
plus the content hash of the cell's weights: weights replaced after the predictions were made
(a retrained or copied-in model) never reuse the old model's tables.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ecgtriage import config as cfgmod
from ecgtriage.signal.preprocess import PreprocessConfig
from ecgtriage.train.config import TrainConfig


@dataclass(frozen=True)
class Cell:
    """One model of the grid."""

    scheme: str
    seed: int
    key: dict[str, Any]  #: resolved configuration the hash is taken over
    hash: str
    dir: Path

    @property
    def id(self) -> str:
        return f"{self.scheme}-s{self.seed}"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def trained(self) -> bool:
        """``cell.json`` is written only after training returned, so it marks a finished model."""
        return (self.dir / "cell.json").is_file() and (self.run_dir / "model_card.json").is_file()

    @property
    def weights_hash(self) -> str | None:
        """sha256 of ``run/model.safetensors`` (``None`` while there are no weights)."""
        return weights_hash(self.run_dir / "model.safetensors")

    def predictions_path(self, test_key: str) -> Path:
        """The prediction table of this cell's current weights on the test set ``test_key``."""
        digest = self.weights_hash
        suffix = f"-w{digest[:12]}" if digest else ""
        return self.dir / "predictions" / f"{test_key}{suffix}.csv"


#: (path, size, mtime_ns, inode) → sha256: each weights file is hashed once per process, and
#: again only when it changed on disk.
_WEIGHTS_HASHES: dict[tuple, str] = {}


def weights_hash(path: Path) -> str | None:
    """sha256 of the file at ``path``, cached on its size, mtime and inode; ``None`` if absent."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _WEIGHTS_HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _WEIGHTS_HASHES[key] = digest.hexdigest()
    return _WEIGHTS_HASHES[key]


def splits_fingerprint(splits: pd.DataFrame) -> str:
    """Hash of a split table that does not depend on its row order."""
    ordered = splits[["record_id", "split"]].astype(str).sort_values("record_id")
    blob = "\n".join(f"{r}\t{s}" for r, s in ordered.itertuples(index=False))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def make_cells(
    study_dir: Path,
    schemes: list[str],
    seeds: list[int],
    train_config: TrainConfig,
    preprocess: PreprocessConfig,
    data_fingerprint: dict[str, Any],
    scheme_versions: dict[str, str],
) -> list[Cell]:
    """The grid (schemes × seeds) with each cell's resolved key, hash and directory.

    Parameters
    ----------
    train_config : the study's ``TrainConfig``; its ``seed`` is replaced by the cell's seed.
    data_fingerprint : what identifies the training data (cache content hash, split hash).
    scheme_versions : scheme name → version string, so a revised mapping retrains.
    """
    cells = []
    for scheme in schemes:
        for seed in seeds:
            train = dataclasses.replace(train_config, seed=int(seed))
            key = {
                "scheme": scheme,
                "scheme_version": scheme_versions.get(scheme, ""),
                "seed": int(seed),
                "train": cfgmod.to_dict(train),
                "preprocess": cfgmod.to_dict(preprocess),
                "data": data_fingerprint,
            }
            digest = cfgmod.config_hash(key)
            cells.append(Cell(scheme, int(seed), key, digest,
                              study_dir / "cells" / f"{scheme}-s{seed}-{digest}"))
    return cells


def prediction_key(name: str, content_hash: str, corruption: str | None = None,
                 severity: float | None = None, noise_seed: int | None = None) -> str:
    """File-name key of one (possibly corrupted) test set: readable name + short hash."""
    parts = {"name": name, "content": content_hash, "corruption": corruption,
             "severity": severity, "noise_seed": noise_seed}
    label = name if corruption is None else f"{name}__{corruption}_{_sev(severity)}"
    return f"{label}-{cfgmod.config_hash(parts, length=8)}"


def _sev(severity: float | None) -> str:
    if severity is None:
        return "clean"
    return f"{float(severity):g}".replace("-", "m").replace(".", "p")

"""The study's data: synthetic corpora or real folders → caches, splits and data roles.

Everything lands under ``<study>/data``: generated corpora in ``sources/``, prepared caches
in ``caches/``, the split table in ``splits.csv``. Each step is skipped when its output is
already complete (corpora are written through ``atomic_path``; ``prepare`` reuses an
up-to-date cache), so resuming a study costs seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ecgtriage import atomic
from ecgtriage.data.cache import Cache, is_cache, open_cache
from ecgtriage.data.ids import patient_ids
from ecgtriage.errors import DataError
from ecgtriage.data.prepare import prepare
from ecgtriage.io.sources import open_source
from ecgtriage.labels.splits import make_splits
from ecgtriage.signal.preprocess import PreprocessConfig
from ecgtriage.study.config import StudyConfig, SyntheticData
from ecgtriage.synth.corpus import write_ptbxl_corpus, write_sph_corpus

#: Names of the synthetic corpora inside the study directory.
SYNTH_TRAIN_NAME = "sph_like"
SYNTH_EXTERNAL_NAME = "ptbxl_like"


@dataclass
class Dataset:
    """One prepared data set and the part it plays in the study."""

    name: str
    role: str  #: "train" (split into train/val/internal test), "external" or "added"
    cache: Cache
    source: str  #: the folder or cache the user gave (or the generated corpus)

    @property
    def format(self) -> str:
        return self.cache.format

    @property
    def content_hash(self) -> str:
        return str(self.cache.manifest.get("content_hash", ""))


@dataclass
class DataPlan:
    """What the study trains and tests on."""

    train: Dataset
    splits: pd.DataFrame  #: record_id, split ∈ {train, val, test}
    split_roles: dict[str, Any]  #: which folds / rule gave each split (from ``make_splits``)
    externals: list[Dataset] = field(default_factory=list)
    synthetic: bool = False


def safe_name(text: str) -> str:
    """A file-name-safe data set name (``/data/PTB-XL 1.0`` → ``PTB-XL_1.0``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return name or "data"


def prepare_dataset(path: str | Path, name: str, role: str, study_dir: Path,
                    preprocess: PreprocessConfig, workers: int | None = None) -> Dataset:
    """Open ``path`` as a cache, or prepare it into ``<study>/data/caches/<name>``.

    A given cache must match the study's preprocessing (rate and window), since every model
    is trained for one input shape.
    """
    src = Path(path)
    if not src.exists():
        raise FileNotFoundError(f"data folder {src} does not exist")
    if is_cache(src):
        cache = open_cache(src)
        expected_n = int(round(preprocess.fs * preprocess.seconds))
        if abs(cache.fs - preprocess.fs) > 1e-6 or cache.n_samples != expected_n:
            raise DataError(
                f"cache {src}: prepared at {cache.fs:g} Hz × {cache.n_samples} samples; the "
                f"study expects {preprocess.fs:g} Hz × {expected_n} samples (preprocess.fs, "
                f"preprocess.seconds): pass the source folder instead so it is re-prepared"
            )
    else:
        cache = prepare(open_source(src), study_dir / "data" / "caches" / name, preprocess,
                        workers=workers)
    if len(cache) == 0:
        raise DataError(f"data set {src}: no usable records after preparation "
                         f"(see {cache.path / 'excluded.csv'})")
    return Dataset(name=name, role=role, cache=cache, source=str(src))


def synthetic_sources(study_dir: Path, synthetic: SyntheticData) -> tuple[Path, Path]:
    """Generate (once) the SPH-like training corpus and the PTB-XL-like external corpus."""
    root = study_dir / "data" / "sources"
    train = root / SYNTH_TRAIN_NAME
    external = root / SYNTH_EXTERNAL_NAME
    # Distinct seeds: the external corpus must not replay the training corpus's patients.
    for out, writer, n, seed in (
        (train, write_sph_corpus, synthetic.n_train, synthetic.seed),
        (external, write_ptbxl_corpus, synthetic.n_external, synthetic.seed + 1),
    ):
        if not out.is_dir():
            with atomic.atomic_path(out) as tmp:
                writer(tmp, n, seed)
    return train, external


def plan_data(cfg: StudyConfig, study_dir: Path) -> DataPlan:
    """Prepare every data set of the study and split the training set by patient."""
    synthetic = cfg.data.train is None
    if synthetic:
        train_path, ext_path = synthetic_sources(study_dir, cfg.data.synthetic)
        sources = [(train_path, SYNTH_TRAIN_NAME)]
        externals = [(ext_path, SYNTH_EXTERNAL_NAME)]
    else:
        sources = [(Path(cfg.data.train), None)]
        externals = [(Path(p), None) for p in cfg.data.external]
    used: set[str] = set()
    datasets = []
    for i, (path, name) in enumerate(sources + externals):
        name = unique_name(name or safe_name(Path(path).resolve().name), used)
        role = "train" if i == 0 else "external"
        datasets.append(prepare_dataset(path, name, role, study_dir, cfg.preprocess,
                                        cfg.data.workers))
    train = datasets[0]
    splits = make_splits(train.cache.index, train.format, seed=cfg.data.split_seed,
                         val_fraction=cfg.data.val_fraction, test_fraction=cfg.data.test_fraction)
    roles = dict(getattr(splits, "attrs", {}).get("roles", {}) or {})
    splits = splits[["record_id", "split"]].astype({"record_id": str})
    atomic.write_csv(study_dir / "data" / "splits.csv", splits)
    return DataPlan(train=train, splits=splits, split_roles=roles, externals=datasets[1:],
                    synthetic=synthetic)


def unique_name(name: str, used: set[str]) -> str:
    out, k = name, 2
    while out in used or out == "internal":
        out, k = f"{name}_{k}", k + 1
    used.add(out)
    return out


def _n_patients(index: pd.DataFrame) -> int:
    return int(len(set(patient_ids(index["record_id"], index["patient_id"]))))


def data_roles(plan: DataPlan, added: Sequence[Dataset] = ()) -> list[dict[str, Any]]:
    """The "who played which role" table of the report (a record without a patient id counts
    as its own patient)."""
    index = plan.train.cache.index.astype({"record_id": str})
    merged = index.merge(plan.splits, on="record_id", how="inner")
    rows = []
    names = {"train": "training", "val": "validation (thresholds, operating point)",
             "test": "internal test"}
    for split in ("train", "val", "test"):
        part = merged[merged["split"] == split]
        rows.append({
            "role": names[split], "dataset": plan.train.name, "format": plan.train.format,
            "rule": _rule(plan, split, part), "n_records": int(len(part)),
            "n_patients": _n_patients(part),
        })
    for ds in list(plan.externals) + list(added):
        idx = ds.cache.index
        rows.append({
            "role": "external test" if ds.role == "external" else "added test set",
            "dataset": ds.name, "format": ds.format, "rule": "all usable records",
            "n_records": int(len(idx)),
            "n_patients": _n_patients(idx),
        })
    return rows


def _rule(plan: DataPlan, split: str, part: pd.DataFrame) -> str:
    role = plan.split_roles.get(split) if isinstance(plan.split_roles, dict) else None
    if role:
        return str(role)
    if "fold" in part and part["fold"].notna().any():
        folds = sorted({int(f) for f in part["fold"].dropna()})
        return "strat_fold " + ", ".join(str(f) for f in folds)
    return "patient-level random split"


def exclusions(datasets: Sequence[Dataset]) -> list[dict[str, Any]]:
    """Excluded records per data set, grouped by reason (from each cache's ``excluded.csv``).

    Reasons name the file they concern, so grouping on the raw text gives one group per file;
    paths and numbers are masked to find the reason's kind, and each group keeps its records
    (file paths relative to the data set) for the report's collapsible list.
    """
    rows = []
    for ds in datasets:
        excluded = ds.cache.excluded
        if len(excluded) == 0:
            continue
        table = excluded.astype({"reason": str}).assign(
            kind=lambda t: t["reason"].map(_reason_kind))
        for kind, group in table.groupby("kind", sort=False):
            plain = {_mask_paths(r) for r in group["reason"]}
            records = [{"record_id": str(r.get("record_id", "")),
                        "file": _relative(r.get("file"), ds.source),
                        "reason": _mask_paths(str(r["reason"]))}
                       for r in group.to_dict("records")]
            rows.append({"dataset": ds.name,
                         "reason": plain.pop() if len(plain) == 1 else kind,
                         "n": int(len(group)), "records": records})
    rows.sort(key=lambda r: (r["dataset"], -r["n"]))
    return rows


_PATH = re.compile(r"(?:[A-Za-z]:)?\S*[/\\]\S*")


def _mask_paths(reason: str) -> str:
    return _PATH.sub("<file>", reason).strip()


def _reason_kind(reason: str) -> str:
    """A reason with paths and numbers masked: what records excluded for one cause share."""
    return re.sub(r"\d+(?:\.\d+)?", "N", _mask_paths(str(reason)))


def _relative(path: Any, root: str) -> str:
    """``path`` relative to the data set's folder when it lies inside it."""
    if path is None or (isinstance(path, float) and np.isnan(path)) or str(path) == "":
        return ""
    p = Path(str(path))
    try:
        return str(p.resolve().relative_to(Path(root).resolve()))
    except (ValueError, OSError):
        return str(path)

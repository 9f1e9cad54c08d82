"""Running a study: data → one model per (scheme, seed) → predictions → scores → results.

``run_study(cfg)`` is resumable at every step: data preparation reuses complete corpora and
caches, a cell whose ``cell.json`` exists is not retrained, and a prediction table that exists
is not recomputed; scoring, ``results.json`` and the CSV tables are rebuilt from those files on
every run (they are cheap). ``evaluate_study`` adds a test set to a finished study without
retraining. ``report.html`` is drawn from ``results.json`` by ``ecgtriage.report`` (the
command line does both).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from ecgtriage import atomic
from ecgtriage import config as cfgmod
from ecgtriage.errors import ConfigError
from ecgtriage.labels import load_scheme
from ecgtriage.study.cells import Cell, make_cells, splits_fingerprint
from ecgtriage.study.config import StudyConfig, load_study_config
from ecgtriage.study.data import (
    DataPlan,
    Dataset,
    plan_data,
    prepare_dataset,
    safe_name,
    unique_name,
)
from ecgtriage.study.evaluation import score_study
from ecgtriage.study.testsets import FoldSelection, fold_mask
from ecgtriage.study.results import assemble, write_tables
from ecgtriage.train.run import train as train_model

ADDED_FILE = "added_test_sets.json"


def run_study(cfg: StudyConfig, command: str | None = None) -> Path:
    """Run (or resume) the study described by ``cfg``; returns the study directory."""
    start = time.perf_counter()
    study_dir = Path(cfg.out)
    study_dir.mkdir(parents=True, exist_ok=True)
    previous = study_dir / "config.json"
    if previous.is_file():
        # Keep the original command line when only resuming.
        command = command or _previous_command(study_dir)
    cfgmod.save_resolved(cfg, study_dir / "config.json")
    plan = plan_data(cfg, study_dir)
    cells = grid(cfg, plan, study_dir)
    added = load_added(study_dir, cfg)
    timings = {"data_s": time.perf_counter() - start}
    t0 = time.perf_counter()
    trained = sum(ensure_trained(cell, plan, cfg)
                  for cell in tqdm(cells, desc="training", unit="model", disable=None))
    timings.update(training_s=time.perf_counter() - t0, models_trained=int(trained),
                   models_reused=len(cells) - int(trained))
    finish(study_dir, cfg, plan, cells, added, start, command or "ecgtriage study", timings)
    return study_dir


def grid(cfg: StudyConfig, plan: DataPlan, study_dir: Path) -> list[Cell]:
    """The (scheme × seed) cells of this study with their configuration hashes."""
    versions = {name: str(load_scheme(name).version) for name in cfg.schemes}
    fingerprint = {"train_cache": plan.train.content_hash, "train_format": plan.train.format,
                   "splits": splits_fingerprint(plan.splits)}
    return make_cells(study_dir, list(cfg.schemes), list(cfg.seeds), cfg.train, cfg.preprocess,
                      fingerprint, versions)


def ensure_trained(cell: Cell, plan: DataPlan, cfg: StudyConfig) -> bool:
    """Train ``cell`` unless it is finished; returns whether it trained now.

    Training writes into the cell's ``run/`` directory (so the training library can resume an
    interrupted run itself); ``cell.json`` is written only after it returns.
    """
    if cell.trained:
        return False
    cell.dir.mkdir(parents=True, exist_ok=True)
    # Predictions of an unfinished cell came from other weights (e.g. a run interrupted while
    # they were being replaced); they must not outlive the retraining.
    shutil.rmtree(cell.dir / "predictions", ignore_errors=True)
    train_cfg = dataclasses.replace(cfg.train, seed=cell.seed)
    train_model(plan.train.cache, load_scheme(cell.scheme), cell.run_dir, train_cfg, plan.splits)
    atomic.write_json(cell.dir / "cell.json", {"id": cell.id, "hash": cell.hash, **cell.key})
    return True


def load_added(study_dir: Path, cfg: StudyConfig) -> list[Dataset]:
    """Test sets added by ``ecgtriage evaluate`` (prepared again only if their cache is gone)."""
    path = study_dir / ADDED_FILE
    if not path.is_file():
        return []
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [_with_folds(prepare_dataset(e["source"], e["name"], "added", study_dir,
                                        cfg.preprocess, cfg.data.workers), e.get("folds"))
            for e in entries]


def _with_folds(ds: Dataset, folds: Sequence[int] | None) -> Dataset:
    """``ds`` limited to ``folds`` (a :class:`FoldSelection`), or ``ds`` itself."""
    if not folds:
        return ds
    return FoldSelection(ds.name, ds.role, ds.cache, ds.source, tuple(int(f) for f in folds))


def _check_folds(folds: Sequence[int] | None) -> list[int] | None:
    if not folds:
        return None
    bad = [f for f in folds if int(f) != f or int(f) < 1]
    if bad:
        raise ConfigError(f"--folds: expected fold numbers ≥ 1 (PTB-XL strat_fold 1-10), "
                          f"found {bad[0]!r}")
    return sorted({int(f) for f in folds})


def evaluate_study(study_dir: str | Path, data: str | Path, name: str | None = None,
                   folds: Sequence[int] | None = None) -> Path:
    """Score a new data set with a finished study's models, without retraining.

    The data set is prepared with the study's preprocessing, predicted by every model,
    recorded in ``added_test_sets.json`` (so later reruns keep it) and added to
    ``results.json``, the tables and the report. As every test set, it leaves out records
    that share an ECG or a patient with the training or validation split
    (:func:`~ecgtriage.study.testsets.clean_test_sets`). ``folds`` keeps only those PTB-XL
    ``strat_fold`` values (e.g. ``[10]`` to score the fold a PTB-XL study held out), so the
    full release can be given without scoring the other folds' records.
    """
    folds = _check_folds(folds)
    start = time.perf_counter()
    study = Path(study_dir)
    config_path = study / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} does not exist: {study} is not a study directory "
                                f"(run `ecgtriage study --out {study}` first)")
    cfg = load_study_config(config_path, out=str(study))
    plan = plan_data(cfg, study)
    cells = grid(cfg, plan, study)
    untrained = [c.id for c in cells if not c.trained]
    if untrained:
        raise ConfigError(f"{study}: model(s) {', '.join(untrained)} are not trained; finish the "
                         f"study with `ecgtriage study --config {config_path}` first")
    entries = []
    added_path = study / ADDED_FILE
    if added_path.is_file():
        entries = json.loads(added_path.read_text(encoding="utf-8"))
    used = {plan.train.name, *(d.name for d in plan.externals)}
    source = str(Path(data).resolve())
    existing = next((e for e in entries
                     if e["source"] == source and e.get("folds") == folds), None)
    if existing is None:
        default = Path(source).name + (f"_fold{'-'.join(map(str, folds))}" if folds else "")
        wanted = safe_name(name) if name else safe_name(default)
        if name and (wanted in used or wanted in {e["name"] for e in entries}):
            raise ConfigError(f"--name {name}: a test set of that name is already in {study}")
        new_name = unique_name(wanted, used | {e["name"] for e in entries})
        ds = prepare_dataset(source, new_name, "added", study, cfg.preprocess, cfg.data.workers)
        entry: dict[str, Any] = {"name": new_name, "source": source}
        if folds:
            if not fold_mask(ds, folds).any():
                raise ConfigError(f"--folds {' '.join(map(str, folds))}: no record of {source} "
                                  f"is in those folds")
            entry["folds"] = folds
        entries.append(entry)
        atomic.write_json(added_path, entries)
    added = load_added(study, cfg)
    finish(study, cfg, plan, cells, added, start, _previous_command(study),
           {"data_s": time.perf_counter() - start, "training_s": 0.0, "models_trained": 0,
            "models_reused": len(cells)})
    return study


def finish(study_dir: Path, cfg: StudyConfig, plan: DataPlan, cells: Sequence[Cell],
           added: Sequence[Dataset], start: float, command: str | None,
           timings: dict[str, Any]) -> None:
    """Predict every test set, score, and write results.json and the tables.

    ``timings`` (seconds per phase so far) is completed here, stored in ``results.json``
    and printed, so the cost of each phase of a study is on record.
    """
    scored = score_study(cfg, plan, cells, added)
    timings.update(scored.timings)
    t0 = time.perf_counter()
    results = assemble(cfg, plan, cells, added, scored, wall_time_s=0.0,
                       command=command or "ecgtriage study")
    write_tables(study_dir / "tables", results)
    timings["results_s"] = time.perf_counter() - t0
    results["timings"] = timings
    results["wall_time_s"] = time.perf_counter() - start
    atomic.write_json(study_dir / "results.json", results)
    print("study phases: " + ", ".join(
        f"{k[:-2]} {v / 60:.1f} min" if k.endswith("_s") else f"{k} {v}"
        for k, v in timings.items()), file=sys.stderr)


def _previous_results(study_dir: Path) -> dict[str, Any]:
    path = study_dir / "results.json"
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return {}
    return {}


def _previous_command(study_dir: Path) -> str | None:
    return _previous_results(study_dir).get("command")

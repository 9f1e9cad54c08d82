"""The PTB-XL benchmark ladder: each backbone on the six benchmark tasks and on tier3, side by
side with the published table (Strodthoff et al. 2021).

    python benchmarks/ptbxl_ladder.py                                   # CPU-sized (see below)
    python benchmarks/ptbxl_ladder.py --tasks superdiagnostic --models resnet1d_small,inception1d \\
        --epochs 2 --limit 400                                          # smoke run
    python benchmarks/ptbxl_ladder.py --full --device cuda              # one GPU, full-size

Data: ``--data`` is a PTB-XL source folder (prepared at 100 Hz × 10 s into ``--out``/cache) or
a prepared cache. Split as the study does (``ecgtriage.labels.make_splits``): with fold 10
present the benchmark's folds 1-8 / 9 / 10; on the shared subset (no fold 10) validation is
drawn patient-level from folds 1-8 and fold 9 is the test set.

Protocol (the benchmark's): random 2.5 s crops in training, sliding windows of 2.5 s every
1.25 s at validation and test with the maximum of the window probabilities, AdamW with a
one-cycle schedule at lr 1e-2 and weight decay 1e-2, the epoch of best validation macro AUROC.
The CPU default is sized for 2 cores (``--limit 1500`` training records, 5 epochs, the four
smaller backbones); ``--full`` uses every record, 50 epochs, batch 128 and all six backbones.

Ensembles: ``--seeds k`` trains k seeds per cell and reports the mean-probability ensemble
(``--tta 0.9,1.0,1.1`` adds test-time amplitude scalings), with seed 0 alone and the
prediction cost beside it.

Tier3 rows: ``--tier-recipes`` (``ecgtriage.train.objectives.TIER_RECIPES``) trained directly
on tier3, plus ``fine_to_coarse``: the model trained on ``all`` with its statement
probabilities coarsened to tier3 by the label rules (no extra training; needs ``all`` in
``--tasks``). Every figure is test-set macro AUROC (one-vs-rest for tier3; Serious sensitivity
at the validation operating point is printed beside it). ``s/epoch`` is the median training
time of one epoch of the ``superdiagnostic`` (or first) task on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ecgtriage.data.cache import is_cache, open_cache
from ecgtriage.data.dataset import SignalDataset
from ecgtriage.evaluate.reference import PTBXL_BENCHMARK_AUROC, PTBXL_TASKS
from ecgtriage.labels import load_scheme, targets_for_cache
from ecgtriage.labels.splits import make_splits
from ecgtriage.train.checkpoint import load_checkpoint
from ecgtriage.train.config import TrainConfig
from ecgtriage.train.objectives import fine_to_coarse, statement_tiers, tier_recipe
from ecgtriage.train.predict import predict_ensemble, predict_proba
from ecgtriage.train.run import train_on_arrays
from ecgtriage.train.val_metrics import macro_auroc

CPU_MODELS = ("resnet1d_small", "resnet1d_wang", "inception1d", "xresnet1d50")
FULL_MODELS = ("xresnet1d101", "xresnet1d50", "inception1d", "resnet1d_wang", "resnet1d_ribeiro",
               "resnet1d_small")
TASKS = (*PTBXL_TASKS, "tier3")


def load_data(data: Path, out: Path, workers: int):
    """The prepared cache of ``data`` (prepared into ``out/cache`` when a source folder)."""
    if is_cache(data):
        return open_cache(data)
    from ecgtriage.data.prepare import prepare

    return prepare(data, out / "cache", workers=workers, progress=False)


def subsample(splits: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """At most ``limit`` training records, validation and test cut in proportion (smoke runs)."""
    if not limit:
        return splits
    rng = np.random.default_rng(seed)
    n_train = int((splits["split"] == "train").sum())
    keep = []
    for name, part in splits.groupby("split"):
        n = len(part) if n_train <= limit else max(20, round(len(part) * limit / n_train))
        keep.append(part.iloc[np.sort(rng.choice(len(part), size=min(n, len(part)), replace=False))])
    return pd.concat(keep).sort_index()


def datasets(cache, targets, splits: pd.DataFrame) -> dict[str, SignalDataset]:
    """Train / val / test datasets of the records with a known target."""
    pos = {str(r): i for i, r in enumerate(targets.record_ids)}
    out = {}
    for name in ("train", "val", "test"):
        ids = [str(r) for r in splits.loc[splits["split"] == name, "record_id"] if str(r) in pos]
        idx = np.array([pos[r] for r in ids], dtype=np.int64)
        known = np.asarray(targets.known, bool)[idx]
        ids = [r for r, k in zip(ids, known) if k]
        idx = idx[known]
        out[name] = SignalDataset(cache.signals, cache.rows_for(ids), np.asarray(targets.y)[idx],
                                  record_ids=ids)
    return out


def test_auroc(y: np.ndarray, proba: np.ndarray, multilabel: bool, trained: np.ndarray) -> float:
    """Macro AUROC over classes with training positives and both outcomes in the test set."""
    onehot = np.asarray(y) if multilabel else np.eye(proba.shape[1])[np.asarray(y, dtype=np.int64)]
    return macro_auroc(onehot, proba, trained)


def run_task(cache, splits, task: str, model: str, base: TrainConfig, out: Path, recipe: str | None,
             seeds: int = 1, tta: tuple[float, ...] = (1.0,)):
    """Train one (task, model[, tier recipe]) cell; returns its result row and test probabilities.

    With ``seeds > 1`` or TTA the probabilities are the ensemble's (``predict_ensemble``) and
    the row also holds seed 0's AUROC and the ensemble's prediction cost."""
    scheme_name, overrides = (task, {}) if recipe is None else tier_recipe(recipe, task)
    scheme = load_scheme(scheme_name)
    ds = datasets(cache, targets_for_cache(cache, scheme), splits)
    device = base.device if base.device != "auto" else "cpu"
    x_test = ds["test"].load_tensor(progress=False).numpy()
    nets, history, t0 = [], [], time.perf_counter()
    for seed in range(base.seed, base.seed + seeds):
        config = replace(base, model=model, seed=seed, **overrides)
        run_dir = out / "runs" / f"{task}-{recipe or 'native'}-{model}-seed{seed}"
        train_on_arrays(ds["train"], ds["val"], classes=list(scheme.classes), multilabel=scheme.multilabel,
                        ordered=scheme.ordered, fs=cache.fs, config=config, out_dir=run_dir,
                        scheme_name=scheme.name, scheme_version=str(scheme.version), resume=False,
                        progress=False)
        net, card = load_checkpoint(run_dir, device=device)
        nets.append(net)
        history.extend(pd.read_csv(run_dir / "metrics.csv")["train_seconds"])
        if seed == base.seed:
            first_card = card
    wall = time.perf_counter() - t0
    card = first_card
    trained = np.array([card.training_data["class_counts"]["train"][c] > 0 for c in scheme.classes])
    t1 = time.perf_counter()
    proba = predict_proba(nets[0], x_test, progress=False)
    single_s = time.perf_counter() - t1
    row = {"task": task, "recipe": recipe, "model": model, "auroc": test_auroc(
        ds["test"].targets, proba, scheme.multilabel, trained),
        "n": {k: len(v) for k, v in ds.items()}, "best_epoch": card.best_epoch,
        "s_per_epoch": float(statistics.median(history)), "wall_s": wall,
        "n_parameters": card.model.n_parameters}
    if len(nets) > 1 or tuple(tta) != (1.0,):
        proba, cost = predict_ensemble(nets, x_test, tta_scales=tuple(tta), device=device)
        row.update(auroc_single=row["auroc"], auroc=test_auroc(ds["test"].targets, proba,
                                                              scheme.multilabel, trained),
                   ensemble_cost={**cost, "single_model_seconds": single_s})
    if not scheme.multilabel and scheme.ordered:
        row["serious_sensitivity"] = serious_sensitivity(card, proba, ds["test"].targets)
    return row, proba, ds["test"], scheme


def serious_sensitivity(card, proba: np.ndarray, y: np.ndarray) -> float:
    """Test Serious sensitivity at the validation operating point of the card."""
    decided = card.decide(proba, operating_point=True)
    serious = len(card.classes) - 1
    pos = np.asarray(y) == serious
    return float((decided[pos] == serious).mean()) if pos.any() else float("nan")


def coarse_row(model: str, fine_proba: np.ndarray, fine_test: SignalDataset, tier_test_ids, tier_y,
               fine_scheme: str = "all") -> dict:
    """Tier3 macro AUROC of a fine model's probabilities coarsened through the label rules."""
    tier = load_scheme("tier3")
    pos = {r: i for i, r in enumerate(fine_test.record_ids)}
    rows = [pos.get(r, -1) for r in tier_test_ids]
    keep = np.array([r >= 0 for r in rows])
    p = fine_to_coarse(fine_proba[[r for r in rows if r >= 0]], statement_tiers(fine_scheme, "tier3"),
                       len(tier.classes))
    y = np.asarray(tier_y)[keep]
    return {"task": "tier3", "recipe": "fine_to_coarse", "model": model,
            "auroc": test_auroc(y, p, False, np.ones(len(tier.classes), bool)), "n": {"test": int(keep.sum())}}


def table(rows: list[dict], tasks: list[str]) -> str:
    """Markdown: one row per (model, tier recipe), one column per task, published rows first."""
    cols = [t for t in tasks if t != "tier3"]
    recipes = sorted({r["recipe"] for r in rows if r["task"] == "tier3"}, key=str)
    head = ["model", *cols, *[f"tier3 {r}" for r in recipes], "s/epoch", "params"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda v: "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"  # noqa: E731
    for name, ref in PTBXL_BENCHMARK_AUROC.items():
        label = {"best": "published best per task", "s4": "published S4"}.get(name, f"published {name}")
        lines.append("| " + " | ".join([label, *[fmt(ref.get(t)) for t in cols], *["–"] * len(recipes),
                                         "–", "–"]) + " |")
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        cell = {r["task"]: r["auroc"] for r in mine if r["task"] != "tier3"}
        tier = {}
        for r in mine:
            if r["task"] == "tier3":
                sens = r.get("serious_sensitivity")
                tier[r["recipe"]] = fmt(r["auroc"]) + (f" (sens {sens:.2f})" if sens is not None else "")
        timed = [r for r in mine if "s_per_epoch" in r]
        speed = next((r for r in timed if r["task"] == "superdiagnostic"), timed[0] if timed else None)
        lines.append("| " + " | ".join([model, *[fmt(cell.get(t)) for t in cols],
                                         *[tier.get(r, "–") for r in recipes],
                                         f"{speed['s_per_epoch']:.1f}" if speed else "–",
                                         f"{speed['n_parameters'] / 1e6:.2f} M" if speed else "–"]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=here.parent / "shared" / "data" / "ptbxl")
    p.add_argument("--out", type=Path, default=Path("ptbxl_ladder_out"))
    p.add_argument("--tasks", default=None, help=f"comma-separated, from {', '.join(TASKS)} (default all)")
    p.add_argument("--models", default=None, help="comma-separated registry names")
    p.add_argument("--tier-recipes", default="weighted,direct",
                   help="tier3 recipes trained directly (weighted, direct, corn); fine_to_coarse "
                        "is added whenever 'all' is among the tasks")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="at most this many training records")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--crop-s", type=float, default=2.5)
    p.add_argument("--stride-s", type=float, default=1.25)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--seeds", type=int, default=1, help="seeds per cell, ensembled (mean probability)")
    p.add_argument("--tta", default="1.0", help="test-time amplitude scalings averaged, e.g. 0.9,1.0,1.1")
    p.add_argument("--workers", type=int, default=2, help="processes preparing the cache")
    p.add_argument("--full", action="store_true", help="GPU-sized: every record, 50 epochs, all backbones")
    args = p.parse_args(argv)

    tasks = args.tasks.split(",") if args.tasks else list(TASKS)
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        p.error(f"--tasks: unknown {bad}; expected from {', '.join(TASKS)}")
    models = args.models.split(",") if args.models else list(FULL_MODELS if args.full else CPU_MODELS)
    epochs = args.epochs or (50 if args.full else 5)
    limit = None if args.full and args.limit is None else (args.limit if args.limit is not None else 1500)
    base = TrainConfig(epochs=epochs, batch_size=args.batch_size or (128 if args.full else 64), lr=1e-2,
                       weight_decay=1e-2, schedule="onecycle", patience=0, window_s=args.crop_s,
                       predict_stride_s=args.stride_s, aggregate="max", select_metric="macro_auroc",
                       device=args.device, num_threads=args.threads, seed=args.seed,
                       amp="bf16" if args.full else "off")
    args.out.mkdir(parents=True, exist_ok=True)
    cache = load_data(args.data, args.out, args.workers)
    full_splits = make_splits(cache.index, cache.format, seed=args.seed)
    roles = full_splits.roles
    splits = subsample(full_splits, limit, args.seed)
    print(f"data {args.data}: {len(cache)} records; split {json.dumps({k: v for k, v in roles.items() if k != 'folds'})}; "
          f"used {splits['split'].value_counts().to_dict()}; {epochs} epochs, models {', '.join(models)}",
          file=sys.stderr)

    rows: list[dict] = []
    tier_recipes = [r for r in args.tier_recipes.split(",") if r]
    tta = tuple(float(v) for v in args.tta.split(","))
    for task in tasks:
        for model in models:
            for recipe in (tier_recipes if task == "tier3" else [None]):
                row, proba, test, _ = run_task(cache, splits, task, model, base, args.out, recipe,
                                               args.seeds, tta)
                rows.append(row)
                extra = ""
                if "ensemble_cost" in row:
                    c = row["ensemble_cost"]
                    extra = (f"; seed {args.seed} alone {row['auroc_single']:.3f}, ensemble of "
                             f"{c['forward_passes']} predictions {c['seconds']:.1f} s vs "
                             f"{c['single_model_seconds']:.1f} s for one")
                print(f"{task:16s} {recipe or '':10s} {model:16s} test macro AUROC {row['auroc']:.3f} "
                      f"({row['s_per_epoch']:.1f} s/epoch, best epoch {row['best_epoch']}{extra})",
                      file=sys.stderr)
                if task == "all":
                    rows[-1]["_fine"] = (proba, test)
    if "all" in tasks:
        tier_targets = targets_for_cache(cache, load_scheme("tier3"))
        test_ids = [str(r) for r in splits.loc[splits["split"] == "test", "record_id"]]
        pos = {str(r): i for i, r in enumerate(tier_targets.record_ids)}
        ids = [r for r in test_ids if r in pos and tier_targets.known[pos[r]]]
        y = np.asarray(tier_targets.y)[[pos[r] for r in ids]]
        for r in [r for r in rows if "_fine" in r]:
            proba, test = r.pop("_fine")
            rows.append(coarse_row(r["model"], proba, test, ids, y))
    (args.out / "ladder.json").write_text(json.dumps(rows, indent=1, default=float))
    print(table(rows, tasks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The training loop as small functions: batches, one epoch, evaluation, and ``fit``.

Randomness: every epoch reseeds the augmentation generator and the dropout RNG from
``(seed, epoch, rank)`` and the batch order comes from ``DistributedSampler(seed, epoch)``, so
the random stream of epoch ``k`` does not depend on whether epochs ``< k`` ran in this process
or before a restart: resuming from ``last.pt`` reproduces an uninterrupted run exactly. The
global RNG state, thread count and determinism flag are restored when ``fit`` returns.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from ecgtriage.data.dataset import SignalDataset, available_memory_bytes
from ecgtriage.errors import ConfigError, DataError
from ecgtriage.train import augment as aug
from ecgtriage.train import distributed as dd
from ecgtriage.train.config import TrainConfig
from ecgtriage.train.objectives import Objective, to_probabilities
from ecgtriage.train.state import FitState, load_state, save_state, write_metrics
from ecgtriage.train.val_metrics import macro_auroc, primary_metric, validation_metrics


@dataclass
class FitResult:
    """What ``fit`` returns: the model holding the best weights and how it got there."""

    model: torch.nn.Module
    best_epoch: int
    best_metrics: dict[str, float]
    val_proba: np.ndarray
    history: list[dict] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but torch.cuda.is_available() is False; use "
                          "cpu or auto")
    return torch.device(name)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """A 63-bit seed for one (run seed, epoch, rank)."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(2, np.uint64)[0] >> np.uint64(1))


@contextlib.contextmanager
def run_environment(config: TrainConfig, device: torch.device) -> Iterator[None]:
    """Threads, determinism and a forked global RNG for the duration of a run."""
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            if config.num_threads:
                torch.set_num_threads(config.num_threads)
            if config.deterministic:
                if device.type == "cuda":
                    # cuBLAS is deterministic only with a fixed workspace (read at its first use).
                    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                # CUDA kernels without a deterministic variant warn instead of failing.
                torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det, warn_only=det_warn)


class BatchSource:
    """Training or evaluation batches of full cached windows, from RAM or a DataLoader."""

    def __init__(self, ds: SignalDataset, config: TrainConfig, device: torch.device,
                 ctx: dd.DistContext, shuffle: bool, batch_size: int, progress: bool) -> None:
        self.ds, self.device, self.batch_size = ds, device, batch_size
        self.sampler = DistributedSampler(range(len(ds)), num_replicas=ctx.world_size,
                                          rank=ctx.rank, shuffle=shuffle, seed=config.seed)
        self.shuffle = shuffle
        self.workers = config.workers
        fits = ds.nbytes_float32 < 0.5 * max(available_memory_bytes(), 0)
        self.in_memory = config.in_memory == "always" or (config.in_memory == "auto" and fits)
        self.x = self.y = None
        #: Dataset positions of the batch last yielded (names the records of a failing batch).
        self.last_indices: list[int] = []
        if self.in_memory:
            x = ds.load_tensor(progress=progress and ctx.is_main)
            y = ds.target_tensor()
            if device.type == "cuda" and x.numel() * 4 < 0.5 * torch.cuda.mem_get_info(device)[0]:
                x, y = x.to(device), y.to(device)
            self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.sampler)

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler.set_epoch(epoch)
        indices = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long)
        if self.in_memory:
            # One host-to-device copy per epoch: a per-batch copy from pageable memory would
            # wait for the GPU's queued work every step.
            indices = indices.to(self.x.device)
            for start in range(0, len(indices), self.batch_size):
                idx = indices[start:start + self.batch_size]
                self.last_indices = idx.tolist()
                yield (self.x.index_select(0, idx).to(self.device, non_blocking=True),
                       self.y.index_select(0, idx).to(self.device, non_blocking=True))
            return
        # An own generator: without one the DataLoader draws its worker seed from the global
        # RNG, shifting the dropout stream away from the in-memory path's.
        loader = DataLoader(torch.utils.data.Subset(self.ds, indices.tolist()), batch_size=self.batch_size,
                            shuffle=False, num_workers=self.workers,
                            pin_memory=self.device.type == "cuda",
                            generator=torch.Generator().manual_seed(epoch))
        order = indices.tolist()
        for start, (x, y) in zip(range(0, len(order), self.batch_size), loader):
            self.last_indices = order[start:start + self.batch_size]
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def record_names(self, positions: list[int], limit: int = 10) -> str:
        """Record ids (or dataset positions when ids are unknown) for an error message."""
        ids = self.ds.record_ids
        names = [ids[i] if ids is not None else f"#{i}" for i in positions]
        more = f" and {len(names) - limit} more" if len(names) > limit else ""
        return ", ".join(names[:limit]) + more


#: Fraction of the one-cycle schedule spent raising the learning rate.
WARMUP_FRACTION = 0.3


def patience_from(config: TrainConfig) -> int:
    """Epochs of the one-cycle warm-up, during which epochs without improvement are not counted
    towards the patience: the rising learning rate makes validation scores swing without meaning
    that the run has stalled."""
    return math.ceil(WARMUP_FRACTION * config.epochs) if config.schedule == "onecycle" else 0


def selection_metric(config: TrainConfig, multilabel: bool) -> str:
    """The validation metric that picks the best epoch (higher is better)."""
    return "macro_auroc" if config.select_metric == "macro_auroc" else primary_metric(multilabel)


def is_epoch_scheduler(scheduler) -> bool:
    """Whether the scheduler steps once per epoch on the selection metric (``"plateau"``)
    rather than once per batch."""
    return isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.1,
                                                          patience=config.plateau_patience)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps,
                                                   pct_start=WARMUP_FRACTION)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)


def autocast(config: TrainConfig, device: torch.device):
    if device.type != "cuda" or config.amp == "off":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if config.amp == "bf16" else torch.float16)


def train_one_epoch(model, objective: Objective, source: BatchSource, optimizer, scheduler, scaler,
                    config: TrainConfig, n_samples: int, generator: torch.Generator, epoch: int,
                    show: bool) -> tuple[float, int]:
    """One pass over this rank's share of the training set; returns (mean loss, records seen)."""
    model.train()
    total = torch.zeros((), device=source.device)
    seen = 0
    bar = tqdm(total=len(source), unit="rec", desc=f"epoch {epoch + 1}/{config.epochs}",
               disable=None if show else True, leave=False)
    for step, (x, y) in enumerate(source.batches(epoch)):
        if x.shape[0] < 2:  # BatchNorm cannot train on a single record
            continue
        x = aug.crop(x, n_samples, generator)
        x = aug.augment(x, generator, config.scale_range, config.noise_std)
        with autocast(config, source.device):
            loss = objective(model(x), y)
        # Checked before the step: one non-finite loss turns every weight into NaN, and the run
        # would otherwise finish "successfully" with a useless model. (A sync per step on GPU,
        # which is cheap beside a silently wrong result.)
        if not bool(torch.isfinite(loss.detach()).all()):
            bad = _nonfinite_positions(x, source.last_indices)
            raise DataError(
                f"epoch {epoch + 1}, step {step + 1}: the training loss is {float(loss.detach()):g}; "
                + (f"records with non-finite samples: {source.record_names(bad)}" if bad else
                   f"no input is non-finite (records of the batch: "
                   f"{source.record_names(source.last_indices)}); lower the learning rate or check "
                   "the targets")
            )
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if not is_epoch_scheduler(scheduler):
            scheduler.step()
        total += loss.detach() * x.shape[0]
        seen += x.shape[0]
        bar.update(x.shape[0])
        if show and step % 20 == 0:  # .item() waits for the GPU: only when the bar is shown
            bar.set_postfix(loss=f"{total.item() / seen:.4f}")
    bar.close()
    return (total.item() / max(seen, 1)), seen


def _nonfinite_positions(x: torch.Tensor, positions: list[int]) -> list[int]:
    """The dataset positions of the rows of batch ``x`` that hold a NaN or inf sample."""
    rows = (~torch.isfinite(x)).flatten(1).any(dim=1).cpu().tolist()
    return [p for p, bad in zip(positions, rows) if bad]


@torch.no_grad()
def predict_logits(model, source: BatchSource, n_samples: int, config: TrainConfig,
                   ctx: dd.DistContext) -> torch.Tensor:
    """(N, outputs) float32 logits for a whole split, gathered across ranks in record order."""
    model.eval()
    dd.broadcast_buffers(model, ctx)
    parts = []
    for x, _ in source.batches(0):
        with autocast(config, source.device):
            parts.append(model(aug.crop(x, n_samples)).float())
    local = torch.cat(parts) if parts else torch.empty(0, device=source.device)
    return dd.gather_padded(local, len(source.ds), ctx).cpu()


@torch.no_grad()
def predict_windows(model, source: BatchSource, objective: Objective, n_samples: int,
                    config: TrainConfig, ctx: dd.DistContext) -> tuple[torch.Tensor, torch.Tensor]:
    """Sliding-window validation (``config.predict_stride_s``): (N, C) aggregated probabilities
    and the mean loss over every window (a window carries its record's target)."""
    model.eval()
    dd.broadcast_buffers(model, ctx)
    stride = max(1, round(config.predict_stride_s * model.signal_contract.fs))
    parts, loss_sum, n_windows_seen = [], torch.zeros((), device=source.device), 0
    for x, y in source.batches(0):
        windows, n_windows = aug.sliding_windows(x, n_samples, stride)
        with autocast(config, source.device):
            logits = model(windows).float()
        if not bool(torch.isfinite(logits).all()):
            rows = (~torch.isfinite(logits)).any(dim=1).reshape(-1, n_windows).any(dim=1)
            bad = [p for p, b in zip(source.last_indices, rows.tolist()) if b]
            raise DataError(f"validation: non-finite model outputs for records "
                            f"{source.record_names(bad)} (non-finite samples in those records, or "
                            "diverged weights)")
        loss_sum += objective(logits, y.repeat_interleave(n_windows, dim=0)) * logits.shape[0]
        n_windows_seen += logits.shape[0]
        proba = to_probabilities(logits, objective.activation)
        parts.append(aug.aggregate_windows(proba, n_windows, config.aggregate,
                                           normalise=objective.activation != "sigmoid"))
    local = torch.cat(parts) if parts else torch.empty(0, device=source.device)
    loss = dd.all_reduce_sum(loss_sum.reshape(1).float(), ctx)
    count = dd.all_reduce_sum(torch.tensor([float(n_windows_seen)], device=source.device), ctx)
    return dd.gather_padded(local, len(source.ds), ctx).cpu(), (loss / count.clamp_min(1)).cpu()


def validate(model, source: BatchSource, objective: Objective, n_samples: int, config: TrainConfig,
             ctx: dd.DistContext, multilabel: bool, eligible) -> tuple[np.ndarray, dict[str, float]]:
    """Validation probabilities (all records, every rank) and metrics including ``val_loss``."""
    if config.predict_stride_s is not None and source.ds.n_samples > n_samples:
        proba_t, loss = predict_windows(model, source, objective, n_samples, config, ctx)
        proba = proba_t.numpy()
        return proba, {"val_loss": float(loss[0]), **_metrics(source, proba, multilabel, eligible, config)}
    logits = predict_logits(model, source, n_samples, config, ctx)
    bad = (~torch.isfinite(logits)).any(dim=1).nonzero().flatten().tolist() if logits.ndim == 2 else []
    if bad:
        # A NaN prediction would score as "no improvement" and thresholds would be tuned on it.
        raise DataError(f"validation: non-finite model outputs for records "
                        f"{source.record_names(bad)} (non-finite samples in those records, or "
                        "diverged weights)")
    val_loss = float(objective.to("cpu")(logits, source.ds.target_tensor()))
    proba = to_probabilities(logits, objective.activation).numpy()
    return proba, {"val_loss": val_loss, **_metrics(source, proba, multilabel, eligible, config)}


def _metrics(source: BatchSource, proba: np.ndarray, multilabel: bool, eligible,
             config: TrainConfig) -> dict[str, float]:
    metrics = validation_metrics(source.ds.targets, proba, multilabel, eligible)
    if config.select_metric == "macro_auroc" and not multilabel:
        # One-vs-rest on the single-label target: threshold-free, like the benchmark's metric.
        y = np.asarray(source.ds.targets, dtype=np.int64)
        metrics["macro_auroc"] = macro_auroc(np.eye(proba.shape[1])[y], proba)
    return metrics


def update_best(state: FitState, model, proba: np.ndarray, metrics: dict, metric_name: str,
                epoch: int, config: TrainConfig) -> bool:
    """Keep the best epoch's weights and predictions; count epochs without improvement."""
    value = metrics[metric_name]
    improved = not math.isnan(value) and value > state.best_metric
    if improved or state.best_state is None:
        state.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        state.best_proba = torch.from_numpy(proba.copy())
        state.best_metrics = dict(metrics)
        state.best_epoch = epoch + 1
    if improved:
        state.best_metric, state.bad_epochs = value, 0
    elif epoch + 1 > patience_from(config):
        state.bad_epochs += 1
    state.epoch = epoch + 1
    state.stopped = config.patience > 0 and state.bad_epochs >= config.patience
    return improved


_TENSORBOARD_NOTE_SHOWN = False


def write_epoch(out_dir: Path, writer, state: FitState, row: dict, config: TrainConfig, model,
                optimizer, scheduler, scaler, context: dict | None = None) -> None:
    """metrics.csv, TensorBoard scalars and last.pt after an epoch (rank 0)."""
    write_metrics(out_dir / "metrics.csv", state.history)
    if writer is not None:
        for key, val in row.items():
            if isinstance(val, float):
                writer.add_scalar(key, val, row["epoch"])
        writer.flush()
    save_state(out_dir / "last.pt", config, state, model, optimizer, scheduler, scaler, context)


def fit(model: torch.nn.Module, objective: Objective, train_ds: SignalDataset, val_ds: SignalDataset,
        config: TrainConfig, out_dir: str | Path, *, eligible: np.ndarray | None = None,
        multilabel: bool, resume: bool = True, progress: bool = True,
        on_epoch_end: Callable[[int, dict], None] | None = None,
        resume_context: dict | None = None) -> FitResult:
    """Train ``model`` with AdamW, early stopping on the validation metric, and checkpoints.

    Parameters
    ----------
    model : network whose ``signal_contract.n_samples`` is the training window.
    objective : loss from ``build_objective``.
    train_ds, val_ds : datasets of full cached windows (cropped here to the model window).
    config : training settings.
    out_dir : run directory; ``metrics.csv``, ``tensorboard/`` (when TensorBoard is installed)
        and ``last.pt`` are written there (rank 0 only).
    eligible : (C,) bool, classes counted in the multi-label validation metric.
    multilabel : whether targets are multi-hot.
    resume : continue from ``out_dir/last.pt`` when it exists.
    on_epoch_end : called on every rank as ``on_epoch_end(epoch, row)`` after each epoch.
    resume_context : what identifies the run besides ``config`` (data, scheme, splits; see
        ``state.resume_key``); ``last.pt`` of a run with another context is refused.

    Returns
    -------
    FitResult with the best-epoch weights loaded and that epoch's validation probabilities.
    """
    out_dir = Path(out_dir)
    device = resolve_device(config.device)
    ctx = dd.init_from_env(device.type)
    if ctx.active and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    try:
        with run_environment(config, device):
            return _fit(model, objective, train_ds, val_ds, config, out_dir, eligible, multilabel,
                        resume, progress, on_epoch_end, device, ctx, resume_context)
    finally:
        dd.shutdown(ctx)


def _fit(model, objective, train_ds, val_ds, config, out_dir, eligible, multilabel, resume,
         progress, on_epoch_end, device, ctx, resume_context=None) -> FitResult:
    n_samples = model.signal_contract.n_samples
    show = progress and ctx.is_main
    model.to(device)
    objective = objective.to(device)
    net = model
    if ctx.active:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    train_src = BatchSource(train_ds, config, device, ctx, True, config.batch_size, show)
    val_src = BatchSource(val_ds, config, device, ctx, False, config.eval_batch_size, show)
    steps_per_epoch = math.ceil(len(train_src) / config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = make_scheduler(optimizer, config, config.epochs * steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" and config.amp == "fp16" else None
    metric_name = selection_metric(config, multilabel)
    # Prediction after training applies the protocol validation used (predict_proba reads it).
    model.window_protocol = aug.window_protocol(config)

    state = FitState()
    last = out_dir / "last.pt"
    if resume and last.is_file():
        state = load_state(last, config, model, optimizer, scheduler, scaler, resume_context)
    writer = None
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # optional extra; metrics.csv holds the same numbers
            global _TENSORBOARD_NOTE_SHOWN
            if show and not _TENSORBOARD_NOTE_SHOWN:
                _TENSORBOARD_NOTE_SHOWN = True  # once per process (a study trains many runs)
                tqdm.write("TensorBoard is not installed: no tensorboard/ logs (metrics.csv has every "
                           "epoch); pip install 'ecgtriage[tensorboard]' to get them")
        else:
            writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=state.epoch)
    generator = torch.Generator(device=train_src.x.device if train_src.in_memory else device)
    try:
        for epoch in range(state.epoch, config.epochs):
            if state.stopped:
                break
            seed = epoch_seed(config.seed, epoch, ctx.rank)
            torch.manual_seed(seed)
            generator.manual_seed(seed ^ 0x5DEECE66D)
            t0 = time.perf_counter()
            train_loss, seen = train_one_epoch(net, objective, train_src, optimizer, scheduler, scaler,
                                               config, n_samples, generator, epoch, show)
            seen_all = int(dd.all_reduce_sum(torch.tensor(float(seen)), ctx).item())
            train_secs = time.perf_counter() - t0
            proba, metrics = validate(model, val_src, objective, n_samples, config, ctx, multilabel, eligible)
            improved = update_best(state, model, proba, metrics, metric_name, epoch, config)
            if is_epoch_scheduler(scheduler) and not math.isnan(metrics[metric_name]):
                scheduler.step(metrics[metric_name])
            row = {"epoch": epoch + 1, "train_loss": train_loss, **metrics,
                   "lr": optimizer.param_groups[0]["lr"], "train_seconds": train_secs,
                   "samples_per_s": seen_all / max(train_secs, 1e-9), "best": bool(improved)}
            state.history.append(row)
            if ctx.is_main:
                write_epoch(out_dir, writer, state, row, config, model, optimizer, scheduler, scaler,
                            resume_context)
                if show:
                    tqdm.write(f"epoch {epoch + 1}: train_loss {train_loss:.4f} val_loss "
                               f"{metrics['val_loss']:.4f} {metric_name} {metrics[metric_name]:.4f} "
                               f"({row['samples_per_s']:.0f} rec/s)")
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, row)
    finally:
        if writer is not None:
            writer.close()
    best = copy.deepcopy(state.best_state)
    model.load_state_dict(best)
    model.to("cpu")
    return FitResult(model, state.best_epoch, state.best_metrics, state.best_proba.numpy(), state.history)

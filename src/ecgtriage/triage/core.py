"""Triage of single ECG files: read → quality gate → the study's preprocessing → model → decision.

A record from a file must reach the model as exactly the array a study would have fed it from
its cache, or the model's validated numbers say nothing about it. So :func:`model_input` runs
the cache's own preprocessing (``ecgtriage.signal.preprocess.preprocess`` with the
``PreprocessConfig`` recorded in the model card), stores the result as the cache does
(float16) and reads it as the prediction path does: the model's centre window
(``ecgtriage.train.augment.crop`` without a generator), or, for a model validated with sliding
windows (``predict_stride_s``), those windows and their max/mean (``ecgtriage.triage.windows``).

Every record gets one :class:`TriageResult` with a ``status``:

* ``ok`` — a tier (and, for an ``aha44`` model, the statements above their thresholds);
* ``referred: <reason>`` — a tier is given but a person must look: the model's uncertainty is
  above the threshold calibrated on validation (``ModelCard.uncertainty_threshold``);
* ``unreadable: <reason>`` — no tier: the file cannot be read, the quality gate refuses the
  signal, preprocessing refuses it (NaN, too short), or leads are missing that the model was
  not validated without.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ecgtriage.errors import ConfigError, DataError, UserError
from ecgtriage.leads import CANONICAL_LEADS
from ecgtriage.signal.preprocess import PreprocessConfig, preprocess
from ecgtriage.train.card import ModelCard
from ecgtriage.triage.model import MISSING_LEAD_MARGIN, TriageModel
from ecgtriage.triage.windows import card_protocol, protocol_note

__all__ = ["EXIT_OK", "EXIT_REFERRED", "EXIT_UNREADABLE", "TriageResult", "exit_code",
           "missing_lead_problem", "model_input", "preprocess_config", "triage_file",
           "triage_files", "triage_signal"]

#: Exit codes of ``ecgtriage triage``: every record ok / at least one referred / at least one
#: unreadable (takes precedence: a record without any answer is the worse news).
EXIT_OK, EXIT_REFERRED, EXIT_UNREADABLE = 0, 3, 4


@dataclass(frozen=True)
class TriageResult:
    """The triage of one record.

    Attributes
    ----------
    path : the file (or a caller's label for an in-memory signal).
    status : ``"ok"``, ``"referred: <reason>"`` or ``"unreadable: <reason>"``.
    tier : the decided class (tier models: by the card's Serious operating point; ``aha44``:
        the statements collapsed to tier3); ``None`` when unreadable.
    probabilities : class → probability, in the card's class order.
    statements : ``aha44`` classes at or above their thresholds (empty for tier models).
    uncertainty : the card's uncertainty score of the probabilities.
    quality_flags : the gate's flags plus notes on what could not be checked.
    adaptations : what was done to the record to fit the model (reader notes, resampling,
        cropping, padding, clipping, missing leads).
    model, model_version : the model's name and the short sha256 of its weights file.
    """

    path: str
    status: str
    tier: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    statements: tuple[str, ...] = ()
    uncertainty: float | None = None
    quality_flags: tuple[str, ...] = ()
    adaptations: tuple[str, ...] = ()
    model: str = ""
    model_version: str = ""

    @property
    def kind(self) -> str:
        """``ok``, ``referred`` or ``unreadable`` (the status without its reason)."""
        return self.status.split(":", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["statements"], d["quality_flags"], d["adaptations"] = (
            list(self.statements), list(self.quality_flags), list(self.adaptations))
        return d

    def headline(self) -> str:
        """One line for a figure header or a log: tier, status, model."""
        tier = self.tier or "no tier"
        top = ""
        if self.probabilities and self.tier in self.probabilities:
            top = f" (p={self.probabilities[self.tier]:.2f})"
        extra = f" · {', '.join(self.statements)}" if self.statements else ""
        return f"triage: {tier}{top} · {self.status}{extra} · {self.model} {self.model_version}"


def exit_code(results: Iterable[TriageResult]) -> int:
    """:data:`EXIT_UNREADABLE` if any record is unreadable, else :data:`EXIT_REFERRED` if any
    is referred, else :data:`EXIT_OK`."""
    kinds = {r.kind for r in results}
    if "unreadable" in kinds:
        return EXIT_UNREADABLE
    if "referred" in kinds:
        return EXIT_REFERRED
    return EXIT_OK


# ---- preprocessing -----------------------------------------------------------------------------


def preprocess_config(card: ModelCard) -> tuple[PreprocessConfig, list[str]]:
    """The ``PreprocessConfig`` the model's training cache was made with, from its card.

    ``train`` records the cache manifest's ``preprocessing`` block in the card; its fields
    rebuild the config exactly. A hand-built card without it gets the default preprocessing at
    the card's rate and a flag saying so.
    """
    recorded = dict(card.preprocessing or {})
    names = {f.name for f in dataclasses.fields(PreprocessConfig)}
    values = {k: v for k, v in recorded.items() if k in names}
    flags: list[str] = []
    if "fs" not in values:
        fs = float(recorded.get("cache_fs", card.fs))
        seconds = float(recorded.get("cache_n_samples", card.n_samples)) / fs
        values = {"fs": fs, "seconds": seconds, "min_seconds": min(5.0, seconds)}
        flags.append("model card records no preprocessing; the default band-pass was assumed")
    try:
        config = PreprocessConfig(**values)
    except (TypeError, UserError) as exc:
        raise DataError(f"model card preprocessing: cannot rebuild the training preprocessing: {exc}") from None
    if not math.isclose(config.fs, card.fs):
        raise DataError(f"model card: preprocessing.fs {config.fs:g} Hz differs from the model's "
                        f"fs {card.fs:g} Hz")
    if config.n_samples < card.n_samples:
        raise DataError(f"model card: preprocessing window {config.n_samples} samples is shorter "
                        f"than the model's n_samples {card.n_samples}")
    return config, flags


def _fmt_s(n: int, fs: float) -> str:
    return f"{n / fs:.4g} s"


def model_input(signal: np.ndarray, fs: float, card: ModelCard,
                config: PreprocessConfig | None = None) -> tuple[np.ndarray, list[str], int]:
    """The (12, T) float32 array the model sees, as a study cache would hold it.

    ``T`` is ``card.n_samples`` (the centre window of the cache-length record) for a model
    scored on one window, and the whole cache-length record (``preprocessing.seconds`` of the
    card) for a model validated with sliding windows (``predict_stride_s`` in its config): its
    ``TriageModel.predict_proba`` slides and aggregates the windows over it.

    Returns
    -------
    (window, adaptations, n_clipped). ``adaptations`` says what was done (resampled, cropped,
    padded, clipped, model window).

    Raises
    ------
    DataError
        From preprocessing: NaN/inf samples, a record shorter than ``min_seconds``, an
        amplitude outside the ``exclude`` policy's limit.
    """
    if config is None:
        config, _ = preprocess_config(card)
    x = np.asarray(signal, dtype=np.float32)
    try:
        out = preprocess(x, fs, config)
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(str(exc)) from None
    notes: list[str] = []
    if not math.isclose(float(fs), config.fs):
        notes.append(f"resampled from {float(fs):g} Hz to {config.fs:g} Hz")
    n_source = out.n_samples_source
    n_at_rate = int(round(n_source * config.fs / float(fs)))
    if n_at_rate > config.n_samples:
        notes.append(f"cropped ({config.crop}) from {_fmt_s(n_source, float(fs))} to "
                     f"{config.seconds:g} s")
    elif n_at_rate < config.n_samples:
        notes.append(f"padded ({config.pad} at {config.pad_side}) from "
                     f"{_fmt_s(n_source, float(fs))} to {config.seconds:g} s")
    if out.n_clipped:
        notes.append(f"{out.n_clipped} samples clipped at ±{config.amplitude_limit_mv:g} mV")
    # As the cache stores it (float16) and the prediction path reads it back (float32).
    window = out.signal.astype(np.float16).astype(np.float32)
    total = window.shape[-1]
    note = protocol_note(card, total)
    if note:
        notes.append(note)
    if total > card.n_samples and card_protocol(card) is None:
        # ecgtriage.train.augment.crop without a generator
        start = (total - card.n_samples) // 2
        window = window[:, start:start + card.n_samples]
    # A windowed model (predict_stride_s in its training config) keeps the whole cache-length
    # record: TriageModel.predict_proba slides the windows over it, as validation did.
    return np.ascontiguousarray(window), notes, out.n_clipped


# ---- decisions ---------------------------------------------------------------------------------


def missing_lead_problem(model: TriageModel, present: Sequence[bool]) -> str | None:
    """Why a record with leads missing may not get a tier from this model, or ``None``.

    A model may tier such a record only when its study measured the ``missing_leads``
    corruption at that many leads or more and the robustness metric dropped by at most
    :data:`MISSING_LEAD_MARGIN` (the smallest measured level ≥ k is used).
    """
    k = int(len(present) - int(np.sum(np.asarray(present, bool))))
    if k == 0:
        return None
    reason = f"model not validated with {k} missing lead{'s' if k > 1 else ''}"
    robust = getattr(model, "robustness", None) or {}
    clean, points = robust.get("clean"), robust.get("points") or {}
    levels = sorted(level for level in points if level >= k and points[level] is not None)
    if clean is None or not levels:
        return reason
    level = levels[0]
    drop = float(clean) - float(points[level])
    if not drop <= MISSING_LEAD_MARGIN:
        return (f"{reason} ({robust.get('metric', 'metric')} drops {drop:.3f} > "
                f"{MISSING_LEAD_MARGIN:g} with {level} leads zeroed)")
    return None


def _decide(card: ModelCard, proba: np.ndarray) -> tuple[str, tuple[str, ...]]:
    """(tier, statements) of one record's (1, C) probabilities by the card's rule."""
    if card.multilabel:
        hits = np.asarray(card.decide(proba))[0]
        statements = tuple(c for c, h in zip(card.classes, hits) if h)
        if card.scheme_name == "aha44":
            from ecgtriage.labels import load_scheme
            from ecgtriage.labels.targets import collapse_to_tier

            tier_scheme = load_scheme("tier3")
            tier = tier_scheme.classes[int(collapse_to_tier(hits[None, :], tier_scheme)[0])]
        else:
            tier = ";".join(statements) or "none"
        return tier, statements
    index = int(card.decide(proba, operating_point=True)[0])
    return card.classes[index], ()


def triage_signal(signal: np.ndarray, fs: float, model: TriageModel, *,
                  present: Sequence[bool] | None = None, path: str = "",
                  notes: Sequence[str] = (), limits: Any = None) -> TriageResult:
    """Triage one (12, n) mV signal at ``fs`` Hz in canonical lead order.

    Parameters
    ----------
    present : which of the 12 leads were recorded (absent ones are zero rows); all when None.
    path : the label in the result.
    notes : the reader's adaptations (lead renaming, unit conversion...), kept in the output.
    limits : the quality gate's limits (``assess_quality``'s default when ``None``).
    """
    from ecgtriage.signal.quality_gate import assess_quality

    card = model.card
    base = {"path": str(path), "model": model.name, "model_version": model.version}
    adaptations = list(notes)
    present = [True] * len(CANONICAL_LEADS) if present is None else [bool(p) for p in present]
    missing = [lead for lead, p in zip(CANONICAL_LEADS, present) if not p]
    if missing:
        adaptations.append(f"missing lead{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                           "(zero rows)")
    gate = assess_quality(signal, fs, present=present, limits=limits)
    flags = [f.describe() if hasattr(f, "describe") else str(f) for f in getattr(gate, "flags", ())]
    config, card_flags = preprocess_config(card)
    flags += card_flags
    if not gate.readable:
        reason = gate.message().removeprefix("unreadable: ")
        return TriageResult(status=f"unreadable: {reason}", quality_flags=tuple(flags),
                            adaptations=tuple(adaptations), **base)
    problem = missing_lead_problem(model, present)
    if problem:
        return TriageResult(status=f"unreadable: {problem}", quality_flags=tuple(flags),
                            adaptations=tuple(adaptations), **base)
    try:
        window, steps, _ = model_input(signal, fs, card, config)
    except DataError as exc:
        return TriageResult(status=f"unreadable: {exc}", quality_flags=tuple(flags),
                            adaptations=tuple(adaptations), **base)
    adaptations += steps
    proba = model.predict_proba(window[None])
    if not np.isfinite(proba).all():
        return TriageResult(status="unreadable: the model's output is not finite",
                            quality_flags=tuple(flags), adaptations=tuple(adaptations), **base)
    tier, statements = _decide(card, proba)
    uncertainty = float(card.uncertainty(proba)[0])
    threshold = card.uncertainty_threshold
    status = "ok"
    if threshold is None:
        flags.append("no uncertainty referral: the model card has no calibrated uncertainty "
                      "threshold (trained before it existed)")
    elif uncertainty > threshold:
        status = (f"referred: model uncertain (uncertainty {uncertainty:.3f} > "
                  f"{threshold:.3f} calibrated on validation)")
    return TriageResult(status=status, tier=tier,
                        probabilities={c: float(p) for c, p in zip(card.classes, proba[0])},
                        statements=statements, uncertainty=uncertainty,
                        quality_flags=tuple(flags), adaptations=tuple(adaptations), **base)


def triage_file(path: str | Path, model: TriageModel, *, fs: float | None = None,
                leads: Sequence[str] | None = None, format: str | None = None,
                limits: Any = None) -> TriageResult:
    """Read one ECG file (``ecgtriage.io.single.read_ecg_file``) and triage it.

    A file that cannot be read becomes an ``unreadable`` result naming the reader's reason,
    so one bad file in a folder does not stop the others; options that do not fit the file
    (``ConfigError``: ``leads`` for a WFDB file, a missing ``fs`` for CSV) are raised.
    """
    from ecgtriage.io.single import read_ecg_file

    try:
        ecg = read_ecg_file(path, fs=fs, leads=leads, format=format)
    except ConfigError:
        raise  # --fs/--leads/--format wrong for this file: the user's command, not the record
    except (UserError, OSError, ValueError) as exc:
        return TriageResult(path=str(path), status=f"unreadable: {exc}", model=model.name,
                            model_version=model.version)
    record = ecg.record
    return triage_signal(record.signal, record.fs, model, present=ecg.present, path=str(path),
                         notes=tuple(getattr(ecg, "notes", ()) or ()), limits=limits)


def triage_files(paths: Sequence[str | Path], model: TriageModel, **kwargs: Any) -> list[TriageResult]:
    """Triage files and folders (folders expand through ``find_ecg_files``), in order given."""
    from ecgtriage.io.single import find_ecg_files

    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = find_ecg_files(p)
            if not found:
                raise DataError(f"{p}: no ECG files found in this folder")
            files += list(found)
        else:
            files.append(p)
    return [triage_file(f, model, **kwargs) for f in files]

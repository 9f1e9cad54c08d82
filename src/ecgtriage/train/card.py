"""The model card: what a trained model expects, what it predicts and how it decides.

A run directory holds ``model.safetensors`` and ``model_card.json``; the card is everything a
consumer needs besides the weights: the input contract (``fs``, ``n_samples``, ``leads``,
``units``), the label scheme (classes in output order, multi-label or not), the objective (which
activation turns logits into probabilities) and the decision rule tuned on validation
(per-class thresholds, or the Serious operating point). :class:`ModelCard` is the one typed
view of that file: training builds one and writes it, scoring and triage read it, and
:meth:`ModelCard.decide` is the single place that turns probabilities into decisions, so no
caller re-derives the rule from string keys.

The JSON layout on disk is unchanged from the dict the trainer wrote before this class existed
(``CARD_VERSION`` 1), so existing run directories and study caches stay readable.

Examples
--------
>>> card = ModelCard.read("runs/tier3")                       # doctest: +SKIP
>>> card.classes, card.serious_threshold                      # doctest: +SKIP
(['Normal', 'Monitor', 'Serious'], 0.25)
"""

from __future__ import annotations

import copy
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ecgtriage import atomic
from ecgtriage.errors import DataError

# ``decide`` imports its rules (``evaluate.collapse``, ``train.thresholds``) when called: they
# pull in scikit-learn and scipy.stats, a second of start-up that reading a card (``ecgtriage
# triage`` on one file) does not need.

__all__ = ["CARD", "CARD_VERSION", "ModelCard", "ModelCardError", "ModelSpec", "ObjectiveSpec",
           "SchemeSpec", "uncertainty_score"]

#: Bumped only when the JSON layout changes incompatibly; readers refuse other versions rather
#: than misread a field whose meaning moved.
CARD_VERSION = 1
#: File name of the card inside a run directory.
CARD = "model_card.json"

#: ``thresholds.kind`` values and the scheme shape each belongs to: a multi-label card must
#: carry per-class thresholds (else ``decide`` would have no rule), a single-label one must not.
_MULTILABEL_KINDS = ("per_class_f1",)
_SINGLE_LABEL_KINDS = ("serious_operating_point", "argmax")


#: Activations ``ecgtriage.train.objectives.to_probabilities`` knows.
ACTIVATIONS = ("sigmoid", "softmax", "corn")


def _check_head(card: "ModelCard", where: str) -> None:
    """The output head must fit the scheme: a known activation, and one logit per class (one
    fewer for an ordinal CORN head). A mismatch would mislabel every probability column."""
    activation = card.objective.activation
    if activation not in ACTIVATIONS:
        raise _fail(where, "objective.activation", " or ".join(ACTIVATIONS), activation)
    n_classes = len(card.scheme.classes)
    expected = n_classes - 1 if activation == "corn" else n_classes
    if card.model.n_outputs != expected:
        raise _fail(where, "model.n_outputs", f"{expected} for {n_classes} classes with "
                    f"activation {activation}", card.model.n_outputs)
    if card.scheme.multilabel != (activation == "sigmoid"):
        raise _fail(where, "objective.activation",
                    "sigmoid for a multi-label scheme" if card.scheme.multilabel
                    else "softmax or corn for a single-label scheme", activation)


class ModelCardError(DataError):
    """A model card that is missing, malformed or of another card version.

    A ``DataError`` (hence a ``ValueError``): the fix is on the user's side (point at a run
    directory written by ``ecgtriage train``, or retrain), so the command line reports it in
    one line naming the file and field.
    """


# --------------------------------------------------------------------------------------------
# Field checks. Each names ``where`` (the file) and the dotted field, because a card is read
# long after it was written and "expected int" alone does not say which of 20 fields is wrong.


def _fail(where: str, name: str, expected: str, value: Any) -> ModelCardError:
    return ModelCardError(f"{where}: {name}: expected {expected}, found {value!r}")


def _section(d: Mapping[str, Any], key: str, where: str, prefix: str = "") -> dict[str, Any]:
    name = f"{prefix}{key}"
    if key not in d:
        raise ModelCardError(f"{where}: {name}: missing required field")
    value = d[key]
    if not isinstance(value, Mapping):
        raise _fail(where, name, "an object", value)
    return dict(value)


def _get(d: Mapping[str, Any], key: str, where: str, prefix: str = "") -> Any:
    if key not in d:
        raise ModelCardError(f"{where}: {prefix}{key}: missing required field")
    return d[key]


def _int(value: Any, where: str, name: str, *, optional: bool = False, minimum: int | None = None) -> int | None:
    if value is None and optional:
        return None
    # bool is an int subclass; a card saying ``"n_samples": true`` is corrupt, not 1. numpy
    # integers are accepted for cards built in code from array statistics.
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral)
            or (minimum is not None and value < minimum)):
        bound = "" if minimum is None else f" >= {minimum}"
        raise _fail(where, name, f"an integer{bound}" + (" or null" if optional else ""), value)
    return int(value)


def _float(value: Any, where: str, name: str, *, optional: bool = False, positive: bool = False) -> float | None:
    if value is None and optional:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not ok or (positive and not (math.isfinite(value) and value > 0)):
        raise _fail(where, name, "a positive number" if positive else "a number", value)
    return float(value)


def _str(value: Any, where: str, name: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _fail(where, name, "a string", value)
    return value


def _bool(value: Any, where: str, name: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, name, "true or false", value)
    return value


def _str_list(value: Any, where: str, name: str, *, nonempty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _fail(where, name, "a list of strings", value)
    if nonempty and not value:
        raise _fail(where, name, "a non-empty list of strings", value)
    return tuple(value)


def _mapping(value: Any, where: str, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(where, name, "an object", value)
    return copy.deepcopy(dict(value))


# --------------------------------------------------------------------------------------------
# Sections.


@dataclass(frozen=True)
class ModelSpec:
    """Which registered architecture to rebuild, and its output width.

    Attributes
    ----------
    name : registry name (``ecgtriage.models.create_model``).
    n_outputs : logits per record (``C``, or ``C - 1`` for an ordinal CORN head).
    n_parameters : trainable size, for the report; ``None`` on hand-built cards.
    """

    name: str
    n_outputs: int
    n_parameters: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> ModelSpec:
        return cls(name=_str(_get(d, "name", where, "model."), where, "model.name"),
                   n_outputs=_int(_get(d, "n_outputs", where, "model."), where, "model.n_outputs", minimum=1),
                   n_parameters=_int(d.get("n_parameters"), where, "model.n_parameters", optional=True))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n_outputs": self.n_outputs, "n_parameters": self.n_parameters}


@dataclass(frozen=True)
class SchemeSpec:
    """The label scheme the model was trained on.

    Attributes
    ----------
    name, version : scheme identity (``ecgtriage.labels.load_scheme``).
    classes : class names in output-column order.
    multilabel : independent per-class outputs (sigmoid) rather than one class per record.
    ordered : the classes are severity tiers, the last the most severe ("Serious").
    """

    name: str
    version: str
    classes: tuple[str, ...]
    multilabel: bool
    ordered: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> SchemeSpec:
        classes = _str_list(_get(d, "classes", where, "scheme."), where, "scheme.classes", nonempty=True)
        if len(set(classes)) != len(classes):
            raise _fail(where, "scheme.classes", "distinct class names", list(classes))
        version = _get(d, "version", where, "scheme.")
        # Old cards and hand-written ones may carry a numeric version; the trainer writes str.
        if isinstance(version, (int, float)) and not isinstance(version, bool):
            version = str(version)
        return cls(name=_str(_get(d, "name", where, "scheme."), where, "scheme.name"),
                   version=_str(version, where, "scheme.version"),
                   classes=classes,
                   multilabel=_bool(_get(d, "multilabel", where, "scheme."), where, "scheme.multilabel"),
                   ordered=_bool(d.get("ordered", False), where, "scheme.ordered"))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "classes": list(self.classes),
                "multilabel": self.multilabel, "ordered": self.ordered}


@dataclass(frozen=True)
class ObjectiveSpec:
    """How the model was trained and how its logits become probabilities.

    Attributes
    ----------
    activation : ``"sigmoid"``, ``"softmax"`` or ``"corn"`` (``ecgtriage.train.objectives``);
        ``load_checkpoint`` sets it on the model so ``predict_proba`` needs no argument.
    loss : loss name, for the record.
    ordinal : CORN head (``activation == "corn"``).
    classes_absent_from_training, classes_not_observable, masked_from_loss : classes the model
        cannot have learnt, listed so that a reader does not mistake silence for a negative.
    """

    activation: str
    loss: str | None = None
    ordinal: bool = False
    classes_absent_from_training: tuple[str, ...] = ()
    classes_not_observable: tuple[str, ...] = ()
    masked_from_loss: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> ObjectiveSpec:
        p = "objective."
        return cls(activation=_str(_get(d, "activation", where, p), where, p + "activation"),
                   loss=_str(d.get("loss"), where, p + "loss", optional=True),
                   ordinal=_bool(d.get("ordinal", False), where, p + "ordinal"),
                   **{k: _str_list(d.get(k, []), where, p + k)
                      for k in ("classes_absent_from_training", "classes_not_observable", "masked_from_loss")})

    def to_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "activation": self.activation, "ordinal": self.ordinal,
                "classes_absent_from_training": list(self.classes_absent_from_training),
                "classes_not_observable": list(self.classes_not_observable),
                "masked_from_loss": list(self.masked_from_loss)}


def _check_thresholds(t: dict[str, Any], scheme: SchemeSpec, where: str) -> dict[str, Any]:
    """The ``thresholds`` section, checked against the scheme so :meth:`ModelCard.decide`
    cannot meet a class without a rule or a rule for another scheme shape."""
    kind = _str(_get(t, "kind", where, "thresholds."), where, "thresholds.kind")
    allowed = _MULTILABEL_KINDS if scheme.multilabel else _SINGLE_LABEL_KINDS
    if kind not in allowed:
        shape = "multi-label" if scheme.multilabel else "single-label"
        raise _fail(where, "thresholds.kind", f"one of {list(allowed)} for a {shape} scheme", kind)
    if kind == "per_class_f1":
        values = _get(t, "values", where, "thresholds.")
        if not isinstance(values, Mapping):
            raise _fail(where, "thresholds.values", "an object {class: threshold or null}", values)
        missing = [c for c in scheme.classes if c not in values]
        if missing:
            raise ModelCardError(f"{where}: thresholds.values: missing class(es) {', '.join(missing)}")
        for c in scheme.classes:
            v = _float(values[c], where, f"thresholds.values.{c}", optional=True)
            if v is not None and not 0.0 <= v <= 1.0:
                raise _fail(where, f"thresholds.values.{c}", "a probability in [0, 1] or null", v)
    elif kind == "serious_operating_point":
        v = _float(_get(t, "threshold", where, "thresholds."), where, "thresholds.threshold", optional=True)
        if v is not None and not 0.0 <= v <= 1.0:
            raise _fail(where, "thresholds.threshold", "a probability in [0, 1] or null", v)
        name = _str(t.get("class", scheme.classes[-1]), where, "thresholds.class")
        if name not in scheme.classes:
            raise _fail(where, "thresholds.class", f"one of {list(scheme.classes)}", name)
    unc = t.get("uncertainty")
    if unc is not None:  # optional: cards written before it exist
        if not isinstance(unc, Mapping):
            raise _fail(where, "thresholds.uncertainty", "an object with a threshold", unc)
        v = _float(unc.get("threshold"), where, "thresholds.uncertainty.threshold", optional=True)
        if v is not None and not 0.0 <= v <= 1.0:
            raise _fail(where, "thresholds.uncertainty.threshold", "a number in [0, 1] or null", v)
    return t


def uncertainty_score(proba: Any, multilabel: bool) -> np.ndarray:
    """(N,) uncertainty of (N, C) probabilities; see :meth:`ModelCard.uncertainty`.

    Here rather than in triage so that training (which calibrates the threshold on its
    validation probabilities) and triage (which applies it) share one definition.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0:
        raise ValueError(f"proba: expected shape (N, C), found {p.shape}")
    if multilabel:
        return 1.0 - np.maximum(p, 1.0 - p).mean(axis=1)
    return 1.0 - p.max(axis=1)


# --------------------------------------------------------------------------------------------
# The card.

#: Top-level keys in the order the trainer has always written them; ``to_dict`` emits exactly
#: these so a card read and written again is the same file.
_KEYS = ("card_version", "model", "fs", "n_samples", "seconds", "leads", "units", "scheme",
         "objective", "thresholds", "preprocessing", "training_data", "code_version", "seed",
         "best_epoch", "epochs_run", "val_metrics", "config", "created")
_REQUIRED = ("card_version", "model", "fs", "n_samples", "leads", "units", "scheme", "objective",
             "thresholds")


@dataclass(frozen=True)
class ModelCard:
    """A trained model's card: input contract, scheme, objective, decision rule, provenance.

    Frozen so that a card passed around scoring cannot drift from the file it was read from;
    the free-form sections (``thresholds``, ``preprocessing``, ...) are copies, and
    :meth:`to_dict` hands out copies again.

    Attributes
    ----------
    model : architecture and output width.
    fs, n_samples, leads, units : the input contract: ``(len(leads), n_samples)`` windows in
        ``units`` (mV) sampled at ``fs`` Hz.
    scheme : label scheme (classes in output order).
    objective : training objective and logits → probabilities activation.
    thresholds : the validation-tuned decision rule (``kind``: ``per_class_f1``,
        ``serious_operating_point`` or ``argmax``) with its provenance.
    preprocessing, training_data, code_version, val_metrics, config : provenance, free-form.
    seed, best_epoch, epochs_run, created : provenance; ``None`` on hand-built cards.
    card_version : layout version (:data:`CARD_VERSION`).
    """

    model: ModelSpec
    fs: float
    n_samples: int
    leads: tuple[str, ...]
    units: str
    scheme: SchemeSpec
    objective: ObjectiveSpec
    thresholds: dict[str, Any]
    preprocessing: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)
    code_version: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    val_metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    created: str | None = None
    card_version: int = CARD_VERSION

    # ---- reading and writing ---------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "model card") -> ModelCard:
        """Validate a card dict (as parsed from JSON) and build the typed card.

        Parameters
        ----------
        d : the card's JSON object.
        where : what to name in error messages (the file path when read from disk).

        Raises
        ------
        ModelCardError
            Naming ``where`` and the field: a required field missing, an unknown top-level
            field (a typo would otherwise vanish on the next write), a wrong type, another
            ``card_version``, or thresholds that do not fit the scheme.
        """
        if not isinstance(d, Mapping):
            raise _fail(where, "<card>", "a JSON object", type(d).__name__)
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise ModelCardError(f"{where}: {', '.join(missing)}: missing required field(s)")
        unknown = sorted(set(d) - set(_KEYS))
        if unknown:
            raise ModelCardError(f"{where}: {', '.join(unknown)}: unknown field(s); expected only "
                                 f"{', '.join(_KEYS)}")
        if d["card_version"] != CARD_VERSION or isinstance(d["card_version"], bool):
            raise _fail(where, "card_version", f"{CARD_VERSION} (this ecgtriage reads only that "
                        "layout; retrain or use the version that wrote it)", d["card_version"])
        scheme = SchemeSpec.from_dict(_section(d, "scheme", where), where)
        model = ModelSpec.from_dict(_section(d, "model", where), where)
        objective = ObjectiveSpec.from_dict(_section(d, "objective", where), where)
        thresholds = _check_thresholds(copy.deepcopy(_section(d, "thresholds", where)), scheme, where)
        card = cls(
            model=model,
            fs=_float(d["fs"], where, "fs", positive=True),
            n_samples=_int(d["n_samples"], where, "n_samples", minimum=1),
            leads=_str_list(d["leads"], where, "leads", nonempty=True),
            units=_str(d["units"], where, "units"),
            scheme=scheme, objective=objective, thresholds=thresholds,
            preprocessing=_mapping(d.get("preprocessing"), where, "preprocessing"),
            training_data=_mapping(d.get("training_data"), where, "training_data"),
            code_version=_mapping(d.get("code_version"), where, "code_version"),
            seed=_int(d.get("seed"), where, "seed", optional=True),
            best_epoch=_int(d.get("best_epoch"), where, "best_epoch", optional=True),
            epochs_run=_int(d.get("epochs_run"), where, "epochs_run", optional=True, minimum=0),
            val_metrics=_mapping(d.get("val_metrics"), where, "val_metrics"),
            config=_mapping(d.get("config"), where, "config"),
            created=_str(d.get("created"), where, "created", optional=True),
        )
        _check_head(card, where)
        seconds = d.get("seconds")
        if seconds is not None and not math.isclose(_float(seconds, where, "seconds"), card.seconds,
                                                     rel_tol=1e-6):
            raise _fail(where, "seconds", f"n_samples / fs = {card.seconds:g}", seconds)
        return card

    def weights_metadata(self) -> dict[str, str]:
        """The contract stored inside ``model.safetensors`` beside the tensors, so that a card
        edited (or copied from another run) after training is caught when the two are read
        together (``load_checkpoint``)."""
        return {"model": self.model.name, "n_outputs": str(self.model.n_outputs),
                "n_samples": str(self.n_samples), "fs": repr(float(self.fs)),
                "activation": self.activation, "classes": json.dumps(list(self.classes))}

    def to_dict(self) -> dict[str, Any]:
        """The card as the JSON object written to disk (the trainer's historical layout)."""
        out = {
            "card_version": self.card_version,
            "model": self.model.to_dict(),
            "fs": self.fs, "n_samples": self.n_samples, "seconds": self.seconds,
            "leads": list(self.leads), "units": self.units,
            "scheme": self.scheme.to_dict(),
            "objective": self.objective.to_dict(),
            "seed": self.seed, "best_epoch": self.best_epoch, "epochs_run": self.epochs_run,
            "created": self.created,
        }
        for f in ("thresholds", "preprocessing", "training_data", "code_version", "val_metrics", "config"):
            out[f] = copy.deepcopy(getattr(self, f))
        return {k: out[k] for k in _KEYS}

    @classmethod
    def read(cls, run_dir: str | Path) -> ModelCard:
        """Read and validate ``run_dir/model_card.json`` (or a card file given directly).

        Raises
        ------
        FileNotFoundError
            When there is no card: the path is not a run directory written by ``ecgtriage train``.
        ModelCardError
            When the file is not JSON or fails :meth:`from_dict` (the message names the file).
        """
        path = Path(run_dir)
        if not (path.suffix == ".json" and path.is_file()):
            path = path / CARD
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: expected a run directory written by "
                                    "`ecgtriage train`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelCardError(f"{path}: cannot parse JSON: {exc}") from None
        return cls.from_dict(data, where=str(path))

    def write(self, run_dir: str | Path) -> Path:
        """Write ``run_dir/model_card.json`` atomically (a reader never sees half a card).

        The card is validated as :meth:`read` would first, so a card built field by field (as
        the trainer does) can never be written in a form that cannot be read back.

        Returns
        -------
        The card's path.

        Raises
        ------
        ModelCardError
            When :meth:`from_dict` would reject the card; nothing is written then.
        """
        path = Path(run_dir) / CARD
        data = self.to_dict()
        ModelCard.from_dict(data, where=f"{path} (about to be written)")
        atomic.write_json(path, data)
        return path

    # ---- derived views ---------------------------------------------------------------------

    @property
    def seconds(self) -> float:
        """Input window length in seconds."""
        return self.n_samples / self.fs

    @property
    def classes(self) -> list[str]:
        """Class names in the order of the model's probability columns."""
        return list(self.scheme.classes)

    @property
    def multilabel(self) -> bool:
        return self.scheme.multilabel

    @property
    def scheme_name(self) -> str:
        return self.scheme.name

    @property
    def activation(self) -> str:
        """Logits → probabilities conversion (``ecgtriage.train.objectives.to_probabilities``)."""
        return self.objective.activation

    def code_thresholds(self) -> np.ndarray | None:
        """(C,) per-class thresholds of a multi-label card, in class order; ``None`` otherwise.

        A class whose threshold is ``null`` (absent from training) gets ``inf``: the card's
        rule says it is never predicted, and ``p >= inf`` is false for every probability.
        """
        if not self.multilabel:
            return None
        values = self.thresholds["values"]
        return np.array([np.inf if values[c] is None else float(values[c]) for c in self.scheme.classes])

    @property
    def serious_index(self) -> int | None:
        """Column of the class the operating point is about, or ``None`` without one."""
        if self.thresholds.get("kind") != "serious_operating_point":
            return None
        return self.scheme.classes.index(self.thresholds.get("class", self.scheme.classes[-1]))

    @property
    def serious_threshold(self) -> float | None:
        """The tier model's validation-chosen Serious operating point.

        ``None`` for multi-label cards, argmax cards, and tier cards whose validation split had
        too few Serious records to tune one (their rule is the plain argmax).
        """
        if self.serious_index is None:
            return None
        t = self.thresholds.get("threshold")
        return None if t is None else float(t)

    @property
    def uncertainty_threshold(self) -> float | None:
        """The validation-calibrated refer-on-uncertainty threshold (``thresholds.uncertainty``).

        ``None`` for cards written before the threshold existed: their models are never
        referred for uncertainty, and triage says so in its output rather than guessing one.
        """
        entry = self.thresholds.get("uncertainty")
        if not isinstance(entry, Mapping) or entry.get("threshold") is None:
            return None
        return float(entry["threshold"])

    def uncertainty(self, proba: Any) -> np.ndarray:
        """(N,) uncertainty score in [0, 1] of each record's probabilities (higher: less sure).

        Single-label: ``1 - max softmax`` (the classic max-probability score). Multi-label:
        ``1 - mean_c max(p_c, 1 - p_c)``, the mean per-class distance from a confident 0 or 1,
        because a multi-label record has no single winning class. Triage refers a record whose
        score exceeds :attr:`uncertainty_threshold`.
        """
        return uncertainty_score(proba, self.multilabel)

    def decide(self, proba: Any, *, operating_point: bool = False) -> np.ndarray:
        """Decisions from the model's probabilities, by the card's rule.

        Parameters
        ----------
        proba : (N, C) probabilities in :attr:`classes` order (``predict_proba`` output).
        operating_point : single-label only. ``False``: the most probable class, as accuracy,
            F1 and confusion matrices use. ``True``: the Serious operating point
            (``ecgtriage.evaluate.collapse.serious_operating_point``): Serious when
            ``P(Serious) >= serious_threshold``, otherwise the most probable other class; the
            plain argmax when the card has no operating point. Kept apart because a threshold
            tuned for sensitivity can call many records Serious, which is the triage choice but
            not what the headline accuracy should measure.

        Returns
        -------
        Multi-label: (N, C) bool, ``True`` where ``P(c) >= threshold[c]`` (a class with a
        ``null`` threshold is never predicted). Single-label: (N,) int64 class indices.

        Examples
        --------
        >>> card = ModelCard(
        ...     model=ModelSpec("resnet1d_small", 3), fs=100.0, n_samples=1000, leads=("I",),
        ...     units="mV", objective=ObjectiveSpec("softmax"),
        ...     scheme=SchemeSpec("tier3", "1", ("Normal", "Monitor", "Serious"), multilabel=False),
        ...     thresholds={"kind": "serious_operating_point", "class": "Serious", "threshold": 0.25})
        >>> p = [[0.5, 0.2, 0.3]]  # Normal most probable, but P(Serious) >= 0.25
        >>> card.decide(p).tolist(), card.decide(p, operating_point=True).tolist()
        ([0], [2])
        """
        from ecgtriage.evaluate.collapse import serious_operating_point
        from ecgtriage.train.thresholds import apply_f1_thresholds

        p = np.asarray(proba, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != len(self.scheme.classes):
            raise ValueError(f"proba: expected shape (N, {len(self.scheme.classes)}) for the "
                             f"{self.scheme.name} classes, found {p.shape}")
        if self.multilabel:
            return apply_f1_thresholds(p, [self.thresholds["values"][c] for c in self.scheme.classes])
        if operating_point and self.serious_index is not None:
            return serious_operating_point(p, self.serious_index, self.serious_threshold).astype(np.int64)
        return p.argmax(axis=1).astype(np.int64)

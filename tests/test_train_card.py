"""ModelCard on hand-built cards: round trip, validation messages, and the decision rules."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ecgtriage.errors import UserError
from ecgtriage.train.card import CARD, CARD_VERSION, ModelCard, ModelCardError

# The trainer's historical top-level keys; a card written today must carry exactly these.
LEGACY_KEYS = {"card_version", "model", "fs", "n_samples", "seconds", "leads", "units", "scheme",
               "objective", "thresholds", "preprocessing", "training_data", "code_version", "seed",
               "best_epoch", "epochs_run", "val_metrics", "config", "created"}


def _card_dict(*, multilabel: bool, thresholds: dict) -> dict:
    classes = ["A", "B", "C"] if multilabel else ["Normal", "Monitor", "Serious"]
    return {
        "card_version": CARD_VERSION,
        "model": {"name": "resnet1d_small", "n_outputs": 3, "n_parameters": 1234},
        "fs": 100.0, "n_samples": 250, "seconds": 2.5,
        "leads": ["I", "II"], "units": "mV",
        "scheme": {"name": "toy" if multilabel else "tier3", "version": "1", "classes": classes,
                   "multilabel": multilabel, "ordered": not multilabel},
        "objective": {"loss": "bce" if multilabel else "ce",
                      "activation": "sigmoid" if multilabel else "softmax", "ordinal": False,
                      "classes_absent_from_training": ["B"] if multilabel else [],
                      "classes_not_observable": [], "masked_from_loss": ["B"] if multilabel else []},
        "thresholds": thresholds,
        "preprocessing": {"cache_fs": 100.0, "window": "centre crop to n_samples when longer"},
        "training_data": {"n": {"train": 10, "val": 5}, "class_counts": {"train": {}, "val": {}}},
        "code_version": {"package": "0.0", "git_commit": None},
        "seed": 3, "best_epoch": 2, "epochs_run": 4,
        "val_metrics": {"macro_auroc": 0.9, "n_auroc_classes": 2},
        "config": {"epochs": 4}, "created": "2024-01-01T00:00:00+00:00",
    }


def multilabel_dict() -> dict:
    return _card_dict(multilabel=True, thresholds={
        "kind": "per_class_f1", "split": "val", "rule": "...", "min_val_positives": 3,
        "values": {"A": 0.3, "B": None, "C": 0.8},
        "source": {"A": "tuned", "B": "untrained", "C": "fallback"}})


def tier_dict(threshold: float | None = 0.25) -> dict:
    return _card_dict(multilabel=False, thresholds={
        "kind": "serious_operating_point", "split": "val", "class": "Serious", "class_index": 2,
        "target_sensitivity": 0.8, "n_serious": 7, "threshold": threshold, "sensitivity": 0.86,
        "specificity": 0.7, "rule": "..."})


def _write_raw(tmp_path, d) -> str:
    (tmp_path / CARD).write_text(json.dumps(d), encoding="utf-8")
    return str(tmp_path / CARD)


# ---- round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [multilabel_dict, tier_dict])
def test_write_read_round_trip_keeps_the_legacy_layout(tmp_path, make):
    d = make()
    card = ModelCard.from_dict(d)
    path = card.write(tmp_path)
    assert path == tmp_path / CARD
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert set(on_disk) == LEGACY_KEYS
    assert on_disk == d  # the JSON written is the dict it was built from, unchanged
    assert ModelCard.read(tmp_path) == card
    assert ModelCard.read(path) == card  # the card file itself is accepted too
    assert [p.name for p in tmp_path.iterdir()] == [CARD]  # atomic write leaves no temp file


def test_typed_fields_and_copies():
    card = ModelCard.from_dict(multilabel_dict())
    assert card.classes == ["A", "B", "C"] and card.multilabel and card.scheme_name == "toy"
    assert (card.fs, card.n_samples, card.leads, card.seconds) == (100.0, 250, ("I", "II"), 2.5)
    assert card.model.name == "resnet1d_small" and card.activation == "sigmoid"
    assert card.objective.masked_from_loss == ("B",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.fs = 500.0
    # A caller mutating what it was handed cannot change the card.
    card.to_dict()["thresholds"]["values"]["A"] = 0.99
    card.classes.append("Z")
    assert card.thresholds["values"]["A"] == 0.3 and card.classes == ["A", "B", "C"]


def test_card_built_in_code_accepts_numpy_scalars(tmp_path):
    d = tier_dict()
    d["n_samples"], d["fs"], d["best_epoch"] = np.int64(250), np.float32(100.0), np.int64(2)
    assert ModelCard.from_dict(d).write(tmp_path).is_file()
    assert ModelCard.read(tmp_path).n_samples == 250


# ---- validation -------------------------------------------------------------------------------


def test_validation_errors_are_user_errors_and_value_errors():
    assert issubclass(ModelCardError, ValueError) and issubclass(ModelCardError, UserError)


@pytest.mark.parametrize("field", ["fs", "scheme", "thresholds", "card_version"])
def test_missing_required_field_names_file_and_field(tmp_path, field):
    d = tier_dict()
    del d[field]
    path = _write_raw(tmp_path, d)
    with pytest.raises(ModelCardError, match=rf"^{path}: {field}: missing required field"):
        ModelCard.read(tmp_path)


def test_missing_nested_field_names_the_dotted_path(tmp_path):
    d = tier_dict()
    del d["objective"]["activation"]
    path = _write_raw(tmp_path, d)
    with pytest.raises(ModelCardError, match=rf"^{path}: objective.activation: missing required field"):
        ModelCard.read(tmp_path)


@pytest.mark.parametrize("version", [2, 0, "1", True])
def test_other_card_version_is_refused(tmp_path, version):
    d = tier_dict()
    d["card_version"] = version
    path = _write_raw(tmp_path, d)
    with pytest.raises(ModelCardError, match=rf"^{path}: card_version: expected 1 .*found {version!r}"):
        ModelCard.read(tmp_path)


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.update(n_samples="250"), "n_samples"),
    (lambda d: d.update(n_samples=True), "n_samples"),
    (lambda d: d.update(fs=0), "fs"),
    (lambda d: d.update(leads="I,II"), "leads"),
    (lambda d: d.update(seed=1.5), "seed"),
    (lambda d: d["scheme"].update(multilabel="yes"), "scheme.multilabel"),
    (lambda d: d["scheme"].update(classes=["A", "A", "B"]), "scheme.classes"),
    (lambda d: d["model"].update(n_outputs="3"), "model.n_outputs"),
    (lambda d: d["thresholds"].update(threshold="0.25"), "thresholds.threshold"),
    (lambda d: d["thresholds"].update(threshold=1.5), "thresholds.threshold"),
    (lambda d: d["thresholds"].update(kind="per_class_f1"), "thresholds.kind"),
    (lambda d: d.update(seconds=9.0), "seconds"),
])
def test_wrong_type_or_value_names_file_and_field(tmp_path, edit, field):
    d = tier_dict()
    edit(d)
    path = _write_raw(tmp_path, d)
    with pytest.raises(ModelCardError, match=rf"^{path}: {field}: expected"):
        ModelCard.read(tmp_path)


def test_multilabel_thresholds_must_cover_every_class():
    d = multilabel_dict()
    del d["thresholds"]["values"]["C"]
    with pytest.raises(ModelCardError, match=r"^run/x.json: thresholds.values: missing class\(es\) C"):
        ModelCard.from_dict(d, where="run/x.json")


def test_unknown_field_is_refused_rather_than_dropped():
    d = tier_dict()
    d["treshold"] = 0.3
    with pytest.raises(ModelCardError, match="model card: treshold: unknown field"):
        ModelCard.from_dict(d)


def test_unreadable_or_absent_card(tmp_path):
    with pytest.raises(FileNotFoundError, match="model_card.json does not exist"):
        ModelCard.read(tmp_path)
    (tmp_path / CARD).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelCardError, match=rf"^{tmp_path / CARD}: cannot parse JSON"):
        ModelCard.read(tmp_path)


def test_write_refuses_a_card_read_would_reject(tmp_path):
    card = ModelCard.from_dict(multilabel_dict())
    broken = dataclasses.replace(card, thresholds={**card.thresholds, "values": {"A": 0.5}})
    with pytest.raises(ModelCardError, match="about to be written.*thresholds.values: missing class"):
        broken.write(tmp_path)
    assert not (tmp_path / CARD).exists()


# ---- decisions --------------------------------------------------------------------------------


def test_multilabel_decide_uses_per_class_thresholds_and_never_predicts_untrained():
    card = ModelCard.from_dict(multilabel_dict())
    np.testing.assert_array_equal(card.code_thresholds(), [0.3, np.inf, 0.8])
    assert card.serious_threshold is None
    proba = np.array([
        [0.30, 1.00, 0.79],  # A at its threshold (>=), B untrained: never, C just below
        [0.29, 0.00, 0.80],  # A just below, C at its threshold
        [0.90, 0.99, 0.95],
    ])
    got = card.decide(proba)
    assert got.dtype == bool
    assert got.astype(int).tolist() == [[1, 0, 0], [0, 0, 1], [1, 0, 1]]
    # operating_point is a single-label notion; multi-label decisions ignore it.
    np.testing.assert_array_equal(card.decide(proba, operating_point=True), got)


TIER_P = np.array([
    [0.50, 0.20, 0.30],  # argmax Normal; P(Serious) 0.30 >= 0.25 -> Serious at the operating point
    [0.10, 0.30, 0.60],  # Serious either way
    [0.45, 0.35, 0.20],  # Normal either way
    [0.30, 0.36, 0.34],  # argmax Monitor; Serious 0.34 >= 0.25 -> Serious
])


def test_single_label_decide_argmax_and_operating_point():
    card = ModelCard.from_dict(tier_dict(0.25))
    assert card.code_thresholds() is None and card.serious_threshold == 0.25
    assert card.decide(TIER_P).dtype == np.int64
    assert card.decide(TIER_P).tolist() == [0, 2, 0, 1]
    assert card.decide(TIER_P, operating_point=True).tolist() == [2, 2, 0, 2]


def test_high_operating_point_sends_serious_argmax_to_the_best_other_class():
    card = ModelCard.from_dict(tier_dict(0.7))
    assert card.decide(TIER_P, operating_point=True).tolist() == [0, 1, 0, 1]


def test_untuned_operating_point_and_argmax_cards_fall_back_to_argmax():
    untuned = ModelCard.from_dict(tier_dict(None))
    assert untuned.serious_threshold is None
    assert untuned.decide(TIER_P, operating_point=True).tolist() == [0, 2, 0, 1]
    d = tier_dict()
    d["thresholds"] = {"kind": "argmax", "split": "val", "rule": "predict the most probable class"}
    plain = ModelCard.from_dict(d)
    assert plain.serious_threshold is None
    assert plain.decide(TIER_P, operating_point=True).tolist() == [0, 2, 0, 1]


def test_decide_refuses_probabilities_of_another_width():
    card = ModelCard.from_dict(tier_dict())
    with pytest.raises(ValueError, match=r"proba: expected shape \(N, 3\) for the tier3 classes"):
        card.decide(np.full((2, 4), 0.25))

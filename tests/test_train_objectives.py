"""Losses and logits → probabilities on hand-built inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ecgtriage.train.objectives import build_objective, corn_loss, to_probabilities


def test_corn_probabilities_known_answer():
    # Conditional P(y>0)=0.8, P(y>1|y>0)=0.5, P(y>2|y>1)=0.25 → P(y>k) = 0.8, 0.4, 0.1.
    s = torch.tensor([[0.8, 0.5, 0.25]])
    logits = torch.log(s / (1 - s))
    p = to_probabilities(logits, "corn")
    torch.testing.assert_close(p, torch.tensor([[0.2, 0.4, 0.3, 0.1]]), atol=1e-6, rtol=0)


def test_corn_probabilities_valid_for_any_logits():
    logits = torch.randn(200, 3, generator=torch.Generator().manual_seed(0)) * 5
    p = to_probabilities(logits, "corn")
    assert (p >= 0).all()
    torch.testing.assert_close(p.sum(dim=1), torch.ones(200))


def test_corn_loss_matches_hand_computation():
    logits = torch.tensor([[0.3, -1.0, 2.0], [1.5, 0.2, -0.7]])
    target = torch.tensor([0, 2])
    # Record 0 (y=0) only takes part in task 0 (label 0); record 1 (y=2) in tasks 0-2 with
    # labels 1, 1, 0.
    terms = [F.binary_cross_entropy_with_logits(torch.tensor(0.3), torch.tensor(0.0)),
             F.binary_cross_entropy_with_logits(torch.tensor(1.5), torch.tensor(1.0)),
             F.binary_cross_entropy_with_logits(torch.tensor(0.2), torch.tensor(1.0)),
             F.binary_cross_entropy_with_logits(torch.tensor(-0.7), torch.tensor(0.0))]
    assert corn_loss(logits, target, 4).item() == pytest.approx(sum(t.item() for t in terms) / 4)


def test_absent_class_is_masked_out_of_bce():
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]], np.float32)  # class 2 never positive
    obj = build_objective("bce", multilabel=True, ordered=False, n_classes=3, y_train=y)
    assert obj.class_mask.tolist() == [True, True, False]
    # pos_weight = negatives / positives: class 0 → 2/2, class 1 → 2/2.
    assert obj.class_weight[:2].tolist() == [1.0, 1.0]
    logits = torch.zeros(4, 3, requires_grad=True)
    obj(logits, torch.from_numpy(y)).backward()
    assert logits.grad[:, 2].abs().sum() == 0
    assert logits.grad[:, :2].abs().sum() > 0
    # Mean over the 8 unmasked elements of BCE at logit 0 = log 2.
    assert obj(torch.zeros(4, 3), torch.from_numpy(y)).item() == pytest.approx(math.log(2))


def test_pos_weight_is_negatives_over_positives_and_capped():
    y = np.zeros((101, 2), np.float32)
    y[:1, 0] = 1  # 1 positive, 100 negatives
    y[:50, 1] = 1
    obj = build_objective("bce", multilabel=True, ordered=False, n_classes=2, y_train=y, pos_weight_max=20)
    assert obj.class_weight.tolist() == pytest.approx([20.0, 51 / 50])


def test_focal_loss_down_weights_easy_examples():
    y = np.array([[1.0], [0.0]], np.float32)
    obj = build_objective("focal", multilabel=True, ordered=False, n_classes=1, y_train=y, focal_gamma=2.0)
    easy, hard = torch.tensor([[4.0]]), torch.tensor([[-4.0]])
    target = torch.tensor([[1.0]])
    bce_easy = F.binary_cross_entropy_with_logits(easy, target).item()
    p = torch.sigmoid(easy).item()
    assert obj(easy, target).item() == pytest.approx((1 - p) ** 2 * bce_easy, rel=1e-5)
    assert obj(hard, target).item() > 100 * obj(easy, target).item()


def test_cross_entropy_class_weights_inverse_frequency():
    y = np.array([0, 0, 0, 1])  # class 2 absent
    obj = build_objective("auto", multilabel=False, ordered=True, n_classes=3, y_train=y)
    assert obj.activation == "softmax"
    # inverse counts 1/3, 1, 0 normalised to mean 1 over the present classes.
    assert obj.class_weight.tolist() == pytest.approx([0.5, 1.5, 0.0])


@pytest.mark.parametrize(
    "loss, multilabel, ordered, message",
    [
        ("ce", True, False, "a multi-label scheme needs 'bce' or 'focal', found 'ce'"),
        ("bce", False, True, "a single-label scheme needs 'ce' or 'corn', found 'bce'"),
        ("corn", False, False, "'corn' needs an ordered scheme"),
    ],
)
def test_objective_mismatch_raises(loss, multilabel, ordered, message):
    y = np.zeros((2, 3), np.float32) if multilabel else np.array([0, 1])
    with pytest.raises(ValueError, match=message):
        build_objective(loss, multilabel=multilabel, ordered=ordered, n_classes=3, y_train=y)


def test_corn_objective_has_one_output_fewer():
    obj = build_objective("corn", multilabel=False, ordered=True, n_classes=4, y_train=np.array([0, 3]))
    assert (obj.activation, obj.n_outputs) == ("corn", 3)

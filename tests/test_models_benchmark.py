"""The PTB-XL benchmark backbones: parameter counts from the architecture, shapes, gradients."""

from __future__ import annotations

import pytest
import torch

from ecgtriage.models import create_model, list_models

BENCHMARK = ("xresnet1d50", "xresnet1d101", "inception1d", "resnet1d_wang")
# The deep XResNets take several seconds per forward-backward on a shared 2-core machine.
HEAVY = [pytest.param(n, marks=pytest.mark.slow) if n.startswith("xresnet") else n for n in BENCHMARK]


def _head(n_features: int, n_outputs: int, hidden: int = 128) -> int:
    # BN(2f) + Linear(2f, hidden) + BN(hidden) + Linear(hidden, out)
    return 2 * 2 * n_features + (2 * n_features + 1) * hidden + 2 * hidden + (hidden + 1) * n_outputs


def _conv_bn(ni: int, nf: int, k: int) -> int:
    return ni * nf * k + 2 * nf


def _wang(n_leads: int, n_outputs: int) -> int:
    total, ch = 0, n_leads
    for nf in (64, 128, 128):
        total += _conv_bn(ch, nf, 8) + _conv_bn(nf, nf, 5) + _conv_bn(nf, nf, 3) + _conv_bn(ch, nf, 1)
        ch = nf
    return total + _head(128, n_outputs)


def _inception(n_leads: int, n_outputs: int) -> int:
    total, ch = 0, n_leads
    for d in range(6):
        total += ch * 32 + 32 * 32 * (39 + 19 + 9) + ch * 32 + 2 * 128
        if d % 3 == 2:
            total += _conv_bn(n_leads if d == 2 else 128, 128, 1)
        ch = 128
    return total + _head(128, n_outputs)


def _xresnet(n_leads: int, n_outputs: int, layers: tuple[int, ...]) -> int:
    total = _conv_bn(n_leads, 32, 5) + _conv_bn(32, 32, 5) + _conv_bn(32, 64, 5)
    ch = 64
    for n_blocks in layers:
        for _ in range(n_blocks):
            total += _conv_bn(ch, 64, 1) + _conv_bn(64, 64, 5) + _conv_bn(64, 256, 1)
            if ch != 256:
                total += _conv_bn(ch, 256, 1)
            ch = 256
    return total + _head(256, n_outputs)


EXPECTED = {
    "resnet1d_wang": _wang,
    "inception1d": _inception,
    "xresnet1d50": lambda leads, out: _xresnet(leads, out, (3, 4, 6, 3)),
    "xresnet1d101": lambda leads, out: _xresnet(leads, out, (3, 4, 23, 3)),
}


def test_benchmark_backbones_are_registered():
    assert set(BENCHMARK) <= set(list_models())


@pytest.mark.parametrize("name", BENCHMARK)
def test_parameter_count_follows_the_architecture(name):
    for leads, outputs in ((12, 71), (8, 5)):
        model = create_model(name, n_leads=leads, n_samples=250, fs=100, n_outputs=outputs)
        assert sum(p.numel() for p in model.parameters()) == EXPECTED[name](leads, outputs)


def test_parameter_counts_pinned():
    # 12 leads, 71 outputs (the "all" task): the sizes the README quotes.
    counts = {n: sum(p.numel() for p in create_model(n, n_samples=250, fs=100, n_outputs=71).parameters())
              for n in BENCHMARK}
    assert counts == {"xresnet1d50": 962_503, "xresnet1d101": 1_880_775,
                      "inception1d": 516_167, "resnet1d_wang": 568_391}


@pytest.mark.parametrize("name", HEAVY)
@pytest.mark.parametrize("n_samples", [97, 250])
def test_any_window_length_gives_one_row_per_record(name, n_samples):
    model = create_model(name, n_samples=n_samples, fs=100, n_outputs=3).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 12, n_samples, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 3)
    assert model.signal_contract.n_samples == n_samples


@pytest.mark.parametrize("name", HEAVY)
def test_gradients_reach_the_first_layer(name):
    torch.manual_seed(0)
    model = create_model(name, n_samples=120, fs=100, n_outputs=4).train()
    loss = model(torch.randn(3, 12, 120)).square().mean()
    loss.backward()
    first = next(p for p in model.parameters() if p.dim() == 3)  # first conv weight
    assert first.grad is not None and float(first.grad.abs().sum()) > 0
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", BENCHMARK)
def test_wrong_shape_is_refused(name):
    model = create_model(name, n_samples=250, fs=100, n_outputs=2)
    with pytest.raises(ValueError, match=r"expected shape \(batch, 12, 250\), found \(1, 12, 200\)"):
        model(torch.zeros(1, 12, 200))


def test_xresnet_identity_at_init():
    # Zero-initialised last BN: every residual block starts as relu(identity path).
    model = create_model("xresnet1d50", n_samples=250, fs=100, n_outputs=2).eval()
    block = model.backbone[4][1]  # second block of the first stage: identity shortcut
    x = torch.randn(1, 256, 20).relu()
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)

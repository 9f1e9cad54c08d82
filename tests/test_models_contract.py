"""One contract test over every registered model, plus the factory's argument checks."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from ecgtriage.leads import CANONICAL_LEADS
from ecgtriage.models import create_model, list_models
from ecgtriage.train.export import export_onnx


# The deeper benchmark backbones take tens of seconds to export on a shared CPU: slow-marked.
_SLOW_EXPORT = {"xresnet1d50", "xresnet1d101", "inception1d", "resnet1d_wang"}
_SLOW_FORWARD = {"xresnet1d101"}


def _models(slow: set[str]) -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in list_models()]


def test_registry_lists_the_presets():
    assert {"resnet1d_small", "resnet1d_ribeiro"} <= set(list_models())


@pytest.mark.parametrize("name", _models(_SLOW_FORWARD))
@pytest.mark.parametrize("fs", [100, 250, 500])
def test_output_shape_and_contract(name, fs):
    n = 10 * fs
    model = create_model(name, n_samples=n, fs=fs, n_outputs=5).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 12, n, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (3, 5)
    assert torch.isfinite(out).all()
    c = model.signal_contract
    assert (c.leads, c.n_samples, c.fs, c.n_outputs) == (CANONICAL_LEADS, n, float(fs), 5)


@pytest.mark.parametrize("name", _models(_SLOW_EXPORT))
def test_torch_export_and_onnx_match(name, tmp_path):
    model = create_model(name, n_samples=1000, fs=100, n_outputs=4).eval()
    x = torch.randn(2, 12, 1000, generator=torch.Generator().manual_seed(1))
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x), rtol=1e-5, atol=1e-5)
    for activation in ("sigmoid", "softmax", "corn"):
        path = tmp_path / f"{activation}.onnx"
        worst = export_onnx(model, path, activation=activation)
        assert worst < 1e-4
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        proba = session.run(["proba"], {"ecg": x.numpy()})[0]
        n_classes = 5 if activation == "corn" else 4  # CORN: C - 1 outputs
        assert proba.shape == (2, n_classes)
        if activation != "sigmoid":
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_wrong_input_shape_names_expected_and_found():
    model = create_model("resnet1d_small", n_samples=500, fs=50, n_outputs=2)
    with pytest.raises(ValueError, match=r"expected shape \(batch, 12, 500\), found \(1, 12, 400\)"):
        model(torch.zeros(1, 12, 400))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_samples=1000, fs=100, n_outputs=3, seconds=5.0),
         "seconds=5.0 at fs=100 Hz gives 500 samples, but n_samples=1000"),
        (dict(n_samples=0, fs=100, n_outputs=3), "n_samples: expected a positive integer, found 0"),
        (dict(n_samples=100, fs=-1, n_outputs=3), "fs: expected a positive sampling rate"),
        (dict(n_samples=100, fs=100, n_outputs=2.5), "n_outputs: expected a positive integer, found 2.5"),
    ],
)
def test_inconsistent_signal_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_model("resnet1d_small", **kwargs)


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="unknown model 'vgg'.*resnet1d_small"):
        create_model("vgg", n_samples=100, fs=100, n_outputs=2)


def test_seconds_consistent_is_accepted():
    model = create_model("resnet1d_small", n_samples=1000, fs=100, n_outputs=2, seconds=10.0)
    assert model.signal_contract.seconds == 10.0

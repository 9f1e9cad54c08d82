"""Sliding-window prediction everywhere a trained model predicts (issue 15).

A model trained on 2.5 s crops with ``predict_stride_s`` was validated on sliding windows over
the 10 s record and the max of their probabilities. The study's predictors (eager and ONNX
Runtime), triage (torch and ONNX, the latter in NumPy without torch), the ONNX export's card
and ``explain`` must read a 10 s record the same way, not as one centre crop.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgtriage.leads import CANONICAL_LEADS
from ecgtriage.train import augment as aug
from ecgtriage.train.card import ModelCard, ModelSpec, ObjectiveSpec, SchemeSpec
from ecgtriage.train.predict import predict_proba
from ecgtriage.triage import windows as W
from toy import make_toy_task

FS, N_MODEL, N_RECORD = 100.0, 250, 1000  # 2.5 s model windows over 10 s records
PROTOCOL = {"window_s": 2.5, "predict_stride_s": 1.25, "aggregate": "max"}
CENTRE = slice((N_RECORD - N_MODEL) // 2, (N_RECORD + N_MODEL) // 2)


# ---- the NumPy protocol equals the torch one -----------------------------------------------------


@pytest.mark.parametrize("total, stride", [(1000, 125), (1000, 300), (1000, 1000), (250, 125), (777, 97)])
def test_numpy_windows_equal_train_augment(total, stride):
    rng = np.random.default_rng(total + stride)
    x = rng.normal(size=(3, 12, total)).astype(np.float32)
    assert W.window_starts(total, N_MODEL, stride) == aug.window_starts(total, N_MODEL, stride)
    got, n_got = W.sliding_windows(x, N_MODEL, stride)
    ref, n_ref = aug.sliding_windows(torch.from_numpy(x), N_MODEL, stride)
    assert n_got == n_ref
    np.testing.assert_array_equal(got, ref.numpy())
    proba = rng.random((3 * n_got, 5)).astype(np.float32)
    for how in ("max", "mean"):
        for normalise in (False, True):
            np.testing.assert_allclose(
                W.aggregate_windows(proba, n_got, how, normalise),
                aug.aggregate_windows(torch.from_numpy(proba), n_got, how, normalise).numpy(),
                rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="expected 'max' or 'mean', found 'median'"):
        W.aggregate_windows(proba, n_got, "median", False)
    with pytest.raises(ValueError, match="expected at least 250 samples per lead, found 200"):
        W.window_starts(200, N_MODEL, stride)


@pytest.mark.parametrize("config", [{}, {"predict_stride_s": None}, {"predict_stride_s": 1.25},
                                    {"predict_stride_s": 1, "aggregate": "mean"}])
def test_card_protocol_equals_train_window_protocol(config):
    class Card:
        pass

    card = Card()
    card.config = config
    assert W.card_protocol(card) == aug.window_protocol(config)


# ---- a windowed model and a record whose finding is outside the centre ---------------------------


def _windowed_model(activation: str = "sigmoid", n_outputs: int = 3):
    from ecgtriage.models import create_model

    torch.manual_seed(0)
    model = create_model("resnet1d_small", n_leads=12, n_samples=N_MODEL, fs=FS, n_outputs=n_outputs)
    with torch.no_grad():  # a sharper head, so that a burst moves the untrained outputs clearly
        for layer in model.modules():
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(50.0)
    model.output_activation = activation
    model.window_protocol = aug.window_protocol(PROTOCOL)
    return model.eval()


def _records(n: int = 4) -> np.ndarray:
    """10 s records of small noise; record 0 carries a large 5 Hz burst in its first 2 s only
    (outside the centre 2.5 s), record 1 in its last 2 s."""
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.05, (n, 12, N_RECORD)).astype(np.float32)
    t = np.arange(200) / FS
    x[0, :, :200] += 2.0 * np.sin(2 * np.pi * 5 * t)
    x[1, :, -200:] += 2.0 * np.sin(2 * np.pi * 5 * t)
    return x


def _centre_crop(model, x):
    return predict_proba(model, np.ascontiguousarray(x[..., CENTRE]), progress=False)


def test_study_predictors_apply_the_window_protocol():
    from ecgtriage.study.predict import make_predictor, onnx_predictor, torch_predictor

    model = _windowed_model()
    x = _records()
    ref = predict_proba(model, x, progress=False)
    centre = _centre_crop(model, x)
    # The finding outside the centre changes the answer: a centre crop would not see it.
    assert np.abs(ref[:2] - centre[:2]).max() > 1e-3
    np.testing.assert_allclose(torch_predictor(model, batch_size=16)(x), ref, atol=1e-5)
    # Records in chunks of 3 (3 + 1), their windows in batches of 3: same answer.
    np.testing.assert_allclose(onnx_predictor(model, batch_size=3)(x), ref, atol=1e-5)
    # "onnx" checks windowed ONNX Runtime against windowed eager on x; "auto" on its own
    # (multi-window) probe.
    for runtime, probe in (("onnx", x), ("auto", None)):
        got = make_predictor(model, device="cpu", batch_size=16, runtime=runtime, probe=probe)(x)
        np.testing.assert_allclose(got, ref, atol=1e-5)
        assert np.abs(got[:2] - centre[:2]).max() > 1e-3
    # A model without a protocol keeps the centre crop.
    model.window_protocol = None
    np.testing.assert_allclose(onnx_predictor(model, batch_size=16)(x), centre, atol=1e-5)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A resnet1d_small trained one epoch on 2.5 s crops of 10 s toy records with the protocol."""
    from ecgtriage.data.dataset import SignalDataset
    from ecgtriage.train.config import TrainConfig
    from ecgtriage.train.run import train_on_arrays

    x, y = make_toy_task(48, 3, fs=FS, n_samples=N_RECORD, multilabel=True, seed=0)
    cfg = TrainConfig(epochs=1, batch_size=16, patience=0, num_threads=1, device="cpu", seed=0,
                      amp="off", **PROTOCOL)
    train = SignalDataset(x, np.arange(32), y[:32])
    val = SignalDataset(x, np.arange(32, 48), y[32:], record_ids=[f"v{i}" for i in range(16)])
    return train_on_arrays(train, val, classes=["a", "b", "c"], multilabel=True, ordered=False,
                           fs=FS, config=cfg, out_dir=tmp_path_factory.mktemp("win") / "run",
                           scheme_name="toy", scheme_version="1", progress=False)


@pytest.mark.slow
def test_trained_run_is_scored_in_the_study_as_validated(trained_run):
    from ecgtriage.study.predict import make_predictor
    from ecgtriage.train.checkpoint import load_checkpoint

    model, card = load_checkpoint(trained_run)
    assert model.window_protocol == {"stride_s": 1.25, "aggregate": "max"}
    assert W.card_protocol(card) == model.window_protocol
    x = _records()
    ref = predict_proba(model, x, progress=False)
    assert np.abs(ref[:2] - _centre_crop(model, x)[:2]).max() > 1e-4
    for runtime in ("torch", "onnx"):
        got = make_predictor(model, device="cpu", batch_size=4, runtime=runtime, probe=x)(x)
        np.testing.assert_allclose(got, ref, atol=1e-5)


# ---- triage ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def triage_world(tmp_path_factory):
    """A synthetic PTB-XL corpus in WFDB, its 10 s cache, and a windowed tier3 run whose card
    carries the cache's preprocessing (untrained weights: the reading path is under test)."""
    from ecgtriage.data.prepare import prepare
    from ecgtriage.io.sources import open_source
    from ecgtriage.models import create_model
    from ecgtriage.synth.corpus import write_ptbxl_corpus
    from ecgtriage.train.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("wintriage")
    corpus = write_ptbxl_corpus(root / "corpus", 4, 1, workers=1, progress=False)
    cache = prepare(open_source(corpus), root / "cache", workers=1)
    assert cache.n_samples == N_RECORD and cache.fs == FS
    card = ModelCard(
        model=ModelSpec("resnet1d_small", 3), fs=FS, n_samples=N_MODEL,
        leads=tuple(CANONICAL_LEADS), units="mV",
        scheme=SchemeSpec("tier3", "1", ("Normal", "Monitor", "Serious"), multilabel=False,
                          ordered=True),
        objective=ObjectiveSpec("softmax", loss="ce"),
        thresholds={"kind": "serious_operating_point", "class": "Serious", "threshold": None},
        preprocessing={"cache_fs": FS, "cache_n_samples": N_RECORD,
                       **cache.manifest["preprocessing"]},
        config=dict(PROTOCOL), seed=0)
    torch.manual_seed(0)
    model = create_model("resnet1d_small", n_leads=12, n_samples=N_MODEL, fs=FS, n_outputs=3)
    run = root / "run"
    save_checkpoint(run, model, card)
    index = cache.index
    files = [Path(corpus) / f for f in index["file"]]
    return {"cache": cache, "run": run, "files": files, "ids": index["record_id"].astype(str).tolist()}


def test_triage_reads_the_whole_record_with_the_protocol(triage_world):
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.triage import load_triage_model, model_input, triage_file

    cache, ids, files = triage_world["cache"], triage_world["ids"], triage_world["files"]
    model, card = load_checkpoint(triage_world["run"])
    assert model.window_protocol is not None
    x = np.asarray(cache.signals[cache.rows_for(ids)], np.float32)
    expected = predict_proba(model, x, progress=False)
    assert np.abs(expected - _centre_crop(model, x)).max() > 1e-4  # the windows matter here
    triage_model = load_triage_model(triage_world["run"], threads=1)
    results = [triage_file(f, triage_model) for f in files]
    assert all(r.kind != "unreadable" for r in results), [r.status for r in results]
    got = np.array([[r.probabilities[c] for c in card.classes] for r in results])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert any("7 sliding windows of 2.5 s every 1.25 s over the 10 s window, max" in a
               for a in results[0].adaptations), results[0].adaptations
    # model_input keeps the cache-length record for a windowed model.
    from ecgtriage.io.single import read_ecg_file

    ecg = read_ecg_file(files[0])
    window, _, _ = model_input(ecg.record.signal, ecg.record.fs, card)
    assert window.shape == (12, N_RECORD)
    np.testing.assert_array_equal(window, x[0])


def test_onnx_export_carries_the_protocol_and_triages_alike_without_torch(triage_world, tmp_path):
    from ecgtriage.cli import main
    from ecgtriage.train.export import card_path
    from ecgtriage.triage import load_triage_model, triage_file

    onnx = tmp_path / "m.onnx"
    assert main(["export", "--run", str(triage_world["run"]), "--out", str(onnx)]) == 0
    exported = ModelCard.read(card_path(onnx))
    assert W.card_protocol(exported) == {"stride_s": 1.25, "aggregate": "max"}
    files = triage_world["files"]
    torch_model = load_triage_model(triage_world["run"], threads=1)
    onnx_model = load_triage_model(onnx, threads=1)
    for f in files[:2]:
        a, b = triage_file(f, torch_model), triage_file(f, onnx_model)
        assert a.tier == b.tier
        for c, p in a.probabilities.items():
            assert b.probabilities[c] == pytest.approx(p, abs=1e-5)
    code = textwrap.dedent(f"""
        import json, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, Block())
        from ecgtriage.triage import load_triage_model, triage_file
        r = triage_file({str(files[0])!r}, load_triage_model({str(onnx)!r}, threads=1))
        assert "torch" not in sys.modules
        print(json.dumps(r.to_dict()))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    blocked = json.loads(done.stdout)
    ref = triage_file(files[0], torch_model)
    assert any("sliding windows" in a for a in blocked["adaptations"])
    for c, p in ref.probabilities.items():
        assert blocked["probabilities"][c] == pytest.approx(p, abs=1e-5)


# ---- explain -----------------------------------------------------------------------------------


def test_explain_attributes_the_window_with_the_highest_target_probability():
    from ecgtriage.explain import attribute as A

    model = _windowed_model()
    x = _records(2)
    starts = aug.window_starts(N_RECORD, N_MODEL, 125)
    per_window = np.stack([A.target_probability(model, x[..., s:s + N_MODEL], 0) for s in starts])
    best = A.best_windows(model, x, 0)
    np.testing.assert_array_equal(best, np.asarray(starts)[per_window.argmax(axis=0)])
    # Max aggregation of sigmoid outputs: the explained window's score is the record's.
    np.testing.assert_allclose(A.target_probability(model, x, 0), per_window.max(axis=0), rtol=1e-6)
    np.testing.assert_allclose(A.target_probability(model, x, 0),
                               predict_proba(model, x, progress=False)[:, 0], rtol=1e-5)
    a = A.attribute("occlusion", model, x, 0, fs=FS, window_s=0.5)
    assert a.shape == x.shape
    for i, s in enumerate(best):
        outside = np.ones(N_RECORD, bool)
        outside[s:s + N_MODEL] = False
        assert not a[i][:, outside].any()
        direct = A.attribute("occlusion", model, x[i:i + 1, :, s:s + N_MODEL], 0, fs=FS, window_s=0.5)
        np.testing.assert_allclose(a[i, :, s:s + N_MODEL], direct[0], atol=1e-6)
    # Without a protocol the whole input is attributed as before.
    model.window_protocol = None
    assert A.best_windows(model, x, 0) is None


def test_cli_explain_of_a_windowed_model_on_a_10_s_record(triage_world, tmp_path, capsys):
    """`ecgtriage explain` reads the whole cache-length record, reports the windowed
    probabilities and attributes one 2.5 s window (every strong cell lies inside it)."""
    from ecgtriage.cli import main
    from ecgtriage.train.checkpoint import load_checkpoint

    cache, ids, files = triage_world["cache"], triage_world["ids"], triage_world["files"]
    model, card = load_checkpoint(triage_world["run"])
    out = tmp_path / "explain"
    assert main(["explain", "--run", str(triage_world["run"]), str(files[0]), "--out", str(out),
                 "--method", "occlusion", "--target", "0"]) == 0
    report = json.loads((out / f"{files[0].stem}.json").read_text())
    x = np.asarray(cache.signals[cache.rows_for(ids[:1])], np.float32)
    expected = predict_proba(model, x, progress=False)[0]
    got = np.array([report["probabilities"][c] for c in card.classes])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert any("sliding windows" in n for n in report["input_notes"])
    spans = [(w["start_s"], w["end_s"]) for w in report["top_windows"] if w["share"] > 0]
    assert spans and max(e for _, e in spans) - min(s for s, _ in spans) <= N_MODEL / FS + 0.5  # 0.5 s cells

"""``ecgtriage triage``: a file reaches the model as the study cache's array, decisions follow
the card, bad records never get a tier, the ONNX path runs without torch, exit codes.

The model here is an untrained ``resnet1d_small`` with a hand-made tier3 card whose
preprocessing block is the real cache manifest's (training does not matter for any of these
properties, and building it takes a second); the records are a small synthetic PTB-XL corpus
in WFDB, prepared into a cache by ``prepare`` exactly as a study would.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ecgtriage.cli import main
from ecgtriage.leads import CANONICAL_LEADS
from ecgtriage.train.card import ModelCard, ModelSpec, ObjectiveSpec, SchemeSpec
from ecgtriage.triage import (EXIT_OK, EXIT_REFERRED, EXIT_UNREADABLE, TriageResult, exit_code,
                              load_triage_model, triage_file, triage_files, triage_signal)
from ecgtriage.triage.model import missing_lead_support

N_SAMPLES = 250  # 2.5 s at 100 Hz: a centre window of the 10 s cache, as window_s = 2.5 trains

GATE_STUB = textwrap.dedent('''
    """Stand-in for ecgtriage.signal.quality_gate until it lands (tests only)."""
    from dataclasses import dataclass
    import numpy as np

    @dataclass(frozen=True)
    class GateResult:
        readable: bool
        flags: tuple = ()
        def message(self):
            return "; ".join(self.flags) or "ok"

    def assess_quality(signal, fs, present=None, limits=None):
        x = np.asarray(signal, dtype=np.float64)
        present = np.ones(x.shape[0], bool) if present is None else np.asarray(present, bool)
        x = x[present]
        if not np.isfinite(x).all():
            return GateResult(False, ("NaN or inf samples",))
        if x.size == 0 or (np.percentile(x, 99, axis=-1) - np.percentile(x, 1, axis=-1)).max() < 0.05:
            return GateResult(False, ("flat record",))
        hi, lo = x.max(axis=1, keepdims=True), x.min(axis=1, keepdims=True)
        if ((x >= hi - 0.02 * (hi - lo)) | (x <= lo + 0.02 * (hi - lo))).mean() > 0.5:
            return GateResult(False, ("clipped record",))
        return GateResult(True, ())
''')
HAVE_GATE = importlib.util.find_spec("ecgtriage.signal.quality_gate") is not None


@pytest.fixture(scope="session", autouse=True)
def quality_gate(tmp_path_factory):
    """The real gate when it exists, else the stub (in this process and in subprocesses)."""
    if HAVE_GATE:
        yield None
        return
    folder = tmp_path_factory.mktemp("gate")
    (folder / "quality_gate_stub.py").write_text(GATE_STUB)
    sys.path.insert(0, str(folder))
    import quality_gate_stub

    sys.modules["ecgtriage.signal.quality_gate"] = quality_gate_stub
    yield folder
    sys.modules.pop("ecgtriage.signal.quality_gate", None)


def make_card(manifest: dict, **thresholds) -> ModelCard:
    return ModelCard(
        model=ModelSpec("resnet1d_small", 3), fs=100.0, n_samples=N_SAMPLES,
        leads=tuple(CANONICAL_LEADS), units="mV",
        scheme=SchemeSpec("tier3", "1", ("Normal", "Monitor", "Serious"), multilabel=False,
                          ordered=True),
        objective=ObjectiveSpec("softmax", loss="ce"),
        thresholds={"kind": "serious_operating_point", "class": "Serious", "threshold": None,
                    **thresholds},
        preprocessing={"cache_fs": 100.0, "cache_n_samples": 1000,
                       **manifest["preprocessing"]},
        seed=0)


def write_run(run: Path, card: ModelCard) -> Path:
    import torch

    from ecgtriage.models import create_model
    from ecgtriage.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("resnet1d_small", n_leads=12, n_samples=N_SAMPLES, fs=100.0,
                         n_outputs=card.model.n_outputs)
    save_checkpoint(run, model, card)
    return run


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from ecgtriage.data.prepare import prepare
    from ecgtriage.io.sources import open_source
    from ecgtriage.synth.corpus import write_ptbxl_corpus

    root = tmp_path_factory.mktemp("triage")
    corpus = write_ptbxl_corpus(root / "corpus", 8, 1, workers=1, progress=False)
    cache = prepare(open_source(corpus), root / "cache", workers=1)
    card = make_card(cache.manifest, uncertainty={"threshold": 0.99, "split": "val"})
    run = write_run(root / "run", card)
    return {"root": root, "corpus": Path(corpus), "cache": cache, "run": run, "card": card}


def files_of(world) -> tuple[list[str], list[Path]]:
    index = world["cache"].index
    return index["record_id"].astype(str).tolist(), [world["corpus"] / f for f in index["file"]]


def test_triage_equals_the_study_prediction_path(world):
    """A WFDB file triaged equals ``predict_proba`` on the record's cached row: same array."""
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.train.predict import predict_proba

    ids, files = files_of(world)
    cache = world["cache"]
    model, card = load_checkpoint(world["run"])
    expected = predict_proba(model, np.asarray(cache.signals[cache.rows_for(ids)], np.float32),
                             progress=False)
    triage_model = load_triage_model(world["run"], threads=1)
    results = [triage_file(f, triage_model) for f in files]
    got = np.array([[r.probabilities[c] for c in card.classes] for r in results])
    assert all(r.kind != "unreadable" for r in results), [r.status for r in results]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    decided = card.decide(expected, operating_point=True)
    assert [r.tier for r in results] == [card.classes[i] for i in decided]
    assert any("model reads the centre 2.5 s" in a for a in results[0].adaptations)


def test_resampled_file_is_adapted_and_said_so(world):
    """The 500 Hz copy reaches the model resampled, with the adaptation in the output."""
    _, files = files_of(world)
    hr = sorted((world["corpus"] / "records500").rglob("*.hea"))[0]
    result = triage_file(hr, load_triage_model(world["run"]))
    assert result.tier in ("Normal", "Monitor", "Serious")
    assert "resampled from 500 Hz to 100 Hz" in result.adaptations


@pytest.mark.parametrize("kind", ["flat", "clipped", "nan"])
def test_bad_records_never_get_a_tier(world, kind):
    model = load_triage_model(world["run"])
    rng = np.random.default_rng(0)
    x = (0.5 * rng.standard_normal((12, 1000))).astype(np.float32)
    if kind == "flat":
        x[:] = 0.0
    elif kind == "clipped":
        x = np.clip(x * 20, -1.0, 1.0)
    else:
        x[3, 100:200] = np.nan
    result = triage_signal(x, 100.0, model, path=kind)
    assert result.kind == "unreadable" and result.tier is None and not result.probabilities
    assert exit_code([result]) == EXIT_UNREADABLE


def test_uncertainty_referral_and_old_cards(world, tmp_path):
    """A threshold below every possible score refers; a card without one never refers and
    says so."""
    _, files = files_of(world)
    manifest = world["cache"].manifest
    strict = write_run(tmp_path / "strict", make_card(manifest, uncertainty={"threshold": 0.0}))
    result = triage_file(files[0], load_triage_model(strict))
    assert result.kind == "referred" and result.tier is not None
    assert "calibrated on validation" in result.status
    old = write_run(tmp_path / "old", make_card(manifest))
    assert ModelCard.read(old).uncertainty_threshold is None
    result = triage_file(files[0], load_triage_model(old))
    assert result.status == "ok"
    assert any("no uncertainty referral" in f for f in result.quality_flags)


def test_uncertainty_threshold_from_validation():
    from ecgtriage.train.run import uncertainty_threshold

    p = np.array([[0.9, 0.05, 0.05]] * 19 + [[0.4, 0.3, 0.3]])
    entry = uncertainty_threshold(p, multilabel=False, refer_rate=0.05)
    assert entry["threshold"] == pytest.approx(0.6)  # the 95 % quantile: the one unsure record
    assert uncertainty_threshold(np.zeros((0, 3)), False)["threshold"] is None


def test_missing_leads_rule(world):
    """Without a study's measurement no tier; with one, only within the margin."""
    _, files = files_of(world)
    model = load_triage_model(world["run"])
    from ecgtriage.io.single import read_ecg_file

    ecg = read_ecg_file(files[0])
    x = ecg.record.signal.copy()
    present = [True] * 12
    for i in (6, 7):
        x[i] = 0.0
        present[i] = False
    result = triage_signal(x, ecg.record.fs, model, present=present)
    assert result.status == "unreadable: model not validated with 2 missing leads"
    assert any("missing leads V1, V2" in a for a in result.adaptations)
    results = {"robustness": {"curves": [
        {"scheme": "tier3", "seed": 0, "test_set": "internal", "corruption": None, "value": 0.8},
        {"scheme": "tier3", "seed": 0, "test_set": "internal", "corruption": "missing_leads",
         "severity": 1, "value": 0.79},
        {"scheme": "tier3", "seed": 0, "test_set": "internal", "corruption": "missing_leads",
         "severity": 3, "value": 0.77},
        {"scheme": "tier3", "seed": 0, "test_set": "internal", "corruption": "missing_leads",
         "severity": 6, "value": 0.5}]}}
    model.robustness = missing_lead_support(results, "tier3", 0)
    assert triage_signal(x, ecg.record.fs, model, present=present).tier is not None  # 3 ≥ 2, drop .03
    many = list(present)
    for i in (8, 9, 10):
        many[i] = False
    status = triage_signal(x, ecg.record.fs, model, present=many).status
    assert status.startswith("unreadable: model not validated with 5 missing leads")


def test_exit_codes():
    ok = TriageResult(path="a", status="ok", tier="Normal")
    ref = TriageResult(path="b", status="referred: x", tier="Normal")
    bad = TriageResult(path="c", status="unreadable: y")
    assert exit_code([ok]) == EXIT_OK
    assert exit_code([ok, ref]) == EXIT_REFERRED
    assert exit_code([ref, bad, ok]) == EXIT_UNREADABLE


def test_cli_formats_and_exit_codes(world, tmp_path, capsys):
    _, files = files_of(world)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((12, 1000), np.float32))
    code = main(["triage", str(files[0]), str(files[1]), "--model", str(world["run"]),
                 "--format", "json", "--threads", "1"])
    rows = json.loads(capsys.readouterr().out)
    assert code in (EXIT_OK, EXIT_REFERRED) and len(rows) == 2
    assert set(rows[0]) >= {"path", "tier", "probabilities", "statements", "quality_flags",
                            "adaptations", "status", "model", "model_version"}
    code = main(["triage", str(flat), "--model", str(world["run"]), "--fs", "100",
                 "--leads", ",".join(CANONICAL_LEADS), "--format", "json"])
    flat_rows = json.loads(capsys.readouterr().out)
    assert code == EXIT_UNREADABLE and flat_rows[0]["tier"] is None
    broken = tmp_path / "broken.hea"
    broken.write_text("not a header\n")
    out = tmp_path / "t.csv"
    code = main(["triage", str(files[0]), str(broken), "--model", str(world["run"]),
                 "--format", "csv", "--out", str(out)])
    assert code == EXIT_UNREADABLE
    import pandas as pd

    table = pd.read_csv(out)
    assert list(table["status"].str.split(":").str[0]) == [rows[0]["status"].split(":")[0], "unreadable"]
    assert {"p:Normal", "p:Monitor", "p:Serious"} <= set(table.columns)
    assert main(["triage", str(files[0]), "--model", str(world["run"]), "--out", str(out)]) == 1
    code = main(["triage", str(files[0]), "--model", str(tmp_path)])
    assert code == 1 and "expected a run folder" in capsys.readouterr().err


def test_onnx_export_writes_card_and_triages_without_torch(world, tmp_path):
    """`ecgtriage export` writes NAME.card.json; triage of a file with the .onnx imports no torch
    (a meta-path finder refuses it) and gives the torch model's probabilities."""
    from ecgtriage.train.export import card_path
    from ecgtriage.triage.model import onnx_card_path

    onnx = tmp_path / "m.onnx"
    assert main(["export", "--run", str(world["run"]), "--out", str(onnx)]) == 0
    assert card_path(onnx) == onnx_card_path(onnx) == tmp_path / "m.card.json"
    assert ModelCard.read(card_path(onnx)) == world["card"]
    _, files = files_of(world)
    gate = world_gate_path()
    code = textwrap.dedent(f"""
        import json, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, Block())
        if {gate!r}:
            sys.path.insert(0, {gate!r})
            import quality_gate_stub
            sys.modules["ecgtriage.signal.quality_gate"] = quality_gate_stub
        from ecgtriage.triage import load_triage_model, triage_file
        model = load_triage_model({str(onnx)!r}, threads=1)
        r = triage_file({str(files[0])!r}, model)
        assert "torch" not in sys.modules
        print(json.dumps(r.to_dict()))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    onnx_result = json.loads(done.stdout)
    torch_result = triage_file(files[0], load_triage_model(world["run"]))
    assert onnx_result["tier"] == torch_result.tier
    for c, p in torch_result.probabilities.items():
        assert onnx_result["probabilities"][c] == pytest.approx(p, abs=1e-5)


def world_gate_path() -> str:
    module = sys.modules.get("ecgtriage.signal.quality_gate")
    if HAVE_GATE or module is None or not hasattr(module, "__file__"):
        return ""
    return str(Path(module.__file__).parent) if "stub" in module.__file__ else ""


def test_export_refuses_a_card_of_another_model(world, tmp_path):
    from ecgtriage.errors import DataError
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.train.export import export_onnx

    model, card = load_checkpoint(world["run"])
    other = dataclasses.replace(card, n_samples=500)
    with pytest.raises(DataError, match="n_samples is 500"):
        export_onnx(model, tmp_path / "x.onnx", card=other)
    assert not (tmp_path / "x.onnx").exists()


def test_export_refuses_nan_weights(world, tmp_path):
    import torch

    from ecgtriage.errors import DataError
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.train.export import export_onnx

    model, card = load_checkpoint(world["run"])
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(DataError, match="non-finite"):
        export_onnx(model, tmp_path / "x.onnx", card=card)
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "x.card.json").exists()


# ---- a tiny study: triage gives the study's own tiers -----------------------------------------


@pytest.mark.slow
def test_triage_of_study_model_gives_the_study_tiers(tmp_path):
    """Synthetic SPH (train) + PTB-XL-format WFDB (external) corpora, a tier3-only study with
    the missing-leads corruption; triage of the external WFDB files with MODEL = the study folder
    gives the probabilities and tiers of the study's prediction table for those records."""
    import pandas as pd

    from ecgtriage.data.cache import open_cache
    from ecgtriage.study import run as study_mod
    from ecgtriage.study.config import load_study_config
    from ecgtriage.study.predict import probabilities, read_predictions
    from ecgtriage.synth.corpus import write_ptbxl_corpus, write_sph_corpus

    # The simulator's records (not the sinusoid stand-in of test_study_run): the quality gate
    # must find them readable, like a real recording.
    train = write_sph_corpus(tmp_path / "sph_mini", 60, 3, workers=1, progress=False)
    external = write_ptbxl_corpus(tmp_path / "ptbxl_mini", 12, 4, workers=1, progress=False)
    cfg = load_study_config(None, **{
        "out": str(tmp_path / "study"), "data.train": str(train), "data.external": [str(external)],
        "data.workers": 1, "schemes": ["tier3"], "seeds": [0],
        "train.epochs": 1, "train.batch_size": 32, "train.num_threads": 1,
        "evaluation.bootstrap": 5, "evaluation.corruptions": ["missing_leads"],
        "evaluation.severities": {"missing_leads": [1, 2]}, "evaluation.corrupt_external": False,
        **optional_evaluation(explain_sample=0)})
    study = Path(study_mod.run_study(cfg, command="pytest"))
    model = load_triage_model(study, threads=1)
    assert model.card.scheme_name == "tier3" and set(model.robustness["points"]) == {1, 2}
    cell = next((study / "cells").glob("tier3-s0-*"))
    (table_path,) = [p for p in (cell / "predictions").glob("ptbxl_mini-*.csv")
                     if "__" not in p.name]  # not the EM-adjusted copy
    table = read_predictions(table_path)
    cache = open_cache(study / "data" / "caches" / "ptbxl_mini")
    files = dict(zip(cache.index["record_id"].astype(str), cache.index["file"]))
    results = [triage_file(Path(external) / files[r], model) for r in table["record_id"]]
    # The gate may refuse a simulated record (baseline wander); those get no tier at all.
    readable = [i for i, r in enumerate(results) if r.kind != "unreadable"]
    assert len(readable) >= len(results) // 2, [r.status for r in results]
    assert all(results[i].tier is None for i in set(range(len(results))) - set(readable))
    expected = probabilities(table, model.card.classes)[readable]
    got = np.array([[results[i].probabilities[c] for c in model.card.classes] for i in readable])
    # The table holds 6 significant digits, possibly from onnxruntime (evaluation.runtime).
    np.testing.assert_allclose(got, expected, atol=2e-5)
    tiers = model.card.decide(expected, operating_point=True)
    assert [results[i].tier for i in readable] == [model.card.classes[i] for i in tiers]
    assert model.card.uncertainty_threshold is not None  # training calibrated one
    assert pd.notna(model.robustness["clean"])


def test_plot_with_model_puts_the_triage_result_in_the_header(world, tmp_path, capsys):
    out = tmp_path / "ecg.png"
    assert main(["plot", str(world["corpus"]), "--record", "2", "--out", str(out),
                 "--model", str(world["run"])]) == 0
    said = capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "triage: " in said and world["card"].model.name in said
    _, files = files_of(world)
    one = tmp_path / "one.png"
    assert main(["plot", str(files[0]), "--out", str(one), "--model", str(world["run"])]) == 0
    assert one.is_file()
    code = main(["plot", str(world["root"] / "cache"), "--out", str(tmp_path / "c.png"),
                 "--model", str(world["run"])])
    assert code == 1 and "is a cache" in capsys.readouterr().err


def optional_evaluation(**settings) -> dict:
    """Study evaluation settings that this version of ``EvaluationConfig`` has (dotted keys)."""
    from ecgtriage.study.config import EvaluationConfig

    names = {f.name for f in dataclasses.fields(EvaluationConfig)}
    return {f"evaluation.{k}": v for k, v in settings.items() if k in names}


# ---- real files: PTB-XL and the PhysioNet/CinC Challenge 2021 sample ---------------------------


@pytest.mark.slow
@pytest.mark.realdata
def test_real_challenge_files_match_their_prepared_cache(shared_data, world, tmp_path):
    """The shared Challenge sample prepared by ``prepare``; triage of each .hea gives the
    probabilities of its cached row (records the gate refuses get no tier)."""
    from ecgtriage.data.prepare import PrepareConfig, prepare
    from ecgtriage.io.sources import open_source
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.train.predict import predict_proba

    source = shared_data / "cinc2021"
    if not source.is_dir():
        pytest.skip(f"{source} absent")
    cache = prepare(open_source(source), tmp_path / "cache", PrepareConfig(), workers=1)
    model, card = load_checkpoint(world["run"])
    triage_model = load_triage_model(world["run"])
    ids = cache.index["record_id"].astype(str).tolist()
    expected = predict_proba(model, np.asarray(cache.signals[cache.rows_for(ids)], np.float32),
                             progress=False)
    results = [triage_file(source / f, triage_model) for f in cache.index["file"]]
    readable = [i for i, r in enumerate(results) if r.kind != "unreadable"]
    assert len(readable) >= len(ids) // 2, [r.status for r in results]
    got = np.array([[results[i].probabilities[c] for c in card.classes] for i in readable])
    np.testing.assert_allclose(got, expected[readable], atol=1e-6)


@pytest.mark.realdata
def test_real_ptbxl_files_reach_the_model_as_prepare_makes_them(shared_data, world):
    """PTB-XL 500 Hz and 100 Hz files: triage's model input equals what ``prepare`` computes
    for the same file (``preprocess_many``, stored float16), window for window."""
    from ecgtriage.data.prepare import PrepareConfig
    from ecgtriage.io.single import read_ecg_file
    from ecgtriage.io.sources import open_source
    from ecgtriage.signal.preprocess import preprocess_many
    from ecgtriage.triage import model_input

    root = shared_data / "ptbxl"
    if not (root / "ptbxl_database.csv").is_file():
        pytest.skip(f"{root} absent")
    source = open_source(root)
    card = world["card"]
    for fs in (100.0, 500.0):
        ids = [str(r) for r in source.record_ids()[:3]]
        records = [source.read(r, fs=fs) for r in ids]
        prepared = preprocess_many([r.signal for r in records], [r.fs for r in records],
                                   PrepareConfig())
        for rid, out in zip(ids, prepared):
            ecg = read_ecg_file(source.record_file(rid, fs=fs))
            x, _, _ = model_input(ecg.record.signal, ecg.record.fs, card)
            cached = out.signal.astype(np.float16).astype(np.float32)
            start = (cached.shape[-1] - card.n_samples) // 2
            np.testing.assert_array_equal(x, cached[:, start:start + card.n_samples])


def test_unreadable_file_and_wrong_options(world, tmp_path, capsys):
    """A broken file is one unreadable row; options that do not fit a file stop the command."""
    _, files = files_of(world)
    broken = tmp_path / "broken.hea"
    broken.write_text("not a header\n")
    model = load_triage_model(world["run"])
    result = triage_file(broken, model)
    assert result.kind == "unreadable" and result.tier is None and "broken.hea" in result.status
    code = main(["triage", str(files[0]), "--model", str(world["run"]), "--leads", "I,II"])
    assert code == 1 and "--leads" in capsys.readouterr().err


def test_aha44_model_gives_statements_and_their_tier(world, tmp_path):
    """Statements are the classes at or above their card thresholds; the tier is those
    statements collapsed to tier3 by the labels' rules. Folders are searched for files."""
    from ecgtriage.labels import load_scheme
    from ecgtriage.labels.targets import collapse_to_tier

    classes = load_scheme("aha44").classes
    values = {c: (None if i == 0 else 0.5) for i, c in enumerate(classes)}
    card = dataclasses.replace(
        world["card"], model=ModelSpec("resnet1d_small", len(classes)),
        scheme=SchemeSpec("aha44", "1", tuple(classes), multilabel=True),
        objective=ObjectiveSpec("sigmoid", loss="bce"),
        thresholds={"kind": "per_class_f1", "values": values,
                    "uncertainty": {"threshold": 1.0}})
    run = write_run(tmp_path / "aha44", card)
    model = load_triage_model(run)
    results = triage_files([world["corpus"] / "records100"], model)
    assert len(results) == 8
    for r in results:
        p = np.array([r.probabilities[c] for c in classes])
        hits = (p >= 0.5) & (np.arange(len(classes)) > 0)  # class 0 has no threshold: never
        assert r.statements == tuple(c for c, h in zip(classes, hits) if h)
        tier3 = load_scheme("tier3")
        assert r.tier == tier3.classes[int(collapse_to_tier(hits[None, :], tier3)[0])]
        assert r.status == "ok"

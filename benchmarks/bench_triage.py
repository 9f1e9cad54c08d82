"""Triage latency: one record end to end (read + quality gate + preprocess + model), torch eager
vs onnxruntime, and the cold start of ``ecgtriage triage`` for one file.

Usage::

    nice .venv/bin/python benchmarks/bench_triage.py [--source ../shared/data/ptbxl]
        [--n 50] [--repeats 3] [--cold 3] [--threads 1]

The model is the study's default architecture (``TrainConfig().model``) over the default
preprocessing (10 s at 100 Hz, the whole window); its weights are untrained (latency does not
depend on them), saved as a run folder and exported to ONNX with its card. Records are the
500 Hz WFDB files of PTB-XL when ``--source`` exists (resampling included), else 500 Hz
synthetic PTB-XL-format records. Warm rows: the model is loaded once, one record triaged
first, then every record ``--repeats`` times; median and p90 over all of them. Cold rows: a
fresh ``python -m ecgtriage triage FILE --model M`` subprocess, wall time, median of
``--cold``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _default_model(root: Path) -> tuple[Path, Path]:
    """A run folder with the default architecture and an ONNX export beside it."""
    import torch

    from ecgtriage.data.prepare import preprocessing_record
    from ecgtriage.leads import CANONICAL_LEADS
    from ecgtriage.models import create_model
    from ecgtriage.signal.preprocess import PreprocessConfig
    from ecgtriage.train.card import ModelCard, ModelSpec, ObjectiveSpec, SchemeSpec
    from ecgtriage.train.checkpoint import save_checkpoint
    from ecgtriage.train.config import TrainConfig
    from ecgtriage.train.export import export_onnx

    pre = PreprocessConfig()
    name = TrainConfig().model
    torch.manual_seed(0)
    model = create_model(name, n_leads=12, n_samples=pre.n_samples, fs=pre.fs, n_outputs=3)
    card = ModelCard(
        model=ModelSpec(name, 3, int(sum(p.numel() for p in model.parameters()))),
        fs=pre.fs, n_samples=pre.n_samples, leads=tuple(CANONICAL_LEADS), units="mV",
        scheme=SchemeSpec("tier3", "1", ("Normal", "Monitor", "Serious"), False, True),
        objective=ObjectiveSpec("softmax", loss="ce"),
        thresholds={"kind": "serious_operating_point", "class": "Serious", "threshold": 0.3,
                    "uncertainty": {"threshold": 0.5}},
        preprocessing={"cache_fs": pre.fs, "cache_n_samples": pre.n_samples,
                       **preprocessing_record(pre)}, seed=0)
    run = root / "run"
    save_checkpoint(run, model, card)
    model.output_activation = "softmax"
    onnx = root / "model.onnx"
    export_onnx(model, onnx, card=card)
    return run, onnx


def _records(source: Path, n: int, root: Path) -> tuple[list[Path], str]:
    if source.is_dir():
        files = sorted((source / "records500").rglob("*.hea"))[:n]
        if files:
            return files, f"PTB-XL records500 ({source})"
    from ecgtriage.synth.corpus import write_ptbxl_corpus

    corpus = write_ptbxl_corpus(root / "corpus", n, 0, workers=1, progress=False)
    return sorted((Path(corpus) / "records500").rglob("*.hea"))[:n], "synthetic PTB-XL format, 500 Hz"


def _warm(model, files: list[Path], repeats: int) -> list[float]:
    from ecgtriage.triage import triage_file

    triage_file(files[0], model)  # first call: lazy imports, allocator, filter design
    times = []
    for _ in range(repeats):
        for f in files:
            t = time.perf_counter()
            triage_file(f, model)
            times.append((time.perf_counter() - t) * 1e3)
    return times


def _cold(model: Path, file: Path, n: int, threads: int) -> list[float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "ecgtriage", "triage", str(file), "--model",
                               str(model), "--threads", str(threads)], capture_output=True, text=True)
        times.append((time.perf_counter() - t) * 1e3)
        if done.returncode not in (0, 3, 4):
            raise RuntimeError(done.stderr[-1000:])
    return times


def _row(name: str, times: list[float]) -> str:
    return (f"| {name} | {len(times)} | {statistics.median(times):.1f} | "
            f"{np.percentile(times, 90):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_source = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptbxl"
    parser.add_argument("--source", default=str(default_source))
    parser.add_argument("--n", type=int, default=50, help="records")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold", type=int, default=3, help="cold CLI starts per runtime")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from ecgtriage.triage import load_triage_model

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run, onnx = _default_model(root)
        files, what = _records(Path(args.source), args.n, root)
        models = {"torch eager": load_triage_model(run, threads=args.threads, runtime="torch"),
                  "onnxruntime": load_triage_model(onnx, threads=args.threads, runtime="onnx")}
        card = models["onnxruntime"].card
        print(f"records: {len(files)} x {args.repeats} ({what}); model {card.model.name} "
              f"({card.model.n_parameters:,} parameters), input 12 x {card.n_samples} at "
              f"{card.fs:g} Hz; {args.threads} thread(s)\n")
        print("| path | n | median ms | p90 ms |")
        print("|---|---|---|---|")
        warm = {name: _warm(m, files, args.repeats) for name, m in models.items()}
        for name, times in warm.items():
            print(_row(f"warm, {name}", times))
        # Each stage alone, for the split of the end-to-end time.
        from ecgtriage.io.single import read_ecg_file
        from ecgtriage.signal.quality_gate import assess_quality
        from ecgtriage.triage.core import model_input

        ecg = read_ecg_file(files[0])
        stages = {
            "stage: read file": lambda i: read_ecg_file(files[i % len(files)]),
            "stage: quality gate": lambda i: assess_quality(ecg.record.signal, ecg.record.fs,
                                                            present=ecg.present),
            "stage: preprocess + window": lambda i: model_input(ecg.record.signal, ecg.record.fs, card),
        }
        for name, fn in stages.items():
            fn(0)
            times = []
            for i in range(50):
                t = time.perf_counter()
                fn(i)
                times.append((time.perf_counter() - t) * 1e3)
            print(_row(name, times))
        x, _, _ = model_input(ecg.record.signal, ecg.record.fs, card)
        for name, m in models.items():
            m.predict_proba(x[None])
            times = []
            for _ in range(50):
                t = time.perf_counter()
                m.predict_proba(x[None])
                times.append((time.perf_counter() - t) * 1e3)
            print(_row(f"stage: model, {name}", times))
        for name, path in (("torch eager", run), ("onnxruntime", onnx)):
            print(_row(f"cold CLI (1 file), {name}", _cold(path, files[0], args.cold, args.threads)))


if __name__ == "__main__":
    main()

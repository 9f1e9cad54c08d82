"""Attributions per second per method on CPU for the default model; prints a table.

The default model is the study's (``resnet1d_small`` at 100 Hz × 10 s, a tier3 head). Weights
are random: the cost of an attribution does not depend on what the model learned. Occlusion
uses its default 0.5 s windows (12 leads × 20 windows = 240 forward passes per record), IG its
default 32 steps; the Grad-CAM figure includes the input-gradient lead split.

Run: .venv/bin/python benchmarks/bench_explain.py [--records N] [--threads T]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ecgtriage.explain.attribute import METHODS, attribute
from ecgtriage.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=16)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model("resnet1d_small", n_samples=1000, fs=100.0, n_outputs=3).eval()
    model.output_activation = "softmax"
    x = np.random.default_rng(0).normal(0, 0.3, (args.records, 12, 1000)).astype(np.float32)
    attribute("gradcam", model, x[:2], 2)  # warm-up (captum import, allocator)
    rows = []
    for method in METHODS:
        t0 = time.perf_counter()
        attribute(method, model, x, 2)
        dt = time.perf_counter() - t0
        rows.append((method, args.records, dt, args.records / dt))
    print(f"resnet1d_small, 12 x 1000 samples (100 Hz, 10 s), CPU threads {args.threads}")
    print(f"{'method':10} {'records':>8} {'seconds':>8} {'records/s':>10}")
    for method, n, s, r in rows:
        print(f"{method:10} {n:8d} {s:8.2f} {r:10.2f}")


if __name__ == "__main__":
    main()

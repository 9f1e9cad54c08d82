"""``ecgtriage explain --run RUN RECORD... --out DIR``: where a trained model looks, per record.

For each record: the model's input window prepared exactly as for triage
(``ecgtriage.triage.core.model_input``: the training cache's preprocessing, read from the model
card), one attribution map (``ecgtriage.explain.attribute``), a PNG of the record in the
clinical layout with the map behind the trace, and a JSON of the numbers behind it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ecgtriage.cli.options import add_overwrite, add_parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``explain`` to the CLI's subparsers."""
    p = add_parser(
        subparsers, "explain",
        help="attribution maps of a trained model on ECG files (PNG + JSON per record)",
        description="Explain a trained model's prediction on each RECORD (WFDB .hea, Challenge "
        ".hea/.mat, SPH .h5, DICOM, HL7 aECG, CSV, .npy): the record is preprocessed as the "
        "model's card says, the target probability is attributed to every lead and sample "
        "(Grad-CAM, Integrated Gradients or occlusion), and DIR receives RECORD.png (the "
        "printout at 25 mm/s, 10 mm/mV, with the attribution as a colour band behind each lead: "
        "red for, blue against the target) and RECORD.json (probabilities, per-lead and "
        "per-segment attribution shares, the strongest windows).",
    )
    p.add_argument("records", nargs="+", metavar="RECORD", help="ECG files to explain")
    p.add_argument("--run", required=True, metavar="RUN", help="run folder of `ecgtriage train`")
    p.add_argument("--method", choices=("gradcam", "ig", "occlusion"), default="gradcam",
                   help="attribution method (default: gradcam)")
    p.add_argument("--target", default=None, metavar="CLASS",
                   help="class name or index, or 'serious' (default: 'serious' when the model "
                        "has a Serious score, else the most probable class)")
    p.add_argument("--fs", type=float, default=None,
                   help="sampling rate in Hz for files that carry none (CSV, .npy) "
                        "(default: the file's own)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_overwrite(p, "existing RECORD.png / RECORD.json in --out")
    p.set_defaults(func=run)


def _default_target(card, proba) -> str | int:
    from ecgtriage.explain.attribute import serious_mask
    from ecgtriage.errors import ConfigError

    try:
        serious_mask(card)
        return "serious"
    except ConfigError:
        return int(proba.argmax())


def run(args: argparse.Namespace) -> int:
    """Explain every record; print one line per written figure."""
    import numpy as np

    from ecgtriage import atomic
    from ecgtriage.errors import ConfigError
    from ecgtriage.explain import attribute as attr_mod
    from ecgtriage.explain.figure import attribution_figure
    from ecgtriage.io.single import read_ecg_file
    from ecgtriage.leads import CANONICAL_LEADS
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.train.predict import predict_proba
    from ecgtriage.triage.core import model_input

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    model, card = load_checkpoint(args.run)
    inputs = [(Path(r), read_ecg_file(r, fs=args.fs)) for r in args.records]
    names = [_name(p) for p, _ in inputs]
    if len(set(names)) != len(names):
        raise ConfigError(f"RECORD: two files share a name ({', '.join(names)}); their outputs "
                          "would overwrite each other")
    for name in names:
        for suffix in (".png", ".json"):
            if (out / f"{name}{suffix}").exists() and not args.overwrite:
                raise ConfigError(f"--out {out}: {name}{suffix} exists; pass --overwrite to replace it")
    out.mkdir(parents=True, exist_ok=True)
    for name, (path, ecg) in zip(names, inputs):
        x, notes, _ = model_input(ecg.record.signal, ecg.record.fs, card)
        proba = predict_proba(model, x[None], activation=card.activation, progress=False)[0]
        target = args.target if args.target is not None else _default_target(card, proba)
        if isinstance(target, str) and target.lstrip("-").isdigit() and target not in card.classes:
            target = int(target)
        mask = attr_mod.target_mask(target, card.classes, card)
        a = attr_mod.attribute(args.method, model, x[None], mask, card=card)[0]
        score = float(attr_mod.target_probability(model, x[None], mask, card=card)[0])
        numbers = _numbers(a, x, card.fs, CANONICAL_LEADS)
        label = ", ".join(c for c, m in zip(card.classes, mask) if m)
        if len(label) > 60:
            label = f"{int(mask.sum())} Serious-capable codes"
        title = (f"{name} · {args.method} · target {target} ({label}) p={score:.2f}"
                 f" · {card.scheme_name} model")
        legend = ("colour behind the trace: red = raises, blue = lowers the target probability "
                  f"(scale {numbers['colour_scale']:.2g})")
        if not np.any(a):
            legend += f" · {args.method} is zero everywhere: no evidence for the target"
        png = attribution_figure(x, a, card.fs, out / f"{name}.png", title=title, legend=legend)
        atomic.write_json(out / f"{name}.json", {
            "record": name, "file": str(ecg.path), "format": ecg.format,
            "missing_leads": list(ecg.missing_leads), "input_notes": list(ecg.notes) + notes,
            "run": str(args.run), "scheme": card.scheme_name, "method": args.method,
            "target": target, "target_classes": [c for c, m in zip(card.classes, mask) if m],
            "target_probability": score,
            "probabilities": {c: float(p) for c, p in zip(card.classes, proba)},
            "fs": card.fs, "n_samples": card.n_samples, **numbers,
            "segments": _segment_shares(a, x, card.fs),
        })
        print(f"wrote {png}")
    return 0


def _name(path: Path) -> str:
    return path.stem if path.suffix else path.name


def _numbers(a, x, fs: float, leads) -> dict:
    """Per-lead shares of |attribution|, and the five strongest 0.5 s windows."""
    import numpy as np

    mag = np.abs(a.astype(np.float64))
    total = mag.sum() or 1.0
    w = max(1, int(round(0.5 * fs)))
    n_win = mag.shape[1] // w
    cells = mag[:, :n_win * w].reshape(mag.shape[0], n_win, w).sum(axis=2)
    top = np.argsort(-cells.ravel())[:5]
    return {
        "lead_share": {lead: float(s) for lead, s in zip(leads, mag.sum(axis=1) / total)},
        "top_windows": [{"lead": leads[i // n_win], "start_s": (i % n_win) * w / fs,
                         "end_s": (i % n_win + 1) * w / fs, "share": float(cells.ravel()[i] / total)}
                        for i in top],
        "colour_scale": float(np.percentile(mag, 99)),
        "attribution_sum": float(a.sum()),
    }


def _segment_shares(a, x, fs: float) -> dict:
    """Share of positive attribution per beat segment, from NeuroKit2 delineation of the input
    (``explain.anatomy.delineate``); an ``error`` entry when delineation fails."""
    import numpy as np

    from ecgtriage.explain.anatomy import SEGMENTS, delineate

    try:
        masks = delineate(x, fs)
    except Exception as exc:  # noqa: BLE001 - delineation of noisy records may fail; say why
        return {"error": f"delineation failed: {exc}"}
    pos = np.clip(a.astype(np.float64), 0, None)
    total = pos.sum()
    if total <= 0:
        return {s: None for s in SEGMENTS}
    return {s: float(pos[np.asarray(masks[s], bool)].sum() / total) for s in SEGMENTS}

"""WFDB records (``.hea`` + ``.dat``/``.mat``) as mV arrays, through ``wfdb`` with a fast path.

The fast path covers the layout of PTB-XL and most PhysioNet 12-lead sets: every signal in
format 16 in one ``.dat`` file, one sample per frame, no byte offset. It reads the header text
and the samples with numpy (about 50x faster than ``wfdb.rdsamp``, whose header parser
dominates a 10 s record) and verifies the header checksums; ``tests/test_io_wfdb.py`` checks it
equal to ``wfdb.rdsamp`` on real records. Anything else goes through ``wfdb.rdrecord``.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgtriage.errors import DataError
from ecgtriage.io.leads import unit_scale

#: Format-16 value WFDB reserves for "sample missing".
_INVALID_16 = -32768
_GAIN_UNITS = re.compile(r"^(?P<gain>[-+0-9.eE]+)?(?:\((?P<baseline>-?\d+)\))?(?:/(?P<units>.+))?$")
_FMT = re.compile(r"^(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?$")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Storage formats ``wfdb`` reads (its ``DAT_FMTS``), spelled here so that parsing a header does
#: not import wfdb; another value would reach wfdb and fail there with a bare ``KeyError``.
_WFDB_FORMATS = frozenset({"8", "16", "24", "32", "61", "80", "160", "212", "310", "311",
                           "508", "516", "524"})


@dataclass(frozen=True)
class SignalSpec:
    """One signal line of a header."""

    file_name: str
    fmt: str
    samples_per_frame: int
    byte_offset: int
    gain: float
    baseline: int
    units: str
    adc_zero: int
    checksum: int | None
    name: str


@dataclass(frozen=True)
class Header:
    """A single-segment WFDB header, parsed tolerantly (comments kept without their ``#``)."""

    path: Path
    record_name: str
    n_sig: int
    fs: float
    sig_len: int
    signals: tuple[SignalSpec, ...]
    comments: tuple[str, ...]


def read_header(path: str | os.PathLike) -> Header:
    """Parse ``path`` (a ``.hea`` file). Raises ``FileNotFoundError``/``ValueError`` naming it.

    Tolerates the Challenge 2020 Georgia headers whose record name carries the signal file's
    extension (``E00271.mat 12 500 5000``), which ``wfdb.rdheader`` rejects.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise FileNotFoundError(f"header file {p} does not exist") from None
    lines, comments = [], []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line[1:].strip())
        else:
            lines.append(line.split("#", 1)[0].strip())
    if not lines:
        raise DataError(f"header file {p}: empty (no record line)")
    fields = lines[0].split()
    try:
        name = fields[0]
        if "/" in name:
            raise DataError("multi-segment records are not supported")
        n_sig = int(fields[1])
        fs = float(fields[2].split("/")[0].split("(")[0]) if len(fields) > 2 else 250.0
        sig_len = int(fields[3]) if len(fields) > 3 else 0
    except (IndexError, ValueError) as exc:
        raise DataError(f"header file {p}: malformed record line {lines[0]!r}: {exc}") from None
    # A rate of 0, NaN or inf would pass through every later step and poison resampling and
    # rate measurements; a negative length has no meaning.
    if not (math.isfinite(fs) and fs > 0):
        raise DataError(f"header file {p}: record line: sampling frequency must be a positive "
                        f"number, found {fields[2]!r}")
    if sig_len < 0 or n_sig < 0:
        raise DataError(f"header file {p}: record line: signal count and length must be >= 0, "
                        f"found {n_sig} signals x {sig_len} samples")
    if len(lines) - 1 != n_sig:
        raise DataError(
            f"header file {p}: record line declares {n_sig} signals but {len(lines) - 1} signal "
            "line(s) follow"
        )
    signals = tuple(_parse_signal_line(line, p, i) for i, line in enumerate(lines[1:], start=1))
    return Header(p, name, n_sig, fs, sig_len, signals, tuple(comments))


def _check_file_name(name: str, path: Path, line_no: int) -> None:
    """Refuse a signal file name that would read outside the header's folder.

    A header is data, possibly from a downloaded archive: ``../elsewhere/x.dat`` or an
    absolute path would make the reader open (and report on) any file the user can read.
    Real releases name a file beside the header, so the check is on the name itself; a
    symbolic link the user placed in the folder is their choice and is honoured.
    """
    parts = re.split(r"[/\\]", name)
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts or "\x00" in name:
        raise DataError(
            f"header file {path}: signal line {line_no}: file name {name!r} leaves the record's "
            "folder; only files beside the header (or below it) are read"
        )


def _parse_signal_line(line: str, path: Path, line_no: int = 1) -> SignalSpec:
    fields = line.split()
    if fields:
        _check_file_name(fields[0], path, line_no)
    try:
        fmt_match = _FMT.match(fields[1])
        gain_match = _GAIN_UNITS.match(fields[2]) if len(fields) > 2 else None
        if fmt_match is None or (len(fields) > 2 and gain_match is None):
            raise DataError("unrecognised format or gain field")
        if fmt_match.group("fmt") not in _WFDB_FORMATS:
            raise DataError(f"storage format {fmt_match.group('fmt')} is not one of "
                            f"{', '.join(sorted(_WFDB_FORMATS, key=int))}")
        gain = float(gain_match.group("gain")) if gain_match and gain_match.group("gain") else 0.0
        if not math.isfinite(gain):
            raise DataError(f"gain {fields[2]!r} is not a finite number")
        adc_zero = int(fields[4]) if len(fields) > 4 else 0
        baseline = (
            int(gain_match.group("baseline"))
            if gain_match and gain_match.group("baseline") is not None
            else adc_zero
        )
        return SignalSpec(
            file_name=fields[0],
            fmt=fmt_match.group("fmt"),
            samples_per_frame=int(fmt_match.group("spf") or 1),
            byte_offset=int(fmt_match.group("offset") or 0),
            gain=gain if gain != 0 else 200.0,  # WFDB: a missing or zero gain means 200
            baseline=baseline,
            units=(gain_match.group("units") if gain_match and gain_match.group("units") else "mV"),
            adc_zero=adc_zero,
            checksum=int(fields[6]) if len(fields) > 6 else None,
            name=" ".join(fields[8:]) if len(fields) > 8 else f"sig{fields[0]}",
        )
    except (IndexError, ValueError) as exc:
        raise DataError(
            f"header file {path}: malformed signal line {line_no} {line!r}: {exc}"
        ) from None


def _fast_path_ok(header: Header) -> bool:
    files = {s.file_name for s in header.signals}
    return (
        len(files) == 1
        and next(iter(files)).lower().endswith(".dat")
        and all(s.fmt == "16" and s.samples_per_frame == 1 and s.byte_offset == 0 for s in header.signals)
        and header.sig_len > 0
    )


def read_signals(hea_path: str | os.PathLike) -> tuple[np.ndarray, list[str], Header]:
    """Read a WFDB record given its ``.hea`` path.

    Returns ``(signal, lead_names, header)`` with ``signal`` float64 (n_sig, n) in **mV**
    (units converted per lead), invalid samples as NaN. Raises ``FileNotFoundError`` or
    ``ValueError`` naming the file for a missing, truncated or corrupt signal file.
    """
    header = read_header(hea_path)
    if _fast_path_ok(header):
        return _read_format16(header), [s.name for s in header.signals], header
    return _read_with_wfdb(header), [s.name for s in header.signals], header


def _read_format16(header: Header) -> np.ndarray:
    dat = header.path.parent / header.signals[0].file_name
    try:
        raw = np.fromfile(dat, dtype="<i2")
    except FileNotFoundError:
        raise FileNotFoundError(f"signal file {dat} does not exist (named in {header.path})") from None
    expected = header.sig_len * header.n_sig
    if raw.size != expected:
        raise DataError(
            f"signal file {dat}: truncated or wrong size: expected {expected * 2} bytes "
            f"({header.n_sig} signals x {header.sig_len} samples, format 16), found {raw.size * 2}"
        )
    digital = raw.reshape(header.sig_len, header.n_sig).T
    sums = digital.sum(axis=1, dtype=np.int64)
    for spec, total in zip(header.signals, sums):
        # WFDB checksums are 16-bit sums; writers disagree on signed vs unsigned, so compare mod 2^16.
        if spec.checksum is not None and int(total) % 65536 != spec.checksum % 65536:
            raise DataError(
                f"signal file {dat}: checksum mismatch in lead {spec.name} (header "
                f"{spec.checksum % 65536}, data {int(total) % 65536}); the file is corrupt"
            )
    gain = np.array([s.gain for s in header.signals])[:, None]
    baseline = np.array([s.baseline for s in header.signals], dtype=np.float64)[:, None]
    scale = np.array([unit_scale(s.units, str(header.path)) for s in header.signals])[:, None]
    signal = (digital - baseline) / gain
    if (digital == _INVALID_16).any():
        signal[digital == _INVALID_16] = np.nan
    if (scale != 1.0).any():
        signal = signal * scale
    return signal


def _read_with_wfdb(header: Header) -> np.ndarray:
    import wfdb

    for spec in header.signals:
        sig_file = header.path.parent / spec.file_name
        if not sig_file.is_file():
            raise FileNotFoundError(f"signal file {sig_file} does not exist (named in {header.path})")
    base = header.path.with_suffix("")
    try:
        if header.record_name != base.name and Path(header.record_name).stem == base.name:
            record = _rdrecord_fixed_name(header)
        else:
            record = wfdb.rdrecord(str(base))
    except (ValueError, OSError, IndexError, EOFError, KeyError, TypeError,
            ZeroDivisionError) as exc:
        # wfdb reports a file that contradicts its header in many ways (KeyError for an odd
        # format, ZeroDivisionError for zero samples per frame, ...); each is a bad file.
        files = ", ".join(sorted({s.file_name for s in header.signals}))
        raise DataError(
            f"signal file {header.path.parent / files}: cannot be read as declared in "
            f"{header.path.name} ({type(exc).__name__}: {exc}); the file is truncated or corrupt"
        ) from None
    signal = np.asarray(record.p_signal, dtype=np.float64).T
    if signal.shape != (header.n_sig, header.sig_len) and header.sig_len:
        raise DataError(
            f"signal file {header.path.parent / header.signals[0].file_name}: expected "
            f"{header.n_sig} x {header.sig_len} samples, read {signal.shape[0]} x {signal.shape[1]}"
        )
    scale = np.array([unit_scale(u, str(header.path)) for u in record.units])[:, None]
    return signal * scale if (scale != 1.0).any() else signal


def _rdrecord_fixed_name(header: Header):
    """``wfdb.rdrecord`` on a copy of the header whose record name has its extension removed."""
    import wfdb

    base = header.path.with_suffix("")
    text = header.path.read_text(encoding="ascii", errors="replace").splitlines()
    first = next(i for i, line in enumerate(text) if line.strip() and not line.lstrip().startswith("#"))
    fields = text[first].split()
    fields[0] = base.name
    text[first] = " ".join(fields)
    tmp = Path(tempfile.mkdtemp(prefix="ecgtriage-hea-"))
    try:
        (tmp / header.path.name).write_text("\n".join(text) + "\n", encoding="ascii")
        for name in {s.file_name for s in header.signals}:
            target = tmp / name
            try:
                os.symlink(header.path.parent.resolve() / name, target)
            except OSError:
                shutil.copyfile(header.path.parent / name, target)
        return wfdb.rdrecord(str(tmp / base.name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

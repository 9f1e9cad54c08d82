"""One ECG file as the triage command receives it: any of seven formats, leads possibly missing.

The dataset readers (``io.sources``) read whole releases whose layout is known and whose
records all hold the 12 standard leads. A file handed to ``ecgtriage triage`` comes from
anywhere: a hospital's DICOM export, an HL7 aECG from a trial, a CSV a colleague wrote, a
single WFDB or SPH record. :func:`read_ecg_file` turns each into one :class:`InputECG`: the
canonical (12, n) mV :class:`~ecgtriage.io.record.ECGRecord` plus which leads the file really
had (``present``) and what was adapted on the way (``notes``), so that the triage layer, not
the reader, decides whether a reduced lead set is acceptable, and the user sees every change
made to their file.

Every problem in the file (unknown lead, duplicate lead, a unit that is not a voltage,
non-numeric values, NaN) is a :class:`~ecgtriage.errors.DataError` naming the file and the
field; a missing setting the file cannot supply (the rate of a CSV) is a
:class:`~ecgtriage.errors.ConfigError`. Untrusted input: XML is parsed with ``defusedxml``
and ``.npy`` files are loaded without pickle.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ecgtriage.errors import ConfigError, DataError
from ecgtriage.io.record import ECGRecord
from ecgtriage.leads import CANONICAL_LEADS, normalise_lead_name

__all__ = ["FORMATS", "InputECG", "derive_limb_leads", "find_ecg_files", "read_ecg_file"]

#: Formats :func:`read_ecg_file` reads (the ``format`` argument and :attr:`InputECG.format`).
FORMATS: tuple[str, ...] = ("wfdb", "sph", "challenge", "dicom", "aecg", "csv", "npy")
_SUFFIX_FORMAT = {".hea": "wfdb", ".h5": "sph", ".hdf5": "sph", ".dcm": "dicom",
                  ".xml": "aecg", ".csv": "csv", ".npy": "npy"}
#: Signal files of a WFDB record: the header beside them is read instead.
_WFDB_SIGNAL_SUFFIXES = (".dat", ".mat")
#: Leads some 12-lead files carry besides the standard 12 (Frank X, Y, Z of the PTB
#: diagnostic database): dropped with a note rather than refused.
_EXTRA_LEADS = frozenset({"VX", "VY", "VZ", "X", "Y", "Z"})
#: CSV columns that hold time or a sample index, not a lead.
_TIME_COLUMNS = frozenset({"t", "time", "time_s", "time_ms", "sample", "index", "timestamp"})
#: Voltage units (lower case) → factor to millivolts; spellings of DICOM (UCUM) and HL7.
_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}
#: SPH's release rate; its HDF5 files do not store one.
SPH_FS = 500.0
_AECG_LEAD_PREFIX = "MDC_ECG_LEAD_"


@dataclass(frozen=True)
class InputECG:
    """One file as read for triage.

    Attributes
    ----------
    record : the signal, float32 (12, n) mV in ``CANONICAL_LEADS`` order; a lead the file did
        not have is a row of zeros (see ``present``).
    present : 12 flags, ``False`` for leads the file did not have.
    path : the file read (for WFDB, the ``.hea``).
    format : one of :data:`FORMATS`.
    notes : what was adapted, human readable (``"leads renamed AVR->aVR"``,
        ``"units uV -> mV"``, ...), so a report can show every change made to the input.
    """

    record: ECGRecord
    present: tuple[bool, ...]
    path: Path
    format: str
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.present) != len(CANONICAL_LEADS):
            raise ValueError(f"present: expected 12 flags, found {len(self.present)}")
        object.__setattr__(self, "present", tuple(bool(p) for p in self.present))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def present_leads(self) -> tuple[str, ...]:
        """Names of the leads the file had, canonical order."""
        return tuple(lead for lead, ok in zip(CANONICAL_LEADS, self.present) if ok)

    @property
    def missing_leads(self) -> tuple[str, ...]:
        """Names of the standard leads the file did not have."""
        return tuple(lead for lead, ok in zip(CANONICAL_LEADS, self.present) if not ok)


# ----------------------------------------------------------------------------- public API
def read_ecg_file(path: str | os.PathLike, *, fs: float | None = None,
                  leads: Sequence[str] | None = None, format: str | None = None) -> InputECG:
    """Read one ECG file of any supported format.

    Parameters
    ----------
    path : the file. A WFDB record is named by its ``.hea`` (its ``.dat``/``.mat`` is
        accepted and the header beside it read).
    fs : sampling rate in Hz. Required for CSV and ``.npy`` (they carry none); for SPH it
        replaces the release's 500 Hz; for formats that state a rate it must agree with it.
    leads : lead names of the rows (``.npy``) or columns (CSV without a header, or replacing
        the header's names). Only for CSV and ``.npy``: other formats name their leads.
    format : one of :data:`FORMATS`; by default from the file suffix (``.hea`` → WFDB or,
        with a ``#Dx`` line, Challenge; ``.h5`` → SPH; ``.dcm``; ``.xml`` → HL7 aECG; ``.csv``;
        ``.npy``).

    Returns
    -------
    InputECG
        The canonical record, which leads were present, and notes on what was adapted.

    Raises
    ------
    DataError
        The file is missing or not a readable ECG of its format; the message names the file
        and the field.
    ConfigError
        ``fs``/``leads``/``format`` are missing where needed, contradict the file, or do not
        apply to the format.
    """
    p = Path(path)
    if p.suffix.lower() in _WFDB_SIGNAL_SUFFIXES and p.with_suffix(".hea").is_file():
        p = p.with_suffix(".hea")
    if not p.exists():
        raise DataError(f"{p}: file does not exist")
    if p.is_dir():
        raise DataError(f"{p}: is a folder; expected one ECG file (find_ecg_files lists a folder's)")
    fmt = format if format is not None else _detect_format(p)
    if fmt not in FORMATS:
        raise ConfigError(f"format: expected one of {', '.join(FORMATS)}, found {fmt!r}")
    if fs is not None:
        fs = _check_fs(fs, "fs (--fs)", ConfigError)
    if leads is not None and fmt not in ("csv", "npy"):
        raise ConfigError(f"{p}: leads (--leads) applies to CSV and .npy files only; a {fmt} "
                          "file names its own leads")
    reader = {
        "wfdb": _read_wfdb, "challenge": _read_wfdb, "sph": _read_sph, "dicom": _read_dicom,
        "aecg": _read_aecg, "csv": _read_csv, "npy": _read_npy,
    }[fmt]
    return reader(p, fs=fs, leads=leads, fmt=fmt)


def find_ecg_files(path: str | os.PathLike) -> list[Path]:
    """The ECG files to triage under ``path``.

    A file gives ``[file]``. A folder is searched recursively (hidden entries skipped) for
    ``.hea`` (one entry per WFDB record, its signal files not listed), ``.h5``/``.hdf5`` holding
    an ``ecg`` dataset, ``.dcm``, ``.xml`` that are HL7 aECG documents, ``.csv`` whose first line
    is lead names or numbers (so a label table beside the records is not taken for an ECG) and
    ``.npy``. Sorted.

    Raises
    ------
    DataError
        ``path`` does not exist, or a folder holds no ECG file.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: does not exist")
    if not p.is_dir():
        return [p]
    found: list[Path] = []
    for folder, dirs, files in os.walk(p):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            candidate = Path(folder) / name
            if _looks_like_ecg(candidate):
                found.append(candidate)
    if not found:
        raise DataError(f"{p}: no ECG files found; expected .hea (WFDB/Challenge), .h5 (SPH), "
                        ".dcm (DICOM), .xml (HL7 aECG), .csv or .npy files")
    return sorted(found)


def derive_limb_leads(ecg: InputECG) -> InputECG:
    """``ecg`` with its absent limb leads computed from two or more present ones.

    Three limb electrodes give six limb leads with two degrees of freedom (Einthoven:
    III = II - I; Goldberger: aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2), so any two
    limb leads determine the other four exactly. Many exports (DICOM, aECG) store only I and
    II with V1-V6: after this, such a record is a complete 12-lead record. The present limb
    leads are fitted by least squares (exact with two), the absent ones computed; their
    ``present`` flags become ``True``, a note names them and ``record.extra["derived_leads"]``
    lists them. Precordial leads are independent and never derived. Unchanged with fewer than
    two limb leads or none absent.
    """
    from ecgtriage.signal.quality_gate import LIMB_BASIS

    limb = list(range(6))
    have = [i for i in limb if ecg.present[i]]
    absent = [i for i in limb if not ecg.present[i]]
    if len(have) < 2 or not absent:
        return ecg
    x = np.array(ecg.record.signal, dtype=np.float64)
    coef, *_ = np.linalg.lstsq(LIMB_BASIS[have], x[have], rcond=None)
    x[absent] = LIMB_BASIS[absent] @ coef
    derived = tuple(CANONICAL_LEADS[i] for i in absent)
    record = dataclasses.replace(ecg.record, signal=x.astype(np.float32),
                                 extra={**dict(ecg.record.extra), "derived_leads": derived})
    present = tuple(True if i in absent else p for i, p in enumerate(ecg.present))
    note = (f"limb leads {', '.join(derived)} derived from "
            f"{', '.join(CANONICAL_LEADS[i] for i in have)} (Einthoven/Goldberger)")
    return dataclasses.replace(ecg, record=record, present=present, notes=ecg.notes + (note,))


# ----------------------------------------------------------------------------- detection
def _detect_format(p: Path) -> str:
    suffix = p.suffix.lower()
    if suffix not in _SUFFIX_FORMAT:
        raise DataError(
            f"{p}: cannot tell the format from the suffix {suffix or '(none)'!r}; expected "
            f"{', '.join(sorted(_SUFFIX_FORMAT))} (or pass format: {', '.join(FORMATS)})")
    return _SUFFIX_FORMAT[suffix]


def _looks_like_ecg(p: Path) -> bool:
    suffix = p.suffix.lower()
    try:
        if suffix in (".hea", ".dcm", ".npy"):
            return True
        if suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(p, "r") as handle:
                return "ecg" in handle
        if suffix == ".xml":
            with open(p, "rb") as fh:
                return b"AnnotatedECG" in fh.read(4096)
        if suffix == ".csv":
            with open(p, encoding="utf-8-sig", errors="replace") as fh:
                first = fh.readline()
            cells = [c.strip().strip('"') for c in first.split(",")]
            return bool(cells) and all(_is_number(c) or _lead_or_time(c) for c in cells if c)
    except OSError:
        return False
    return False


def _lead_or_time(name: str) -> bool:
    if name.strip().lower() in _TIME_COLUMNS:
        return True
    try:
        normalise_lead_name(name)
    except ValueError:
        return name.strip().upper() in _EXTRA_LEADS
    return True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------- shared steps
def _check_fs(value: Any, field: str, error: type[Exception] = DataError) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise error(f"{field}: expected a sampling rate in Hz, found {value!r}") from None
    if not (math.isfinite(out) and out > 0):
        raise error(f"{field}: expected a positive sampling rate in Hz, found {value!r}")
    return out


def _mv_factor(unit: str, where: str) -> float:
    key = (unit or "").strip().lower()
    if key not in _TO_MV:
        raise DataError(f"{where}: unit {unit!r} is not a voltage; expected uV, mV or V")
    return _TO_MV[key]


def _assemble(signal: np.ndarray, names: Sequence[str], where: str, field: str,
              notes: list[str], *, note_renames: bool = True) -> tuple[np.ndarray, tuple[bool, ...]]:
    """Place the file's leads (rows of ``signal``, named ``names``) in canonical rows.

    Absent leads stay zero with ``present`` False; a lead whose every sample is missing (NaN)
    counts as absent. Renames, reordering, dropped extra leads and absent leads are noted.
    """
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] != len(names):
        raise DataError(f"{where}: {field}: {len(names)} lead name(s) for "
                        f"{signal.shape[0] if signal.ndim == 2 else signal.ndim} signal row(s)")
    if signal.shape[1] == 0:
        raise DataError(f"{where}: no samples")
    rows: dict[str, int] = {}
    renamed: list[str] = []
    dropped: list[str] = []
    for i, raw in enumerate(names):
        name = str(raw).strip()
        try:
            lead = normalise_lead_name(name)
        except ValueError:
            if name.upper() in _EXTRA_LEADS:
                dropped.append(name)
                continue
            raise DataError(f"{where}: {field}: unknown lead name {name!r}; expected one of "
                            f"{', '.join(CANONICAL_LEADS)}") from None
        if lead in rows:
            raise DataError(f"{where}: {field}: lead {lead} appears more than once")
        if lead != name:
            renamed.append(f"{name}->{lead}")
        rows[lead] = i
    if not rows:
        raise DataError(f"{where}: {field}: none of the 12 standard leads found "
                        f"(found {', '.join(map(str, names)) or 'none'})")
    out = np.zeros((len(CANONICAL_LEADS), signal.shape[1]), dtype=np.float32)
    present = [False] * len(CANONICAL_LEADS)
    empty: list[str] = []
    for j, lead in enumerate(CANONICAL_LEADS):
        if lead not in rows:
            continue
        row = signal[rows[lead]]
        bad = ~np.isfinite(row)
        if bad.all():
            empty.append(lead)
            continue
        if bad.any():
            first = int(np.argmax(bad))
            raise DataError(f"{where}: lead {lead}: {int(bad.sum())} NaN/inf sample(s), first at "
                            f"sample {first}; expected finite numbers")
        out[j] = row
        present[j] = True
    if renamed and note_renames:
        notes.append("leads renamed " + ", ".join(renamed))
    order = [rows[lead] for lead in CANONICAL_LEADS if lead in rows]
    if order != sorted(order):
        notes.append("leads reordered to " + " ".join(lead for lead in CANONICAL_LEADS if lead in rows))
    if dropped:
        notes.append("non-standard leads dropped: " + ", ".join(dropped))
    if empty:
        notes.append("leads without valid samples treated as absent: " + ", ".join(empty))
    missing = [lead for lead, ok in zip(CANONICAL_LEADS, present) if not ok]
    if missing and len(missing) < len(CANONICAL_LEADS):
        notes.append("leads absent (zero rows): " + ", ".join(missing))
    if not any(present):
        raise DataError(f"{where}: no lead holds valid samples")
    return out, tuple(present)


def _finish(p: Path, fmt: str, signal: np.ndarray, present: tuple[bool, ...], fs: float,
            notes: list[str], **fields: Any) -> InputECG:
    extra = {"file": str(p), **dict(fields.pop("extra", {}) or {})}
    record = ECGRecord(signal=signal, fs=float(fs), record_id=fields.pop("record_id", p.stem),
                       source_format=fmt, extra=extra, **fields)
    return InputECG(record=record, present=present, path=p, format=fmt, notes=tuple(notes))


def _agree_fs(given: float | None, found: float, where: str) -> float:
    if given is not None and abs(given - found) > 1e-6 * max(found, 1.0):
        raise ConfigError(f"{where}: fs (--fs) {given:g} Hz contradicts the file's sampling "
                          f"rate {found:g} Hz; omit it for this format")
    return found


# ----------------------------------------------------------------------------- WFDB / Challenge
def _read_wfdb(p: Path, *, fs: float | None, leads: Sequence[str] | None, fmt: str) -> InputECG:
    from ecgtriage.io.challenge import header_fields
    from ecgtriage.io.wfdb_read import read_signals

    try:
        signal, names, header = read_signals(p)
    except FileNotFoundError as exc:
        raise DataError(str(exc)) from None
    notes: list[str] = []
    units = sorted({s.units for s in header.signals if s.units.strip().lower() != "mv"})
    if units:
        notes.append(f"units {', '.join(units)} -> mV")
    rate = _agree_fs(fs, header.fs, f"header file {p}")
    out, present = _assemble(signal, names, f"header file {p}", "signal names", notes)
    fields = header_fields(header)
    statements: tuple[str, ...] = ()
    age = sex = None
    if "dx" in fields or fmt == "challenge":
        fmt = "challenge"
        codes = [c.strip() for c in fields.get("dx", "").split(",") if c.strip()]
        statements = tuple(dict.fromkeys(codes))
        try:
            age = float(fields.get("age", ""))
            age = age if math.isfinite(age) else None
        except ValueError:
            age = None
        sex = {"male": "M", "m": "M", "female": "F", "f": "F"}.get(fields.get("sex", "").strip().lower())
    return _finish(p, fmt, out, present, rate, notes, record_id=header.path.stem,
                   statements=statements, age=age, sex=sex)


# ----------------------------------------------------------------------------- SPH
def _read_sph(p: Path, *, fs: float | None, leads: Sequence[str] | None, fmt: str) -> InputECG:
    import h5py

    try:
        with h5py.File(p, "r") as handle:
            dataset = handle.get("ecg")
            if not isinstance(dataset, h5py.Dataset):
                raise DataError(f"{p}: no dataset 'ecg'; found {', '.join(handle.keys()) or 'none'}")
            if dataset.ndim != 2 or dataset.shape[0] != len(CANONICAL_LEADS):
                raise DataError(f"{p}: dataset 'ecg' has shape {dataset.shape}; expected (12, "
                                f"n_samples) with leads {', '.join(CANONICAL_LEADS)}")
            if not np.issubdtype(dataset.dtype, np.floating):
                raise DataError(f"{p}: dataset 'ecg' has dtype {dataset.dtype}; expected float mV")
            signal = dataset[()]
    except OSError as exc:
        raise DataError(f"{p}: not a readable HDF5 file ({exc})") from None
    notes: list[str] = []
    if fs is None:
        notes.append(f"sampling rate {SPH_FS:g} Hz assumed (the SPH release's; the file has none)")
    out, present = _assemble(signal, CANONICAL_LEADS, f"{p}: dataset 'ecg'", "rows", notes)
    return _finish(p, fmt, out, present, fs or SPH_FS, notes)


# ----------------------------------------------------------------------------- DICOM
def _dicom_lead_name(channel: Any, where: str) -> str:
    """Lead name from a channel's ChannelSourceSequence code meaning (``"Lead I (Einthoven)"``,
    ``"Lead aVR"``, ``"V1"``)."""
    source = channel.get("ChannelSourceSequence")
    if not source:
        raise DataError(f"{where}: ChannelSourceSequence: missing; expected the lead's code")
    meaning = str(source[0].get("CodeMeaning", "") or "").strip()
    if not meaning:
        raise DataError(f"{where}: ChannelSourceSequence: CodeMeaning is empty; expected a lead name")
    name = re.sub(r"\(.*?\)", "", meaning).strip()
    name = re.sub(r"^lead\s+", "", name, flags=re.IGNORECASE).strip()
    return name


def _read_dicom(p: Path, *, fs: float | None, leads: Sequence[str] | None, fmt: str) -> InputECG:
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError:
        raise ConfigError(f"{p}: reading DICOM needs pydicom; install it with "
                          "pip install 'ecgtriage[dicom]'") from None

    try:
        ds = pydicom.dcmread(p)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{p}: not a readable DICOM file ({type(exc).__name__}: {exc})") from None
    groups = ds.get("WaveformSequence")
    if not groups:
        raise DataError(f"{p}: WaveformSequence: missing; expected a DICOM ECG waveform")
    labels = [str(g.get("MultiplexGroupLabel", "") or "").strip().upper() for g in groups]
    index = labels.index("RHYTHM") if "RHYTHM" in labels else 0
    group = groups[index]
    where = f"{p}: WaveformSequence[{index}]"
    if "SamplingFrequency" not in group:
        raise DataError(f"{where}: SamplingFrequency: missing")
    rate = _agree_fs(fs, _check_fs(group.SamplingFrequency, f"{where}: SamplingFrequency"), where)
    channels = group.get("ChannelDefinitionSequence")
    if not channels:
        raise DataError(f"{where}: ChannelDefinitionSequence: missing")
    n_channels = int(group.get("NumberOfWaveformChannels", len(channels)) or 0)
    if n_channels != len(channels):
        raise DataError(f"{where}: NumberOfWaveformChannels is {n_channels} but "
                        f"ChannelDefinitionSequence has {len(channels)} item(s)")
    names, factors, units = [], [], set()
    for k, channel in enumerate(channels):
        cwhere = f"{where}: ChannelDefinitionSequence[{k}]"
        names.append(_dicom_lead_name(channel, cwhere))
        if "ChannelSensitivity" not in channel:
            raise DataError(f"{cwhere}: ChannelSensitivity: missing; without it the sample "
                            "values have no voltage scale")
        unit_seq = channel.get("ChannelSensitivityUnitsSequence")
        if not unit_seq:
            raise DataError(f"{cwhere}: ChannelSensitivityUnitsSequence: missing; expected uV or mV")
        unit = str(unit_seq[0].get("CodeValue", "") or "")
        factors.append(_mv_factor(unit, f"{cwhere}: ChannelSensitivityUnitsSequence"))
        units.add(unit)
    try:
        # pydicom applies ChannelSensitivity x ChannelSensitivityCorrectionFactor + ChannelBaseline.
        values = ds.waveform_array(index)
    except KeyError:
        raise DataError(
            f"{where}: WaveformBitsAllocated {group.get('WaveformBitsAllocated')!r} with "
            f"WaveformSampleInterpretation {group.get('WaveformSampleInterpretation')!r} is not a "
            "supported sample encoding (8/16/32/64-bit signed or unsigned)") from None
    except (AttributeError, ValueError, TypeError) as exc:
        raise DataError(f"{where}: WaveformData: cannot be decoded as declared ({exc})") from None
    signal = np.asarray(values, dtype=np.float64).T * np.asarray(factors)[:, None]
    notes: list[str] = []
    other = sorted(u for u in units if u.lower() != "mv")
    if other:
        notes.append(f"units {', '.join(other)} -> mV")
    if len(groups) > 1:
        notes.append(f"waveform group {index} ({labels[index] or 'unlabelled'}) of {len(groups)} read")
    out, present = _assemble(signal, names, where, "ChannelSourceSequence CodeMeaning", notes,
                             note_renames=False)
    sex = str(ds.get("PatientSex", "") or "").upper()
    return _finish(p, fmt, out, present, rate, notes,
                   record_id=str(ds.get("SOPInstanceUID", "") or p.stem),
                   sex=sex if sex in ("M", "F") else None, age=_dicom_age(ds.get("PatientAge")))


def _dicom_age(value: Any) -> float | None:
    match = re.fullmatch(r"(\d{3})([DWMY])", str(value or "").strip())
    if not match:
        return None
    per_year = {"D": 365.25, "W": 52.18, "M": 12.0, "Y": 1.0}[match.group(2)]
    return int(match.group(1)) / per_year


# ----------------------------------------------------------------------------- HL7 aECG
def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element: Any, name: str) -> Any:
    return next((c for c in element if _local(c.tag) == name), None)


def _children(element: Any, name: str) -> list[Any]:
    return [c for c in element if _local(c.tag) == name]


def _aecg_quantity(element: Any, where: str) -> tuple[float, str]:
    if element is None:
        raise DataError(f"{where}: missing")
    raw = element.get("value")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise DataError(f"{where}: value {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: value {raw!r} is not finite")
    return value, element.get("unit") or ""


def _read_aecg(p: Path, *, fs: float | None, leads: Sequence[str] | None, fmt: str) -> InputECG:
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import parse

    try:
        root = parse(p).getroot()
    except (ParseError, DefusedXmlException, OSError) as exc:
        raise DataError(f"{p}: not a readable XML file ({type(exc).__name__}: {exc})") from None
    if _local(root.tag) != "AnnotatedECG":
        raise DataError(f"{p}: root element is {_local(root.tag)!r}; expected HL7 AnnotatedECG")
    series = next((s for c in _children(root, "component") for s in _children(c, "series")), None)
    if series is None:
        raise DataError(f"{p}: AnnotatedECG/component/series: missing")
    seq_set = next((s for c in _children(series, "component") for s in _children(c, "sequenceSet")), None)
    if seq_set is None:
        raise DataError(f"{p}: series/component/sequenceSet: missing")
    rate = None
    names: list[str] = []
    rows: list[np.ndarray] = []
    units: set[str] = set()
    for k, comp in enumerate(_children(seq_set, "component")):
        seq = _child(comp, "sequence")
        if seq is None:
            continue
        code_el = _child(seq, "code")
        code = (code_el.get("code") if code_el is not None else "") or ""
        value = _child(seq, "value")
        where = f"{p}: sequence {k} ({code or 'no code'})"
        if value is None:
            raise DataError(f"{where}: value: missing")
        if code in ("TIME_ABSOLUTE", "TIME_RELATIVE"):
            step, unit = _aecg_quantity(_child(value, "increment"), f"{where}: increment")
            per_s = {"s": 1.0, "ms": 1e-3, "us": 1e-6}.get(unit.strip().lower() or "s")
            if per_s is None:
                raise DataError(f"{where}: increment unit {unit!r}; expected s or ms")
            rate = _check_fs(1.0 / (step * per_s) if step > 0 else -1, f"{where}: increment "
                             f"(1/{step:g} {unit or 's'})")
            continue
        if not code.startswith(_AECG_LEAD_PREFIX):
            raise DataError(f"{where}: code: expected {_AECG_LEAD_PREFIX}<lead> or TIME_ABSOLUTE, "
                            f"found {code!r}")
        lead = code[len(_AECG_LEAD_PREFIX):]
        origin, origin_unit = _aecg_quantity(_child(value, "origin"), f"{where}: origin")
        scale, scale_unit = _aecg_quantity(_child(value, "scale"), f"{where}: scale")
        f_scale = _mv_factor(scale_unit, f"{where}: scale unit")
        f_origin = _mv_factor(origin_unit or scale_unit, f"{where}: origin unit")
        units.add(scale_unit)
        digits_el = _child(value, "digits")
        text = (digits_el.text or "") if digits_el is not None else ""
        try:
            digits = np.array(text.split(), dtype=np.float64)
        except ValueError:
            bad = next(t for t in text.split() if not _is_number(t))
            raise DataError(f"{where}: digits: non-numeric value {bad[:20]!r}") from None
        if digits.size == 0:
            raise DataError(f"{where}: digits: empty")
        if rows and digits.size != rows[0].size:
            raise DataError(f"{where}: digits: {digits.size} samples; the first lead has {rows[0].size}")
        names.append(lead)
        rows.append(origin * f_origin + scale * f_scale * digits)
    if rate is None:
        raise DataError(f"{p}: sequenceSet: no TIME_ABSOLUTE/TIME_RELATIVE sequence with an "
                        "increment; the sampling rate is unknown")
    if not rows:
        raise DataError(f"{p}: sequenceSet: no {_AECG_LEAD_PREFIX}* lead sequences")
    rate = _agree_fs(fs, rate, str(p))
    notes: list[str] = []
    other = sorted(u for u in units if u.strip().lower() != "mv")
    if other:
        notes.append(f"units {', '.join(other)} -> mV")
    out, present = _assemble(np.vstack(rows), names, str(p), "sequence code", notes,
                             note_renames=False)
    return _finish(p, fmt, out, present, rate, notes)


# ----------------------------------------------------------------------------- CSV / NumPy
def _read_csv(p: Path, *, fs: float | None, leads: Sequence[str] | None, fmt: str) -> InputECG:
    import pandas as pd

    if fs is None:
        raise ConfigError(f"{p}: a CSV file carries no sampling rate; pass fs (--fs HZ)")
    try:
        table = pd.read_csv(p, header=None, dtype=str, keep_default_na=False,
                            skipinitialspace=True, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DataError(f"{p}: file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: not a readable CSV file ({exc})") from None
    first = [str(c).strip() for c in table.iloc[0]]
    has_header = not all(_is_number(c) for c in first if c)
    notes: list[str] = []
    if has_header:
        names = first
        table = table.iloc[1:]
    elif leads is None:
        raise ConfigError(f"{p}: the CSV has no header row of lead names; pass leads (--leads "
                          "I,II,...) in column order")
    else:
        names = list(leads)
    if leads is not None and has_header:
        notes.append("header names replaced by leads given: " + ",".join(leads))
        names = list(leads)
    keep = [i for i, n in enumerate(names) if n.strip().lower() not in _TIME_COLUMNS]
    if len(keep) < len(names):
        notes.append("time column dropped: " + ", ".join(names[i] for i in range(len(names)) if i not in keep))
    if len(names) != table.shape[1]:
        raise DataError(f"{p}: {len(names)} lead name(s) for {table.shape[1]} column(s)")
    if table.shape[0] == 0:
        raise DataError(f"{p}: no data rows")
    columns = []
    for i in keep:
        cells = table.iloc[:, i].fillna("").astype(str).str.strip()
        values = pd.to_numeric(cells.replace("", "nan"), errors="coerce")
        bad = values.isna() & ~cells.str.lower().isin(["", "nan"])
        if bad.any():
            row = int(np.argmax(bad.to_numpy())) + 1 + int(has_header)
            raise DataError(f"{p}: column {names[i]!r} row {row}: non-numeric value "
                            f"{cells.iloc[int(np.argmax(bad.to_numpy()))][:20]!r}")
        columns.append(values.to_numpy(dtype=np.float64))
    out, present = _assemble(np.vstack(columns), [names[i] for i in keep], str(p),
                             "header" if has_header and leads is None else "leads", notes)
    return _finish(p, fmt, out, present, fs, notes)


def _read_npy(p: Path, *, fs: float | None, leads: Sequence[str] | None, fmt: str) -> InputECG:
    if fs is None or leads is None:
        raise ConfigError(f"{p}: a .npy file carries neither sampling rate nor lead names; pass "
                          "fs (--fs HZ) and leads (--leads I,II,...)")
    try:
        array = np.load(p, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{p}: not a plain numeric .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{p}: not a readable .npy file ({exc})") from None
    if not isinstance(array, np.ndarray) or not (np.issubdtype(array.dtype, np.floating)
                                                 or np.issubdtype(array.dtype, np.integer)):
        raise DataError(f"{p}: array dtype {getattr(array, 'dtype', '?')}; expected numbers (mV)")
    n_leads = len(leads)
    if array.ndim == 1 and n_leads == 1:
        array = array[None, :]
    notes: list[str] = []
    if array.ndim != 2:
        raise DataError(f"{p}: array has shape {array.shape}; expected (leads, n) or (n, leads)")
    if array.shape[0] != n_leads:
        if array.shape[1] != n_leads:
            raise DataError(f"{p}: array has shape {array.shape}; neither axis matches the "
                            f"{n_leads} lead name(s) given")
        array = array.T
        notes.append("array transposed from (n, leads) to (leads, n)")
    out, present = _assemble(array, list(leads), str(p), "leads", notes)
    return _finish(p, fmt, out, present, fs, notes)

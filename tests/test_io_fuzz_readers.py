"""Property-based fuzzing of every reader of user files (issue 13).

Each reader must either return a valid value or raise the project's error type
(:class:`ecgtriage.errors.UserError`; ``FileNotFoundError`` where a file is really absent):
never another exception (that would be a traceback for the user) and never a hang (every
example runs under hypothesis' ``deadline``, every test under ``pytest.mark.timeout``).

Inputs are built from the real grammars and then mutated, so that most examples get past the
first check and reach the deeper parsing code.
"""

from __future__ import annotations

import io
import math
import os
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgtriage.errors import UserError
from ecgtriage.io.aha_code import parse_aha_code
from ecgtriage.io.extract import ExtractLimits, safe_extract
from ecgtriage.io.ptbxl import PtbxlSource, _parse_scp_codes
from ecgtriage.io.sph import SphSource
from ecgtriage.io.wfdb_read import read_header, read_signals
from ecgtriage.labels.schemes import load_scheme, parse_scheme

# Fixed examples by default (the suite must be fast and reproducible); set
# ECGTRIAGE_FUZZ_EXAMPLES=2000 for a longer, random exploration when changing a reader.
_EXAMPLES = int(os.environ.get("ECGTRIAGE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=_EXAMPLES, deadline=2000, database=None,
                derandomize="ECGTRIAGE_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIMEOUT = pytest.mark.timeout(60)

# Text that parsers find interesting: separators, signs, exponents, quotes, non-ASCII digits.
_ALPHABET = st.sampled_from(list("0123456789+-;:,.|/\\ #()[]{}'\"eEx\tnaif") + ["\n", "٣", "é", "\x00"])
_TOKEN = st.one_of(
    st.text(_ALPHABET, max_size=12),
    st.sampled_from(["", "nan", "inf", "-inf", "1e999", "-1", "0", "9" * 30, "..", "../x.dat",
                     "/etc/passwd", "NORM", "60+310", "1;1", "+", ";"]),
)


def _expect_user_error(call):
    """Run ``call``; an exception other than UserError/FileNotFoundError fails the test."""
    try:
        return call()
    except (UserError, FileNotFoundError):
        return None


# --- WFDB headers ---------------------------------------------------------------------------

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


@st.composite
def wfdb_records(draw):
    """A header text (valid grammar, then fields mutated) and the bytes of its .dat file."""
    n_sig = draw(st.integers(1, 3))
    n = draw(st.integers(0, 8))
    fs = draw(st.sampled_from(["100", "500", "0", "-5", "nan", "inf", "250/2", "1e400", "x"]))
    record = [draw(st.sampled_from(["r", "r.mat", "a/b"])), str(n_sig), fs, str(n)]
    if draw(st.booleans()):
        record[draw(st.integers(0, 3))] = draw(_TOKEN)
    lines = [" ".join(record)]
    for i in range(n_sig):
        fields = [draw(st.sampled_from(["r.dat", "r.dat", "../r.dat", "/tmp/r.dat", "sub/../r.dat",
                                        "r.mat", "~"])),
                  draw(st.sampled_from(["16", "16x2", "16+4", "212", "80", "999", "16:1"])),
                  draw(st.sampled_from(["1000/mV", "200(0)/uV", "1e999/mV", "0/V", "5/furlong",
                                        "1000(-3)", ""])),
                  "16", "0", str(draw(st.integers(-40000, 40000))),
                  str(draw(st.integers(-70000, 70000))), "0", LEADS[i]]
        if draw(st.booleans()):
            fields[draw(st.integers(0, len(fields) - 1))] = draw(_TOKEN)
        lines.append(" ".join(f for f in fields if f != ""))
    if draw(st.booleans()):
        lines.append(draw(st.text(_ALPHABET, max_size=20)))
    dat = draw(st.binary(max_size=64))
    return "\n".join(lines) + "\n", dat


@TIMEOUT
@FUZZ
@given(wfdb_records())
def test_wfdb_reader_returns_a_record_or_a_user_error(rec):
    text, dat = rec
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "src"
        folder.mkdir()
        (folder / "r.hea").write_text(text, encoding="utf-8")
        (folder / "r.dat").write_bytes(dat)
        (folder / "r.mat").write_bytes(dat)
        outside = Path(tmp) / "r.dat"
        outside.write_bytes(dat)
        header = _expect_user_error(lambda: read_header(folder / "r.hea"))
        if header is not None:
            assert math.isfinite(header.fs) and header.fs > 0
            assert header.sig_len >= 0 and header.n_sig == len(header.signals)
            for spec in header.signals:
                # No header may name a file outside its own folder.
                assert not spec.file_name.startswith("/") and ".." not in spec.file_name.split("/")
        out = _expect_user_error(lambda: read_signals(folder / "r.hea"))
        if out is not None:
            signal, names, header = out
            assert signal.shape == (header.n_sig, signal.shape[1]) and len(names) == header.n_sig


def test_wfdb_signal_file_outside_the_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.dat").write_bytes(np.zeros(2, "<i2").tobytes())
    folder = tmp_path / "src"
    folder.mkdir()
    for name in ("../elsewhere/x.dat", str(elsewhere / "x.dat"), "sub/../../elsewhere/x.dat"):
        (folder / "r.hea").write_text(f"r 1 100 2\n{name} 16 1000/mV 16 0 0 0 0 I\n")
        with pytest.raises(UserError) as err:
            read_signals(folder / "r.hea")
        assert str(err.value).startswith(f"header file {folder / 'r.hea'}: signal line 1: "
                                         f"file name {name!r} leaves the record's folder")


# --- SPH metadata ---------------------------------------------------------------------------

_AHA = st.one_of(
    st.lists(st.tuples(st.integers(0, 600), st.one_of(st.none(), st.integers(0, 400))),
             max_size=4).map(lambda xs: ";".join(f"{c}" if m is None else f"{c}+{m}" for c, m in xs)),
    _TOKEN,
)


@TIMEOUT
@FUZZ
@given(_AHA)
def test_aha_code_parses_or_raises_data_error(text):
    out = _expect_user_error(lambda: parse_aha_code(text))
    if out is not None:
        assert out and all(s.code >= 0 for s in out)


def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@TIMEOUT
@FUZZ
@given(st.lists(st.tuples(_TOKEN, _AHA, _TOKEN, _TOKEN, st.sampled_from(["M", "F", "x", ""]),
                          _TOKEN), min_size=1, max_size=4),
       st.booleans(), st.sampled_from(["utf-8", "latin-1"]))
def test_sph_metadata_rows_are_kept_or_reported(rows, with_codes, encoding):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lines = ["ECG_ID,AHA_Code,Patient_ID,Age,Sex,N,Date"]
        for rid, aha, pid, age, sex, n in rows:
            lines.append(",".join(_csv_cell(v) for v in (rid, aha, pid, age, sex, n, "2020")))
        # latin-1 turns 'é' into a byte that is not UTF-8: a table saved by another tool.
        (root / "metadata.csv").write_bytes(("\n".join(lines) + "\n").encode(encoding, "replace"))
        if with_codes:
            (root / "code.csv").write_text("Category,Code,Description\nA,1,Normal\n"
                                           "Modifier,310,Frequent\n")
        source = SphSource(root)
        meta = _expect_user_error(source.metadata)
        if meta is not None:
            problems = source.problems()
            assert len(meta) + len(problems) <= len(rows)
            assert meta["record_id"].is_unique
            assert all(a is None or math.isfinite(a) for a in meta["age"].dropna())


# --- PTB-XL scp_codes -----------------------------------------------------------------------

_SCP = st.one_of(
    st.dictionaries(st.sampled_from(["NORM", "SR", "IMI", " ", "", "A;B", "NORM "]),
                    st.one_of(st.floats(allow_nan=True), st.integers(-10, 10**400),
                              st.booleans(), st.text(max_size=3)),
                    max_size=3).map(repr),
    st.text(_ALPHABET, max_size=30),
    st.sampled_from(["{" * 200 + "}" * 200, "[" * 2000, "{'NORM': 1" + "0" * 5000 + "}",
                     "{'NORM': (1,)}", "{(1,2): 3}", "{[]: 1}", "{'a': 1}" * 3, "None"]),
)


@TIMEOUT
@FUZZ
@given(_SCP)
def test_scp_codes_parse_or_raise_data_error(text):
    out = _expect_user_error(lambda: _parse_scp_codes(text, "ptbxl_database.csv row 2"))
    if out is not None:
        assert all(k and ";" not in k and k == k.strip() for k in out)
        assert all(math.isfinite(v) for v in out.values())


@TIMEOUT
@FUZZ
@given(st.lists(st.tuples(_TOKEN, _TOKEN, _SCP, _TOKEN), min_size=1, max_size=3))
def test_ptbxl_database_rows_are_kept_or_reported(rows):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lines = ["ecg_id,patient_id,age,sex,scp_codes,strat_fold,filename_lr"]
        for ecg_id, pid, scp, fold in rows:
            lines.append(",".join(_csv_cell(v) for v in (ecg_id, pid, "50", "1", scp, fold,
                                                         "records100/00000/00001_lr")))
        (root / "ptbxl_database.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        source = PtbxlSource(root)
        meta = _expect_user_error(source.metadata)
        if meta is not None:
            assert meta["record_id"].is_unique
            assert len(meta) + len(source.problems()) <= len(rows)


# --- label scheme CSVs ----------------------------------------------------------------------

_HEADER_LINES = st.lists(st.sampled_from([
    "# name: fz", "# version: 1", "# multilabel: true", "# multilabel: maybe", "# ordered: true",
    "# classes: Normal|Serious", "# classes: A|A", "# default_class: Normal",
    "# default_class: Nope", "# extends: tier4", "# extends: fz", "# extends: nowhere.csv",
    "# coarsen: Normal>Normal; Mild>Normal", "# tables: tier4", "# tables: x", "# empty: unknown",
    "# vocabulary: scp", "# typo: 1", "# just a comment",
]), max_size=6)
_ROW = st.tuples(st.sampled_from(["aha", "scp", "snomed", "zz", ""]),
                 st.sampled_from(["1", "60|61", "NORM", "999999", "", "1|"]),
                 st.sampled_from(["", "-", "310", "zz"]),
                 st.sampled_from(["", "codes_any(1)", "attr_gt(ventricular_rate: 100)",
                                  "attr_gt(x: nan)", "bogus(", "codes_any()"]),
                 st.sampled_from(["Normal", "Serious", "ignore", "unknown", "Normal|Serious", ""]))


@TIMEOUT
@FUZZ
@given(_HEADER_LINES, st.lists(_ROW, max_size=4), st.text(_ALPHABET, max_size=20),
       st.booleans())
def test_scheme_csv_parses_or_raises_config_error(header, rows, noise, via_path):
    body = ["vocabulary,statement,modifier,when,class"] + [",".join(r) for r in rows]
    text = "\n".join(header + body + ([noise] if noise else [])) + "\n"
    if via_path:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "fz.csv"
            path.write_text(text, encoding="utf-8")
            scheme = _expect_user_error(lambda: load_scheme(path))
    else:
        scheme = _expect_user_error(lambda: parse_scheme(text, where="fz.csv"))
    if scheme is not None:
        assert scheme.classes and len(set(scheme.classes)) == len(scheme.classes)


def test_scheme_that_extends_itself_through_its_path_is_refused(tmp_path):
    path = tmp_path / "loop.csv"
    path.write_text(f"# name: loop\n# version: 1\n# extends: {path}\n"
                    "vocabulary,statement,class\naha,1,Normal\n")
    with pytest.raises(UserError, match=r"extends itself"):
        load_scheme(path)


# --- archives -------------------------------------------------------------------------------

@st.composite
def archives(draw):
    """Zip or tar bytes with fuzzed member names, then (sometimes) bytes flipped or cut."""
    names = draw(st.lists(st.sampled_from(["a.txt", "d/b.h5", "d/", "../x", "/abs", "d",
                                           "a.txt", "c:\\x", "x" * 300, "./a", "d/./e"]),
                          min_size=1, max_size=4))
    kind = draw(st.sampled_from(["zip", "tar", "tar:gz"]))
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in names:
                zf.writestr(name, draw(st.binary(max_size=40)))
    else:
        mode = "w:gz" if kind == "tar:gz" else "w"
        with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as tf:
            for name in names:
                info = tarfile.TarInfo(name)
                info.type = draw(st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE,
                                                  tarfile.DIRTYPE, tarfile.SYMTYPE,
                                                  tarfile.LNKTYPE, tarfile.FIFOTYPE]))
                info.linkname = draw(st.sampled_from(["a.txt", "../x", "/etc/passwd"]))
                data = draw(st.binary(max_size=40)) if info.type == tarfile.REGTYPE else b""
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    data = bytearray(buf.getvalue())
    damage = draw(st.sampled_from(["none", "flip", "cut"]))
    if damage == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data[at] ^= draw(st.integers(1, 255))
    elif damage == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@TIMEOUT
@FUZZ
@given(archives(), st.booleans())
def test_archive_extracts_inside_or_raises_user_error(data, strip):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        archive = work / "in" / "a.bin"
        archive.write_bytes(data)
        target = work / "out" / "t"
        result = _expect_user_error(lambda: safe_extract(
            archive, target, strip_top_dir=strip, progress=False,
            limits=ExtractLimits(max_total_bytes=1 << 20)))
        everything = sorted(p.relative_to(work).as_posix() for p in work.rglob("*"))
        if result is None:
            # A refusal leaves nothing: no target, no staging folder.
            assert everything in (["in", "in/a.bin"], ["in", "in/a.bin", "out"])
        else:
            assert all(p == "out" or p.startswith(("in", "out/t")) for p in everything), everything
            assert not any(p.is_symlink() for p in work.rglob("*"))
            assert all((target / f).is_file() for f in result.files)

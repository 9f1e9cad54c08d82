"""The command line as a whole: error handling, one vocabulary, help text, ``info`` and ``labels``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from ecgtriage.cli import build_parser, main
from ecgtriage.errors import ConfigError, DataError, UserError


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


# -- errors ------------------------------------------------------------------------------------
def test_error_types_are_user_errors_and_value_errors():
    for kind in (ConfigError, DataError):
        assert issubclass(kind, UserError) and issubclass(kind, ValueError)
    assert not issubclass(UserError, ValueError)


@pytest.mark.parametrize("exc", [
    ConfigError("study.toml: train.epochs: expected int, found 'ten'"),
    DataError("metadata.csv: missing column AHA_Code"),
    UserError("something the user can fix"),
    FileNotFoundError("source folder /nowhere does not exist"),
    NotADirectoryError("not a folder"),
    PermissionError("permission denied: /root/x"),
])
def test_user_errors_exit_1_with_one_line(monkeypatch, capsys, tmp_path, exc):
    def fail(args):
        raise exc

    monkeypatch.setattr("ecgtriage.cli.info.run_info", fail)
    assert main(["info", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"ecgtriage info: error: {exc}\n"
    assert "Traceback" not in err


@pytest.mark.parametrize("exc", [KeyError("row"), ValueError("a bug, not bad input"), TypeError("x")])
def test_bugs_keep_their_traceback(monkeypatch, tmp_path, exc):
    def fail(args):
        raise exc

    monkeypatch.setattr("ecgtriage.cli.info.run_info", fail)
    with pytest.raises(type(exc)):
        main(["info", str(tmp_path)])


def test_library_raises_user_errors_for_bad_input(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text("[prepare]\nfs = 'fast'\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.txt").write_text("no records here")
    assert main(["prepare", str(tmp_path / "src"), "--out", str(tmp_path / "c")]) == 1
    assert "cannot detect the format" in capsys.readouterr().err


# -- one vocabulary ----------------------------------------------------------------------------
def test_every_option_help_shows_its_default():
    for name, parser in _subparsers().items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if (not action.option_strings or action.help == argparse.SUPPRESS or action.required
                    or "(required)" in (action.help or "")
                    or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
                continue
            shown = formatter._get_help_string(action)
            assert "default" in shown, f"ecgtriage {name} {action.option_strings[0]}: {shown!r}"


def test_device_choices_and_default_are_the_same_everywhere():
    devices = {}
    for name, parser in _subparsers().items():
        for action in parser._actions:
            if "--device" in action.option_strings:
                devices[name] = tuple(action.choices)
    assert set(devices) >= {"study", "train"}
    assert set(devices.values()) == {("auto", "cpu", "cuda")}


def test_data_input_is_positional():
    parser = build_parser()
    assert parser.parse_args(["info", "p"]).path == "p"
    assert parser.parse_args(["prepare", "p", "--out", "c"]).source == "p"
    assert parser.parse_args(["labels", "p"]).source == "p"
    assert parser.parse_args(["train", "p", "--scheme", "tier3", "--out", "r"]).path == "p"
    assert parser.parse_args(["evaluate", "p", "--study", "s"]).path == "p"


def test_deprecated_spellings_still_work(capsys):
    from ecgtriage.cli.options import data_path

    parser = build_parser()
    args = parser.parse_args(["train", "--data", "c", "--scheme", "tier3", "--out", "r"])
    assert data_path(args) == "c"
    args = parser.parse_args(["evaluate", "--run", "s", "--data", "p"])
    assert (args.study, data_path(args)) == ("s", "p")
    args = parser.parse_args(["study", "--schemes", "aha44", "tier4", "--seeds", "0", "1"])
    assert (args.schemes, args.seeds) == (["aha44", "tier4"], [0, 1])
    args = parser.parse_args(["study", "--scheme", "aha44", "--scheme", "tier3", "--seed", "2"])
    assert (args.schemes, args.seeds) == (["aha44", "tier3"], [2])
    args = parser.parse_args(["synth-figure", "--out", "f.png", "--codes", "22", "50+346"])
    assert args.codes == ["22", "50+346"]
    err = capsys.readouterr().err
    for old in ("--data", "--run", "--schemes", "--seeds", "--codes"):
        assert f"ecgtriage: {old} is deprecated" in err
    # Hidden: the old spellings are not advertised.
    assert "--schemes" not in _subparsers()["study"].format_help()
    assert "--data" not in _subparsers()["train"].format_help()


def test_train_needs_a_data_path_once(capsys):
    assert main(["train", "--scheme", "tier3", "--out", "r"]) == 1
    assert "missing the data PATH" in capsys.readouterr().err
    assert main(["train", "a", "--data", "b", "--scheme", "tier3", "--out", "r"]) == 1
    assert "give the data PATH once" in capsys.readouterr().err


def test_help_is_fast_and_imports_no_library():
    code = ("import sys; from ecgtriage.cli import build_parser; build_parser().format_help(); "
            "heavy = [m for m in ('torch', 'pandas', 'numpy', 'matplotlib', 'scipy') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "ecgtriage", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("ecgtriage ")


# -- info, labels and train on synthetic data --------------------------------------------------
@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """A folder with a small SPH corpus, a PTB-XL corpus and a cache of the SPH one."""
    root = tmp_path_factory.mktemp("corpora")
    assert main(["synth", "--format", "sph", "--n", "6", "--out", str(root / "sph"),
                 "--workers", "1"]) == 0
    assert main(["synth", "--format", "ptbxl", "--n", "4", "--out", str(root / "ptbxl"),
                 "--workers", "1"]) == 0
    cache_root = tmp_path_factory.mktemp("caches")
    assert main(["prepare", str(root / "sph"), "--out", str(cache_root / "sph-cache"),
                 "--workers", "1"]) == 0
    return {"root": root, "cache": cache_root / "sph-cache"}


def test_info_json_on_a_source_names_statements(corpora, capsys):
    capsys.readouterr()
    assert main(["info", str(corpora["root"] / "sph"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "source" and report["format"] == "sph"
    assert report["n_records"] == 6 and report["n_problems"] == 0
    assert report["files_without_metadata"] == []
    assert all(item["name"] for item in report["statements"]), report["statements"]


def test_info_json_on_a_cache(corpora, capsys):
    capsys.readouterr()
    assert main(["info", str(corpora["cache"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "cache" and report["format"] == "sph"
    assert report["fs_hz"] == 100 and report["n_samples"] == 1000
    assert report["n_records"] + report["n_excluded"] == 6
    assert main(["info", str(corpora["cache"])]) == 0
    assert "cache: " in capsys.readouterr().out


def test_info_lists_the_data_sets_of_a_folder(corpora, capsys):
    capsys.readouterr()
    assert main(["info", str(corpora["root"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "collection"
    assert [(d["format"], d["path"]) for d in report["datasets"]] == [
        ("ptbxl", str(corpora["root"] / "ptbxl")), ("sph", str(corpora["root"] / "sph"))]
    # Other commands refuse it rather than reading the PTB-XL headers as a Challenge folder.
    assert main(["prepare", str(corpora["root"]), "--out", str(corpora["root"] / ".x")]) == 1
    assert "holds several data sets" in capsys.readouterr().err


def test_info_fails_on_problems_unless_told_not_to(corpora, tmp_path, capsys):
    import shutil

    src = tmp_path / "sph"
    shutil.copytree(corpora["root"] / "sph", src)
    h5 = sorted((src / "records").glob("*.h5"))
    h5[0].unlink()                                     # a metadata row without its file
    shutil.copy(h5[1], src / "records" / "X99999.h5")  # a file without a metadata row
    capsys.readouterr()
    assert main(["info", str(src)]) == 1
    captured = capsys.readouterr()
    assert "files without a metadata row: 1" in captured.out
    assert "problem(s) found" in captured.err
    assert main(["info", str(src), "--no-fail", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files_without_metadata"] == ["records/X99999.h5"]
    assert report["n_problems"] == 2


def test_labels_writes_nothing_unless_asked(corpora, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["labels", str(corpora["root"] / "sph"), "--scheme", "tier4"]) == 0
    assert "scheme tier4" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    assert main(["labels", str(corpora["root"] / "sph"), "--scheme", "tier4",
                 "--out", str(tmp_path / "tables")]) == 0
    assert (tmp_path / "tables" / "class_counts.csv").is_file()


def test_train_prepares_a_source_folder_under_the_run(corpora, tmp_path, capsys):
    from ecgtriage.cli.train import _cache_for

    capsys.readouterr()
    cache = _cache_for(str(corpora["root"] / "sph"), tmp_path / "run")
    assert cache.path == tmp_path / "run" / "cache" and len(cache) > 0
    assert f"preparing it with the default preprocessing into {tmp_path / 'run' / 'cache'}" in (
        capsys.readouterr().out)
    # A cache is used as it is.
    assert _cache_for(str(corpora["cache"]), tmp_path / "other").path == corpora["cache"]
    assert not (tmp_path / "other").exists()


def test_cuda_on_a_machine_without_it_is_a_user_error(monkeypatch):
    torch = pytest.importorskip("torch")
    from ecgtriage.cli.train import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="--device cuda"):
        check_device("cuda")
    check_device("auto")

"""``atomic_path`` never destroys what the caller did not ask it to replace, and cleans the
stale temporaries an interrupted earlier write left (issue 13: data loss, faults)."""

from __future__ import annotations

import os
import time

import pytest

from ecgtriage import atomic


def test_file_never_replaces_a_folder(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "model.safetensors").write_text("weights")
    with pytest.raises(IsADirectoryError) as info:
        atomic.write_text(target, "onnx")
    assert info.value.filename == str(target)
    assert (target / "model.safetensors").read_text() == "weights"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary left


def test_folder_never_replaces_a_file(tmp_path):
    target = tmp_path / "out"
    target.write_text("keep")
    with pytest.raises(NotADirectoryError):
        with atomic.atomic_path(target, replace_dir=True) as tmp:
            tmp.mkdir()
    assert target.read_text() == "keep"


def test_non_empty_folder_is_replaced_only_when_asked(tmp_path):
    target = tmp_path / "corpus"
    target.mkdir()
    (target / "mine.txt").write_text("user file")
    with pytest.raises(IsADirectoryError):
        with atomic.atomic_path(target) as tmp:
            tmp.mkdir()
    assert (target / "mine.txt").is_file()
    with atomic.atomic_path(target, replace_dir=True) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("x")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic.atomic_path(empty) as tmp:  # an empty folder holds nothing to lose
        tmp.mkdir()


def test_existing_file_is_replaced_only_when_allowed(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(FileExistsError):
        atomic.write_text(target, "new", replace=False)
    assert target.read_text() == "old"
    atomic.write_text(target, "new")
    assert target.read_text() == "new"


def test_stale_temporaries_of_the_same_output_are_cleaned(tmp_path):
    stale = tmp_path / ".cache.abc123_x.tmp"
    (stale / "cache").mkdir(parents=True)
    backup = tmp_path / ".cache.old"
    backup.mkdir()
    other = tmp_path / ".other.abc123xy.tmp"  # another output's temporary: not ours to remove
    other.mkdir()
    user = tmp_path / ".cache.notes.tmp.txt"  # not a name atomic_path makes
    user.write_text("keep")
    old = time.time() - 3600
    for path in (stale, backup, other, user):
        os.utime(path, (old, old))
    fresh = tmp_path / ".cache.zzz999_y.tmp"  # a concurrent writer that started after us
    fresh.mkdir()
    with atomic.atomic_path(tmp_path / "cache") as tmp:
        tmp.mkdir()
    assert not stale.exists() and not backup.exists()
    assert other.exists() and user.exists() and fresh.exists()


def test_failed_write_leaves_no_temporary(tmp_path):
    with pytest.raises(OSError):
        with atomic.atomic_path(tmp_path / "x.bin") as tmp:
            tmp.write_text("partial")
            raise OSError(28, "No space left on device", str(tmp))
    assert list(tmp_path.iterdir()) == []

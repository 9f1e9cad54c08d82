"""Shared fixtures. Tests needing ``../shared/data`` skip cleanly where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ECGTRIAGE_SHARED_DATA", _REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$ECGTRIAGE_SHARED_DATA``); skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared real data not available at {SHARED_DATA}")
    return SHARED_DATA


def shared_subdir(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"shared real data not available at {path}")
    return path

"""Shared test fixtures: where the real recordings are, and headless/offline environment settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

import myosem_rt  # noqa: E402,F401  (sets LSLAPICFG before any test imports pylsl)

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path | None:
    value = os.environ.get("MYOSEM_DATA")
    path = Path(value) if value else REPO.parent / "shared" / "data"
    return path.resolve() if (path / "README.md").is_file() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real recordings ($MYOSEM_DATA). Missing data fails under CI and skips only on a dev machine."""
    path = _data_dir()
    if path is None:
        msg = f"real recordings not found (MYOSEM_DATA={os.environ.get('MYOSEM_DATA')!r})"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def threedc_file(data_dir: Path) -> Path:
    """A small 3DC recording (S1: 420 903 samples x 10 ch @ 1 kHz)."""
    return data_dir / "3dc" / "S1_E1_A1.mat"


@pytest.fixture(autouse=True)
def _restore_logging():
    """``myosem_rt.cli.main`` points logging at the sys.stderr of the moment (pytest's capture of one test);
    put the root logger back afterwards so later tests do not log into a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)

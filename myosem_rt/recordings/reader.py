"""Read one recording file into a :class:`Session` (being written; API fixed)."""

from __future__ import annotations

from pathlib import Path

from myosem_rt.recordings.session import Session


def load_session(path: str | Path) -> Session:
    """Load a NinaPro DB1/DB2/DB3 file or a NinaPro-layout file of ../shared/data.

    Raises :class:`myosem_rt.errors.RecordingError` (one line: path + problem) for any bad input.
    """
    raise NotImplementedError


def find_recordings(root: str | Path) -> list[Path]:
    """Every recording file under ``root`` (a file or folder), sorted."""
    raise NotImplementedError

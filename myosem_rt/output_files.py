"""The commands' output files: checked before the work, never overwritten unasked, written atomically.

Why one place: ``eval --json`` once failed with a traceback into a missing folder after the whole
computation, and ``--json`` / ``--jsonl`` replaced existing files without a word. Every command that writes a
result file calls :func:`check_new_file` while parsing its options (before any recording is read or model
run) and :func:`write_text` at the end.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from myosem_rt.errors import ConfigError


def check_new_file(path: str | Path, option: str, *, force: bool = False,
                   suffixes: tuple[str, ...] = ()) -> Path:
    """``path`` as the target of ``option``: its folder exists, it is not a folder, it has one of
    ``suffixes`` (when given) and it does not exist unless ``force``; else a one-line :class:`ConfigError`."""
    out = Path(path).expanduser()
    if suffixes and out.suffix.lower() not in suffixes:
        raise ConfigError(f"{option} {out}: expected a {' or '.join(suffixes)} file name")
    if not out.parent.is_dir():
        raise ConfigError(f"{option} {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise ConfigError(f"{option} {out}: is a folder")
    if out.exists() and not force:
        raise ConfigError(f"{option} {out}: file exists (not overwritten; use --force, or another name)")
    return out


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename: a reader (or a
    crash) sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: Any) -> None:
    """``value`` as indented JSON (numbers and paths that json cannot take become strings), atomically."""
    write_text(path, json.dumps(value, indent=2, default=str) + "\n")

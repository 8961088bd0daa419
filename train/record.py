"""The report's record: the small result files of every finished run, kept in git beside ``docs/results.md``.

Why: a reduced report is hours of CPU on the 2-core machine, more than one working session, and ``runs/``
(models, checkpoints, tens of MB each) is neither committed nor kept between sessions. Each finished job's
result files are copied here as it ends (:func:`keep`), a job whose result is recorded is not run again
(:func:`recorded`), and ``myosem report`` builds its tables from the record alone, so a regeneration can be
finished over several sessions and every figure in ``docs/results.md`` stays traceable to a file in git.

Layout: the run layout of :mod:`train.suite` (``<method>/<protocol>/manifest.json``,
``baselines/<protocol>/<name>.json``, ``logs/<step>-<protocol>.json``, ``seed<s>/...``, ``budget/...``),
holding only

* a MyoSem-type model's ``manifest.json`` without its fitted statistics (``normalisation``,
  ``window_features``: several thousand numbers a model that only the model itself needs) and its
  ``text/manifest.json`` (which vocabularies its text space saw: the cross-device section reads it);
* a baseline's result JSON and each job's log record (command, exit code, wall-clock).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

#: Manifest keys dropped from the record: fitted statistics that only the model directory needs.
DROPPED_KEYS = ("normalisation", "window_features")


#: top-level folders of ``runs`` that belong to the fold benchmarks (``myosem bench loso|zeroshot``), which
#: write their own results (docs/results/<bench>-<suite>.md): not the report's
OTHER_SUITES = ("loso", "zeroshot")


def _result_files(runs: Path) -> list[Path]:
    """Every result file under ``runs`` (relative paths), in the layout described above."""
    found = [m.relative_to(runs) for m in runs.rglob("manifest.json")]
    found = [rel for rel in found if "checkpoints" not in rel.parts]
    found += [p.relative_to(runs) for p in runs.rglob("baselines/*/*.json")]
    found += [p.relative_to(runs) for p in runs.rglob("logs/*.json")]
    return sorted({rel for rel in found if rel.parts[0] not in OTHER_SUITES})


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two suites may record at once
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def keep(runs: Path, record: Path) -> int:
    """Copy every result file under ``runs`` into ``record`` (newer results replace older ones); returns
    how many were copied. A model manifest without metrics (a run still going) is not recorded."""
    if not runs.is_dir() or runs.resolve() == record.resolve():
        return 0
    copied = 0
    for rel in _result_files(runs):
        src, dst = runs / rel, record / rel
        try:
            if rel.name == "manifest.json" and rel.parent.name != "text":
                data = json.loads(src.read_text(encoding="utf-8"))
                if not data.get("metrics"):
                    continue
                for key in DROPPED_KEYS:
                    data.pop(key, None)
                text = json.dumps(data, indent=1) + "\n"
            else:
                text = src.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            log.warning("record: %s skipped (%s)", src, exc)
            continue
        if dst.is_file() and dst.read_text(encoding="utf-8") == text:
            continue
        _write_atomic(dst, text)
        copied += 1
    if copied:
        log.info("record: %d result file(s) from %s kept in %s", copied, runs, record)
    return copied


def recorded(out: Path, runs: Path, record: Path, names: tuple[str, ...] = ()) -> bool:
    """Whether ``record`` holds the result of the job writing to ``out`` (a directory under ``runs``):
    a model manifest with metrics, or with ``names`` every baseline's ``<name>.json``."""
    try:
        mirror = record / out.resolve().relative_to(runs.resolve())
    except ValueError:
        return False
    if names:
        return all((mirror / f"{n}.json").is_file() for n in names)
    try:
        return bool(json.loads((mirror / "manifest.json").read_text(encoding="utf-8")).get("metrics"))
    except (OSError, ValueError):
        return False


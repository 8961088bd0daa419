"""``myosem models``: the shipped models (and any model directories given), what each one fits and knows.

Why: ``--model`` takes a shipped name or a directory, and ``live`` picks a shipped model by the stream's
channel count and rate; a user needs to see which armbands those are, which gestures a model describes and
whose recordings it was trained on (scores on those are not tests: ``eval`` warns).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HELP = "list the shipped models: armband (channels, rate), gestures, training subjects, test R@1"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="*", metavar="MODEL_DIR", help="also describe these model directories")
    p.add_argument("--classes", action="store_true", help="list every class with its description")


def _subjects(files: Iterable[dict[str, Any]]) -> str:
    """``3dc: S1-S17; myodisco: S1-S10`` from manifest file entries ``{"name": "3dc/S1_E1_A1.mat"}``."""
    by_folder: dict[str, set[int]] = {}
    for f in files:
        name = str(f.get("name", "")) if isinstance(f, dict) else ""
        m = re.search(r"(?:^|/)S(\d+)_", name)
        if m:
            by_folder.setdefault(name.split("/")[0] if "/" in name else "", set()).add(int(m[1]))
    parts = []
    for folder, subjects in sorted(by_folder.items()):
        s = sorted(subjects)
        span = f"S{s[0]}-S{s[-1]}" if s == list(range(s[0], s[-1] + 1)) and len(s) > 2 else \
            ", ".join(f"S{i}" for i in s)
        parts.append(f"{folder}: {span}" if folder else span)
    return "; ".join(parts) or "-"


def describe(name: str, model: Any, classes: bool) -> str:
    m = model.manifest
    data = m.get("data", {}) or {}
    r1 = (m.get("metrics", {}) or {}).get("emg_to_text", {}).get("R@1")
    wall = (m.get("wall_clock", {}) or {}).get("seconds")
    lines = [f"{name}  ({model.directory})",
             f"  armband   {m.get('dataset', '?')}: {model.n_channels} ch @ {model.fs:g} Hz; windows "
             f"{model.window_ms:g} ms every {model.hop_ms:g} ms",
             f"  gestures  {len(model.class_ids)} ({m.get('vocabulary', '?')} vocabulary): "
             + ", ".join(model.class_names),
             f"  trained   on {len(data.get('train_files', []))} recordings, "
             f"{_subjects(data.get('train_files', []))}"
             + (f"; {wall / 60:.0f} min on {m['wall_clock'].get('device', '?')}" if wall else ""),
             f"  held out  {_subjects(data.get('test_files', []))}"
             + (f" (EMG->text R@1 there {r1:.3f})" if isinstance(r1, (int, float)) else "")]
    if classes:
        lines += [f"    {int(i):3d}  {n:<24s} {d}" for i, n, d in zip(model.class_ids, model.class_names,
                                                                      model.descriptions, strict=True)]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.model import SHIPPED, MyoSemModel

    targets = [(name, path) for name, path in SHIPPED.items()] + [(str(d), Path(d)) for d in args.dirs]
    for name, path in targets:
        sys.stdout.write(describe(name, MyoSemModel.load(path, verify=False), args.classes))
    return 0

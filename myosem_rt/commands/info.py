"""``myosem info PATH``: what a recording holds (dataset, subject, shape, rate, classes, repetitions)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from myosem_rt.recordings import xdf

HELP = "summarise recording files (NinaPro DB1/DB2/DB3 or the MyoSem NinaPro-layout recordings)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a .mat or .xdf recording, or a folder to summarise every recording below it")
    p.add_argument("--layout", choices=["myosem", "db1", "db2", "db3"], help="skip layout detection")
    p.add_argument("--classes", action="store_true", help="list class ids, names and sample counts")
    xdf.add_arguments(p)


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    import numpy as np

    from myosem_rt.errors import RecordingError
    from myosem_rt.recordings import find_recordings, load_session

    out = sys.stdout
    paths = find_recordings(args.path)
    bad: list[RecordingError] = []
    for path in paths:
        try:
            s = load_session(path, layout=args.layout)
        except RecordingError as exc:
            if len(paths) == 1:
                raise
            bad.append(exc)  # a folder: list the good ones, then say what is wrong with the others
            out.write(f"{path}: UNREADABLE: {exc.problem}\n")
            continue
        reps = sorted(set(s.repetition.tolist()) - {0})
        out.write(
            f"{path}: {s.dataset} subject {s.subject} session {s.session} | {s.n_samples} x {s.n_channels} ch"
            f" @ {s.fs:g} Hz ({s.duration_s:.1f} s, {s.unit or 'unit?'}) | {len(s.classes)} classes,"
            f" repetitions {reps[0] if reps else '-'}..{reps[-1] if reps else '-'}\n"
        )
        if args.classes:
            counts = np.bincount(s.label)
            for c in s.classes:
                out.write(f"  {c:3d}  {s.class_name(c):<45s} {counts[c]:>8d} samples\n")
    if bad:
        raise RecordingError(args.path, f"{len(bad)} of {len(paths)} recordings unreadable (listed above; "
                                        f"first: {bad[0]})")
    return 0

"""``myosem record OUT.mat``: record an LSL EMG stream (its markers, optionally a results stream) to a file.

The file is the project's .mat layout, so ``replay``, ``eval``, ``query``, ``enrol --recording`` and
training read it like the shared recordings (:mod:`myosem_rt.record.session` says what it holds). Stops at
``--duration``, on Ctrl-C or when the source stops, and keeps everything received in each case.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from myosem_rt.errors import ConfigError

HELP = "record an LSL EMG stream and its markers to a .mat recording (Ctrl-C stops and keeps it)"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT.mat", help="the recording to write (not overwritten without --force)")
    p.add_argument("--name", help="EMG stream name (replaces config stream.* matching)")
    p.add_argument("--type", help="EMG stream type")
    p.add_argument("--source-id", help="EMG stream source_id")
    p.add_argument("--labels-stream", metavar="NAME",
                   help="marker stream with the labels (default: <EMG name>-labels when there is one)")
    p.add_argument("--results", metavar="NAME",
                   help="also record this myosem live results stream (e.g. myosem-results)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of signal")
    p.add_argument("--timestamps", action="store_true", help="keep every sample's LSL time in the file")
    p.add_argument("--dataset", help="dataset name in the file (default: the stream's, else 'recorded'); "
                                     "train reads a folder laid out like ../shared/data, by dataset")
    p.add_argument("--subject", type=int, metavar="N", help="subject number in the file")
    p.add_argument("--session", help="session name in the file (default: the stream's, else a time stamp)")
    p.add_argument("--force", action="store_true", help="overwrite OUT.mat if it exists")


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.record.session import COMPLETE, RecordSettings, record
    from myosem_rt.stream.inlet import StreamSelector

    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration must be > 0 seconds, got {args.duration:g}")
    selector = StreamSelector.from_config(config["stream"], name=args.name, type=args.type,
                                          source_id=args.source_id)
    settings = RecordSettings(Path(args.out), args.duration, bool(args.timestamps), bool(args.force))
    meta = {k: str(v) for k, v in (("dataset", args.dataset), ("subject", args.subject),
                                   ("session", args.session)) if v is not None}
    path, status, recorder = record(selector, settings, config, labels_stream=args.labels_stream,
                                    results_stream=args.results, meta=meta)
    how = "" if status == COMPLETE else f" ({status})"
    log.info("recorded %d samples (%.1f s, %d gap(s)%s) to %s%s", recorder.buffer.n, recorder.elapsed_s,
             recorder.gaps.gaps, f", {len(recorder.markers.ids)} markers" if recorder.markers else "", path,
             how)
    return 0

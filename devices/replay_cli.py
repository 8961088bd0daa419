"""``myosem replay FILE``: stream a recording as a live LSL EMG device (defaults: config.yaml ``replay``)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from myosem_rt.recordings import xdf

HELP = "stream a recording as a live LSL EMG device, with its labels as a '<name>-labels' marker stream"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        f"{HELP}. Sample i (from the first sample streamed, counting on across loops) is stamped "
        "t0 + i/fs in signal time, t0 = LSL local_clock() at the start: at --speed X the pushes are paced "
        "X times faster than real time but the stamps stay exactly 1/fs apart, so they run ahead of "
        "local_clock() when X > 1. The file is read and checked completely before any stream appears."
    )
    p.add_argument("file", metavar="FILE", help="recording (.mat) to replay")
    p.add_argument(
        "--speed", type=float, metavar="X", help="pacing relative to real time (config replay.speed)"
    )
    p.add_argument(
        "--loop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start over at the end, timestamps counting on (config replay.loop); runs until Ctrl-C",
    )
    p.add_argument(
        "--chunk-ms", type=float, metavar="N", help="ms of signal per push (config replay.chunk_ms)"
    )
    p.add_argument("--start", type=float, default=0.0, metavar="S", help="first second of the file to replay")
    p.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="seconds of signal to replay from --start (default: to the end)",
    )
    p.add_argument("--name", help="LSL stream name (config replay.name; default myosem-replay)")
    p.add_argument(
        "--wait-for-consumer",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for an inlet to connect before the first sample (default 0: don't wait)",
    )
    xdf.add_arguments(p)


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from devices.outlet import check_positive, run_until_interrupted
    from devices.replay import ReplayDevice
    from myosem_rt.recordings import load_session

    cfg = config["replay"]
    options = {
        "name": args.name or cfg["name"],
        "speed": check_positive("--speed", cfg["speed"] if args.speed is None else args.speed),
        "chunk_ms": check_positive("--chunk-ms", cfg["chunk_ms"] if args.chunk_ms is None else args.chunk_ms),
        "loop": bool(cfg["loop"] if args.loop is None else args.loop),
        "start_s": check_positive("--start", args.start, allow_zero=True),
        "duration_s": None if args.duration is None else check_positive("--duration", args.duration),
        "wait_for_consumer": check_positive("--wait-for-consumer", args.wait_for_consumer, allow_zero=True),
    }
    session = load_session(args.file)  # complete and validated before any outlet exists
    return run_until_interrupted(ReplayDevice(session, **options))

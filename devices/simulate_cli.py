"""``myosem simulate``: a synthetic armband on LSL (defaults: config.yaml ``simulate``)."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "stream a synthetic EMG armband (seeded), with its gestures as a '<name>-labels' marker stream"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        f"{HELP}. Channels are band-limited noise whose level follows a per-class channel activation "
        "topology (built in, or estimated from a recording with --topology FILE). Same stream format, "
        "signal-time stamps (t0 + i/fs) and markers as `myosem replay`. Options default to config.yaml."
    )

    def option(flag: str, key: str | None, help_text: str, **kwargs: Any) -> None:
        where = f" (config simulate.{key})" if key else ""
        p.add_argument(flag, help=help_text + where, **kwargs)

    option("--name", "name", "LSL stream name")
    option("--channels", "n_channels", "channel count", type=int, metavar="K")
    option("--fs", "fs", "sampling rate", type=float, metavar="HZ")
    option("--chunk-ms", "chunk_ms", "ms of signal per push", type=float, metavar="N")
    option(
        "--topology",
        "topology",
        "recording (.mat) to estimate the activation topology from, whose classes, channel count and rate "
        "are then used (default: the built-in wrist/hand topology)",
        metavar="FILE",
    )
    option("--sequence", "sequence", "'random' or class ids to cycle through, e.g. 1,2,3", metavar="IDS")
    option("--gesture-s", "gesture_s", "seconds each gesture is held", type=float, metavar="S")
    option("--rest-s", "rest_s", "seconds of rest between gestures, 0 = none", type=float, metavar="S")
    option("--seed", "seed", "random seed: the same seed gives the same signal", type=int)
    option("--amplitude", "amplitude", "RMS of full activation", type=float, metavar="A")
    option("--noise-floor", "noise_floor", "RMS at rest", type=float, metavar="A")
    option("--speed", None, "pacing relative to real time (default 1)", type=float, default=1.0, metavar="X")
    option("--duration", None, "seconds of signal to stream (default: endless)", type=float, metavar="S")
    p.add_argument(
        "--wait-for-consumer",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for an inlet to connect before the first sample (default 0: don't wait)",
    )


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from devices.outlet import run_until_interrupted
    from devices.simulate import armband_from_config

    armband = armband_from_config(
        config["simulate"],
        name=args.name,
        n_channels=args.channels,
        fs=args.fs,
        chunk_ms=args.chunk_ms,
        topology=args.topology,
        sequence=args.sequence,
        gesture_s=args.gesture_s,
        rest_s=args.rest_s,
        seed=args.seed,
        amplitude=args.amplitude,
        noise_floor=args.noise_floor,
        speed=args.speed,
        duration_s=args.duration,
        wait_for_consumer=args.wait_for_consumer,
    )
    return run_until_interrupted(armband)

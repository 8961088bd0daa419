"""``myosem bench replay``: the fastest replay speed this machine streams without losing a sample.

A real recording is replayed at increasing speeds, each trial a few seconds of wall time, to a plain pylsl
inlet in another process (:func:`receive`, run as ``python -m devices.bench receive ...``), which records the
timestamps it gets. As every sample is stamped ``t0 + i/fs``, the stamps give each received sample's index:
missing indices are lost samples, repeated ones duplicates. The search stops at the first trial that loses
or duplicates samples or falls behind (pushed or received samples per second < 90 % of the requested speed).

The receiver is also the tests' out-of-process LSL consumer (tests/lsl_helpers.py): it writes what it got
(values, timestamps, markers, stream metadata) to an .npz file.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError, StreamError

#: Requested speeds, in order; the search stops at the first failing one.
SPEEDS = (1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
#: A trial keeps pace when it achieves at least this fraction of the requested speed.
PACE_FRACTION = 0.9
DEFAULT_RECORDING = Path("3dc") / "S1_E1_A1.mat"


# -- the receiver (another process) ---------------------------------------------------------------------
def receive(
    name: str,
    out: str | Path,
    *,
    expect: int | None = None,
    timeout_s: float = 30.0,
    idle_s: float = 2.0,
    keep_values: bool = True,
) -> int:
    """Record the EMG stream ``name`` and its ``<name>-labels`` markers into ``out`` (.npz).

    Opens the marker inlet first, so that once the EMG outlet sees a consumer both inlets are connected.
    Stops after ``expect`` samples, after ``idle_s`` without data once data came, or after ``timeout_s``.
    The .npz holds ``values`` (N x C float32, empty unless ``keep_values``), ``timestamps``,
    ``markers`` / ``marker_timestamps``, the stream's name, source_id, nominal_srate, channel labels /
    units / types, manufacturer, its full XML, and ``first_wall`` / ``last_wall`` (local_clock() when the
    first / last chunk arrived). Timestamps are as sent (no clock correction). Returns an exit code.
    """
    import pylsl  # myosem_rt (imported above, via myosem_rt.errors) has made LSL machine-local

    from devices.outlet import MARKER_SUFFIX

    deadline = pylsl.local_clock() + timeout_s
    infos = {}
    for key, stream in (("markers", name + MARKER_SUFFIX), ("emg", name)):
        found = pylsl.resolve_byprop("name", stream, 1, max(0.1, deadline - pylsl.local_clock()))
        if not found:
            print(f"receive: stream {stream!r} not found within {timeout_s:g} s", file=sys.stderr)
            return 3
        infos[key] = found[0]
    marker_inlet = pylsl.StreamInlet(infos["markers"], max_buflen=360)
    marker_inlet.open_stream(timeout_s)
    inlet = pylsl.StreamInlet(infos["emg"], max_buflen=360)
    inlet.open_stream(timeout_s)
    info = inlet.info(timeout_s)

    n_ch = info.channel_count()
    values, stamps, markers, marker_stamps = [], [], [], []
    received, first_wall, last_wall = 0, np.nan, np.nan
    while True:
        data, ts = inlet.pull_chunk(timeout=0.05, max_samples=8192, min_samples=1, as_numpy=True)
        now = pylsl.local_clock()
        if len(ts):
            first_wall = now if received == 0 else first_wall
            last_wall, received = now, received + len(ts)
            stamps.append(ts)
            if keep_values:
                values.append(data)
        labels, label_ts = marker_inlet.pull_chunk(timeout=0.0, max_samples=1024)
        markers += [sample[0] for sample in labels]
        marker_stamps += label_ts
        if expect is not None and received >= expect:
            break
        if (received and now - last_wall > idle_s) or now > deadline:
            break
    late, late_ts = marker_inlet.pull_chunk(timeout=0.2, max_samples=1024)  # markers travel separately
    markers += [sample[0] for sample in late]
    marker_stamps += late_ts
    np.savez(
        out,
        values=np.concatenate(values) if values else np.zeros((0, n_ch), np.float32),
        timestamps=np.concatenate(stamps) if stamps else np.zeros(0),
        markers=np.array(markers, dtype=str),
        marker_timestamps=np.array(marker_stamps, dtype=np.float64),
        name=info.name(),
        type=info.type(),
        source_id=info.source_id(),
        nominal_srate=info.nominal_srate(),
        channel_labels=np.array(info.get_channel_labels() or [], dtype=str),
        channel_units=np.array(info.get_channel_units() or [], dtype=str),
        channel_types=np.array(info.get_channel_types() or [], dtype=str),
        manufacturer=info.desc().child_value("manufacturer"),
        marker_source_id=infos["markers"].source_id(),
        xml=info.as_xml(),
        first_wall=first_wall,
        last_wall=last_wall,
    )
    del inlet, marker_inlet  # inlets before the outlets go away
    return 0


def receiver_command(
    name: str,
    out: str | Path,
    *,
    expect: int | None = None,
    timeout_s: float = 30.0,
    idle_s: float = 2.0,
    keep_values: bool = True,
) -> list[str]:
    """The command line that runs :func:`receive` in a fresh Python process."""
    cmd = [sys.executable, "-m", "devices.bench", "receive", "--name", name, "--out", str(out)]
    cmd += ["--timeout", str(timeout_s), "--idle", str(idle_s)]
    if expect is not None:
        cmd += ["--expect", str(expect)]
    if not keep_values:
        cmd.append("--no-values")
    return cmd


def _receiver_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m devices.bench receive", description=receive.__doc__)
    p.add_argument("--name", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--expect", type=int)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--idle", type=float, default=2.0)
    p.add_argument("--no-values", action="store_true")
    a = p.parse_args(argv)
    return receive(
        a.name, a.out, expect=a.expect, timeout_s=a.timeout, idle_s=a.idle, keep_values=not a.no_values
    )


# -- the benchmark --------------------------------------------------------------------------------------
@dataclass
class Trial:
    speed: float
    achieved: float  #: samples pushed per second of wall time / fs
    received_speed: float  #: samples received per second of wall time (since t0) / fs
    expected: int
    received: int
    lost: int
    duplicated: int

    @property
    def ok(self) -> bool:
        kept_pace = min(self.achieved, self.received_speed) >= PACE_FRACTION * self.speed
        return self.lost == 0 and self.duplicated == 0 and kept_pace


def _default_recording() -> Path:
    root = os.environ.get("MYOSEM_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    path = base / DEFAULT_RECORDING
    if not path.is_file():
        raise ConfigError(
            f"{path}: recording for the replay benchmark not found (pass --data FILE or set MYOSEM_DATA)"
        )
    return path


def run_trial(session: Any, speed: float, chunk_ms: float, wall_s: float) -> Trial:
    """Replay ``speed * wall_s`` seconds of ``session`` (at most all of it) to a receiver process."""
    from devices.replay import ReplayDevice

    name = f"myosem-bench-{uuid.uuid4().hex[:8]}"
    device = ReplayDevice(
        session,
        name=name,
        speed=speed,
        chunk_ms=chunk_ms,
        duration_s=min(session.duration_s, speed * wall_s),
        wait_for_consumer=20.0,
    )
    expected = device.n_selected
    with tempfile.TemporaryDirectory(prefix="myosem-bench-") as tmp:
        out = Path(tmp) / "received.npz"
        device.start()
        cmd = receiver_command(
            name, out, expect=expected, timeout_s=60.0 + wall_s * 4, idle_s=2.0, keep_values=False
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120.0 + wall_s * 4)
        device.stop(timeout=30.0)
        if proc.returncode != 0 or not out.is_file():
            raise StreamError(
                f"benchmark receiver failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
            )
        with np.load(out) as rx:
            stamps, last_wall = rx["timestamps"], float(rx["last_wall"])
    fs = session.fs
    index = np.rint((stamps - device.t0) * fs).astype(np.int64)
    unique = np.unique(index)
    in_range = int(np.count_nonzero((unique >= 0) & (unique < expected)))
    return Trial(
        speed=speed,
        achieved=device.samples_pushed / max(device.wall_s, 1e-9) / fs,
        received_speed=len(stamps) / max(last_wall - device.t0, 1e-9) / fs if len(stamps) else 0.0,
        expected=expected,
        received=len(stamps),
        lost=expected - in_range,
        duplicated=len(index) - len(unique),
    )


def _print_rows(trials: Iterator[Trial]) -> Trial | None:
    """Print each trial as it completes; stop at the first failing one. Returns the fastest passing one."""
    best = None
    for trial in trials:
        print(
            f"{trial.speed:>6g}x {trial.achieved:>8.1f}x {trial.received_speed:>8.1f}x {trial.expected:>9d} "
            f"{trial.received:>9d} {trial.lost:>7d} {trial.duplicated:>5d}",
            flush=True,
        )
        if not trial.ok:
            reason = "lost or duplicated samples" if trial.lost or trial.duplicated else "fell behind"
            print(f"stopped at {trial.speed:g}x: {reason}")
            break
        best = trial
    return best


def bench_replay(args: argparse.Namespace, config: dict[str, Any]) -> int:
    """Print one row per speed and the highest speed without loss that kept pace."""
    from myosem_rt.recordings import load_session

    session = load_session(Path(args.data) if args.data else _default_recording())
    chunk_ms = float(config["replay"]["chunk_ms"])
    wall_s = 1.0 if args.quick else 3.0
    print(
        f"replay benchmark: {session.source_id} ({session.n_channels} ch @ {session.fs:g} Hz, "
        f"{session.duration_s:.0f} s), chunks of {chunk_ms:g} ms, ~{wall_s:g} s of wall time per trial "
        f"(at most the whole file), receiver in another process"
    )
    print(
        f"{'speed':>7} {'pushed':>9} {'received':>9} {'expected':>9} {'received':>9} {'lost':>7} {'dup':>5}"
    )
    print(f"{'':>7} {'(speed)':>9} {'(speed)':>9} {'samples':>9} {'samples':>9}")
    devices_log = logging.getLogger("devices")
    level = devices_log.level
    devices_log.setLevel(logging.WARNING)  # the devices' start-up lines would interleave with the table
    try:
        best = _print_rows(run_trial(session, speed, chunk_ms, wall_s) for speed in SPEEDS)
    finally:
        devices_log.setLevel(level)
    if best is None:
        print("highest lossless speed: none (even 1x failed)")
        return 1
    rate = min(best.achieved, best.received_speed) * session.fs
    print(
        f"highest lossless speed keeping pace: {best.speed:g}x (end to end {rate / session.fs:.1f}x = "
        f"{rate:,.0f} samples/s, {rate * session.n_channels:,.0f} values/s)"
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["receive"]:
        sys.exit("usage: python -m devices.bench receive --name NAME --out FILE.npz [...]")
    sys.exit(_receiver_main(sys.argv[2:]))

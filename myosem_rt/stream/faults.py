"""``myosem bench fault [--quick]``: what the consumer does when the source misbehaves, measured over LSL.

Why: a wearer's armband drops out (Bluetooth range, a flat battery, a replug) far more often than the
code path around it is exercised. Every scenario runs a real-time outlet on this machine whose channel 0
is the sample index, so the truth about what was lost is known sample by sample, against a
:class:`~myosem_rt.stream.consumer.StreamConsumer` at config.yaml's settings (``stream.stall_timeout_s``):

* **dies, back after 3 s** (same source_id): how long until ``lost`` is reported (stall timeout + poll),
  how long from the new outlet to the first sample (liblsl's recovery), how far the reported gap is from
  the samples truly missing, and whether the windows restart at the first sample after it. The gap is read
  from timestamps, and across a reconnection those pass through liblsl's *re-estimated* clock offset, so it
  is exact only to that estimate's precision: within :data:`RECONNECT_GAP_TOLERANCE` samples counts as
  right (a CI run on a loaded machine once saw it off by a sample, where every idle run was exact);
* **holes of 20, 50, 150, 500 ms** (samples never sent, time goes on), 2 s apart in one stream after the
  jitter tolerance has settled (:mod:`myosem_rt.stream.continuity`): reported with the exact count or
  not, and whether any window runs across one;
* **pause 0.5 s, then the backlog** (below the stall timeout): nothing may be reported or lost;
* **clock goes back 5 s** (a source that restarted its clock): a discontinuity, windows restart;
* **back at another rate**: how long until the consumer stops with its one-line error.

Printed per scenario: rounds, delays (median / max) and how many rounds were exact.
"""

from __future__ import annotations

import copy
import logging
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pylsl

from myosem_rt.errors import StreamError
from myosem_rt.stream.consumer import StreamConsumer
from myosem_rt.stream.continuity import MAX_TOLERANCE_S
from myosem_rt.stream.inlet import StreamSelector

log = logging.getLogger(__name__)

FS, CHANNELS = 1000.0, 10  # the 3dc-armband's shape
OUTAGE_S = 3.0
HOLES_MS = (20, 50, 150, 500)
SETTLE_S = 10.0  # an exactly stamped source's tolerance reaches its floor within about 8 s
#: Samples (5 ms at 1 kHz) a gap across a reconnection may be off by: the precision of a clock offset
#: liblsl re-estimates on a busy machine, against a 3 s outage.
RECONNECT_GAP_TOLERANCE = 5


class _Source:
    """A real-time outlet whose channel 0 is the sample index, stamped ``t0 + index / fs``."""

    def __init__(self, source_id: str, fs: float = FS, n_channels: int = CHANNELS) -> None:
        self.fs, self.n_channels, self.source_id = fs, n_channels, source_id
        self.outlet: pylsl.StreamOutlet | None = None
        self.t0 = pylsl.local_clock()
        self.clock_offset = 0.0  # added to every stamp (a clock reset makes it negative)
        self.sent = 0  # samples due so far (pushed or lost)
        self.paused = False
        self.open()

    def open(self, fs: float | None = None, n_channels: int | None = None) -> None:
        info = pylsl.StreamInfo(f"fault-{self.source_id}", "EMG", n_channels or self.n_channels,
                                fs or self.fs, "float32", self.source_id)
        self.outlet = pylsl.StreamOutlet(info)

    def close(self) -> None:
        self.outlet = None  # pylsl destroys the outlet with its last reference

    def skip(self, n: int) -> None:
        """The next ``n`` samples are never sent: their indices and their time pass."""
        self.step()
        self.sent += n

    def step(self) -> None:
        """Push every sample due by now (nothing while closed or paused: closed loses them)."""
        due = int((pylsl.local_clock() - self.t0) * self.fs)
        if due <= self.sent or self.paused:
            return
        if self.outlet is None:
            self.sent = due
            return
        n = due - self.sent
        x = np.zeros((n, self.outlet.channel_count), dtype=np.float32)
        x[:, 0] = np.arange(self.sent, due)
        self.outlet.push_chunk(x, self.t0 + self.clock_offset + (due - 1) / self.fs)
        self.sent = due


@dataclass
class _Run:
    """One round: the consumer's windows (channel 0 of each) and what it reported, with wall times."""

    source: _Source
    consumer: StreamConsumer
    windows: list[tuple[int, np.ndarray]] = field(default_factory=list)
    received: list[np.ndarray] = field(default_factory=list)  #: channel 0 of every pulled chunk, raw

    def __post_init__(self) -> None:
        self.consumer.add_tap(lambda x, ts: self.received.append(np.array(x[:, 0], dtype=np.int64)))

    def indices(self) -> np.ndarray:
        return np.concatenate(self.received) if self.received else np.zeros(0, np.int64)

    def spin(self, seconds: float, until: Callable[[], bool] | None = None) -> float | None:
        """Stream for ``seconds`` (or until ``until()``); the wall time ``until`` first held, else None."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.source.step()
            for w in self.consumer.poll(timeout_s=0.01):
                self.windows.append((w.segment, w.samples[:, 0].copy()))
            if until is not None and until():
                return time.monotonic()
        return None

    def across(self) -> list[tuple[int, np.ndarray]]:
        """The windows that mix samples across a gap (channel 0 does not count up by one inside them). The
        pipeline filters channel 0, so the bench runs with the filters off."""
        return [(g, w) for g, w in self.windows if not np.all(np.diff(w) == 1)]

    def clean(self) -> bool:
        """No window mixes samples across a gap."""
        return not self.across()


def _config(config: dict[str, Any]) -> dict[str, Any]:
    cfg = copy.deepcopy(config)
    cfg["filters"].update(bandpass_hz=None, notch_hz=None)  # channel 0 arrives as sent
    return cfg


def _start(config: dict[str, Any]) -> _Run:
    source = _Source(uuid.uuid4().hex[:12])
    consumer = StreamConsumer(config, StreamSelector(source_id=source.source_id), timeout_s=5.0)
    run = _Run(source, consumer)
    run.spin(1.0)
    return run


def _dies_and_returns(config: dict[str, Any]) -> dict[str, Any]:
    run = _start(config)
    try:
        t_gone = time.monotonic()
        run.source.close()
        t_lost = run.spin(OUTAGE_S + 5.0, lambda: run.consumer.state == "lost")
        run.spin(max(0.0, t_gone + OUTAGE_S - time.monotonic()))
        run.source.open()
        t_back = time.monotonic()
        t_first = run.spin(20.0, lambda: run.consumer.state == "streaming")
        run.spin(0.5)
    finally:
        run.consumer.close()
    events = [e for e in run.consumer.events if e.kind == "recovered"]
    seen = run.indices()
    steps = np.flatnonzero(np.diff(seen) != 1)  # the one place the received indices jump
    after = [w for seg, w in run.windows if seg == 1]
    error = None
    if len(events) == 1 and len(steps) == 1:
        error = abs(int(events[0].gap_samples) - int(seen[steps[0] + 1] - seen[steps[0]] - 1))
    restart = (error is not None and run.clean() and bool(after)
               and after[0][0] == seen[steps[0] + 1])  # windows restart at the first sample after the gap
    exact = restart and error <= RECONNECT_GAP_TOLERANCE
    why = "" if exact else (
        f"events {[(e.kind, e.gap_samples, e.restarted) for e in run.consumer.events]}, index jumps "
        f"{[(int(seen[i]), int(seen[i + 1])) for i in steps]}, "
        f"segments {sorted({g for g, _ in run.windows})}, "
        f"first window after the gap starts at {after[0][0] if after else None}, windows across a jump "
        f"{[(g, int(w[0]), int(w[-1])) for g, w in run.across()][:3]}")
    if why:  # what went wrong, for whoever reads the log of a failed round
        log.warning("bench fault, dies and returns, not exact: %s", why)
    return {"lost_s": None if t_lost is None else t_lost - t_gone,
            "back_s": None if t_first is None else t_first - t_back, "gap_error": error, "exact": exact,
            "why": why}


def _holes(config: dict[str, Any]) -> dict[str, Any]:
    """Every hole of :data:`HOLES_MS` in one stream, in that order: which were reported exactly."""
    run = _start(config)
    reported: dict[int, bool] = {}
    try:
        run.spin(SETTLE_S)
        tolerance = run.consumer.pipeline.gaps.tolerance_s
        for hole_ms in HOLES_MS:
            n = round(hole_ms * FS / 1000.0)
            before = len(run.consumer.events)
            run.source.skip(n)
            run.spin(2.0)
            gaps = [e.gap_samples for e in list(run.consumer.events)[before:] if e.kind == "discontinuity"]
            reported[hole_ms] = gaps == [n]
    finally:
        run.consumer.close()
    return {"reported": reported, "clean": run.clean(), "tolerance_s": tolerance}


def _pause(config: dict[str, Any]) -> dict[str, Any]:
    run = _start(config)
    try:
        run.source.paused = True
        run.spin(0.5)
        run.source.paused = False
        run.spin(0.6)
    finally:
        run.consumer.close()
    seen = run.indices()
    complete = bool(len(seen)) and bool(np.all(np.diff(seen) == 1)) and seen[0] == 0
    return {"exact": not run.consumer.events and complete and run.clean()}


def _clock_back(config: dict[str, Any]) -> dict[str, Any]:
    run = _start(config)
    try:
        run.source.clock_offset = -5.0
        run.spin(0.6)
    finally:
        run.consumer.close()
    events = [e for e in run.consumer.events if e.kind == "discontinuity"]
    restarted = len(events) == 1 and events[0].gap_s < 0 and events[0].restarted
    return {"exact": restarted and any(seg == 1 for seg, _ in run.windows) and run.clean()}


def _other_rate(config: dict[str, Any]) -> dict[str, Any]:
    run = _start(config)
    t_back = t_error = None
    try:
        run.source.close()
        run.spin(5.0, lambda: run.consumer.state == "lost")
        run.source.open(fs=2 * FS)
        t_back = time.monotonic()
        try:
            run.spin(20.0)
        except StreamError as exc:
            t_error = time.monotonic()
            log.debug("refused as expected: %s", exc)
    finally:
        run.consumer.close()
    return {"refused_s": None if t_error is None else t_error - t_back}


def _stat(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "-"
    return f"{statistics.median(got):.2f} / {max(got):.2f} s"


def bench_fault(args: Any, config: dict[str, Any]) -> int:
    """Run every scenario (module docstring) and print one line per scenario."""
    rounds = 1 if getattr(args, "quick", False) else 5
    cfg = _config(config)
    stall = float(cfg["stream"]["stall_timeout_s"])
    lines = [f"bench fault: {CHANNELS} ch @ {FS:g} Hz over LSL on this machine, {rounds} round(s) each, "
             f"stall timeout {stall:g} s"]
    dies = [_dies_and_returns(cfg) for _ in range(rounds)]
    lost, back = _stat([d["lost_s"] for d in dies]), _stat([d["back_s"] for d in dies])
    exact = sum(d["exact"] for d in dies)
    errors = [d["gap_error"] for d in dies if d["gap_error"] is not None]
    worst = f"{max(errors)} sample(s)" if errors else "-"
    lines.append(f"  dies, back after {OUTAGE_S:g} s: lost reported after {lost} (median / max); first "
                 f"sample {back} after the source returned; reported gap off by at most {worst}; gap "
                 f"within {RECONNECT_GAP_TOLERANCE} samples and windows restarting at the first sample "
                 f"after it in {exact}/{rounds}")
    holes = [_holes(cfg) for _ in range(rounds)]
    tol = [h["tolerance_s"] * 1000 for h in holes]
    lines.append(f"  jitter tolerance after {SETTLE_S:g} s: {min(tol):.1f}-{max(tol):.1f} ms (it starts at "
                 f"{MAX_TOLERANCE_S * 1000:g} ms)")
    for hole_ms in HOLES_MS:
        lines.append(f"  hole of {hole_ms} ms: reported with the exact count "
                     f"{sum(h['reported'][hole_ms] for h in holes)}/{rounds}")
    lines.append(f"  no window across any hole: {sum(h['clean'] for h in holes)}/{rounds}")
    pauses = [_pause(cfg) for _ in range(rounds)]
    lines.append(f"  pause 0.5 s, then the backlog: nothing reported or lost "
                 f"{sum(p['exact'] for p in pauses)}/{rounds}")
    back = [_clock_back(cfg) for _ in range(rounds)]
    lines.append(f"  clock goes back 5 s: discontinuity reported, windows restarted "
                 f"{sum(b['exact'] for b in back)}/{rounds}")
    other = [_other_rate(cfg) for _ in range(rounds)]
    refused = sum(o["refused_s"] is not None for o in other)
    lines.append(f"  back at {2 * FS:g} Hz: stopped with the one-line error after "
                 f"{_stat([o['refused_s'] for o in other])} in {refused}/{rounds}")
    print("\n".join(lines))
    return 0

"""``myosem bench soak --model NAME --data RECORDING [--minutes M] [--speed S]``: the live path for minutes.

Why: a wearer leaves ``myosem live`` running for hours; what must not creep is memory, latency and lost
samples. A looping replay of the recording (faster than real time, ``--speed``, default 4) streams over LSL
into the consumer, the engine and the results outlet for ``--minutes`` of wall time (default 10); printed:
hops, gaps and samples lost, resident memory after a one-minute warm-up and at the end (the difference is
the growth), and publish latency median / p99 over the first and the last minute.
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError

log = logging.getLogger(__name__)

WARMUP_S = 60.0


def rss_kib() -> int:
    """Resident set size of this process (kB), from /proc (0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class _Probe:
    """A result sink: hop count, latency per hop with its wall time, and RSS after the warm-up. The
    latencies go into arrays allocated up front, so the probe itself does not grow the memory it measures
    (a list of tuples was 5 MB over 48 000 hops)."""

    def __init__(self, warmup_s: float, capacity: int) -> None:
        self.t0 = time.monotonic()
        self.warmup_s = warmup_s
        self.hops = 0
        self._lat = np.full((int(capacity), 2), np.nan)  # (wall s since start, ms)
        self.rss_after_warmup: int | None = None

    @property
    def latency(self) -> np.ndarray:
        kept = self._lat[: min(self.hops, len(self._lat))]
        return kept[~np.isnan(kept[:, 1])]

    def publish(self, result: Any) -> None:
        now = time.monotonic() - self.t0
        if result.latency_ms is not None and self.hops < len(self._lat):
            self._lat[self.hops] = (now, float(result.latency_ms))
        self.hops += 1
        if self.rss_after_warmup is None and now >= self.warmup_s:
            self.rss_after_warmup = rss_kib()

    def close(self) -> None:
        pass


def bench_soak(args: Any, config: dict[str, Any]) -> int:
    from devices.replay import ReplayDevice
    from myosem_rt.live.bench import replay_through_live
    from myosem_rt.model import MyoSemModel
    from myosem_rt.recordings import load_session

    if not getattr(args, "data", None):
        raise ConfigError("bench soak needs a recording: --data FILE (it is replayed in a loop)")
    minutes = float(getattr(args, "minutes", None) or (1.5 if getattr(args, "quick", False) else 10.0))
    speed = float(getattr(args, "speed", None) or 4.0)
    if minutes <= 0 or speed <= 0:
        raise ConfigError("bench soak: --minutes and --speed must be > 0")
    model = MyoSemModel.load(getattr(args, "model", None) or "3dc-armband", threads=1)
    session = load_session(args.data)
    replay = ReplayDevice(session, name=f"soak-{uuid.uuid4().hex[:8]}", speed=speed, loop=True,
                          wait_for_consumer=10.0)
    warmup = min(WARMUP_S, 0.3 * minutes * 60.0)
    probe = _Probe(warmup, capacity=int(1.5 * minutes * 60.0 * speed * model.fs / model.hop) + 1000)
    received, gaps, lost = replay_through_live(model, config, replay, [probe], minutes * 60.0)
    end_rss = rss_kib()
    lat = probe.latency
    total = minutes * 60.0

    def window(a: float, b: float) -> str:
        sel = lat[(lat[:, 0] >= a) & (lat[:, 0] < b), 1] if len(lat) else lat
        return "-" if not len(sel) else f"median {np.median(sel):.2f} ms, p99 {np.percentile(sel, 99):.2f} ms"

    grow = None if probe.rss_after_warmup is None else end_rss - probe.rss_after_warmup
    print("\n".join([
        f"soak: {model.directory.name} on {args.data} looped at {speed:g}x for {minutes:g} min (wall)",
        f"  hops {probe.hops}, samples received {received}, gaps {gaps} ({lost} samples lost)",
        f"  resident memory after {warmup:.0f} s warm-up {probe.rss_after_warmup or 0} kB, at the end "
        f"{end_rss} kB" + ("" if grow is None else f" (growth {grow:+d} kB)"),
        f"  publish latency, first minute after warm-up: {window(warmup, warmup + 60.0)}",
        f"  publish latency, last minute: {window(total - 60.0, total + 1.0)}",
    ]))
    return 0

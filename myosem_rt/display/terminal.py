"""The terminal view: one status line a second, for machines without a display (or ``--no-gui``)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import numpy as np

from myosem_rt.display.feed import LiveFeed, Snapshot

BARS = " ▁▂▃▄▅▆▇█"


def activation_bars(activation: np.ndarray, scale: float) -> str:
    """One character per channel, its height the channel's RMS relative to ``scale``."""
    if scale <= 0:
        return BARS[0] * activation.size
    levels = np.clip(np.round(activation / scale * (len(BARS) - 1)), 0, len(BARS) - 1).astype(int)
    return "".join(BARS[i] for i in levels)


def status_line(snap: Snapshot, elapsed_s: float, scale: float) -> str:
    latency = "-" if snap.latency_ms is None else f"{snap.latency_ms:5.0f} ms"
    truth = snap.truth.split(":", 1)[1] if snap.truth else "-"
    return (
        f"{elapsed_s:6.1f} s  {snap.state:<9s} {snap.rate_hz:7.0f} Hz  gaps {snap.n_gaps}  latency {latency}"
        f"  |{activation_bars(snap.activation, scale)}|  truth: {truth}"
    )


def run_terminal(
    feed: LiveFeed, duration_s: float | None, out: TextIO = sys.stdout, period_s: float = 1.0
) -> None:
    """Print a status line every ``period_s`` until ``duration_s`` (None: until Ctrl-C)."""
    t0 = time.monotonic()
    scale = 0.0
    while duration_s is None or time.monotonic() - t0 < duration_s:
        time.sleep(
            period_s if duration_s is None else min(period_s, max(0.0, duration_s - (time.monotonic() - t0)))
        )
        snap = feed.snapshot()
        scale = max(scale * 0.98, float(snap.activation.max(initial=0.0)))  # slowly adapting full scale
        out.write(status_line(snap, time.monotonic() - t0, scale) + "\n")
        out.flush()

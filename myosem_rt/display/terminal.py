"""The terminal view: a status line a second and, with a model, the ranked descriptions under it.

For machines without a display (SSH, CI) or ``--terminal``. Reads :meth:`LiveWorker.snapshot` only, so
printing never slows acquisition. Per period::

     3.0 s  streaming    1000 Hz  gaps 0  latency     2 ms  |▂▂▂▁ ▂▇█| full scale 412  truth: Wrist Flexion
            -> Wrist Flexion (0.61): Bending the wrist so the palm moves toward the inner forearm.
               1. Wrist Flexion 0.58   2. Ulnar Deviation 0.41   3. Pinch Grip 0.33
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import numpy as np

from myosem_rt.display.worker import LiveWorker, Snapshot

BARS = " ▁▂▃▄▅▆▇█"
INDENT = " " * 11


def activation_bars(activation: np.ndarray, scale: float) -> str:
    """One character per channel, its height the channel's RMS relative to ``scale``."""
    if scale <= 0:
        return BARS[0] * activation.size
    levels = np.clip(np.round(activation / scale * (len(BARS) - 1)), 0, len(BARS) - 1).astype(int)
    return "".join(BARS[i] for i in levels)


def status_line(snap: Snapshot, elapsed_s: float, scale: float) -> str:
    latency = "-" if snap.latency_ms is None else f"{snap.latency_ms:5.0f} ms"
    truth = snap.truth[1] if snap.truth else "-"
    return (
        f"{elapsed_s:6.1f} s  {snap.state:<9s} {snap.rate_hz:7.0f} Hz  gaps {snap.n_gaps}  latency {latency}"
        f"  |{activation_bars(snap.activation, scale)}| full scale {scale:.3g}  truth: {truth}"
    )


def description_lines(snap: Snapshot, descriptions: dict[str, str]) -> list[str]:
    """The smoothed label with its description, and the raw top-K of the latest hop with scores."""
    r = snap.result
    if r is None:
        return []
    text = descriptions.get(r.label, "")
    label = f"{INDENT}-> {r.label} ({r.smoothed_score:.2f})" + (f": {text}" if text else "")
    ranked = "   ".join(f"{i}. {e['name']} {e['score']:.2f}" for i, e in enumerate(r.topk, 1))
    return [label, f"{INDENT}   {ranked}"]


def run_terminal(worker: LiveWorker, duration_s: float | None, out: TextIO | None = None,
                 period_s: float = 1.0) -> None:
    """Print every ``period_s`` until ``duration_s`` (None: until Ctrl-C) or the worker fails."""
    out = out or sys.stdout  # the stream of the moment, not of import time
    t0 = time.monotonic()
    scale = 0.0
    while duration_s is None or time.monotonic() - t0 < duration_s:
        left = None if duration_s is None else max(0.0, duration_s - (time.monotonic() - t0))
        time.sleep(period_s if left is None else min(period_s, left))
        snap = worker.snapshot()
        scale = max(scale * 0.98, float(snap.activation.max(initial=0.0)))  # slowly adapting full scale
        model = worker.model
        descriptions = dict(zip(model.class_names, model.descriptions, strict=True)) if model else {}
        lines = [status_line(snap, time.monotonic() - t0, scale), *description_lines(snap, descriptions)]
        out.write("\n".join(lines) + "\n")
        out.flush()
        if snap.error:
            out.write(f"live worker stopped: {snap.error}\n")
            return

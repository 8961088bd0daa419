"""A live feed: an acquisition thread that keeps the latest EMG, activations and ground truth for a view.

Views (terminal, Qt) run on the main thread and only read :meth:`LiveFeed.snapshot`, so a slow view never
slows acquisition: the thread pulls the stream through the :class:`~myosem_rt.stream.consumer.StreamConsumer`
and, when the source publishes one, the ``<name>-labels`` ground-truth marker stream.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from myosem_rt.stream.consumer import StreamConsumer
from myosem_rt.stream.ring import RingBuffer

# isort: split
import pylsl  # after myosem_rt (LSLAPICFG)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the feed's state for one repaint."""

    samples: np.ndarray  #: (n, C) most recent filtered samples, oldest first
    activation: np.ndarray  #: (C,) RMS per channel over the latest window (mean of its patch RMS)
    truth: str | None  #: latest ground-truth marker ("<id>:<name>") at or before the latest window
    n_samples: int
    n_windows: int
    rate_hz: float  #: effective input rate over the last second
    latency_ms: float | None
    n_gaps: int
    state: str


class LiveFeed:
    """Consume one EMG stream (and its marker stream) in a background thread; see the module docstring."""

    def __init__(self, config: Mapping[str, Any], history_s: float = 5.0, markers: str | None = None) -> None:
        # The marker inlet connects first: a source that waits for its consumer then loses no marker.
        self._marker_inlet = _open_markers(markers, config) if markers else None
        self.consumer = StreamConsumer(config)
        p = self.consumer.pipeline
        self.fs, self.n_channels = p.fs, p.n_channels
        self.channel_names = [f"ch{i + 1}" for i in range(self.n_channels)]
        self._history = RingBuffer(max(1, math.ceil(history_s * self.fs)), self.n_channels)
        self._activation = np.zeros(self.n_channels)
        self._markers: list[tuple[float, str]] = []
        self._window_ts: float | None = None
        self._rate = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="myosem-feed", daemon=True)

    def start(self) -> LiveFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        if self._marker_inlet is not None:
            self._marker_inlet.close_stream()
        self.consumer.close()

    def __enter__(self) -> LiveFeed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot(self) -> Snapshot:
        with self._lock:
            samples = self._history.view(self._history.size).copy()
            truth = None
            for ts, text in self._markers:
                if self._window_ts is not None and ts <= self._window_ts:
                    truth = text
            c = self.consumer
            latency = c.inlet.arrival_latency_s
            return Snapshot(
                samples=samples,
                activation=self._activation.copy(),
                truth=truth,
                n_samples=c.pipeline.n_samples,
                n_windows=c.pipeline.n_windows,
                rate_hz=self._rate,
                latency_ms=None if latency is None else 1e3 * latency,
                n_gaps=c.n_gaps,
                state=c.state,
            )

    def _run(self) -> None:
        pipeline = self.consumer.pipeline
        seen = 0
        counted, t_rate = None, 0.0
        while not self._stop.is_set():
            windows = self.consumer.poll(0.05)
            new = pipeline.ring.total - seen
            markers = self._pull_markers()
            with self._lock:
                if new:
                    k = min(new, self._history.capacity, pipeline.ring.capacity)
                    self._history.write(pipeline.ring.view(k))
                    seen = pipeline.ring.total
                if windows:
                    last = windows[-1]
                    self._activation = last.descriptors[:, :, 0].mean(axis=0)
                    self._window_ts = last.timestamp
                self._markers.extend(markers)
                del self._markers[:-2]  # the one in force and a newer one are all a view needs
            now = pylsl.local_clock()
            if counted is None:  # the rate counts from the first arrival, not from connecting
                if pipeline.n_samples:
                    counted, t_rate = pipeline.n_samples, now
            elif now - t_rate >= 1.0:
                self._rate = (pipeline.n_samples - counted) / (now - t_rate)
                counted, t_rate = pipeline.n_samples, now

    def _pull_markers(self) -> list[tuple[float, str]]:
        if self._marker_inlet is None:
            return []
        texts, stamps = self._marker_inlet.pull_chunk(timeout=0.0)
        return [(float(t), str(m[0])) for m, t in zip(texts, stamps, strict=True)]


def _open_markers(name: str, config: Mapping[str, Any]) -> pylsl.StreamInlet | None:
    """The ground-truth marker inlet (``<name>-labels`` of a replay or simulate source), if it is visible."""
    timeout = float(config["lsl"]["resolve_timeout_s"])
    found = pylsl.resolve_byprop("name", name, 1, timeout)
    if not found:
        log.info("no marker stream '%s': no ground truth shown", name)
        return None
    inlet = pylsl.StreamInlet(found[0], processing_flags=pylsl.proc_clocksync)
    inlet.open_stream(timeout=timeout)
    return inlet

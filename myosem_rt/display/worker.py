"""The live worker: one background thread that acquires, infers and remembers, for any view to read.

Why a thread of its own: acquisition (the LSL pull, filters, windows, descriptors) and inference (encoder,
ranking, smoothing) must never wait for a repaint, so views (the Qt window, the terminal) run on the main
thread and only read :meth:`LiveWorker.snapshot` / :meth:`LiveWorker.history_arrays`, which copy under a
short lock. Per hop the thread runs :class:`~myosem_rt.live.engine.LiveEngine` and appends
(time, embedding, per-channel activation, ground truth) to a :class:`~myosem_rt.query.History`, the
"last N seconds" a typed gesture query is matched against.

Times handed to views are *stream seconds*: LSL time minus the timestamp of the first sample received, so
plots, the history and query segments share one clock that starts at 0.

The ground truth comes from the source's ``<name>-labels`` marker stream (a replay or the synthetic armband
publishes one; a real armband does not, and then no truth is shown). A model view can be swapped while
running (:meth:`LiveWorker.set_model`, e.g. after a calibration change); the swap happens between hops.
Without a model (a stream no shipped model fits) the worker still acquires: views show the signal only.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from myosem_rt.live.engine import LiveEngine, LiveSettings, Result
from myosem_rt.live.truth import GroundTruth
from myosem_rt.query import NO_TRUTH, History
from myosem_rt.stream.consumer import StreamConsumer
from myosem_rt.stream.ring import RingBuffer

# isort: split
import pylsl  # after myosem_rt (LSLAPICFG)

log = logging.getLogger(__name__)

#: Hop latencies kept for the median / p99 a view shows.
LATENCY_HOPS = 400
#: Seconds of recent windows kept for calibration (longer than any confirm or new-gesture recording).
RECENT_S = 35.0


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the worker's state for one repaint."""

    samples: np.ndarray  #: (n, C) most recent filtered samples, oldest first
    first_sample: int  #: index of ``samples[0]`` counted from the first sample received
    t_end: float | None  #: stream seconds of the newest sample (None before the first)
    activation: np.ndarray  #: (C,) RMS per channel over the latest window (mean of its patch RMS)
    result: Result | None  #: latest hop's result (None without a model or before the first hop)
    truth: tuple[int, str] | None  #: ground-truth (class id, name) in force at the latest window
    n_samples: int
    n_windows: int
    n_hops: int  #: hops through the engine since the start
    rate_hz: float  #: effective input rate over the last second
    latency_ms: float | None  #: arrival latency of the input (local_clock at arrival - sample time)
    hop_ms: tuple[float, float] | None  #: hop latency median, p99: last sample's arrival -> result ready
    n_gaps: int
    gap_s: float
    state: str
    error: str | None  #: what stopped the worker thread, if it failed


class LiveWorker:
    """Consume one EMG stream (and its marker stream) in a background thread; see the module docstring.

    ``consumer`` must be configured from ``model`` (:func:`myosem_rt.model.trained_config`) when a model is
    given; ``markers`` is an open marker inlet or None; ``view_s`` seconds of EMG are kept for plotting and
    ``history_s`` seconds of hops for queries.
    """

    def __init__(self, consumer: StreamConsumer, model: Any | None, settings: LiveSettings, *,
                 markers: pylsl.StreamInlet | None = None, view_s: float = 5.0,
                 history_s: float = 60.0) -> None:
        self.consumer = consumer
        self.settings = settings
        self._truth_source = None if markers is None else GroundTruth(markers, model)
        p = consumer.pipeline
        self.fs, self.n_channels = p.fs, p.n_channels
        self.hop_s = p.spec.hop / p.fs
        self.window_s = p.spec.window / p.fs
        self.base_model = model
        self.model = model  #: the view in use (a calibrated view after set_model)
        self._history_s = float(history_s)
        self.history = self._make_history(model)
        #: the last RECENT_S seconds of windows (t, samples, descriptors): a confirm / correct / new gesture
        #: turns them into the profile's features (which the embeddings in the history are not)
        self._recent: deque[tuple[float, np.ndarray, np.ndarray]] = deque(
            maxlen=max(1, math.ceil(RECENT_S / self.hop_s)))
        self._engine = self._make_engine(model)
        self._pending: Any | None = None
        self._view = RingBuffer(max(1, math.ceil(view_s * self.fs)), self.n_channels)
        self._activation = np.zeros(self.n_channels)
        #: ground-truth class id -> name, from the markers seen
        self.truth_names: dict[int, str] = {} if self._truth_source is None else self._truth_source.names
        self._truth: tuple[int, str] | None = None
        self._result: Result | None = None
        self._latencies: deque[float] = deque(maxlen=LATENCY_HOPS)
        self.origin: float | None = None  #: LSL time of the first sample received (stream second 0)
        self._t_end: float | None = None
        self._rate = 0.0
        self.n_hops = 0
        self.cpu_s = 0.0  #: CPU time the worker thread has used (acquisition + inference)
        self.error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="myosem-live-worker", daemon=True)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> LiveWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the inlets (marker inlet first, then the EMG inlet)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        if self._truth_source is not None:
            self._truth_source.close()
            self._truth_source = None
        self.consumer.close()

    def __enter__(self) -> LiveWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- what views call (main thread) -------------------------------------------------------------------
    def set_model(self, view: Any) -> None:
        """Use ``view`` (e.g. a profile's :class:`~myosem_rt.profile.view.CalibratedModel`) from the next
        hop."""
        with self._lock:
            self._pending = view
            self.model = view

    def snapshot(self) -> Snapshot:
        with self._lock:
            c = self.consumer
            latency = c.inlet.arrival_latency_s
            lat = np.asarray(self._latencies)
            return Snapshot(
                samples=self._view.view(self._view.size).copy(),
                first_sample=self._view.total - self._view.size,
                t_end=None if self._t_end is None else self._t_end - (self.origin or 0.0),
                activation=self._activation.copy(),
                result=self._result,
                truth=self._truth,
                n_samples=c.pipeline.n_samples,
                n_windows=c.pipeline.n_windows,
                n_hops=self.n_hops,
                rate_hz=self._rate,
                latency_ms=None if latency is None else 1e3 * latency,
                hop_ms=(float(np.median(lat)), float(np.percentile(lat, 99))) if lat.size else None,
                n_gaps=c.n_gaps,
                gap_s=c.gap_s,
                state=c.state,
                error=self.error,
            )

    def history_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(t stream seconds (N,), z (N, D), activation (N, C), truth (N,) class id or NO_TRUTH) copies."""
        if self.history is None:
            return (np.zeros(0), np.zeros((0, 0), np.float32), np.zeros((0, self.n_channels), np.float32),
                    np.zeros(0, np.int64))
        with self._lock:
            return self.history.arrays()

    def _make_history(self, model: Any | None) -> History | None:
        if model is None:
            return None
        return History(int(model.prototypes.shape[1]), self.n_channels, self._history_s, self.hop_s)

    def recent_windows(self, seconds: float, since: float | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t stream seconds (n,), samples (n, W, C), descriptors (n, P, C, 3)) of the windows of the last
        ``seconds`` (or of every window ending at or after ``since``), oldest first (copies)."""
        with self._lock:
            items = list(self._recent)
        if not items:
            return np.zeros(0), np.zeros((0, 0, self.n_channels), np.float32), np.zeros((0, 0, 0, 0))
        t = np.asarray([i[0] for i in items])
        keep = t >= (t[-1] - seconds + 1e-9 if since is None else since)
        sel = [i for i, k in zip(items, keep, strict=True) if k]
        if not sel:
            return t[:0], np.zeros((0, 0, self.n_channels), np.float32), np.zeros((0, 0, 0, 0))
        return t[keep], np.stack([i[1] for i in sel]), np.stack([i[2] for i in sel])

    def recent_z(self, seconds: float, since: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(t, z) of the hops of the last ``seconds`` (or of every hop at or after ``since``)."""
        t, z, _, _ = self.history_arrays()
        if t.size == 0:
            return t, z
        keep = t >= (t[-1] - seconds + 1e-9 if since is None else since)
        return t[keep], z[keep]

    # -- the thread ---------------------------------------------------------------------------------------
    def _make_engine(self, model: Any | None) -> LiveEngine | None:
        if model is None:
            return None
        return LiveEngine(model, self.settings)

    def reset_latency(self) -> None:
        """Forget the hop latencies so far (a benchmark phase starts)."""
        with self._lock:
            self._latencies.clear()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # shown by the views; the traceback goes to the log
            log.exception("live worker stopped")
            self.error = f"{type(exc).__name__}: {exc}"

    def _loop(self) -> None:
        consumer, pipeline = self.consumer, self.consumer.pipeline
        seen = 0
        counted, t_rate = None, 0.0
        cpu0 = time.thread_time()
        while not self._stop.is_set():
            self.cpu_s = time.thread_time() - cpu0
            if self._pending is not None:
                with self._lock:
                    view, self._pending = self._pending, None
                self._engine = self._make_engine(view)
                if self.history is None or self.history.dim != int(view.prototypes.shape[1]):
                    with self._lock:
                        self.history = self._make_history(view)
            windows = consumer.poll(0.05)
            arrival = consumer.inlet.last_arrival if windows else None
            if self._truth_source is not None:
                self._truth_source.pull()
            if self.origin is None and pipeline.n_samples and pipeline.last_timestamp is not None:
                self.origin = pipeline.last_timestamp - (pipeline.n_samples - 1) / self.fs
            hops = []
            for w in windows:
                activation = w.descriptors[:, :, 0].mean(axis=0)
                truth = None if self._truth_source is None else self._truth_source.at(w.timestamp)
                result = z = None
                if self._engine is not None:
                    result = self._engine.step(w, arrival)
                    z = result.z
                    if arrival is not None:
                        result.latency_ms = (pylsl.local_clock() - arrival) * 1e3
                hops.append((w.timestamp, activation, truth, result, z))
                self._recent.append((w.timestamp - (self.origin or 0.0), np.array(w.samples, np.float32),
                                     np.array(w.descriptors, np.float32)))
            new = pipeline.ring.total - seen
            with self._lock:
                if new:
                    k = min(new, self._view.capacity, pipeline.ring.capacity)
                    self._view.write(pipeline.ring.view(k))
                    seen = pipeline.ring.total
                    self._t_end = pipeline.last_timestamp
                for ts, activation, truth, result, z in hops:
                    self._activation = activation
                    self._truth = truth
                    if result is not None:
                        self._result = result
                        self.n_hops += 1
                        if result.latency_ms is not None:
                            self._latencies.append(result.latency_ms)
                        self.history.add(ts - (self.origin or 0.0), z, activation,
                                         NO_TRUTH if truth is None else truth[0])
            now = pylsl.local_clock()
            if counted is None:  # the rate counts from the first arrival, not from connecting
                if pipeline.n_samples:
                    counted, t_rate = pipeline.n_samples, now
            elif now - t_rate >= 1.0:
                self._rate = (pipeline.n_samples - counted) / (now - t_rate)
                counted, t_rate = pipeline.n_samples, now

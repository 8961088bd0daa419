"""The runtime's front half: chunks in, filtered windows with their patch descriptors out.

:class:`Pipeline` (no LSL; what the benchmark drives flat out) takes ``(samples, timestamps)`` chunks of
any length from 1 sample up to ``max_chunk`` and, per chunk:

1. checks timestamp continuity: a step more than the jitter tolerance beyond the nominal ``1/fs``, or
   backwards by more than that, is a *discontinuity* (lost samples, or a source reset); the tolerance
   follows the source's own jitter (:mod:`myosem_rt.stream.continuity`). The segment is
   closed there: filters, the partial patch and the window count restart, so no window mixes samples from
   both sides of a gap;
2. filters (persistent state), appends to the ring buffer and completes patch descriptors incrementally;
3. emits every window whose last sample is in the chunk, in order.

:class:`StreamConsumer` resolves and opens the LSL stream, feeds the pipeline, and turns stalls and
timestamp gaps into :class:`StreamEvent` s (``lost``, ``recovered`` with the gap in samples and seconds,
``discontinuity``), logged and kept for the caller. It keeps running through a loss: liblsl reconnects
to a stream with the same source_id.

Taps (:meth:`StreamConsumer.add_tap`): whoever must keep the *raw* samples (the window's guided enrolment
records them) gets every pulled chunk exactly once, as pulled -- unfiltered, in the stream's sample type
(float32 for EMG), clock-corrected timestamps -- from inside :meth:`StreamConsumer.poll`, right after the
pull and before the pipeline sees it. A tap therefore runs in the thread that polls (the live worker's):
it must be quick and thread-safe, and copy what it keeps (the arrays are read-only views of the inlet's
reused buffers, valid during the call only). A tap that raises is logged and removed; the stream goes on.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from myosem_rt.descriptors import IncrementalDescriptors
from myosem_rt.stream.continuity import GapDetector
from myosem_rt.stream.filters import StreamingFilter, design_filters
from myosem_rt.stream.inlet import EmgInlet, StreamSelector, check_emg_stream, describe, resolve_stream
from myosem_rt.stream.ring import RingBuffer
from myosem_rt.stream.windows import WindowSpec, window_ends

log = logging.getLogger(__name__)

#: A raw-sample tap: ``fn(samples (n, C), timestamps (n,))`` (module docstring).
Tap = Callable[[np.ndarray, np.ndarray], None]


@dataclass(frozen=True, slots=True)
class Window:
    """One sliding window. ``samples`` and ``descriptors`` are read-only views into ring buffers, valid
    until the next :meth:`Pipeline.process` call: copy them to keep them."""

    index: int  #: windows emitted since the pipeline started
    segment: int  #: 0, then +1 at every discontinuity
    start: int  #: first sample, counted from the segment start
    timestamp: float  #: LSL timestamp of the window's last sample
    samples: np.ndarray  #: (window, C) filtered float64
    descriptors: np.ndarray  #: (window // patch, C, 3): rms, energy, var per patch (myosem_rt.descriptors)


@dataclass(frozen=True)
class StreamEvent:
    """Something the caller should know about the stream (also logged)."""

    kind: str  #: "lost", "recovered" or "discontinuity"
    timestamp: float | None  #: LSL timestamp of the first sample after the gap (None for "lost")
    gap_s: float | None  #: time missing between the samples around the gap (< 0: timestamps went back)
    gap_samples: int | None  #: gap_s x nominal rate, rounded
    restarted: bool  #: window assembly restarted (the gap was beyond clock jitter)
    message: str


def timestamp_gap(previous: float, following: float, fs: float) -> tuple[float, int]:
    """Seconds and samples missing between two consecutive received samples (0 when contiguous)."""
    gap_s = following - previous - 1.0 / fs
    return gap_s, round(gap_s * fs)


class Pipeline:
    """Filters, ring buffer, windows and incremental descriptors for one stream (see module docstring)."""

    def __init__(self, fs: float, n_channels: int, config: Mapping[str, Any]) -> None:
        self.fs = float(fs)
        self.n_channels = int(n_channels)
        self.spec = WindowSpec.from_config(config["windows"], self.fs)
        self.design = design_filters(self.fs, config["filters"])
        w = self.spec.window
        capacity = max(math.ceil(float(config["stream"]["buffer_s"]) * self.fs), 2 * w)
        #: Longest chunk :meth:`process` accepts: every window it emits must still be in the ring.
        self.max_chunk = capacity - w
        self.ring = RingBuffer(capacity, self.n_channels, dtype=np.float64)
        self.filter = StreamingFilter(self.design, self.n_channels)
        n_patches = capacity // self.spec.patch + 1
        self.descriptors = IncrementalDescriptors(self.n_channels, self.spec.patch, n_patches)
        self.gaps = GapDetector(self.fs)
        self._seg_n = 0  # samples in the current segment
        self._seg_patch0 = 0  # descriptor patches completed before the current segment
        self.segment = 0
        self.n_windows = 0
        self.n_samples = 0
        self.last_timestamp: float | None = None
        #: gap before the first sample of the last chunk (None for the very first chunk)
        self.boundary_gap: tuple[float, int] | None = None
        self.events: list[StreamEvent] = []  # discontinuities since the last take_events()
        self._event_index: list[int] = []  # chunk index of each discontinuity of the last chunk

    def process(self, x: np.ndarray, ts: np.ndarray) -> list[Window]:
        """Consume ``(n, C)`` samples with their ``(n,)`` timestamps; return the windows they complete."""
        n = x.shape[0]
        if n > self.max_chunk:
            raise ValueError(f"chunk of {n} samples exceeds max_chunk = {self.max_chunk}")
        self._event_index.clear()
        if n == 0:
            return []
        windows: list[Window] = []
        start = 0
        for b in self._breaks(ts):
            if b > start:
                self._piece(x[start:b], ts[start:b], windows)
            self._restart(float(ts[b - 1]) if b else self.last_timestamp, float(ts[b]), b)
            start = b
        self._piece(x[start:], ts[start:], windows)
        self.last_timestamp = float(ts[-1])
        return windows

    def take_events(self) -> list[tuple[int, StreamEvent]]:
        """Discontinuities found in the last chunk, with their index in it; cleared by the call."""
        out = list(zip(self._event_index, self.events, strict=True))
        self.events = []
        return out

    def _breaks(self, ts: np.ndarray) -> np.ndarray:
        """Indices where a new segment starts (0 = between the previous chunk and this one)."""
        self.boundary_gap = (None if self.last_timestamp is None
                             else timestamp_gap(self.last_timestamp, float(ts[0]), self.fs))
        return self.gaps.breaks(ts, self.last_timestamp)

    def _restart(self, previous: float | None, following: float, index: int) -> None:
        gap_s, gap_n = timestamp_gap(previous, following, self.fs)
        what = (f"timestamps went back {-gap_s:.3f} s (source reset?)" if gap_s < 0
                else f"{gap_n} samples ({gap_s:.3f} s) missing")
        self.events.append(StreamEvent("discontinuity", following, gap_s, gap_n, True,
                                       f"discontinuity at t={following:.3f}: {what}; windows restart"))
        self._event_index.append(index)
        self.filter.restart()
        self.descriptors.restart()
        self._seg_n = 0
        self._seg_patch0 = self.descriptors.n_patches
        self.segment += 1

    def _piece(self, x: np.ndarray, ts: np.ndarray, windows: list[Window]) -> None:
        y = self.filter.process(x)
        self.ring.write(y)
        self.descriptors.push(y)
        m = x.shape[0]
        before = self._seg_n
        self._seg_n += m
        self.n_samples += m
        spec = self.spec
        for end in window_ends(before, self._seg_n, spec):
            back = self._seg_n - end
            windows.append(Window(
                index=self.n_windows,
                segment=self.segment,
                start=end - spec.window,
                timestamp=float(ts[m - 1 - back]),
                samples=self.ring.view(spec.window, self.ring.total - back),
                descriptors=self.descriptors.latest(spec.patches_per_window,
                                                    self._seg_patch0 + end // spec.patch),
            ))
            self.n_windows += 1


class StreamConsumer:
    """An LSL EMG stream through a :class:`Pipeline`, surviving source loss (events in :attr:`events`)."""

    def __init__(self, config: Mapping[str, Any], selector: StreamSelector | None = None,
                 timeout_s: float | None = None) -> None:
        stream = config["stream"]
        self.selector = selector or StreamSelector.from_config(stream)
        timeout = float(config["lsl"]["resolve_timeout_s"] if timeout_s is None else timeout_s)
        info = resolve_stream(self.selector, timeout)
        self.description = describe(info)
        check_emg_stream(info)
        self.pipeline = Pipeline(float(info.nominal_srate()), int(info.channel_count()), config)
        self.inlet = EmgInlet(info, buffer_s=float(stream["buffer_s"]), max_chunk=self.pipeline.max_chunk,
                              stall_timeout_s=float(stream["stall_timeout_s"]),
                              dejitter=bool(stream["dejitter"]))
        self.inlet.open(timeout)
        log.info("consuming %s; %s; windows %d/%d/%d samples (window/hop/patch)", self.description,
                 self.pipeline.design.description, self.pipeline.spec.window, self.pipeline.spec.hop,
                 self.pipeline.spec.patch)
        self.events: deque[StreamEvent] = deque(maxlen=1000)  #: newest last; read or clear freely
        self.n_gaps = 0
        self.gap_samples = 0
        self.gap_s = 0.0
        self._taps: tuple[Tap, ...] = ()  # replaced whole under the lock; poll reads it once per chunk
        self._taps_lock = threading.Lock()

    @property
    def state(self) -> str:
        """``connecting``, ``streaming`` or ``lost`` (see :mod:`myosem_rt.stream.inlet`)."""
        return self.inlet.state

    def poll(self, timeout_s: float = 0.05) -> list[Window]:
        """Pull what has arrived (waiting up to ``timeout_s`` for a first sample) and process it."""
        x, ts, transition = self.inlet.pull(timeout_s)
        if len(ts) and self._taps:
            self._run_taps(x, ts)
        if transition == "lost":
            self._emit(StreamEvent("lost", None, None, None, False,
                                   f"stream {self.inlet.name!r} lost: no sample for "
                                   f"{self.inlet.stall_timeout_s:g} s; waiting for it to come back"))
        pipeline = self.pipeline
        windows = pipeline.process(x, ts)
        found = pipeline.take_events()
        if transition == "resumed" and pipeline.boundary_gap is not None:
            gap_s, gap_n = pipeline.boundary_gap
            restarted = bool(found) and found[0][0] == 0
            if restarted:
                found = found[1:]  # the same gap, reported once as the recovery
            message = f"stream {self.inlet.name!r} back: gap of {gap_n} samples ({gap_s:.3f} s)"
            self._emit(StreamEvent("recovered", float(ts[0]), gap_s, gap_n, restarted, message))
        for _, event in found:
            self._emit(event)
        return windows

    def add_tap(self, fn: Tap) -> None:
        """Call ``fn(samples, timestamps)`` with every chunk pulled from now on, raw, before filtering
        (module docstring: it runs in the polling thread). Any thread may add or remove taps."""
        with self._taps_lock:
            if fn not in self._taps:
                self._taps = (*self._taps, fn)

    def remove_tap(self, fn: Tap) -> bool:
        """Stop calling ``fn`` (from the next chunk on); False when it was not a tap."""
        with self._taps_lock:
            kept = tuple(t for t in self._taps if t != fn)
            removed = len(kept) != len(self._taps)
            self._taps = kept
        return removed

    def _run_taps(self, x: np.ndarray, ts: np.ndarray) -> None:
        x, ts = x.view(), ts.view()
        x.flags.writeable = ts.flags.writeable = False  # the pipeline reads them next
        for fn in self._taps:
            try:
                fn(x, ts)
            except Exception:
                log.exception("stream %r: a sample tap failed and was removed", self.inlet.name)
                self.remove_tap(fn)

    def _emit(self, event: StreamEvent) -> None:
        log.warning("%s", event.message)
        self.events.append(event)
        if event.gap_samples is not None:
            self.n_gaps += 1
            self.gap_samples += max(event.gap_samples, 0)
            self.gap_s += max(event.gap_s or 0.0, 0.0)

    def close(self) -> None:
        self.inlet.close()

    def __enter__(self) -> StreamConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

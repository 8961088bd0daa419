"""``myosem record``: an LSL EMG stream, its marker stream and optionally a results stream, to a recording.

What lands in the file (the project's .mat layout, :mod:`myosem_rt.recordings.writer`, so every command,
training included, reads it):

* the EMG samples exactly as received, float32, in arrival order; a gap in their timestamps (a source that
  dropped samples, a network stall) is counted, reported and left as it is, never filled;
* labels from the markers (``<EMG name>-labels``, or ``--labels-stream NAME``) by the one rule of
  :mod:`myosem_rt.recordings.markers`; a marker is ``"<id>:<name>"`` (this project's sources), any other
  text becomes a class numbered in order of appearance, named by the text. No marker stream: every sample
  class 0 ("unlabelled");
* dataset, subject, session and device from the stream's description when it has them (a replay keeps its
  recording's), else ``recorded`` / 0 / a time stamp;
* ``--timestamps``: the LSL time of every sample (field ``timestamps``); ``--results NAME``: the
  ``myosem live`` results stream's scores (``results``, H x K), their times (``results_timestamps``) and
  its channel labels (``results_classes``).

The recording ends at ``--duration``, on Ctrl-C (or SIGTERM), or when the source stops (no sample for the
configured ``stream.stall_timeout_s``); each way, everything received until then is written (with the
fallbacks of :func:`~myosem_rt.record.capture.keep_recording`). The output is checked before the first
sample: a file that exists is refused unless ``--force``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import RecordingError, StreamError
from myosem_rt.record.capture import (
    GapCounter,
    SampleBuffer,
    deferred_interrupt,
    drain,
    keep_recording,
    marker_header,
    stream_meta,
)

log = logging.getLogger(__name__)

COMPLETE, INTERRUPTED, STOPPED = "complete", "interrupted", "source stopped"
#: Dataset name of a recording whose stream does not say one.
DATASET = "recorded"
PULL_TIMEOUT_S = 0.05
#: Seconds between progress lines when stderr is not a terminal.
LOG_EVERY_S = 10.0


@dataclass(frozen=True)
class RecordSettings:
    out: Path
    duration_s: float | None = None
    timestamps: bool = False
    force: bool = False


def check_output(out: Path, force: bool) -> Path:
    """The output path, refused before any recording when it cannot be written as asked."""
    out = Path(out).expanduser()
    if out.suffix.lower() != ".mat":
        raise RecordingError(out, "a recording file name must end in .mat")
    if out.exists() and not force:
        raise RecordingError(out, "already exists; not overwritten (use --force to replace it)")
    if out.exists() and not out.is_file():
        raise RecordingError(out, "exists and is not a file")
    if not out.parent.is_dir():
        raise RecordingError(out, f"folder {out.parent} does not exist")
    return out


class MarkerTrack:
    """The markers of one inlet, as (time, class id); names from the markers and the stream's class map."""

    def __init__(self, inlet: Any, names: dict[int, str], name: str = "") -> None:
        self.inlet, self.name = inlet, name
        self.names = dict(names)
        self._by_text: dict[str, int] = {}
        self.times: list[float] = []
        self.ids: list[int] = []

    def pull(self, timeout_s: float = 0.0) -> None:
        while True:
            values, stamps = self.inlet.pull_chunk(timeout=timeout_s, max_samples=1024)
            for value, stamp in zip(values, stamps, strict=True):
                self.times.append(float(stamp))
                self.ids.append(self._id(str(value[0])))
            if not values:
                return
            timeout_s = 0.0

    def _id(self, text: str) -> int:
        from myosem_rt.recordings.markers import project_marker

        ours = project_marker(text)
        if ours is not None:
            self.names.setdefault(*ours)
            return ours[0]
        if text not in self._by_text:  # another application's marker: a class of its own
            ident = max([0, *self.names]) + 1
            self._by_text[text], self.names[ident] = ident, text
        return self._by_text[text]


class ValueTrack:
    """A numeric side stream (the results stream), kept with its timestamps."""

    def __init__(self, inlet: Any, n_channels: int, labels: list[str]) -> None:
        self.inlet = inlet
        self.labels = labels
        self.buffer = SampleBuffer(n_channels, 4096)

    def pull(self) -> None:
        while True:
            values, stamps = self.inlet.pull_chunk(timeout=0.0, max_samples=1024)
            if not stamps:
                return
            self.buffer.append(np.asarray(values, dtype=np.float32), np.asarray(stamps, dtype=np.float64))


class StreamRecorder:
    """Pulls an :class:`~myosem_rt.stream.inlet.EmgInlet` (and the side tracks) until the end (module
    docstring); :meth:`run` returns how it ended."""

    def __init__(self, inlet: Any, markers: MarkerTrack | None = None, results: ValueTrack | None = None,
                 first_sample_timeout_s: float = 5.0) -> None:
        self.inlet = inlet
        self.fs = float(inlet.fs)
        self.markers, self.results = markers, results
        self.buffer = SampleBuffer(inlet.n_channels, math.ceil(60.0 * self.fs))
        self.gaps = GapCounter(self.fs)
        self.first_sample_timeout_s = float(first_sample_timeout_s)
        self.t0: float | None = None
        self._progress = _Progress(inlet.name)

    @property
    def elapsed_s(self) -> float:
        return 0.0 if self.t0 is None or self.gaps.last_ts is None else self.gaps.last_ts - self.t0

    def run(self, duration_s: float | None = None, stop: threading.Event | None = None) -> str:
        import pylsl

        opened = pylsl.local_clock()
        status = INTERRUPTED
        signalled = threading.Event()
        try:
            with _signals_set(signalled):
                while not (stop is not None and stop.is_set()) and not signalled.is_set():
                    x, ts, transition = self.inlet.pull(PULL_TIMEOUT_S)
                    self._take(x, ts)
                    self._side()
                    if self.t0 is None and pylsl.local_clock() - opened > self.first_sample_timeout_s:
                        raise StreamError(f"stream {self.inlet.name!r}: no sample within "
                                          f"{self.first_sample_timeout_s:g} s; nothing recorded")
                    if duration_s is not None and self.elapsed_s + 1.0 / self.fs >= duration_s:
                        status = COMPLETE
                        break
                    if transition == "lost":
                        status = STOPPED
                        break
                    self._progress.update(self)
                else:
                    drain(self.inlet, self._take)  # stopped: what liblsl already holds was received
        except KeyboardInterrupt:  # off the main thread no handler is installed: Ctrl-C arrives like this
            status = INTERRUPTED
        with contextlib.suppress(Exception):
            if self.markers is not None:
                self.markers.pull(0.2)  # markers travel on their own connection: collect the late ones
            self._side()
        self._progress.close(self)
        return status

    def _take(self, x: np.ndarray, ts: np.ndarray) -> None:
        if not len(ts):
            return
        self.gaps.add(ts)
        if self.t0 is None:
            self.t0 = float(ts[0])
        self.buffer.append(x, ts)

    def _side(self) -> None:
        if self.markers is not None:
            self.markers.pull(0.0)
        if self.results is not None:
            self.results.pull()

    def arrays(self, duration_s: float | None = None) -> dict[str, Any]:
        """Samples, timestamps, labels and repetitions of the recording (cut at ``duration_s``)."""
        from myosem_rt.recordings.markers import label_samples, trial_repetitions

        emg, ts = self.buffer.arrays()
        if duration_s is not None and len(ts):
            keep = ts - ts[0] < duration_s - 0.5 / self.fs
            emg, ts = emg[keep], ts[keep]
        if self.markers is not None:
            label = label_samples(ts, np.asarray(self.markers.times), np.asarray(self.markers.ids), self.fs)
            names = {**self.markers.names}
            names.setdefault(0, "rest")
        else:
            label, names = np.zeros(len(ts), dtype=np.int64), {0: "unlabelled"}
        ids = sorted(set(np.unique(label).tolist()) | set(names))
        return {"emg": emg, "timestamps": ts, "label": label, "repetition": trial_repetitions(label),
                "names": {i: names.get(i, f"class {i}") for i in ids}}

    def save(self, settings: RecordSettings, meta: dict[str, str], status: str) -> Path:
        """Write the recording (module docstring); the path written."""
        from myosem_rt.recordings.writer import write_recording

        a = self.arrays(settings.duration_s if status == COMPLETE else None)
        if not len(a["timestamps"]):
            raise StreamError(f"stream {self.inlet.name!r}: no sample received; nothing recorded")
        extra: dict[str, np.ndarray] = {}
        if self.results is not None:
            values, stamps = self.results.buffer.arrays()
            extra = {"results": values, "results_timestamps": stamps.reshape(-1, 1),
                     "results_classes": np.asarray(json.dumps(self.results.labels))}
        subject = int(meta["subject"]) if str(meta.get("subject", "")).isdigit() else 0
        device = meta.get("model") or meta.get("manufacturer") or meta.get("stream", "")

        def write(path: Path, overwrite: bool) -> Path:
            return write_recording(path, a["emg"], a["label"], a["repetition"], self.fs, force=overwrite,
                                   dataset=meta.get("dataset") or DATASET, subject=subject,
                                   session=meta.get("session") or time.strftime("record-%Y%m%d-%H%M%S"),
                                   device=device, unit=meta.get("unit", ""), class_names=a["names"],
                                   timestamps=a["timestamps"] if settings.timestamps else None, extra=extra)

        raw = {"emg": a["emg"], "timestamps": a["timestamps"], "label": a["label"],
               "repetition": a["repetition"], "fs": np.float64(self.fs)}
        return keep_recording(settings.out, write, raw, settings.force)


def record(selector: Any, settings: RecordSettings, config: dict[str, Any], *,
           labels_stream: str | None = None, results_stream: str | None = None,
           stop: threading.Event | None = None,
           meta: dict[str, str] | None = None) -> tuple[Path, str, StreamRecorder]:
    """Resolve the streams, record (:class:`StreamRecorder`), write the file: (path, how it ended, the
    recorder). ``meta``: dataset / subject / session that replace the stream's."""
    from myosem_rt.live.truth import MARKER_LOOKUP_S, MARKER_SUFFIX, open_markers
    from myosem_rt.stream.inlet import EmgInlet, check_emg_stream, resolve_stream

    out = check_output(settings.out, settings.force)
    settings = RecordSettings(out, settings.duration_s, settings.timestamps, settings.force)
    stream = config["stream"]
    timeout = float(config["lsl"]["resolve_timeout_s"])
    info = resolve_stream(selector, timeout)
    check_emg_stream(info)
    closers: list[Any] = []
    try:
        # markers first: a replay waiting for its consumer starts when the EMG inlet connects
        markers = _marker_track(labels_stream or info.name() + MARKER_SUFFIX, bool(labels_stream),
                                timeout if labels_stream else MARKER_LOOKUP_S, open_markers)
        if markers is not None:
            closers.append(markers.inlet.close_stream)
        results = _results_track(results_stream, timeout) if results_stream else None
        if results is not None:
            closers.append(results.inlet.close_stream)
        inlet = EmgInlet(info, buffer_s=max(float(stream["buffer_s"]), 360.0),
                         max_chunk=max(1, math.ceil(info.nominal_srate())),
                         stall_timeout_s=float(stream["stall_timeout_s"]), dejitter=bool(stream["dejitter"]))
        closers.append(inlet.close)
        inlet.open(timeout)
        given = dict(meta or {})
        meta = stream_meta(inlet, more=("dataset", "subject", "session"))
        if markers is not None:
            meta = {**marker_header(markers.inlet, timeout)[1], **meta}
        meta.update(given)
        log.info("recording %r (%d ch @ %g Hz)%s%s to %s", info.name(), inlet.n_channels, inlet.fs,
                 f", labels from {markers.name!r}" if markers is not None else ", no labels",
                 f", results from {results_stream!r}" if results is not None else "", out)
        recorder = StreamRecorder(inlet, markers, results,
                                  first_sample_timeout_s=max(timeout, float(stream["stall_timeout_s"])))
        status = recorder.run(settings.duration_s, stop)
    except BaseException:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
        raise
    with deferred_interrupt() as pending:  # the samples are only in memory now: finish the write
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
        written = recorder.save(settings, meta, status)
    if pending and status == COMPLETE:
        status = INTERRUPTED
    return written, status, recorder


def _marker_track(name: str, required: bool, timeout: float, open_markers: Any) -> MarkerTrack | None:
    inlet = open_markers(name, timeout)
    if inlet is None:
        if required:
            raise StreamError(f"--labels-stream {name!r}: no such marker stream within {timeout:g} s")
        return None
    classes, _meta = marker_header(inlet, timeout)
    return MarkerTrack(inlet, classes, name)


def _results_track(name: str, timeout: float) -> ValueTrack:
    import pylsl

    found = pylsl.resolve_byprop("name", name, 1, max(timeout, 0.1))
    if not found:
        raise StreamError(f"--results {name!r}: no such stream within {timeout:g} s")
    if found[0].channel_format() == pylsl.cf_string:
        raise StreamError(f"--results {name!r}: a string stream, not scores")
    inlet = pylsl.StreamInlet(found[0], max_buflen=360, processing_flags=pylsl.proc_clocksync)
    inlet.open_stream(timeout=timeout)
    labels: list[str] = []
    with contextlib.suppress(Exception):
        labels = list(inlet.info(timeout=timeout).get_channel_labels() or [])
    return ValueTrack(inlet, found[0].channel_count(), labels)


@contextlib.contextmanager
def _signals_set(event: threading.Event) -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM set ``event`` while recording: the loop ends between two pulls, so no
    chunk is lost half-taken (an exception raised inside a pull would drop the chunk it returned)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: event.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Progress:
    """Duration, samples, gaps and markers so far: one line redrawn on a terminal, a log line every
    :data:`LOG_EVERY_S` otherwise."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tty = sys.stderr.isatty()
        self._next = 0.0

    def _line(self, r: StreamRecorder) -> str:
        markers = f", {len(r.markers.ids)} markers" if r.markers is not None else ""
        return (f"recording {self.name!r}: {r.elapsed_s:7.1f} s, {r.buffer.n} samples, {r.gaps.gaps} gap(s)"
                f"{markers} (Ctrl-C stops and keeps it)")

    def update(self, r: StreamRecorder) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        if self.tty:
            sys.stderr.write("\r" + self._line(r))
            sys.stderr.flush()
            self._next = now + 0.25
        else:
            if r.t0 is not None:
                log.info("%s", self._line(r))
            self._next = now + LOG_EVERY_S

    def close(self, r: StreamRecorder) -> None:
        if self.tty:
            sys.stderr.write("\r" + self._line(r) + "\n")
            sys.stderr.flush()

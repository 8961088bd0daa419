"""Recording a guided enrolment: the raw samples as received, labelled by the cue, and kept whatever happens.

* **raw samples are recorded**, unfiltered, float32 exactly as received, with their (clock-corrected) LSL
  timestamps, into preallocated blocks (:class:`~myosem_rt.record.capture.SampleBuffer`);
* :class:`CuedRecording` is the bookkeeping every session shares: the first sample is stream second 0, the
  cue in force is that of the newest sample, timestamp gaps are counted, and :meth:`CuedRecording.outcome`
  labels every sample by the cue in force at it (:mod:`myosem_rt.profile.cues`);
* :class:`GuidedRecorder` (the terminal session) pulls an :class:`~myosem_rt.stream.inlet.EmgInlet`
  itself; the window's recorder (:class:`myosem_rt.profile.live_enrol.TapRecorder`) is fed by the live
  worker's consumer instead;
* **nothing recorded is lost**: :func:`save_outcome` writes the file with the fallbacks of
  :func:`myosem_rt.record.capture.keep_recording`; a second Ctrl-C while writing is deferred
  (:func:`~myosem_rt.record.capture.deferred_interrupt`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import StreamError
from myosem_rt.profile.cues import Cue, CueSchedule, MarkerCues
from myosem_rt.profile.enrol_view import EnrolView, Status
from myosem_rt.record.capture import GapCounter, SampleBuffer, deferred_interrupt, drain, keep_recording

log = logging.getLogger(__name__)

#: ``dataset`` of a guided recording (a replay followed with --follow-markers keeps the source's).
DATASET = "enrol"
#: Pull timeout of the terminal session's recording loop (s).
PULL_TIMEOUT_S = 0.05


COMPLETE, INTERRUPTED, STALLED = "complete", "interrupted", "stalled"


@dataclass
class Outcome:
    """What a session recorded and how it ended."""

    status: str  #: complete / interrupted / stalled
    emg: np.ndarray  #: (T, C) float32, the samples as received
    timestamps: np.ndarray  #: (T,) LSL times (clock-corrected)
    label: np.ndarray  #: (T,) class id of the cue in force
    repetition: np.ndarray  #: (T,)
    cut: Cue | None  #: the cue in force when the session ended early
    never_held: list[str]  #: chosen classes none of whose hold cues completed
    missing: list[str] = field(default_factory=list)  #: markers: classes short of their repetitions
    gaps: int = 0
    gap_samples: int = 0

    @property
    def n_samples(self) -> int:
        return int(self.timestamps.shape[0])


class CuedRecording:
    """The samples of one session and where they stand against its cues (module docstring)."""

    def __init__(self, cues: CueSchedule | MarkerCues, fs: float, n_channels: int, name: str) -> None:
        self.cues = cues
        self.fs = float(fs)
        self.name = name  #: the stream's name, for messages
        self.buffer = SampleBuffer(n_channels, math.ceil(60.0 * self.fs))
        self.t0: float | None = None  #: LSL time of the first sample (stream second 0)
        self.last_ts: float | None = None
        self.gaps = 0
        self.gap_samples = 0
        self._gaps = GapCounter(fs)

    def _take(self, x: np.ndarray, ts: np.ndarray) -> None:
        """Keep a pulled chunk (copied out of the inlet's reused buffers) and count timestamp gaps."""
        if not len(ts):
            return
        self._gaps.add(ts)
        self.gaps, self.gap_samples = self._gaps.gaps, self._gaps.samples
        if self.t0 is None:
            self.t0 = float(ts[0])
        self.buffer.append(x, ts)
        self.last_ts = float(ts[-1])

    def _elapsed(self) -> float:
        return 0.0 if self.t0 is None or self.last_ts is None else self.last_ts - self.t0

    def _done(self) -> bool:
        if isinstance(self.cues, MarkerCues):
            end = self.cues.end_stamp
            tol = self.cues.tolerance_s
            return end is not None and self.last_ts is not None and self.last_ts >= end - tol
        return self._elapsed() + 1.0 / self.fs >= self.cues.duration_s - 0.5 / self.fs

    def _cue(self) -> Cue | None:
        if self.t0 is None or self.last_ts is None:
            return None
        if isinstance(self.cues, MarkerCues):
            return self.cues.cue_at(self.last_ts, self.t0)
        return self.cues.cue_at(self._elapsed())

    def _status(self) -> Status:
        cues = self.cues
        t = self._elapsed()
        if isinstance(cues, MarkerCues):
            progress, left = cues.progress(), None
        else:
            progress, left = min(t / cues.duration_s, 1.0), max(cues.duration_s - t, 0.0)
        waiting = f"waiting for the first sample of {self.name!r} ..." if self.t0 is None else ""
        return Status(self._cue(), cues.n_cues, t, progress, left, self.buffer.n, self.gaps, waiting)

    def outcome(self, status: str) -> Outcome:
        """Everything recorded, labelled by the cues (cut at the session's end), and how it ended."""
        emg, ts = self.buffer.arrays()
        cues = self.cues
        cut = None if status == COMPLETE else self._cue()
        missing: list[str] = []
        if isinstance(cues, MarkerCues):
            if cues.end_stamp is not None:
                keep = ts < cues.end_stamp - cues.tolerance_s
                emg, ts = emg[keep], ts[keep]
            label, rep = cues.labels(ts)
            at_end = status == STALLED  # the source ended: its last occurrence ended with it
            held = cues.started if at_end else cues.finished
            never = [] if status == COMPLETE else [g.name for g in cues.classes if held[g.class_id] == 0]
            if status != COMPLETE:
                missing = cues.missing(at_end)
        else:
            # stream seconds on the sample grid: the clock sync moves LSL times by microseconds, which must
            # not carry a sample across a cue boundary (boundaries fall on samples; as in _done, half a
            # sample of tolerance)
            t = np.round((ts - (self.t0 if self.t0 is not None else 0.0)) * self.fs) / self.fs
            keep = t < cues.duration_s
            emg, ts, t = emg[keep], ts[keep], t[keep]
            label, rep = cues.labels(t)
            held = cues.held(self._elapsed() + 1.0 / self.fs)
            never = [g.name for g in cues.classes if g.class_id not in held]
        return Outcome(status, emg, ts, label, rep, cut, never, missing, self.gaps, self.gap_samples)


class GuidedRecorder(CuedRecording):
    """Pulls an :class:`~myosem_rt.stream.inlet.EmgInlet` until the cues are done, ``stop`` is set, Ctrl-C,
    or the source stalls (``--follow-markers``: the marker inlet ``markers`` feeds the
    :class:`MarkerCues`)."""

    def __init__(self, inlet: Any, cues: CueSchedule | MarkerCues, *, markers: Any = None,
                 view: EnrolView | None = None, first_sample_timeout_s: float = 5.0) -> None:
        super().__init__(cues, float(inlet.fs), inlet.n_channels, inlet.name)
        self.inlet = inlet
        self.markers = markers
        self.view = view or EnrolView()
        self.first_sample_timeout_s = float(first_sample_timeout_s)

    def run(self, stop: threading.Event | None = None) -> Outcome:
        """Record until done, ``stop`` is set or Ctrl-C (both: interrupted) or the source stalls."""
        import pylsl

        status = INTERRUPTED
        opened = pylsl.local_clock()
        follow = isinstance(self.cues, MarkerCues)
        try:
            while not (stop is not None and stop.is_set()):
                x, ts, transition = self.inlet.pull(PULL_TIMEOUT_S)
                self._pull_markers(0.0)
                self._take(x, ts)
                if self.t0 is None:
                    if pylsl.local_clock() - opened > self.first_sample_timeout_s:
                        raise StreamError(f"stream {self.inlet.name!r}: no sample within "
                                          f"{self.first_sample_timeout_s:g} s; nothing recorded")
                    self.view.update(self._status(), force=True)
                    continue
                if self._done():
                    status = COMPLETE
                    break
                if transition == "lost":
                    self._pull_markers(0.2)
                    status = COMPLETE if follow and self.cues.complete_at_source_end() else STALLED
                    break
                self.view.update(self._status())
            else:  # stopped: what liblsl has already received is part of the recording
                drain(self.inlet, self._take)
        except KeyboardInterrupt:
            status = INTERRUPTED
        with deferred_interrupt() as pending:  # a second Ctrl-C must not drop what is in memory
            if follow:
                self._pull_markers(0.2)  # markers travel on their own connection: collect the late ones
            outcome = self.outcome(status)
            self.view.close(self._status())
        if pending and outcome.status == COMPLETE:
            outcome.status = INTERRUPTED
        return outcome

    def _pull_markers(self, timeout: float) -> None:
        if self.markers is None:
            return
        while True:
            values, stamps = self.markers.pull_chunk(timeout=timeout, max_samples=1024)
            for value, stamp in zip(values, stamps, strict=True):
                self.cues.add(value[0], stamp)
            if not values:
                return
            timeout = 0.0


def ending_line(o: Outcome, path: Path, n_cues: int | None, how: str) -> str:
    """One line: which cue was cut (``how``: "cut", "interrupted" ...), where the recording is, which
    classes were never held."""
    cue = f"{how} during cue {o.cut.describe(n_cues)}" if o.cut is not None else f"{how}"
    never = f"; never held: {', '.join(o.never_held)}" if o.never_held else ""
    short = f"; short of repetitions: {', '.join(o.missing)}" if o.missing and not o.never_held else ""
    return f"{cue}; recording of {o.n_samples} samples kept in {path}{never}{short}"


# --- keeping what was received ---------------------------------------------------------------------------


def save_outcome(out: Path, o: Outcome, fs: float, *, user: str, force: bool, meta: Mapping[str, str],
                 names: Mapping[int, str], descriptions: Mapping[int, str]) -> Path:
    """Write the recording to ``out`` with :func:`~myosem_rt.record.capture.keep_recording`'s fallbacks
    (a sibling with a time suffix, the temporary folder, the raw arrays as .npz)."""
    from myosem_rt.recordings.writer import write_recording

    if o.n_samples == 0:
        raise StreamError(f"stream {meta.get('stream', '')!r}: no sample received; nothing recorded")
    user = (user or "").strip()
    session = f"{user or 'enrol'}-{time.strftime('%Y%m%d-%H%M%S')}"
    subject = int(meta["subject"]) if str(meta.get("subject", "")).isdigit() else 0
    device = " ".join(v for v in (meta.get("manufacturer", ""), meta.get("model", "")) if v) or \
        meta.get("stream", "")

    def write(path: Path, overwrite: bool) -> Path:
        return write_recording(path, o.emg, o.label, o.repetition, fs, force=overwrite,
                               dataset=meta.get("dataset") or DATASET, subject=subject, session=session,
                               device=device, unit=meta.get("unit", ""), class_names=names,
                               descriptions=descriptions, timestamps=o.timestamps)

    raw = {"emg": o.emg, "timestamps": o.timestamps, "label": o.label, "repetition": o.repetition,
           "fs": np.float64(fs)}
    return keep_recording(out, write, raw, force)

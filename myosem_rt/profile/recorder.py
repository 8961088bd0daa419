"""Recording a guided enrolment: the raw samples as received, labelled by the cue, and kept whatever happens.

* **raw samples are recorded**, unfiltered, float32 exactly as received, with their (clock-corrected) LSL
  timestamps, into preallocated blocks (:class:`_Growing`: nothing recorded is reallocated while the
  session runs);
* :class:`CuedRecording` is the bookkeeping every session shares: the first sample is stream second 0, the
  cue in force is that of the newest sample, timestamp gaps are counted, and :meth:`CuedRecording.outcome`
  labels every sample by the cue in force at it (:mod:`myosem_rt.profile.cues`);
* :class:`GuidedRecorder` (the terminal session) pulls an :class:`~myosem_rt.stream.inlet.EmgInlet`
  itself; the window's recorder (:class:`myosem_rt.profile.live_enrol.TapRecorder`) is fed by the live
  worker's consumer instead;
* **nothing recorded is lost**: :func:`save_outcome` writes the file (:mod:`myosem_rt.recordings.writer`:
  atomic, never overwriting); when the target cannot be written it tries a time-stamped sibling, then the
  temporary folder, and as a last resort dumps the raw arrays (.npz); a second Ctrl-C while writing is
  deferred (:func:`deferred_interrupt`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import RecordingError, StreamError
from myosem_rt.profile.cues import Cue, CueSchedule, MarkerCues
from myosem_rt.profile.enrol_view import EnrolView, Status

log = logging.getLogger(__name__)

#: ``dataset`` of a guided recording (a replay followed with --follow-markers keeps the source's).
DATASET = "enrol"
#: Pull timeout of the terminal session's recording loop (s).
PULL_TIMEOUT_S = 0.05


class _Growing:
    """Samples and timestamps appended into preallocated blocks (no reallocation of what is recorded)."""

    def __init__(self, n_channels: int, block: int) -> None:
        self.n_channels, self.block = int(n_channels), max(int(block), 1)
        self._emg: list[np.ndarray] = []
        self._ts: list[np.ndarray] = []
        self.n = 0
        self._fill = self.block  # samples used in the last block

    def append(self, x: np.ndarray, ts: np.ndarray) -> None:
        done = 0
        while done < len(ts):
            if self._fill == self.block:
                self._emg.append(np.empty((self.block, self.n_channels), dtype=np.float32))
                self._ts.append(np.empty(self.block, dtype=np.float64))
                self._fill = 0
            take = min(self.block - self._fill, len(ts) - done)
            self._emg[-1][self._fill : self._fill + take] = x[done : done + take]
            self._ts[-1][self._fill : self._fill + take] = ts[done : done + take]
            self._fill += take
            done += take
        self.n += len(ts)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._emg:
            return np.zeros((0, self.n_channels), np.float32), np.zeros(0, np.float64)
        last = self._fill
        emg = np.concatenate([*self._emg[:-1], self._emg[-1][:last]])
        ts = np.concatenate([*self._ts[:-1], self._ts[-1][:last]])
        return emg, ts


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
        self.buffer = _Growing(n_channels, math.ceil(60.0 * self.fs))
        self.t0: float | None = None  #: LSL time of the first sample (stream second 0)
        self.last_ts: float | None = None
        self.gaps = 0
        self.gap_samples = 0

    def _take(self, x: np.ndarray, ts: np.ndarray) -> None:
        """Keep a pulled chunk (copied out of the inlet's reused buffers) and count timestamp gaps."""
        from myosem_rt.stream.consumer import JITTER_TOLERANCE_S

        if not len(ts):
            return
        step = 1.0 / self.fs
        previous = self.last_ts if self.last_ts is not None else float(ts[0]) - step
        d = np.diff(ts, prepend=previous)
        gap = d > step + JITTER_TOLERANCE_S
        self.gaps += int(gap.sum())
        self.gap_samples += int(np.round((d[gap] - step) * self.fs).sum())
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
            t = ts - (self.t0 if self.t0 is not None else 0.0)
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
                self._drain()
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

    def _drain(self, max_pulls: int = 1000) -> None:
        for _ in range(max_pulls):
            x, ts, _transition = self.inlet.pull(0.0)
            if not len(ts):
                return
            self._take(x, ts)

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


def stream_meta(inlet: Any) -> dict[str, str]:
    """Stream name, unit and device of an EMG inlet from its full header (:attr:`EmgInlet.info`; only the
    name when the stream publishes no description)."""
    meta: dict[str, str] = {"stream": str(inlet.name)}
    try:
        desc = inlet.info.desc()
        unit = desc.child("channels").child("channel").child_value("unit")
    except Exception:  # metadata is a nicety: never fail a session for it
        return meta
    if unit and unit != "none":
        meta["unit"] = unit
    for key in ("model", "manufacturer"):
        if desc.child_value(key):
            meta.setdefault(key, desc.child_value(key))
    return meta


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[list[int]]:
    """Ctrl-C while the recording is written would delete the half-written temporary file and lose the
    session: note it instead (the yielded list gets an entry) and let the caller report it afterwards.
    Main thread only (elsewhere Python cannot handle signals, and none arrives)."""
    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield pending
    finally:
        signal.signal(signal.SIGINT, previous)


def save_outcome(out: Path, o: Outcome, fs: float, *, user: str, force: bool, meta: Mapping[str, str],
                 names: Mapping[int, str], descriptions: Mapping[int, str]) -> Path:
    """Write the recording to ``out``; if that fails (the file appeared meanwhile, a full disk ...), to a
    sibling with a time suffix, then to the temporary folder, and as a last resort the raw arrays (.npz)."""
    import tempfile

    from myosem_rt.recordings.writer import write_recording

    if o.n_samples == 0:
        raise StreamError(f"stream {meta.get('stream', '')!r}: no sample received; nothing recorded")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    user = (user or "").strip()
    session = f"{user or 'enrol'}-{stamp}"
    subject = int(meta["subject"]) if str(meta.get("subject", "")).isdigit() else 0
    device = " ".join(v for v in (meta.get("manufacturer", ""), meta.get("model", "")) if v) or \
        meta.get("stream", "")
    kwargs = dict(dataset=meta.get("dataset") or DATASET, subject=subject, session=session, device=device,
                  unit=meta.get("unit", ""), class_names=names, descriptions=descriptions,
                  timestamps=o.timestamps)
    alternatives = [out, out.with_name(f"{out.stem}-{stamp}{out.suffix}"),
                    Path(tempfile.gettempdir()) / f"{out.stem}-{stamp}{out.suffix}"]
    first: RecordingError | None = None
    for i, path in enumerate(alternatives):
        try:
            written = write_recording(path, o.emg, o.label, o.repetition, fs, force=force and i == 0,
                                      **kwargs)
        except RecordingError as exc:
            first = first or exc
            continue
        if i:
            log.warning("%s; the recording was written to %s instead", first, written)
        return written
    raw = _dump_raw(out.with_name(f"{out.stem}-{stamp}.raw.npz"), o, fs)
    problem = first.problem if first else "not written"
    raise RecordingError(out, f"{problem}; the raw samples are kept in {raw}")


def _dump_raw(path: Path, o: Outcome, fs: float) -> Path:
    """Last resort: every array as received, in a plain .npz (written atomically)."""
    import os
    import tempfile

    for folder in (path.parent, Path(tempfile.gettempdir())):
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, emg=o.emg, timestamps=o.timestamps, label=o.label, repetition=o.repetition,
                         fs=np.float64(fs))
                fh.flush()
                os.fsync(fh.fileno())
            target = folder / path.name
            os.replace(tmp, target)
            return target
        except OSError:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
    raise RecordingError(path, "cannot write the recording anywhere (disk full or read-only?)")

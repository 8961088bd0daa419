"""The window's guided enrolment (``Enrol…``): the cues of ``myosem enrol``, recorded from the live stream.

Why a tap and not an inlet of its own: the live worker already pulls the stream, and a second inlet would
receive the stream twice and could see other samples around a loss than the window shows. So
:class:`TapRecorder` is a :meth:`~myosem_rt.stream.consumer.StreamConsumer.add_tap` of the worker's
consumer: it gets every raw sample exactly once, in the worker thread, before filtering; the cues are the
same :class:`~myosem_rt.profile.cues.CueSchedule` the terminal session uses, driven by the samples'
stream time, and the recording is labelled and written exactly as there (:mod:`.recorder`).

:class:`LiveEnrolment` is the flow without Qt (the panel, :mod:`myosem_rt.display.enrol_panel`, only shows
its :meth:`~LiveEnrolment.status` and forwards Start / Cancel):

1. :meth:`~LiveEnrolment.start` adds the tap; :meth:`~LiveEnrolment.poll` (every frame, GUI thread) ends
   the session when the schedule is done, when the stream is lost or the worker failed, or when no first
   sample comes; :meth:`~LiveEnrolment.cancel` ends it at once;
2. the end runs in a thread of its own (writing and fitting take a second or so; the window keeps
   painting), not a daemon, so an application that closes still finishes writing: the recording is written
   first (:func:`~myosem_rt.profile.recorder.save_outcome`: never overwriting, with fallbacks), then --
   only for a complete session, as ``myosem enrol`` -- loaded back and fitted with
   :func:`~myosem_rt.profile.enrol.enrol_from_session`, the profile saved to the window's profile path
   (when there is one) and made into a :class:`~myosem_rt.profile.view.CalibratedModel`;
3. the next :meth:`~LiveEnrolment.poll` swaps that view into the worker (``worker.set_model``) and returns
   the :class:`EnrolResult`, whose one-line ``message`` says what happened and where the recording is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import MyosemError
from myosem_rt.profile.cues import CueSchedule, Gesture, class_names, model_vocabulary, new_descriptions
from myosem_rt.profile.enrol_view import Status
from myosem_rt.profile.recorder import (
    COMPLETE,
    INTERRUPTED,
    STALLED,
    CuedRecording,
    Outcome,
    ending_line,
    save_outcome,
)
from myosem_rt.record.capture import stream_meta

log = logging.getLogger(__name__)

#: :attr:`LiveEnrolment.state` values.
RECORDING, SAVING, DONE = "recording", "saving", "done"


class LiveEnrolError(MyosemError):
    """The window's enrolment cannot start (no stream, a profile in the way, a bad choice of gestures)."""


class TapRecorder(CuedRecording):
    """A :class:`CuedRecording` fed by a consumer tap: :meth:`tap` runs in the worker thread, everything
    else in the GUI thread, all under one lock (held for a copy of one chunk at most)."""

    def __init__(self, cues: CueSchedule, fs: float, n_channels: int, name: str) -> None:
        super().__init__(cues, fs, n_channels, name)
        self._lock = threading.Lock()
        self._closed = False

    def tap(self, x: np.ndarray, ts: np.ndarray) -> None:
        """The consumer tap: keep a raw chunk (copied) until the schedule is done or :meth:`finish`."""
        with self._lock:
            if self._closed or (self.t0 is not None and self._done()):
                return
            self._take(x, ts)

    @property
    def started(self) -> bool:
        with self._lock:
            return self.t0 is not None

    @property
    def done(self) -> bool:
        with self._lock:
            return self.t0 is not None and self._done()

    def status(self) -> Status:
        with self._lock:
            return self._status()

    def finish(self, status: str) -> Outcome:
        """Stop keeping samples; everything kept, labelled by the cues (:meth:`CuedRecording.outcome`)."""
        with self._lock:
            self._closed = True
            return self.outcome(status)


@dataclass
class EnrolResult:
    """How a window enrolment ended."""

    status: str  #: complete / interrupted / stalled (recorder statuses), or "failed"
    message: str  #: one line for the panel
    recording: Path | None = None  #: the file written (None when nothing was recorded)
    profile: Any | None = None  #: the fitted UserProfile (complete sessions only)
    profile_path: Path | None = None  #: where the profile was saved (None: kept in memory)
    view: Any | None = None  #: the CalibratedModel swapped into the worker
    report: Mapping[str, Any] = field(default_factory=dict)  #: enrol_from_session's report

    @property
    def ok(self) -> bool:
        return self.view is not None


def recording_path(profile_path: Path | None, user: str = "", folder: Path | None = None) -> Path:
    """``<profile>.recording.mat``, or without a profile ``enrol[-user]-<time>.mat`` in ``folder`` (the
    current one); a time-stamped sibling when that exists (a recording is never overwritten)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if profile_path is not None:
        base = Path(profile_path)
        path = base.with_name(base.name + ".recording.mat")
    else:
        who = "-".join(user.split()) if user.strip() else ""
        path = (folder or Path.cwd()) / f"enrol{'-' + who if who else ''}-{stamp}.mat"
    stem, k = path.stem, 1
    while path.exists():
        path = path.with_name(f"{stem}-{stamp}{f'-{k}' if k > 1 else ''}{path.suffix}")
        k += 1
    return path


class LiveEnrolment:
    """One guided enrolment over a running :class:`~myosem_rt.display.worker.LiveWorker` (module docstring).

    ``classes`` are the gestures to cue (:func:`~myosem_rt.profile.cues.pick_gestures`); the profile is
    saved to ``profile_path`` (a profile base path; None: kept in memory), which must not hold a profile yet
    unless ``replace_profile``; ``out`` is the recording (default :func:`recording_path`); ``keep_weak``
    labels a gesture without activity above rest by its cue instead of refusing the fit.
    """

    def __init__(self, worker: Any, config: Mapping[str, Any], classes: Sequence[Gesture], *,
                 repetitions: int, ready_s: float, hold_s: float, rest_s: float, user: str = "",
                 profile_path: Path | None = None, out: Path | None = None, keep_weak: bool = False,
                 replace_profile: bool = False) -> None:
        from myosem_rt.profile.profile import json_path

        self.worker = worker
        self.config = config
        self.schedule = CueSchedule(tuple(classes), repetitions, ready_s, hold_s, rest_s)
        self.user = user.strip()
        self.profile_path = None if profile_path is None else Path(profile_path)
        if self.profile_path is not None and json_path(self.profile_path).exists() and not replace_profile:
            raise LiveEnrolError(f"{json_path(self.profile_path)}: a profile exists already; tick 'replace "
                                 "the profile' to enrol over it")
        self.out = Path(out) if out is not None else recording_path(self.profile_path, self.user)
        if self.out.suffix.lower() != ".mat":
            raise LiveEnrolError(f"{self.out}: a recording file name must end in .mat")
        self.keep_weak = bool(keep_weak)
        self.vocab = model_vocabulary(worker.base_model)
        consumer = worker.consumer
        self.recorder = TapRecorder(self.schedule, worker.fs, worker.n_channels, consumer.inlet.name)
        stream = config["stream"]
        self.first_sample_timeout_s = max(float(config["lsl"]["resolve_timeout_s"]),
                                          float(stream["stall_timeout_s"]))
        self.state = RECORDING
        self.result: EnrolResult | None = None
        self._started: float | None = None
        self._thread: threading.Thread | None = None
        self._reported = False

    # -- GUI thread ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start recording (the first sample the tap gets is stream second 0)."""
        if self.worker.error:
            raise LiveEnrolError(f"enrol: the live worker stopped ({self.worker.error})")
        if self.worker.consumer.state == "lost":
            raise LiveEnrolError(f"enrol: stream {self.recorder.name!r} is lost; wait until it is back")
        self._started = time.monotonic()
        self.worker.consumer.add_tap(self.recorder.tap)
        s = self.schedule
        log.info("enrolment in the window: %d gesture(s) x %d repetition(s), %.0f s in all: %s; recording "
                 "to %s", len(s.classes), s.repetitions, s.duration_s, ", ".join(g.name for g in s.classes),
                 self.out)

    def status(self) -> Status:
        return self.recorder.status()

    def cancel(self) -> None:
        """End now; what was recorded is written, no profile is fitted (as Ctrl-C in ``myosem enrol``)."""
        if self.state == RECORDING:
            self._end(INTERRUPTED, "")

    def poll(self) -> EnrolResult | None:
        """Advance the flow (module docstring); returns the result once, when it is ready."""
        if self.state == RECORDING:
            self._check()
        if self.state == SAVING and self._thread is not None and not self._thread.is_alive():
            self.state = DONE
        if self.state == DONE and not self._reported:
            self._reported = True
            result = self.result
            if result is not None and result.view is not None:
                self.worker.set_model(result.view)
            return result
        return None

    def wait(self, timeout_s: float | None = None) -> EnrolResult | None:
        """Block until the end's thread is done (closing the window, tests); then :meth:`poll`."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.poll()

    def _check(self) -> None:
        worker, rec = self.worker, self.recorder
        if rec.done:
            self._end(COMPLETE, "")
        elif worker.error:
            self._end(STALLED, f"the live worker stopped ({worker.error}):")
        elif rec.started and worker.consumer.state == "lost":
            self._end(STALLED, f"stream {rec.name!r} stopped:")
        elif not rec.started and self._started is not None and \
                time.monotonic() - self._started > self.first_sample_timeout_s:
            self._end(STALLED, f"stream {rec.name!r}: no sample within {self.first_sample_timeout_s:g} s;")

    def _end(self, status: str, why: str) -> None:
        self.worker.consumer.remove_tap(self.recorder.tap)
        outcome = self.recorder.finish(status)
        self.state = SAVING
        self._thread = threading.Thread(target=self._finish, args=(outcome, why), name="myosem-enrol-save")
        self._thread.start()

    # -- the end's thread ---------------------------------------------------------------------------------
    def _finish(self, outcome: Outcome, why: str) -> None:
        try:
            self.result = self._write_and_fit(outcome, why)
        except Exception as exc:  # a bug: say so in one line, keep the window alive (traceback in the log)
            log.exception("enrolment failed")
            where = f"; recording kept in {self.result.recording}" if self.result is not None and \
                self.result.recording is not None else ""
            self.result = EnrolResult("failed", _one_line(f"enrolment failed ({type(exc).__name__}: {exc})"
                                                          f"{where}"))

    def _write_and_fit(self, outcome: Outcome, why: str) -> EnrolResult:
        if outcome.n_samples == 0:
            why = why or "cancelled before the first sample;"
            return EnrolResult(outcome.status, f"{why} nothing recorded")
        inlet = self.worker.consumer.inlet
        names = class_names(self.schedule, self.vocab, self.schedule.classes, outcome.label)
        try:
            path = save_outcome(self.out, outcome, self.worker.fs, user=self.user, force=False,
                                meta=stream_meta(inlet), names={i: g.name for i, g in names.items()},
                                descriptions=new_descriptions(self.schedule.classes, self.vocab))
        except MyosemError as exc:
            return EnrolResult(outcome.status, _one_line(f"{why} {exc}" if why else str(exc)))
        self.result = EnrolResult(outcome.status, "", path)  # _finish names it should the fit crash
        log.info("enrolment: %d samples (%.1f s, %d gap(s)) recorded to %s", outcome.n_samples,
                 outcome.n_samples / self.worker.fs, outcome.gaps, path)
        if outcome.status != COMPLETE:
            how = "cancelled" if outcome.status == INTERRUPTED else "cut"
            line = ending_line(outcome, path, self.schedule.n_cues, how)
            return EnrolResult(outcome.status, _one_line(f"{why} {line}" if why else line), path)
        return self._fit(outcome, path)

    def _fit(self, outcome: Outcome, path: Path) -> EnrolResult:
        from myosem_rt.profile.adapt import AdaptSettings
        from myosem_rt.profile.enrol import enrol_from_session
        from myosem_rt.profile.profile import json_path
        from myosem_rt.profile.view import CalibratedModel
        from myosem_rt.recordings import load_session

        base = self.worker.base_model
        try:
            profile, report = enrol_from_session(load_session(path), self.config, model=base, user=self.user,
                                                 weak="cue" if self.keep_weak else "error")
            saved = profile.save(self.profile_path) if self.profile_path is not None else None
            view = CalibratedModel(profile, base, json_path(self.profile_path) if saved else None,
                                   AdaptSettings.from_config(self.config))
        except MyosemError as exc:
            return EnrolResult("failed", _one_line(f"profile not fitted ({exc}); the recording is kept: "
                                                   f"{path}"), path)
        never = f"; never held: {', '.join(outcome.never_held)}" if outcome.never_held else ""
        where = f"saved to {saved}" if saved is not None else "kept in memory (no --profile: not saved)"
        message = _one_line(f"{report.get('summary', 'profile fitted')}; {where}; recording {path}{never}")
        log.info("enrolment: %s", message)
        return EnrolResult(COMPLETE, message, path, profile, saved, view, report)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())

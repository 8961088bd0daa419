"""What a user does to a live session, without Qt: ask for a gesture by text, and calibrate the model.

Why apart from the window: these actions are the behaviour (which hops a query finds, what a correction
changes, what gets saved) and must be testable and reusable without a display; the window only wires
buttons to them.

* :class:`GestureQuery`: a typed description -> the runtime text encoder
  (``TextEncoder.load(model.text_dir)``, loaded on first use) -> :func:`myosem_rt.query.match` over the
  worker's history (text -> EMG); a found segment -> :func:`myosem_rt.query.describe_segment` (EMG -> text).
* :class:`Calibrator`: confirm or correct the current result, or record a new gesture with its description,
  through the wearer's :class:`myosem_rt.profile.UserProfile`; every change refits the profile's head,
  gives the worker a new :class:`~myosem_rt.profile.view.CalibratedModel` and is saved to the profile file
  when there is one.

A confirm or a correction adds the windows of the last ``feedback_s`` seconds (what the user was looking
at when clicking) as examples of the class, as feature vectors of the profile's own kind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.display.worker import LiveWorker
from myosem_rt.errors import MyosemError
from myosem_rt.query import NO_TRUTH, Segment, describe_segment, match

log = logging.getLogger(__name__)


class InteractionError(MyosemError):
    """An action cannot be done now (no model, nothing recorded yet, empty text); shown to the user."""


class GestureQuery:
    """Text -> matching stretches of the worker's recent history, and their EMG -> text ranking."""

    def __init__(self, worker: LiveWorker, top: int = 5, threshold: float | None = None) -> None:
        self.worker = worker
        self.top = int(top)
        self.threshold = threshold
        self._encoder: Any | None = None
        self.text = ""
        self.segments: list[Segment] = []
        self._z: np.ndarray | None = None  # the history's embeddings the segments index into
        self._truth: np.ndarray | None = None  # and its ground truth per hop

    def encoder(self) -> Any:
        if self._encoder is None:
            from myosem_rt.text_encoder import TextEncoder

            model = self.worker.model
            if model is None or model.text_dir is None:
                raise InteractionError("gesture query: the model has no text encoder (text/)")
            self._encoder = TextEncoder.load(model.text_dir)
        return self._encoder

    def run(self, text: str) -> list[Segment]:
        """Match ``text`` against the history now; the segments (best first) are kept for :meth:`describe`."""
        text = (text or "").strip()
        if not text:
            raise InteractionError("gesture query: type a description first")
        if self.worker.model is None:
            raise InteractionError("gesture query: no model or profile for this stream")
        t, z, _, truth = self.worker.history_arrays()
        if t.size == 0:
            raise InteractionError("gesture query: no hops in the history yet")
        from myosem_rt.typed import QueryText

        # a text is searched as live --describe ranks it (an action id's anatomy, a free text's muscles)
        text_z = QueryText(self.worker.model, self.encoder()).encode([text])[0]
        self.text, self._z, self._truth = text, z, truth
        self.segments = match(text_z, t, z, self.worker.hop_s, threshold=self.threshold, top=self.top)
        return self.segments

    def describe(self, index: int) -> list[tuple[str, str, float]]:
        """EMG -> text for segment ``index`` of the last run: (name, description, score), best first."""
        s = self.segments[index]
        assert self._z is not None
        return describe_segment(self.worker.model, self._z[s.first : s.last + 1])

    def truth(self, index: int) -> int | None:
        """The most frequent ground-truth class id over segment ``index`` (None when unknown)."""
        s = self.segments[index]
        assert self._truth is not None
        known = self._truth[s.first : s.last + 1]
        known = known[known != NO_TRUTH]
        if known.size == 0:
            return None
        ids, counts = np.unique(known, return_counts=True)
        return int(ids[np.argmax(counts)])


@dataclass
class Recording:
    """A "record new gesture" in progress (stream seconds)."""

    name: str
    description: str
    start_t: float
    end_t: float


class Calibrator:
    """Confirm / correct / new gesture through the wearer's profile (module docstring)."""

    def __init__(self, worker: LiveWorker, profile: Any | None, path: Path | None, config: Mapping[str, Any],
                 query: GestureQuery | None = None) -> None:
        self.worker = worker
        self.profile = profile  #: :class:`~myosem_rt.profile.UserProfile`, or None before enrolment
        self.path = path
        self.feedback_s = float(config["gui"]["feedback_s"])
        self.query = query or GestureQuery(worker)  # shares its text encoder
        self.recording: Recording | None = None
        self.n_changes = 0

    def set_profile(self, profile: Any) -> None:
        """A profile made in the window (enrolment): from now on confirm / correct update it."""
        self.profile = profile

    def _profile(self) -> Any:
        if self.profile is None:
            raise InteractionError("calibration: no profile yet -- enrol first (Enrol... button, or "
                                   "myosem enrol --profile PATH)")
        return self.profile

    def classes(self) -> list[tuple[int, str]]:
        """(class id, name) of the current view, new gestures included."""
        view = self.worker.model
        if view is None:
            return []
        return [(int(c), str(n)) for c, n in zip(view.class_ids, view.class_names, strict=True)]

    def _features(self, seconds: float, since: float | None = None, until: float | None = None) -> np.ndarray:
        """The profile's features of the recent windows (the last ``seconds``, or ``since``..``until``),
        computed by the worker's view of the profile, so with the session's electrode polarity applied."""
        self._profile()
        t, x, desc = self.worker.recent_windows(seconds, since=since)
        if until is not None and t.size:
            keep = t <= until + 1e-9
            t, x, desc = t[keep], x[keep], desc[keep]
        if t.size == 0:
            raise InteractionError("calibration: no windows yet")
        return self.worker.model.features(x, desc)

    def confirm(self, class_id: int | None = None) -> int:
        """The label shown (``class_id``; None: the latest shown label) is right: the last ``feedback_s``
        seconds become examples of it. Returns its class id."""
        profile = self._profile()
        if class_id is None:
            result = self.worker.snapshot().result
            if result is None or result.label_id is None:
                raise InteractionError("confirm: no label to confirm (uncertain); use correct instead")
            class_id = result.label_id
        profile.add_examples(int(class_id), self._features(self.feedback_s))
        self._changed(f"confirmed class {class_id}")
        return int(class_id)

    def correct(self, class_id: int) -> None:
        """The current result should have been ``class_id``: the last ``feedback_s`` seconds are examples."""
        self._profile().add_examples(int(class_id), self._features(self.feedback_s))
        self._changed(f"corrected to class {class_id}")

    def start_recording(self, name: str, description: str, seconds: float) -> Recording:
        """Record the next ``seconds`` of windows as examples of a new gesture ``name`` described so."""
        self._profile()
        name, description = name.strip(), description.strip()
        if not name or not description:
            raise InteractionError("new gesture: type its name and a description first")
        if name in {n for _, n in self.classes()}:
            raise InteractionError(f"new gesture: a class named '{name}' exists already")
        if not 0 < seconds <= 30:
            raise InteractionError(f"new gesture: record for 0-30 s, got {seconds:g}")
        self.query.encoder()  # load it now (not when the recording ends): a bad text/ fails at once
        t_end = self.worker.snapshot().t_end or 0.0
        self.recording = Recording(name, description, t_end, t_end + float(seconds))
        log.info("recording new gesture '%s' for %g s", name, seconds)
        return self.recording

    def poll_recording(self) -> int | None:
        """Finish the recording once the stream has passed its end: add the class, return its id."""
        rec = self.recording
        if rec is None:
            return None
        snap = self.worker.snapshot()
        if snap.t_end is None or snap.t_end < rec.end_t:
            return None
        self.recording = None
        f = self._features(0.0, since=rec.start_t, until=rec.end_t)
        text_z = self.query.encoder().encode([rec.description])[0]
        class_id = self._profile().add_class(rec.name, rec.description, text_z, f)
        self._changed(f"new gesture '{rec.name}' ({f.shape[0]} windows)")
        return int(class_id)

    def _changed(self, what: str) -> None:
        self.n_changes += 1
        self.worker.set_model(self.worker.model.refitted())
        if self.path is not None:
            self.profile.save(self.path)
        log.info("calibration: %s%s", what, f"; saved to {self.path}" if self.path else "")

"""What a user does to a live session, without Qt: ask for a gesture by text, and calibrate the model.

Why apart from the window: these actions are the behaviour (which hops a query finds, what a correction
changes, what gets saved) and must be testable and reusable without a display; the window only wires
buttons to them.

* :class:`GestureQuery`: a typed description -> the runtime text encoder
  (``TextEncoder.load(model.text_dir)``, loaded on first use) -> :func:`myosem_rt.query.match` over the
  worker's history (text -> EMG); a found segment -> :func:`myosem_rt.query.describe_segment` (EMG -> text).
* :class:`Calibrator`: confirm or correct the current result, or record a new gesture with its description,
  through :class:`myosem_rt.calibration.Profile`; every change makes a new model view for the worker and is
  saved to the profile file when there is one.

A confirm or a correction is *one* example (:meth:`Profile.correct`): the normalised mean embedding of the
last ``feedback_s`` seconds of hops, i.e. of what the user was looking at when clicking, not of a single
hop that may sit on a transition.
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
from myosem_rt.text_encoder import l2_normalize

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

            model = self.worker.base_model
            if model is None or model.text_dir is None:
                raise InteractionError("gesture query: the model has no text encoder (text/)")
            self._encoder = TextEncoder.load(model.text_dir)
        return self._encoder

    def run(self, text: str) -> list[Segment]:
        """Match ``text`` against the history now; the segments (best first) are kept for :meth:`describe`."""
        text = (text or "").strip()
        if not text:
            raise InteractionError("gesture query: type a description first")
        if self.worker.base_model is None:
            raise InteractionError("gesture query: no model for this stream")
        t, z, _, truth = self.worker.history_arrays()
        if t.size == 0:
            raise InteractionError("gesture query: no hops in the history yet")
        text_z = self.encoder().encode([text])[0]
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
    """Confirm / correct / enroll through a calibration profile (module docstring)."""

    def __init__(self, worker: LiveWorker, profile: Any, path: Path | None, config: Mapping[str, Any],
                 query: GestureQuery | None = None) -> None:
        self.worker = worker
        self.profile = profile
        self.path = path
        self.feedback_s = float(config["gui"]["feedback_s"])
        self.query = query or GestureQuery(worker)  # shares its text encoder
        self.recording: Recording | None = None
        self.n_changes = 0

    def classes(self) -> list[tuple[int, str]]:
        """(class id, name) of the current view, enrolled classes included."""
        view = self.worker.model
        return [(int(c), str(n)) for c, n in zip(view.class_ids, view.class_names, strict=True)]

    def _recent(self) -> np.ndarray:
        _, z = self.worker.recent_z(self.feedback_s)
        if z.shape[0] == 0:
            raise InteractionError("calibration: no hops yet")
        return l2_normalize(l2_normalize(z).mean(axis=0))

    def confirm(self, class_id: int | None = None) -> int:
        """The label shown (``class_id``; None: the latest smoothed label) is right: one example of it.
        Returns its class id."""
        if class_id is None:
            result = self.worker.snapshot().result
            if result is None or result.label_id is None:
                raise InteractionError("confirm: no label to confirm (uncertain); use correct instead")
            class_id = result.label_id
        self.profile.correct(self._recent(), int(class_id))
        self._changed(f"confirmed class {class_id}")
        return int(class_id)

    def correct(self, class_id: int) -> None:
        """The current result should have been ``class_id``: one example of it."""
        self.profile.correct(self._recent(), int(class_id))
        self._changed(f"corrected to class {class_id}")

    def start_recording(self, name: str, description: str, seconds: float) -> Recording:
        """Record the next ``seconds`` of hops as examples of a new gesture ``name`` described so."""
        name, description = name.strip(), description.strip()
        if not name or not description:
            raise InteractionError("new gesture: type its name and a description first")
        if name in {n for _, n in self.classes()}:
            raise InteractionError(f"new gesture: a class named '{name}' exists already")
        if not seconds > 0:
            raise InteractionError(f"new gesture: record for > 0 s, got {seconds:g}")
        self.query.encoder()  # load it now (not when the recording ends): a bad text/ fails at once
        t_end = self.worker.snapshot().t_end or 0.0
        self.recording = Recording(name, description, t_end, t_end + float(seconds))
        log.info("recording new gesture '%s' for %g s", name, seconds)
        return self.recording

    def poll_recording(self) -> int | None:
        """Finish the recording once the stream has passed its end: enroll, returns the new class id."""
        rec = self.recording
        if rec is None:
            return None
        snap = self.worker.snapshot()
        if snap.t_end is None or snap.t_end < rec.end_t:
            return None
        self.recording = None
        t, z = self.worker.recent_z(0.0, since=rec.start_t)
        z = z[t <= rec.end_t + 1e-9]
        if z.shape[0] == 0:
            raise InteractionError(f"new gesture '{rec.name}': no hops arrived while recording")
        text_z = self.query.encoder().encode([rec.description])[0]
        class_id = self.profile.enroll(rec.name, rec.description, text_z, z)
        self._changed(f"enrolled '{rec.name}' ({z.shape[0]} hops)")
        return int(class_id)

    def _changed(self, what: str) -> None:
        self.n_changes += 1
        self.worker.set_model(self.profile.apply(self.worker.base_model))
        if self.path is not None:
            self.profile.save(self.path)
        log.info("calibration: %s%s", what, f"; saved to {self.path}" if self.path else "")

"""How unlike the wearer's known gestures a window is: the bias correction of the generalised setting.

Why: when a gesture nobody trained on competes with the trained ones (``myosem bench zeroshot``'s
generalised setting), the trained sibling wins almost every window; calibrated stacking subtracts one
constant gamma from every seen class's score, the same for a window of a known gesture and for one of a new
gesture. But the wearer's own windows of the known gestures say more: a window far from every known
gesture's mean on this wearer's band is likely a new one. The measure is the Mahalanobis distance of the
window's per-channel log mean absolute value (Hudgins' MAV, :func:`myosem_rt.groups.log_mav`) to the
nearest of the wearer's known-gesture means, with the within-gesture covariance pooled over their windows
(shrunk toward its mean variance: a few windows per gesture) -- LDA's geometry, as in open-set EMG
rejection -- and divided by the median distance of those windows to their own gesture's mean, so that its
scale is the same on every band. :func:`novelty` returns the log of that ratio: 0 for a window as close to
a known gesture as the known gesture's own windows are, positive further away.

The generalised ranking then adds ``beta * novelty`` to every new gesture's score on top of stacking
(:func:`myosem_rt.retrieval.generalised_curve_scores`); gamma and beta are chosen on other folds, never on
the fold measured. Numpy only: the runtime has no scikit-learn.

Without the wearer's labels (``myosem live --describe`` asks for no enrolment) the known gestures come from
the wearer's own stream: each window is labelled by the model's best *known* class, and the half of the
windows with the clearest margin between its first and second known class stand for them
(:func:`stream_known`). A window is then measured against the mean of the gesture the model takes it for
(:meth:`KnownGestures.novelty_to`), not the nearest one: a known gesture the stream has not shown yet
(a live stream's first minutes hold only some of them) has no mean, and its windows get no novelty rather
than a large one. :func:`recording_stream_novelty` is the offline form (one recording, all its windows at
once: the bench), :func:`causal_stream_novelty` runs the live form :class:`StreamNovelty` over a
recording's windows in order (the last :data:`STREAM_SPAN` hops, refitted every :data:`STREAM_REFIT`
hops, nothing until :data:`STREAM_MIN` hops are in: ``myosem eval``). On the eight held-out 3DC folds the
offline form lifts the generalised harmonic mean of MyoSem-RT + anatomy from 0.457 to 0.507 (the wearer's
labelled known gestures: 0.513; ``myosem bench zeroshot``), and with at most 0.10 of the known gestures'
windows taken for a new one from 0.206 to 0.297 (labelled: 0.427): it lets the offsets hold the new
gestures back everywhere but on novel windows, hence on in ``live`` by default (README, "Live
descriptions").
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

#: weight of the mean variance in the shrunk covariance (0: the sample covariance, 1: a sphere)
SHRINKAGE = 0.3
#: fewest windows a known gesture needs to have a mean
MIN_WINDOWS = 2
#: the share of a stream's windows, those most clearly one known gesture, that stand for the known gestures
CONFIDENT_SHARE = 0.5
#: fewest confident windows a gesture of the stream needs to have a mean (half a second of hops)
STREAM_CLASS_MIN = 10
#: live: hops of the stream the known gestures are taken from (2 min at a 50 ms hop), how often they are
#: refitted, and how many hops must be in before the first fit (10 s)
STREAM_SPAN, STREAM_REFIT, STREAM_MIN = 2400, 100, 200


@dataclass(frozen=True)
class KnownGestures:
    """One wearer's known gestures in log-MAV space: ``means`` (K, C) of gestures ``classes`` (K,),
    ``precision`` (C, C), ``scale`` (the median distance of their windows to their own gesture's mean)."""

    means: np.ndarray
    precision: np.ndarray
    scale: float
    classes: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, shrinkage: float = SHRINKAGE,
            min_windows: int = MIN_WINDOWS) -> KnownGestures:
        """From the wearer's windows of known gestures: ``features`` (N, C) log MAV, ``labels`` (N,); a
        gesture with fewer than ``min_windows`` windows is left out."""
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        classes = [c for c in np.unique(labels) if (labels == c).sum() >= min_windows]
        if not classes:
            raise ValueError(f"KnownGestures: no gesture with {min_windows} or more windows")
        means = np.stack([features[labels == c].mean(axis=0) for c in classes])
        keep = np.isin(labels, classes)
        own = np.searchsorted(np.asarray(classes), labels[keep])
        residual = features[keep] - means[own]
        cov = np.atleast_2d(np.cov(residual.T)) if len(residual) > 1 else np.eye(features.shape[1])
        cov = (1.0 - shrinkage) * cov + shrinkage * np.trace(cov) / len(cov) * np.eye(len(cov))
        precision = np.linalg.pinv(cov)
        d = np.sqrt(np.maximum(np.einsum("nd,de,ne->n", residual, precision, residual), 0.0))
        return cls(means, precision, float(max(np.median(d), 1e-12)), np.asarray(classes))

    def novelty(self, features: np.ndarray) -> np.ndarray:
        """(N,) log(distance to the nearest known mean / scale) of windows ``features`` (N, C)."""
        diff = np.asarray(features, dtype=np.float64)[:, None, :] - self.means[None]
        d2 = np.einsum("nkd,de,nke->nk", diff, self.precision, diff).min(axis=1)
        return self._log_ratio(d2)

    def novelty_to(self, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(N,) the same log ratio against the mean of each window's gesture ``labels`` (N,); NaN where
        that gesture has no mean."""
        labels = np.asarray(labels)
        row = np.searchsorted(self.classes, labels).clip(0, len(self.classes) - 1)
        has = self.classes[row] == labels
        diff = np.asarray(features, dtype=np.float64) - self.means[row]
        d2 = np.einsum("nd,de,ne->n", diff, self.precision, diff)
        return np.where(has, self._log_ratio(d2), np.nan)

    def _log_ratio(self, d2: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(np.sqrt(np.maximum(d2, 0.0)), 1e-12) / self.scale)


def recording_novelty(known: np.ndarray, known_labels: np.ndarray, known_recording: np.ndarray,
                      features: np.ndarray, recording: np.ndarray) -> np.ndarray:
    """(N,) :meth:`KnownGestures.novelty` of each window of ``features`` (N, C) against the known-gesture
    windows of the same recording (one wearer's band is not another's: ``known_recording`` and
    ``recording`` name them alike); 0 where a recording has none."""
    out = np.zeros(len(features), dtype=np.float64)
    known_recording, recording = np.asarray(known_recording), np.asarray(recording)
    for r in np.unique(recording):
        mine = known_recording == r
        if not mine.any():
            continue
        rows = recording == r
        try:
            out[rows] = KnownGestures.fit(known[mine], known_labels[mine]).novelty(features[rows])
        except ValueError:
            continue
    return out


def stream_known(features: np.ndarray, known_scores: np.ndarray, share: float = CONFIDENT_SHARE,
                 min_windows: int = STREAM_CLASS_MIN) -> KnownGestures | None:
    """:class:`KnownGestures` of a wearer's unlabelled windows ``features`` (N, C): each labelled by its best
    column of ``known_scores`` (N, K: the model's scores of its *known* classes), only the ``share`` with the
    largest margin between first and second, gestures with ``min_windows`` of those or more; None where
    fewer than two gestures remain."""
    scores = np.asarray(known_scores, dtype=np.float64)
    if not 0.0 < share <= 1.0:
        raise ValueError(f"stream_known: share must be in (0, 1], got {share}")
    if scores.ndim != 2 or scores.shape[1] < 2 or len(scores) != len(features) or len(scores) < 2:
        return None
    top = np.sort(scores, axis=1)
    margin = top[:, -1] - top[:, -2]
    keep = margin >= np.quantile(margin, 1.0 - share)
    labels = scores.argmax(axis=1)[keep]
    try:
        known = KnownGestures.fit(np.asarray(features)[keep], labels, min_windows=min_windows)
    except ValueError:
        return None
    return known if len(known.classes) >= 2 else None


def stream_novelty(known: KnownGestures | None, features: np.ndarray, known_scores: np.ndarray) -> np.ndarray:
    """(N,) each window's :meth:`KnownGestures.novelty_to` the gesture the model takes it for (its best
    column of ``known_scores``); 0 where that gesture has no mean in ``known`` (or ``known`` is None)."""
    if known is None:
        return np.zeros(len(features))
    out = known.novelty_to(features, np.asarray(known_scores).argmax(axis=1))
    return np.nan_to_num(out, nan=0.0)


def recording_stream_novelty(features: np.ndarray, known_scores: np.ndarray, recording: np.ndarray,
                             share: float = CONFIDENT_SHARE) -> np.ndarray:
    """(N,) :func:`stream_novelty` of each window against :func:`stream_known` of its own recording's
    windows, all at once (no labels; the offline form of :class:`StreamNovelty`)."""
    out = np.zeros(len(features), dtype=np.float64)
    features, known_scores, recording = np.asarray(features), np.asarray(known_scores), np.asarray(recording)
    for r in np.unique(recording):
        rows = recording == r
        known = stream_known(features[rows], known_scores[rows], share)
        out[rows] = stream_novelty(known, features[rows], known_scores[rows])
    return out


def causal_stream_novelty(features: np.ndarray, known_scores: np.ndarray, recording: np.ndarray,
                          **live: int) -> np.ndarray:
    """(N,) what :class:`StreamNovelty` (settings ``live``) gives each window of each recording, fed the
    recording's windows in their order (a new stream per recording); NaN where it gives none."""
    out = np.full(len(features), np.nan)
    recording = np.asarray(recording)
    for r in np.unique(recording):
        stream = StreamNovelty(**live)
        for i in np.flatnonzero(recording == r):
            value = stream.push(features[i], known_scores[i])
            out[i] = np.nan if value is None else value
    return out


class StreamNovelty:
    """Live novelty from the wearer's own recent stream: :meth:`push` each hop's window features and known
    class scores; the known gestures are refitted on the last ``span`` hops every ``refit`` hops, from
    ``min_windows`` hops on. A hop is measured against the fit made before it (causal)."""

    def __init__(self, span: int = STREAM_SPAN, refit: int = STREAM_REFIT, min_windows: int = STREAM_MIN,
                 share: float = CONFIDENT_SHARE) -> None:
        if not 0 < min_windows <= span or refit < 1:
            raise ValueError(f"StreamNovelty: need 0 < min_windows <= span and refit >= 1, got "
                             f"{min_windows}, {span}, {refit}")
        self.span, self.refit, self.min_windows, self.share = span, refit, min_windows, share
        self.reset()

    def reset(self) -> None:
        self._features: deque[np.ndarray] = deque(maxlen=self.span)
        self._scores: deque[np.ndarray] = deque(maxlen=self.span)
        self._since = 0
        self._tried = False  # a first fit was attempted (it may find fewer than two gestures: None)
        self.known: KnownGestures | None = None

    def push(self, features: np.ndarray, known_scores: np.ndarray) -> float | None:
        """The novelty of this hop's window (features (C,), known_scores (K,)) against the gesture the model
        takes it for; None before the first fit or where that gesture has no mean yet."""
        features = np.asarray(features, dtype=np.float64).reshape(-1)
        scores = np.asarray(known_scores, dtype=np.float64).reshape(-1)
        value = None
        if self.known is not None:
            v = float(self.known.novelty_to(features[None], np.array([int(scores.argmax())]))[0])
            value = None if np.isnan(v) else v
        self._features.append(features)
        self._scores.append(scores)
        self._since += 1
        if len(self._features) >= self.min_windows and (not self._tried or self._since >= self.refit):
            self.known = stream_known(np.stack(self._features), np.stack(self._scores), self.share)
            self._since, self._tried = 0, True
        return value

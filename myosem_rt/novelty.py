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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: weight of the mean variance in the shrunk covariance (0: the sample covariance, 1: a sphere)
SHRINKAGE = 0.3
#: fewest windows a known gesture needs to have a mean
MIN_WINDOWS = 2


@dataclass(frozen=True)
class KnownGestures:
    """One wearer's known gestures in log-MAV space: ``means`` (K, C), ``precision`` (C, C), ``scale``
    (the median distance of their windows to their own gesture's mean)."""

    means: np.ndarray
    precision: np.ndarray
    scale: float

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, shrinkage: float = SHRINKAGE) -> KnownGestures:
        """From the wearer's windows of known gestures: ``features`` (N, C) log MAV, ``labels`` (N,)."""
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        classes = [c for c in np.unique(labels) if (labels == c).sum() >= MIN_WINDOWS]
        if not classes:
            raise ValueError(f"KnownGestures: no gesture with {MIN_WINDOWS} or more windows")
        means = np.stack([features[labels == c].mean(axis=0) for c in classes])
        keep = np.isin(labels, classes)
        own = np.searchsorted(np.asarray(classes), labels[keep])
        residual = features[keep] - means[own]
        cov = np.atleast_2d(np.cov(residual.T)) if len(residual) > 1 else np.eye(features.shape[1])
        cov = (1.0 - shrinkage) * cov + shrinkage * np.trace(cov) / len(cov) * np.eye(len(cov))
        precision = np.linalg.pinv(cov)
        d = np.sqrt(np.maximum(np.einsum("nd,de,ne->n", residual, precision, residual), 0.0))
        return cls(means, precision, float(max(np.median(d), 1e-12)))

    def novelty(self, features: np.ndarray) -> np.ndarray:
        """(N,) log(distance to the nearest known mean / scale) of windows ``features`` (N, C)."""
        diff = np.asarray(features, dtype=np.float64)[:, None, :] - self.means[None]
        d2 = np.einsum("nkd,de,nke->nk", diff, self.precision, diff).min(axis=1)
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

"""The per-user head: a shrinkage LDA on the user's own standardised features, fitted in milliseconds.

Why LDA (and not a network, or the v1 prototype blend): one trial per gesture gives ~100 windows per class
of one person on one day; a linear discriminant with a pooled, shrunk covariance is what such data can
support, fits in closed form (no torch, no iterations), and is the classifier LibEMG users already trust.
What this project adds is the representation and the labels (:mod:`~myosem_rt.profile.features`,
:mod:`~myosem_rt.profile.labels`) and the mapping into the text space (:mod:`~myosem_rt.profile.view`).
The options measured side by side (docs/results/enrolment.md) are the feature set and the shrinkage.

Standardisation uses the enrolment windows' mean and standard deviation per feature (the shrinkage target
is a scaled identity, so features must share a scale); the Ledoit-Wolf intensity is used unless a fixed
one is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from myosem_rt.profile.lda import ShrinkageLDA


@dataclass
class UserHead:
    """``fit(features, labels)`` then ``posterior(features)`` (N, K) in the order of ``class_ids``."""

    shrinkage: float | str = "auto"

    def fit(self, features: np.ndarray, labels: np.ndarray) -> UserHead:
        f = np.asarray(features, dtype=np.float64)
        y = np.asarray(labels, dtype=np.int64)
        if f.ndim != 2 or f.shape[0] != y.shape[0] or f.shape[0] == 0:
            raise ValueError(f"UserHead.fit: features {f.shape} and labels {y.shape} do not match")
        self.mean_ = f.mean(axis=0)
        sd = f.std(axis=0)
        self.scale_ = np.where(sd > 1e-9, sd, 1.0)
        self.lda_ = ShrinkageLDA(self.shrinkage).fit((f - self.mean_) / self.scale_, y)
        self.class_ids = self.lda_.classes_.astype(np.int64)
        return self

    def decision(self, features: np.ndarray) -> np.ndarray:
        """(N, K) discriminant scores (log-posterior up to a per-row constant)."""
        f = (np.asarray(features, dtype=np.float64) - self.mean_) / self.scale_
        return self.lda_.decision_function(f)

    def posterior(self, features: np.ndarray) -> np.ndarray:
        """(N, K) class posterior probabilities (softmax of the discriminant scores)."""
        d = self.decision(features)
        d -= d.max(axis=1, keepdims=True)
        np.exp(d, out=d)
        d /= d.sum(axis=1, keepdims=True)
        return d

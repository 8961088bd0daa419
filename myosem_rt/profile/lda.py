"""Linear discriminant analysis with covariance shrinkage, in numpy/scipy (scikit-learn is no dependency).

Model: class means mu_k, one pooled within-class covariance S_w shrunk towards a scaled identity,
``S = (1 - g) S_w + g (tr(S_w) / d) I``, and the class priors. ``g`` is either given or the Ledoit-Wolf
estimate on the class-centred data (:func:`ledoit_wolf_shrinkage`, the analytic formula of Ledoit & Wolf,
J. Multivariate Anal. 88:365-411, 2004) -- with 4 C = 32-40 features and a few thousand windows the
shrinkage is small but keeps S well conditioned when a feature is nearly constant (ZC rates of a quiet
channel).

Two uses: :meth:`ShrinkageLDA.predict` (the classic Hudgins + LDA classifier, its training accuracy is
logged) and :meth:`ShrinkageLDA.transform`, the projection onto the K-1 discriminant directions (generalised
eigenvectors of the between-class scatter against S, ``scipy.linalg.eigh``): the segment embedding that the
learned projection maps into the text space (:mod:`train.baselines.run`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


def ledoit_wolf_shrinkage(xc: np.ndarray) -> float:
    """Ledoit-Wolf shrinkage intensity in [0, 1] for centred samples ``xc`` (n, d)."""
    xc = np.asarray(xc, dtype=np.float64)
    n, d = xc.shape
    if n < 2:
        return 1.0
    x2 = xc * xc
    emp_trace = x2.sum(axis=0) / n  # diagonal of the empirical covariance
    mu = emp_trace.sum() / d
    cov = xc.T @ xc / n
    delta_ = (cov * cov).sum()  # ||S||_F^2
    beta_ = (x2.T @ x2).sum() / n  # mean over samples of ||x x^T||_F^2
    beta = (beta_ - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * emp_trace.sum() + d * mu * mu) / d  # ||S - mu I||_F^2 / d
    beta = min(beta, delta)
    return 0.0 if beta <= 0 or delta <= 0 else float(beta / delta)


@dataclass
class ShrinkageLDA:
    """``fit(X, y)`` then ``predict`` / ``decision_function`` / ``transform`` (see the module docstring)."""

    shrinkage: float | str = "auto"  #: "auto" (Ledoit-Wolf) or a fixed intensity in [0, 1]

    def fit(self, x: np.ndarray, y: np.ndarray) -> ShrinkageLDA:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        if x.ndim != 2 or len(x) != len(y) or len(x) == 0:
            raise ValueError(f"ShrinkageLDA.fit: X {x.shape} and y {y.shape} do not match")
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError("ShrinkageLDA.fit: need at least two classes")
        idx = np.searchsorted(self.classes_, y)
        counts = np.bincount(idx, minlength=self.classes_.size).astype(np.float64)
        self.means_ = np.stack([x[idx == k].mean(axis=0) for k in range(self.classes_.size)])
        self.priors_ = counts / counts.sum()
        xc = x - self.means_[idx]
        d = x.shape[1]
        cov = xc.T @ xc / len(x)
        g = ledoit_wolf_shrinkage(xc) if self.shrinkage == "auto" else float(self.shrinkage)
        if not 0.0 <= g <= 1.0:
            raise ValueError(f"ShrinkageLDA: shrinkage must be in [0, 1] or 'auto', got {self.shrinkage}")
        self.shrinkage_ = g
        scale = np.trace(cov) / d
        self.covariance_ = (1.0 - g) * cov + g * scale * np.eye(d)
        if scale <= 0:  # every feature constant: fall back to the identity
            self.covariance_ = np.eye(d)
        # classifier: w_k = S^-1 mu_k, b_k = -1/2 mu_k^T S^-1 mu_k + log prior_k
        self.coef_ = scipy.linalg.solve(self.covariance_, self.means_.T, assume_a="pos").T
        self.intercept_ = -0.5 * (self.coef_ * self.means_).sum(axis=1) + np.log(self.priors_)
        # discriminant directions: S_b v = lambda S v, largest K-1 eigenvalues
        self.xbar_ = self.priors_ @ self.means_
        dm = (self.means_ - self.xbar_) * np.sqrt(self.priors_)[:, None]
        between = dm.T @ dm
        evals, evecs = scipy.linalg.eigh(between, self.covariance_)
        order = np.argsort(evals)[::-1][: min(self.classes_.size - 1, d)]
        self.explained_ = evals[order]
        self.scalings_ = evecs[:, order]  # S-orthonormal: scalings^T S scalings = I
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """(N, K) linear discriminant scores (log-posterior up to a per-row constant)."""
        return np.asarray(x, dtype=np.float64) @ self.coef_.T + self.intercept_

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(x).argmax(axis=1)]

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(N, K-1) coordinates in the discriminant space (within-class covariance = identity)."""
        return (np.asarray(x, dtype=np.float64) - self.xbar_) @ self.scalings_

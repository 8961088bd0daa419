"""Session statistics of the encoder's window features: an online, per-wearer normalisation.

Why: across wearers the classical window features (:mod:`myosem_rt.profile.features`) differ mostly by a
per-feature offset and scale (skin, fat, electrode placement and gain), and a classifier trained on other
people meets a new wearer's features shifted. Standardising each feature by the wearer's own statistics
removes that: a pooled TD + LDA gains 7 points on 3DC when its features are z-scored per subject. Those
statistics must come from what the stream has shown so far (a live user has no future), and a session's
first seconds must not be normalised by a handful of windows of one gesture, so:

    m_t = (P mu + sum_i w_i f_i) / (P + sum_i w_i)
    v_t = (P (s^2 + mu^2) + sum_i w_i f_i^2) / (P + sum_i w_i) - m_t^2

over the windows i <= t of the session, where (mu, s^2) are the training population's mean and variance
of each feature and P (``prior_hops``) is how many hops that prior is worth; each window is
``(f_t - m_t) / sqrt(v_t)``. With P = 2000 hops (100 s at a 50 ms hop) a session starts at the population
standardisation and is mostly its own after a few minutes.

``w_i`` is the number of hops window i stands for: 1 live (every hop is seen), the gap to the previous
window when a recording's windows are subsampled (:func:`hop_weights`), so that evaluation on every k-th
window sees the statistics the live stream would have had. Training applies the same running statistics
per training recording in time order (``train.pipeline``), the runtime per stream
(:meth:`myosem_rt.model.MyoSemModel.encode`): one definition, here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Prior weight of the population statistics, in hops (100 s at a 50 ms hop).
DEFAULT_PRIOR_HOPS = 2000.0
_VAR_FLOOR = 1e-12


class SessionStats:
    """Running per-feature mean and variance of one session's window features (module docstring)."""

    def __init__(self, mean: Sequence[float] | np.ndarray, var: Sequence[float] | np.ndarray,
                 prior_hops: float = DEFAULT_PRIOR_HOPS) -> None:
        self.mean0 = np.asarray(mean, dtype=np.float64)
        self.var0 = np.asarray(var, dtype=np.float64)
        if self.mean0.ndim != 1 or self.mean0.shape != self.var0.shape or not np.isfinite(self.mean0).all() \
                or not (np.isfinite(self.var0).all() and (self.var0 >= 0).all()):
            raise ValueError("SessionStats: mean and var must be finite vectors of one length (var >= 0)")
        if not (isinstance(prior_hops, (int, float)) and np.isfinite(prior_hops) and prior_hops > 0):
            raise ValueError(f"SessionStats: prior_hops must be a number > 0, got {prior_hops!r}")
        self.prior_hops = float(prior_hops)
        self.reset()

    def reset(self) -> None:
        """A new session: only the population prior."""
        self.seen = 0.0  # hops of this session so far
        self._s1 = np.zeros_like(self.mean0)
        self._s2 = np.zeros_like(self.mean0)

    def normalise(self, f: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """(N, F) float32: windows ``f`` (N, F) in time order, each standardised by the statistics of the
        session up to and including itself; the windows join the session. ``weights``: hops per window."""
        f = np.asarray(f, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != self.mean0.shape[0]:
            raise ValueError(f"SessionStats: expected (N, {self.mean0.shape[0]}) features, got {f.shape}")
        w = np.ones(len(f)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape[0] != len(f):
            raise ValueError(f"SessionStats: {w.shape[0]} weights for {len(f)} windows")
        cw = self.seen + np.cumsum(w)
        c1 = self._s1 + np.cumsum(w[:, None] * f, axis=0)
        c2 = self._s2 + np.cumsum(w[:, None] * f * f, axis=0)
        n = (self.prior_hops + cw)[:, None]
        m = (self.prior_hops * self.mean0 + c1) / n
        v = (self.prior_hops * (self.var0 + self.mean0 * self.mean0) + c2) / n - m * m
        if len(f):
            self.seen, self._s1, self._s2 = float(cw[-1]), c1[-1], c2[-1]
        return ((f - m) / np.sqrt(np.maximum(v, _VAR_FLOOR))).astype(np.float32)

    def to_manifest(self) -> dict[str, object]:
        return {"prior_hops": self.prior_hops, "mean": [float(v) for v in self.mean0],
                "var": [float(v) for v in self.var0]}

    @classmethod
    def from_manifest(cls, entry: object, n_features: int) -> SessionStats:
        """From a model manifest's ``window_features.session``; ValueError naming what is wrong."""
        if not isinstance(entry, dict) or not isinstance(entry.get("mean"), list) \
                or not isinstance(entry.get("var"), list) or len(entry["mean"]) != n_features:
            raise ValueError(f"session must hold prior_hops and {n_features} means and variances")
        try:
            return cls(entry["mean"], entry["var"], entry.get("prior_hops", DEFAULT_PRIOR_HOPS))
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None


def hop_weights(start: np.ndarray, hop: int) -> np.ndarray:
    """(N,) hops each window of a time-ordered window sequence stands for: the hops since the previous
    window (at least 1; the first window: 1). Every window of a stream gives all ones."""
    start = np.asarray(start, dtype=np.float64).reshape(-1)
    if start.size == 0:
        return np.zeros(0)
    return np.maximum(np.diff(start, prepend=start[0] - hop) / float(hop), 1.0)


def recording_order(ws: object) -> list[np.ndarray]:
    """Index arrays of a window set's windows, one per recording (``file_index``), each in time order
    (``start``); the whole set in its given order when it does not say."""
    n = len(ws.x)  # type: ignore[attr-defined]
    files, start = getattr(ws, "file_index", None), getattr(ws, "start", None)
    groups = [np.arange(n)] if files is None else [np.flatnonzero(files == k) for k in np.unique(files)]
    if start is None:
        return groups
    return [g[np.argsort(start[g], kind="stable")] for g in groups]


def recording_weights(ws: object, order: np.ndarray) -> np.ndarray | None:
    """:func:`hop_weights` of the windows ``order`` of one recording of a window set (None when the set
    has no start samples: every window then counts one hop)."""
    start = getattr(ws, "start", None)
    return None if start is None else hop_weights(start[order], ws.hop)  # type: ignore[attr-defined]


def standardise_recordings(ws: object, feat: np.ndarray,
                           prior_hops: float) -> tuple[np.ndarray, SessionStats]:
    """(N, F) float32 ``feat`` of a window set's windows, each recording standardised by its own running
    statistics in time order from the population prior (the set's mean and variance, worth
    ``prior_hops``), and those statistics, reset (what training hands to the runtime). Training of the
    encoder and of the ``lda-session`` baseline both do this."""
    raw = np.asarray(feat, dtype=np.float64)
    stats = SessionStats(raw.mean(axis=0), raw.var(axis=0), prior_hops)
    out = np.empty(raw.shape, dtype=np.float32)
    for order in recording_order(ws):
        stats.reset()
        out[order] = stats.normalise(raw[order], recording_weights(ws, order))
    stats.reset()
    return out, stats

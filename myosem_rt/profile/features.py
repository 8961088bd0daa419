"""Classical per-window EMG features: THE one definition, used by the per-user profile and the baselines.

Device-agnostic: every feature is computed from one filtered window (W samples x C channels) at whatever
rate and channel count the stream has, so a profile built on them works on any armband (no trained
encoder needed). Two families:

* Hudgins time-domain features (:func:`hudgins`, below), the LibEMG default and this project's anchor;
* the channel covariance in log-Euclidean coordinates (:func:`covariance_features`): the upper triangle of
  ``logm(S)`` of the window's C x C covariance. Why: TD features see each channel alone, while which
  channels co-activate (and with which sign) separates wrist from hand gestures on an armband; measured on
  every 3DC subject (one trial per class, scored on repetitions 5-8), TD + covariance gains about 4 points
  of accuracy over TD alone (docs/results/enrolment.md).

Hudgins time-domain features (Hudgins, Parker & Scott, IEEE TBME 40(1):82-94, 1993): MAV, WL, ZC, SSC.

Per channel of a filtered window x (W samples):

- MAV = mean |x_i|; WL = sum |x_{i+1} - x_i| (waveform length);
- ZC = number of i with x_i * x_{i+1} < 0 and |x_i - x_{i+1}| >= eps (zero crossings);
- SSC = number of i (1 <= i < W-1) with (x_i - x_{i-1}) * (x_i - x_{i+1}) > 0 and
  (|x_i - x_{i-1}| >= eps or |x_i - x_{i+1}| >= eps) (slope sign changes).

**Noise threshold** ``eps`` (one per channel): Hudgins' threshold keeps the counts from being driven by
noise around zero. The recordings here have no common unit (3DC ADC counts, Myo int8), so eps is relative:
``eps_c = NOISE_FACTOR x`` the 10th percentile of the per-window RMS of channel c over the *training*
windows -- the quiet end of the training data is the channel's noise floor. It is fitted once
(:func:`noise_threshold`) and reused unchanged on test windows.

Counts are divided by the number of sample pairs, so ZC / SSC are rates in [0, 1] and comparable across
window lengths; MAV and WL are log-compressed (``log(v + 1e-6)``) because amplitudes are heavy-tailed across
subjects and sessions (as the descriptors are in :mod:`train.emg.model`). Output: (N, 4 C), grouped by
feature: [MAV of every channel, WL ..., ZC ..., SSC ...].
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

FEATURES = ("MAV", "WL", "ZC", "SSC")
#: eps = NOISE_FACTOR x the 10th percentile of the per-window channel RMS of the training windows.
NOISE_FACTOR = 0.5
NOISE_PERCENTILE = 10.0
_LOG_EPS = 1e-6


def noise_threshold(x: np.ndarray, factor: float = NOISE_FACTOR,
                    percentile: float = NOISE_PERCENTILE) -> np.ndarray:
    """Per-channel threshold eps (C,) from training windows ``x`` (N, W, C) (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(f"noise_threshold: expected (N, W, C) windows, got shape {x.shape}")
    rms = np.sqrt((x * x).mean(axis=1))  # (N, C)
    return factor * np.percentile(rms, percentile, axis=0)


def hudgins(x: np.ndarray, eps: np.ndarray | float = 0.0, log_amplitude: bool = True) -> np.ndarray:
    """(N, 4 C) float32 Hudgins features of windows ``x`` (N, W, C); ``eps`` per channel or scalar."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] < 3:
        raise ValueError(f"hudgins: expected (N, W >= 3, C) windows, got shape {x.shape}")
    eps = np.broadcast_to(np.asarray(eps, dtype=np.float64), (x.shape[2],))
    d = np.diff(x, axis=1)  # (N, W-1, C): x_{i+1} - x_i
    mav = np.abs(x).mean(axis=1)
    wl = np.abs(d).sum(axis=1)
    zc = ((x[:, :-1] * x[:, 1:] < 0) & (np.abs(d) >= eps)).sum(axis=1) / d.shape[1]
    b, f = d[:, :-1], -d[:, 1:]  # b = x_i - x_{i-1} = d[i-1], f = x_i - x_{i+1} = -d[i]; SSC: b * f > 0
    ssc = ((b * f > 0) & ((np.abs(b) >= eps) | (np.abs(f) >= eps))).sum(axis=1) / b.shape[1]
    if log_amplitude:
        mav, wl = np.log(mav + _LOG_EPS), np.log(wl + _LOG_EPS)
    return np.concatenate([mav, wl, zc, ssc], axis=1).astype(np.float32)


def feature_names(n_channels: int) -> list[str]:
    """Column names of :func:`hudgins` (``MAV_ch0`` ...)."""
    return [f"{f}_ch{c}" for f in FEATURES for c in range(n_channels)]


#: Above this many channels only the log-variances are kept (the full triangle grows as C^2 / 2).
MAX_COVARIANCE_CHANNELS = 16
#: Ridge added to every covariance, relative to its mean variance (keeps logm finite for a flat channel).
_COV_RIDGE = 1e-6


@lru_cache(maxsize=64)
def _triangle(c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle indices, their sqrt(2) weights and the identity for ``c`` channels (per hop: cached)."""
    iu = np.triu_indices(c)
    return iu[0], iu[1], np.where(iu[0] == iu[1], 1.0, np.sqrt(2.0)), np.eye(c)


def covariance_features(x: np.ndarray) -> np.ndarray:
    """(N, C (C + 1) / 2) float32 log-Euclidean covariance features of windows ``x`` (N, W, C).

    ``S = cov(x)`` (per window, mean removed) plus a tiny ridge; ``L = logm(S)`` by eigendecomposition; the
    features are L's upper triangle, off-diagonal terms times sqrt(2) so that the Euclidean norm of the
    features is the Frobenius norm of L. With more than :data:`MAX_COVARIANCE_CHANNELS` channels only the
    diagonal of logm (C values) is kept.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] < 2:
        raise ValueError(f"covariance_features: expected (N, W >= 2, C) windows, got shape {x.shape}")
    xc = x - x.mean(axis=1, keepdims=True)
    s = np.matmul(xc.transpose(0, 2, 1), xc) / x.shape[1]
    c = s.shape[1]
    rows, cols, scale, eye = _triangle(c)
    ridge = _COV_RIDGE * np.trace(s, axis1=1, axis2=2) / c + 1e-12
    s += ridge[:, None, None] * eye
    w, v = np.linalg.eigh(s)
    logm = np.matmul(v * np.log(np.maximum(w, 1e-300))[:, None, :], v.transpose(0, 2, 1))
    if c > MAX_COVARIANCE_CHANNELS:
        return np.diagonal(logm, axis1=1, axis2=2).astype(np.float32)
    return (logm[:, rows, cols] * scale).astype(np.float32)


#: Feature sets a profile can use, "+"-joined parts: ``td`` (Hudgins), ``cov`` (covariance), ``d`` (both
#: again on the first difference of the window, which weighs the high-frequency content: +1.4 points on
#: 3DC), ``z`` (the trained encoder's embedding).
FEATURE_SETS = ("td", "td+cov", "td+cov+d", "td+cov+d+z", "td+cov+z", "z")
#: The sets without the encoder's embedding: what :func:`classical_features` computes alone (a profile
#: without a model, and the window-level input of an encoder, ``ModelConfig.window_features``).
CLASSICAL_SETS = tuple(s for s in FEATURE_SETS if "z" not in s.split("+"))


def classical_features(x: np.ndarray, eps: np.ndarray | float, feature_set: str = "td+cov+d") -> np.ndarray:
    """The classical parts of ``feature_set`` for windows ``x`` (N, W, C), in the order td, cov, d (the
    first difference's TD with the same ``eps``, then its covariance)."""
    parts = []
    names = feature_set.split("+")
    x = np.asarray(x, dtype=np.float64)  # once: every part computes in float64
    if "td" in names:
        parts.append(hudgins(x, eps))
    if "cov" in names:
        parts.append(covariance_features(x))
    if "d" in names:
        dx = np.diff(x, axis=1)
        parts += [hudgins(dx, eps), covariance_features(dx)]
    if not parts:
        return np.zeros((np.asarray(x).shape[0], 0), dtype=np.float32)
    return np.concatenate(parts, axis=1)

"""Hudgins time-domain features (Hudgins, Parker & Scott, IEEE TBME 40(1):82-94, 1993): MAV, WL, ZC, SSC.

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

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
#: added to MAV and WL before their log: a silent channel stays finite (also in groups.log_mav)
LOG_EPS = 1e-6


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
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] < 3:
        raise ValueError(f"hudgins: expected (N, W >= 3, C) windows, got shape {x.shape}")
    return _TimeDomain(_channel_major(x), log_amplitude).features(eps)


def _channel_major(x: np.ndarray) -> np.ndarray:
    """(N, C, W) float64 contiguous copy of windows ``x`` (N, W, C). Why: every feature reduces over the
    samples of one channel; along the contiguous last axis numpy's reductions are 2-3x faster on a live
    hop's small window than along the strided sample axis of (N, W, C)."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 2, 1), dtype=np.float64)


class _TimeDomain:
    """The parts of Hudgins' features that do not depend on the noise threshold, computed once per window
    batch, so that the features for several thresholds (live: the encoder's training eps and the wearer
    profile's own) cost one pass over the samples plus two comparisons per threshold. Works on channel-major
    windows (N, C, W) (:func:`_channel_major`)."""

    def __init__(self, x: np.ndarray, log_amplitude: bool = True, d: np.ndarray | None = None,
                 abs_x: np.ndarray | None = None) -> None:
        # d, abs_x: the difference x_{i+1} - x_i and |x| when the caller has them (a chain x -> dx -> ddx
        # shares them)
        d = x[..., 1:] - x[..., :-1] if d is None else d  # (N, C, W-1)
        self.abs_d = np.abs(d)
        mav = (np.abs(x) if abs_x is None else abs_x).sum(axis=-1) / x.shape[-1]  # = mean, less overhead
        wl = self.abs_d.sum(axis=-1)
        if log_amplitude:
            mav, wl = np.log(mav + LOG_EPS), np.log(wl + LOG_EPS)
        self.amplitude = (mav, wl)
        self.crossing = x[..., :-1] * x[..., 1:] < 0  # ZC's sign condition
        # SSC: b = x_i - x_{i-1} = d[i-1], f = x_i - x_{i+1} = -d[i]; b * f > 0 <=> d[i-1] * d[i] < 0
        self.turning = d[..., :-1] * d[..., 1:] < 0
        self.n_channels = x.shape[1]

    def features(self, eps: np.ndarray | float) -> np.ndarray:
        return self.features_many([eps])[0]

    def features_many(self, epss: list[np.ndarray | float]) -> list[np.ndarray]:
        """(N, 4 C) features for each threshold of ``epss`` (per channel or scalar), the comparisons of all
        of them in one array operation each (per hop, call overhead is most of the cost)."""
        c = self.n_channels
        rows = []
        for eps in epss:
            e = np.asarray(eps, dtype=np.float64)
            if e.ndim > 1 or (e.ndim == 1 and e.shape[0] != c):
                raise ValueError(f"hudgins: eps must be a scalar or ({c},), got shape {e.shape}")
            rows.append(np.broadcast_to(e, (c,)))
        big = self.abs_d >= np.stack(rows)[:, None, :, None]  # (R, N, C, W-1)
        pairs = big.shape[-1]
        zc = (self.crossing & big).sum(axis=-1) / pairs
        ssc = (self.turning & (big[..., :-1] | big[..., 1:])).sum(axis=-1) / (pairs - 1)
        return [np.concatenate([*self.amplitude, z, s], axis=1).astype(np.float32)
                for z, s in zip(zc, ssc, strict=True)]


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
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] < 2:
        raise ValueError(f"covariance_features: expected (N, W >= 2, C) windows, got shape {x.shape}")
    return _log_covariance([_channel_major(x)])[0]


def _log_covariance(xs: list[np.ndarray]) -> list[np.ndarray]:
    """:func:`covariance_features` of several channel-major (N, C, W_i) batches with one eigendecomposition
    call (per hop, numpy's call overhead is most of the cost for a 10 x 10 matrix)."""
    if not xs:
        return []
    centred = [x - x.sum(axis=-1, keepdims=True) / x.shape[-1] for x in xs]  # = mean, less call overhead
    covs = [np.matmul(xc, xc.transpose(0, 2, 1)) / xc.shape[-1] for xc in centred]
    s = covs[0] if len(covs) == 1 else np.concatenate(covs)
    c = s.shape[1]
    rows, cols, scale, eye = _triangle(c)
    ridge = _COV_RIDGE * np.trace(s, axis1=1, axis2=2) / c + 1e-12
    s += ridge[:, None, None] * eye
    w, v = np.linalg.eigh(s)
    logm = np.matmul(v * np.log(np.maximum(w, 1e-300))[:, None, :], v.transpose(0, 2, 1))
    out = (np.diagonal(logm, axis1=1, axis2=2) if c > MAX_COVARIANCE_CHANNELS
           else logm[:, rows, cols] * scale).astype(np.float32)
    ends = np.cumsum([len(x) for x in xs])
    return [out[end - len(x) : end] for x, end in zip(xs, ends, strict=True)]


#: Feature sets a profile can use, "+"-joined parts: ``td`` (Hudgins), ``cov`` (covariance), ``d`` (both
#: again on the first difference of the window, which weighs the high-frequency content: +1.4 points on
#: 3DC), ``dd`` (both on the second difference: the spectrum's next moment, what Hjorth's complexity
#: measures; for a device-only profile +0.3 on 3DC, +0.2 on the simulated 8 ch @ 500 Hz device, +0.9 on
#: MultiDay's 4 ch @ 2048 Hz), ``z`` (the trained encoder's embedding).
FEATURE_SETS = ("td", "td+cov", "td+cov+d", "td+cov+d+dd", "td+cov+d+z", "td+cov+z", "z")
#: The sets without the encoder's embedding: what :func:`classical_features` computes alone (a profile
#: without a model, and the window-level input of an encoder, ``ModelConfig.window_features``).
CLASSICAL_SETS = tuple(s for s in FEATURE_SETS if "z" not in s.split("+"))


def classical_features(x: np.ndarray, eps: np.ndarray | float, feature_set: str = "td+cov+d") -> np.ndarray:
    """The classical parts of ``feature_set`` for windows ``x`` (N, W, C), in the order td, cov, d (the
    first difference's TD with the same ``eps``, then its covariance), dd (the same on the second
    difference); a ``z`` part is ignored."""
    return classical_features_for(x, [(eps, feature_set)])[0]


def classical_features_for(x: np.ndarray, requests: list[tuple[np.ndarray | float, str]]) -> list[np.ndarray]:
    """:func:`classical_features` of the same windows for several ``(eps, feature_set)`` requests, every part
    that does not depend on eps computed once (a profile on an encoder with window-level descriptors needs
    both the encoder's features, with its training eps, and its own)."""
    n = np.shape(x)[0]
    x = _channel_major(x)  # once: every part computes in float64, along each channel's samples
    wanted = [set(fs.split("+")) for _, fs in requests]
    need = set().union(*wanted)
    # the chain x -> dx -> ddx (-> its difference, for ddx's own TD), each difference and |.| computed once
    dx = np.diff(x, axis=-1) if need & {"td", "d", "dd"} else None
    ddx = np.diff(dx, axis=-1) if need & {"d", "dd"} else None
    td = _TimeDomain(x, d=dx) if "td" in need else None
    td_d = _TimeDomain(dx, d=ddx, abs_x=None if td is None else td.abs_d) if "d" in need else None
    td_dd = None
    if "dd" in need:
        td_dd = _TimeDomain(ddx, d=np.diff(ddx, axis=-1), abs_x=None if td_d is None else td_d.abs_d)
    cov_of = [name for name in ("cov", "d", "dd") if name in need]
    signal = {"cov": x, "d": dx, "dd": ddx}
    covs = dict(zip(cov_of, _log_covariance([signal[n] for n in cov_of]), strict=True))
    epss = [eps for eps, _ in requests]
    per_eps = {name: None if t is None else t.features_many(epss)
               for name, t in (("td", td), ("d", td_d), ("dd", td_dd))}
    out = []
    for r, names in enumerate(wanted):
        parts = []
        if "td" in names:
            parts.append(per_eps["td"][r])
        if "cov" in names:
            parts.append(covs["cov"])
        if "d" in names:
            parts += [per_eps["d"][r], covs["d"]]
        if "dd" in names:
            parts += [per_eps["dd"][r], covs["dd"]]
        out.append(np.concatenate(parts, axis=1) if parts else np.zeros((n, 0), dtype=np.float32))
    return out

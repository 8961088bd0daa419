"""Which electrodes were reconnected the other way round since enrolment: channel polarity from correlations.

Why: a bipolar EMG channel's sign depends on which lead goes where. Amplitude features (MAV, WL, ZC, SSC)
do not see a swapped pair, but the channel covariance -- the profile's strongest cue on an armband --
flips sign in every entry of that channel, and the profile then confuses gestures wholesale. MultiDay
shows it: from day 70 on, channels 3 and 4 of the 4-channel amplifier come back inverted, and a day-1
profile with covariance features falls from ~0.70 to ~0.50 R@1 while a TD-only anchor does not.

The fix needs no labels: the mean correlation matrix ``R`` of a few seconds of any activity is compared
with the enrolment's ``R0``, and the sign vector ``s`` (first channel fixed) maximising the cosine between
the off-diagonal entries of ``R0`` and ``diag(s) R diag(s)`` is applied to the incoming samples. It is only
used when the flipped matrices agree well (cosine >= :data:`MIN_AGREEMENT`) *and* clearly better than
unflipped ones (by :data:`MARGIN`): a session on the same wearing never flips, nor does noise or a rest
period whose correlations say nothing. Search: exhaustive up to :data:`EXHAUSTIVE` channels, then greedy
single flips.
"""

from __future__ import annotations

import itertools

import numpy as np

#: Seconds of windows a view collects at the start of a session before deciding.
ALIGN_S = 2.0
#: The flipped correlations must agree with the enrolment's at least this well (cosine) ...
MIN_AGREEMENT = 0.5
#: ... and beat "no flip" by this much (cosine).
MARGIN = 0.3
EXHAUSTIVE = 10


def mean_correlation(x: np.ndarray) -> np.ndarray:
    """(C, C) mean over windows ``x`` (N, W, C) of each window's channel correlation matrix."""
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean(axis=1, keepdims=True)
    s = np.einsum("nwc,nwd->ncd", xc, xc)
    d = np.sqrt(np.einsum("ncc->nc", s)) + 1e-12
    return (s / d[:, :, None] / d[:, None, :]).mean(axis=0)


def _agreement(s: np.ndarray, prod: np.ndarray, iu: tuple[np.ndarray, np.ndarray]) -> float:
    return float((np.outer(s, s) * prod)[iu].sum())


def channel_signs(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """(C,) +1 / -1 per channel: the flips that make ``current`` correlations agree with ``reference``."""
    c = reference.shape[0]
    ones = np.ones(c)
    if c < 2:
        return ones
    iu = np.triu_indices(c, 1)
    prod = np.asarray(reference) * np.asarray(current)
    base = _agreement(ones, prod, iu)
    if c <= EXHAUSTIVE:
        best, arg = base, ones
        for bits in itertools.product((1.0, -1.0), repeat=c - 1):
            s = np.array((1.0, *bits))
            v = _agreement(s, prod, iu)
            if v > best:
                best, arg = v, s
    else:
        arg, best = ones.copy(), base
        improved = True
        while improved:
            improved = False
            for i in range(1, c):
                arg[i] *= -1
                v = _agreement(arg, prod, iu)
                if v > best + 1e-12:
                    best, improved = v, True
                else:
                    arg[i] *= -1
    norm = float(np.linalg.norm(np.asarray(reference)[iu]) * np.linalg.norm(np.asarray(current)[iu]))
    if norm <= 0:
        return ones
    cos_best, cos_base = best / norm, base / norm
    return arg if cos_best >= MIN_AGREEMENT and cos_best - cos_base >= MARGIN else ones

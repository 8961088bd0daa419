"""A synthetic armband that speaks a model's classes: the demo's default source when no data is given.

Why: ``myosem demo`` without arguments must show descriptions, so its synthetic armband has the shape of a
shipped model (channels, rate) *and* gestures that model recognises; otherwise the ground truth beside the
label would name gestures the model has never heard of. The synthetic armband (:mod:`devices.simulate`)
renders a gesture as band-limited noise with a per-channel level pattern a[c, k]; this module derives one
pattern per model class from the model itself.

How (:func:`model_topology`): per class, a cross-entropy search over per-channel levels (in units of the
model's per-channel training std, ``normalisation.x_std`` of its manifest) for the pattern whose noise
windows the model ranks as that class with the largest margin over the runner-up. Each candidate is scored
on fresh noise windows, so a pattern wins only if it works for noise it has not seen. It costs about a
thousand encoder calls per class (about a second in all on one core for the shipped 3DC model) and is
seeded, so the same model and seed give the same armband. :func:`topology_accuracy` reports how often fresh
windows of each pattern are ranked as their class (logged by the demo).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy import signal

log = logging.getLogger(__name__)

#: Search: iterations, candidates per iteration, elite kept, noise windows per candidate.
ITERATIONS, CANDIDATES, ELITE, WINDOWS = 10, 32, 6, 2
#: Level range in units of the model's per-channel std.
LEVEL_MIN, LEVEL_MAX = 0.05, 4.0
BAND_HZ = (20.0, 450.0)


def _noise(rng: np.random.Generator, n: int, window: int, n_channels: int, fs: float) -> np.ndarray:
    """(n, window, C) unit-RMS band-limited noise, as the synthetic armband makes it (steady state)."""
    sos = signal.butter(4, [BAND_HZ[0], min(BAND_HZ[1], 0.45 * fs)], btype="band", fs=fs, output="sos")
    lead = window * 3
    x = signal.sosfilt(sos, rng.standard_normal((n, lead + window, n_channels)), axis=1)[:, lead:]
    return (x / np.sqrt(np.mean(x**2, axis=(0, 1), keepdims=True))).astype(np.float32)


def _margins(model: Any, levels: np.ndarray, noise: np.ndarray, class_index: int) -> np.ndarray:
    """Mean (score of the class - best other score) of each candidate level pattern (M, C) over the noise
    windows (W, window, C)."""
    m, w = levels.shape[0], noise.shape[0]
    x = (noise[None] * levels[:, None, None, :]).reshape(m * w, *noise.shape[1:])
    scores, _ = model.rank(model.encode_windows(x))
    own = scores[:, class_index]
    others = np.delete(scores, class_index, axis=1).max(axis=1)
    return (own - others).reshape(m, w).mean(axis=1)


def model_topology(model: Any, seed: int = 0) -> tuple[tuple[int, ...], tuple[str, ...], np.ndarray, float]:
    """(class ids, names, a [K, C] in 0..1, amplitude): a level pattern per model class (module docstring);
    channel k of class c has RMS ``amplitude * a[c, k]`` in the stream's unit."""
    rng = np.random.default_rng([int(seed), 7])
    c = model.n_channels
    std = np.asarray((model.manifest.get("normalisation") or {}).get("x_std", np.ones(c)), dtype=np.float64)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    patterns = np.zeros((len(model.class_ids), c))
    for k in range(len(model.class_ids)):
        mu, sigma = np.full(c, 1.0), np.full(c, 1.0)
        for _ in range(ITERATIONS):
            g = np.clip(mu + sigma * rng.standard_normal((CANDIDATES, c)), LEVEL_MIN, LEVEL_MAX)
            noise = _noise(rng, WINDOWS, model.window, c, model.fs)
            margin = _margins(model, g * std, noise, k)
            elite = g[np.argsort(-margin)[:ELITE]]
            mu, sigma = elite.mean(axis=0), elite.std(axis=0) + 0.05
        patterns[k] = mu * std
    amplitude = float(patterns.max())
    ids = tuple(int(i) for i in model.class_ids)
    return ids, tuple(model.class_names), patterns / amplitude, amplitude


def topology_accuracy(model: Any, a: np.ndarray, amplitude: float, seed: int = 1, n: int = 16) -> float:
    """Share of fresh noise windows of each pattern that the model ranks as that pattern's class."""
    rng = np.random.default_rng([int(seed), 11])
    noise = _noise(rng, n, model.window, model.n_channels, model.fs)
    hits = 0
    for k in range(a.shape[0]):
        scores, _ = model.rank(model.encode_windows(noise * (amplitude * a[k])[None, None, :]))
        hits += int(np.sum(np.argmax(scores, axis=1) == k))
    return hits / (n * a.shape[0])

"""Retrieval metrics between EMG embeddings and class prototypes (paper Appendix A), numpy only.

Why here: ``myosem eval`` runs without torch and training reports the same figures, so the metrics exist
once, in the runtime package (``train/metrics.py`` re-exports them).

Both directions score by cosine similarity (inputs are L2-normalised here, whatever the caller passed):

- **EMG -> text** (:func:`emg_to_text`): every test window ranks all class prototypes; R@K is the share of
  windows whose true class is among the top K, MRR the mean of 1/rank. Uncertainty: the standard deviation
  of each figure over bootstrap resamples of the test windows (:func:`bootstrap_std`, fixed seed).
- **text -> EMG** (:func:`text_to_emg`): in each episode one test window per class is drawn (balanced
  candidates, :func:`sample_episodes`); the prototype of every class with test windows is a query and ranks
  the candidates; R@K and MRR are averaged over queries, then over episodes; uncertainty is the standard
  error over episodes.

**Ties are pessimistic**: an item scoring within ``TIE_TOL`` of the true item ranks *after* it, i.e.
``rank = 1 + #(strictly better) + #(tied others)``. A collapsed encoder (all scores equal) therefore gets
the worst rank, not chance, so a degenerate model can never look good.

Chance levels (a uniformly random ranking of ``n`` candidates): R@K = min(K, n) / n, MRR = mean(1/r) over
r = 1..n.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Scores closer than this to the true item's score count as ties (cosines are in [-1, 1]).
TIE_TOL = 1e-9
DEFAULT_KS = (1, 3, 5)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("embeddings or prototypes contain NaN/inf values")
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def ranks_of_true(scores: np.ndarray, true_col: np.ndarray) -> np.ndarray:
    """1-based rank of column ``true_col[i]`` in row ``i`` of ``scores`` (descending, pessimistic ties)."""
    scores = np.asarray(scores, dtype=np.float64)
    true_col = np.asarray(true_col, dtype=np.int64)
    rows = np.arange(scores.shape[0])
    true_score = scores[rows, true_col][:, None]
    better_or_tied = scores >= true_score - TIE_TOL
    return better_or_tied.sum(axis=1).astype(np.int64)  # counts the true item itself: 1 + others


def chance(n_candidates: int, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """R@K and MRR of a uniformly random ranking of ``n_candidates`` items."""
    n = int(n_candidates)
    if n < 1:
        raise ValueError("chance: need at least one candidate")
    out = {f"R@{k}": min(k, n) / n for k in ks}
    out["MRR"] = float(np.mean(1.0 / np.arange(1, n + 1)))
    return out


def _per_item(ranks: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """Per-query hit indicators (R@K) and reciprocal ranks (MRR), whose means are the figures."""
    out = {f"R@{k}": (ranks <= k).astype(np.float64) for k in ks}
    out["MRR"] = 1.0 / ranks
    return out


def bootstrap_std(values: Mapping[str, np.ndarray], n_resamples: int = 200,
                  seed: int = 0) -> dict[str, float]:
    """Standard deviation of the mean of each per-sample array over bootstrap resamples of the samples.

    All arrays are resampled with the same indices (one resample = one redrawn test set). The seed fixes
    the result; a constant array (e.g. a perfect ranking) gives exactly 0.
    """
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
    n = {a.shape[0] for a in arrays.values()}
    if len(n) != 1:
        raise ValueError(f"bootstrap_std: arrays have different lengths {sorted(n)}")
    (n,) = n
    if n == 0 or n_resamples < 2:
        return {k: float("nan") for k in arrays}
    rng = np.random.default_rng(seed)
    stack = np.stack(list(arrays.values()), axis=1)  # (n, M)
    means = np.empty((n_resamples, stack.shape[1]))
    for i in range(n_resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        means[i] = counts @ stack / n
    return {k: float(s) for k, s in zip(arrays, means.std(axis=0, ddof=1), strict=True)}


def _proto_columns(labels: np.ndarray, proto_ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(proto_ids, dtype=np.int64)
    if np.unique(ids).size != ids.size:
        raise ValueError("proto_ids must be unique")
    order = np.argsort(ids)
    pos = np.searchsorted(ids[order], labels)
    pos = np.clip(pos, 0, ids.size - 1)
    col = order[pos]
    missing = ids[col] != labels
    if missing.any():
        raise ValueError(f"labels {sorted(set(labels[missing].tolist()))} have no prototype")
    return col


def emg_to_text(z: np.ndarray, labels: np.ndarray, prototypes: np.ndarray, proto_ids: Sequence[int],
                ks: Sequence[int] = DEFAULT_KS, *, n_resamples: int = 200, seed: int = 0) -> dict[str, Any]:
    """EMG -> text retrieval of ``z`` (N, D) with true ``labels`` (N,) against ``prototypes`` (K, D).

    Returns ``{"R@k": .., "MRR": .., "std": {...}, "chance": {...}, "n": N, "n_candidates": K,
    "per_class": {class id: R@1 over its windows}, "confusion": {"class_ids", "counts"}}`` (counts[i][j]:
    windows of the i-th class of ``class_ids`` whose best-ranked description is the j-th candidate's, in
    ``proto_ids`` order).
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    z = np.asarray(z)
    if z.shape[0] != labels.shape[0]:
        raise ValueError(f"emg_to_text: {z.shape[0]} embeddings but {labels.shape[0]} labels")
    if labels.size == 0:
        raise ValueError("emg_to_text: no test windows")
    return emg_to_text_scores(_unit(z) @ _unit(prototypes).T, labels, proto_ids, ks,
                              n_resamples=n_resamples, seed=seed)


def emg_to_text_scores(scores: np.ndarray, labels: np.ndarray, proto_ids: Sequence[int],
                       ks: Sequence[int] = DEFAULT_KS, *, n_resamples: int = 200, seed: int = 0,
                       ) -> dict[str, Any]:
    """:func:`emg_to_text` from ready-made (N, K) scores of each window against each class (columns in
    ``proto_ids`` order): a per-user profile ranks descriptions by its posteriors, not by cosine."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (labels.size, len(proto_ids)):
        raise ValueError(f"emg_to_text_scores: scores {scores.shape} for {labels.size} windows and "
                         f"{len(proto_ids)} classes")
    if not np.isfinite(scores).all():
        raise ValueError("emg_to_text_scores: scores contain NaN/inf values")
    cols = _proto_columns(labels, np.asarray(proto_ids))
    per = _per_item(ranks_of_true(scores, cols), ks)
    out: dict[str, Any] = {k: float(v.mean()) for k, v in per.items()}
    out["std"] = bootstrap_std(per, n_resamples, seed)
    out["chance"] = chance(len(proto_ids), ks)
    out["n"] = int(labels.size)
    out["n_candidates"] = int(len(proto_ids))
    out["per_class"] = {int(c): float(per["R@1"][labels == c].mean()) for c in np.unique(labels)}
    out["confusion"] = confusion(scores.argmax(axis=1), labels, proto_ids)
    return out


def confusion(best: np.ndarray, labels: np.ndarray, proto_ids: Sequence[int]) -> dict[str, Any]:
    """``{"class_ids": the true classes present, "counts": (n_true, K) list}``: for each true class, how
    many of its windows ranked each candidate (column ``j`` = ``proto_ids[j]``) first."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    present = np.unique(labels)
    counts = np.zeros((present.size, len(proto_ids)), dtype=np.int64)
    np.add.at(counts, (np.searchsorted(present, labels), np.asarray(best, dtype=np.int64)), 1)
    return {"class_ids": [int(c) for c in present], "counts": counts.tolist()}


def sample_episodes(labels: np.ndarray, classes: Sequence[int], episodes: int, seed: int = 0) -> np.ndarray:
    """(episodes, len(classes)) window indices: column j holds a random window of class ``classes[j]``."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.empty((episodes, len(classes)), dtype=np.int64)
    for j, c in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        if idx.size == 0:
            raise ValueError(f"sample_episodes: class {c} has no window")
        out[:, j] = idx[rng.integers(0, idx.size, episodes)]
    return out


def text_to_emg(z: np.ndarray, labels: np.ndarray, prototypes: np.ndarray, proto_ids: Sequence[int],
                episodes: int = 100, seed: int = 0, ks: Sequence[int] = DEFAULT_KS) -> dict[str, Any]:
    """Text -> EMG retrieval in balanced episodes (see module docstring).

    Only classes with test windows are queried (a prototype without a window has nothing to find); the
    candidates of an episode are one window of each of those classes. Returns ``{"R@k", "MRR", "se": {...},
    "chance": {...}, "episodes", "n_queries", "n_candidates"}``.
    """
    return text_to_emg_scores(_unit(z) @ _unit(prototypes).T, labels, proto_ids, episodes, seed, ks)


def text_to_emg_scores(scores: np.ndarray, labels: np.ndarray, proto_ids: Sequence[int], episodes: int = 100,
                       seed: int = 0, ks: Sequence[int] = DEFAULT_KS) -> dict[str, Any]:
    """:func:`text_to_emg` from ready-made (N, K) scores of each window against each class (columns in
    ``proto_ids`` order): a description ranks the windows by its column."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    ids = np.asarray(proto_ids, dtype=np.int64)
    if labels.size == 0 or episodes < 1:
        raise ValueError("text_to_emg: need test windows and at least one episode")
    if np.shape(scores) != (labels.size, ids.size):
        raise ValueError(f"text_to_emg_scores: scores {np.shape(scores)} for {labels.size} windows and "
                         f"{ids.size} classes")
    _proto_columns(labels, ids)  # every label must have a prototype
    present = np.isin(ids, labels)
    classes = ids[present]
    sims = np.asarray(scores, dtype=np.float64).T[present]  # (Q, N)
    chosen = sample_episodes(labels, classes, episodes, seed)  # (E, Q)
    q = np.arange(classes.size)
    per_episode = {key: np.empty(episodes) for key in [*(f"R@{k}" for k in ks), "MRR"]}
    for e in range(episodes):
        scores = sims[:, chosen[e]]  # query q's candidate of its own class is column q
        for key, v in _per_item(ranks_of_true(scores, q), ks).items():
            per_episode[key][e] = v.mean()
    out: dict[str, Any] = {key: float(v.mean()) for key, v in per_episode.items()}
    out["se"] = {key: float(v.std(ddof=1) / np.sqrt(episodes)) if episodes > 1 else float("nan")
                 for key, v in per_episode.items()}
    out["chance"] = chance(classes.size, ks)
    out.update(episodes=int(episodes), n_queries=int(classes.size), n_candidates=int(classes.size))
    return out


#: Calibrated stacking's offsets (subtracted from every seen class's cosine), for :func:`generalised_curve`.
#: Negative ones hold the new gestures back: with a window's novelty added to them (:mod:`myosem_rt.novelty`)
#: a new gesture then wins only where the window is unlike the known ones, which is what a false-alarm
#: budget asks for (``myosem bench zeroshot``).
STACKING_GAMMAS = tuple(round(0.01 * i, 2) for i in range(-40, 61))


def generalised_curve(z: np.ndarray, labels: np.ndarray, prototypes: np.ndarray, proto_ids: Sequence[int],
                      held_out: Sequence[int], gammas: Sequence[float] = STACKING_GAMMAS) -> dict[str, Any]:
    """The generalised zero-shot setting: seen and held-out classes compete (every prototype a candidate).
    Calibrated stacking (Chao et al., ECCV 2016) subtracts ``gamma`` from each seen class's cosine, trading
    seen-class R@1 for held-out R@1; one curve point per gamma: R@1 of the held-out classes' windows, of the
    seen ones, their harmonic mean, and the false alarms: the share of the seen classes' windows (rest
    included) taken for a held-out class, what a wearer who never makes the new gesture sees. Why a curve,
    not one figure: gamma must be chosen on classes a fold
    did not hold out (``myosem bench zeroshot`` chooses it on the other folds), never on the test itself."""
    return generalised_curve_scores(_unit(z) @ _unit(prototypes).T, labels, proto_ids, held_out, gammas)


def generalised_curve_scores(scores: np.ndarray, labels: np.ndarray, proto_ids: Sequence[int],
                             held_out: Sequence[int], gammas: Sequence[float] = STACKING_GAMMAS,
                             novelty: np.ndarray | None = None, beta: float = 0.0) -> dict[str, Any]:
    """:func:`generalised_curve` from ready-made (N, K) scores (columns in ``proto_ids`` order). With each
    window's ``novelty`` (N,) (:mod:`myosem_rt.novelty`), ``beta * novelty`` is added to every held-out
    class's score before stacking: a window unlike the wearer's known gestures leans to the new ones."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    ids = np.asarray(proto_ids, dtype=np.int64)
    cos = np.asarray(scores, dtype=np.float64)
    true_col = _proto_columns(labels, ids)
    seen_col = ~np.isin(ids, list(held_out))
    unseen_row = np.isin(labels, list(held_out))
    if novelty is not None and beta:
        cos = cos + float(beta) * np.asarray(novelty, dtype=np.float64)[:, None] * ~seen_col
    rows: dict[str, list[float]] = {k: [] for k in ("gamma", "held_out", "seen", "harmonic", "false_alarm")}
    for g in gammas:
        stacked = cos - float(g) * seen_col
        point = _generalised_point(ranks_of_true(stacked, true_col) == 1, ~seen_col[stacked.argmax(axis=1)],
                                   unseen_row)
        rows["gamma"].append(float(g))
        for key, value in point.items():
            rows[key].append(value)
    return rows


def generalised_from_columns(columns: np.ndarray, labels: np.ndarray, proto_ids: Sequence[int],
                             held_out: Sequence[int]) -> dict[str, float]:
    """The generalised figures (held-out and seen R@1, their harmonic mean, false alarms) of a decision per
    window: ``columns`` (N,) the chosen column of ``proto_ids`` or -1 for none ("uncertain": neither right
    nor a false alarm), e.g. the label the live engine shows (:func:`myosem_rt.live.engine.shown_columns`)."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    ids = np.asarray(proto_ids, dtype=np.int64)
    columns = np.asarray(columns, dtype=np.int64).reshape(-1)
    decided = columns >= 0
    right = decided & (ids[np.where(decided, columns, 0)] == labels)
    taken_new = decided & np.isin(ids[np.where(decided, columns, 0)], list(held_out))
    return _generalised_point(right, taken_new, np.isin(labels, list(held_out)))


def _generalised_point(right: np.ndarray, taken_new: np.ndarray, unseen_row: np.ndarray) -> dict[str, float]:
    """Held-out R@1 (windows of held-out classes ``unseen_row`` that are ``right``), seen R@1, their harmonic
    mean, and false alarms (seen windows ``taken_new``, for a held-out class)."""
    u = float(right[unseen_row].mean()) if unseen_row.any() else float("nan")
    s = float(right[~unseen_row].mean()) if (~unseen_row).any() else float("nan")
    return {"held_out": u, "seen": s, "harmonic": 0.0 if u + s == 0 else 2 * u * s / (u + s),
            "false_alarm": float(taken_new[~unseen_row].mean()) if (~unseen_row).any() else float("nan")}

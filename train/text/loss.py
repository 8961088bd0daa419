"""Stage-1 objective: multi-positive, symmetric InfoNCE between text views, summed over view pairs.

    L = L(T1<->T2) + lambda02 L(T0<->T2) + lambda23 L(T2<->T3) + lambda13 L(T1<->T3)

Why "multi-positive" and not plain InfoNCE: one batch holds several texts of the same meaning (two paraphrases
of one action, the labels several datasets give it), and pushing those apart as negatives would fight the very
structure stage 1 is meant to build. So for an anchor ``i`` with positives ``P(i)`` (same class / same shared
action) and negatives ``N(i)`` (everything else), each positive gets its own term whose denominator holds only
that positive and the negatives:

    l_ij = -log( exp(s_ij) / (exp(s_ij) + sum_{k in N(i)} exp(s_ik)) ) = softplus(LSE_{k in N(i)} s_ik - s_ij)

with ``s = cos / tau``; ``loss_i`` is the mean of ``l_ij`` over ``P(i)`` and the direction's loss the mean
over anchors that have a positive. Changing another positive's similarity therefore never moves ``l_ij``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.nn import functional as F

#: View pairs of the objective and their default weights (T1<->T2 is the anchor term, weight 1).
DEFAULT_PAIR_WEIGHTS: dict[tuple[int, int], float] = {(1, 2): 1.0, (0, 2): 0.5, (2, 3): 1.0, (1, 3): 0.5}


def directional_loss(logits: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Multi-positive InfoNCE of anchors (rows) against candidates (columns).

    ``logits``: (A, B) similarities already divided by the temperature; ``positive``: (A, B) bool, True where
    the pair shares a class. Anchors without any positive are ignored; with none at all the loss is 0.
    """
    if logits.shape != positive.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and positive mask {tuple(positive.shape)} differ")
    positive = positive.bool()
    neg_lse = torch.logsumexp(logits.masked_fill(positive, float("-inf")), dim=1, keepdim=True)  # (A, 1)
    terms = F.softplus(neg_lse - logits)  # l_ij for every pair; only the positive entries are used
    n_pos = positive.sum(1)
    per_anchor = (terms * positive).sum(1) / n_pos.clamp_min(1)
    has_pos = n_pos > 0
    if not bool(has_pos.any()):
        return logits.sum() * 0.0
    return per_anchor[has_pos].mean()


def symmetric_loss(
    za: torch.Tensor, zb: torch.Tensor, ga: torch.Tensor, gb: torch.Tensor, tau: float
) -> torch.Tensor:
    """L(a<->b) = (L(a->b) + L(b->a)) / 2 for unit-norm embeddings ``za`` (A, D), ``zb`` (B, D).

    ``ga``/``gb`` are integer group ids (class or shared action) of the rows: equal ids are positives.
    """
    logits = za @ zb.T / tau
    positive = ga[:, None] == gb[None, :]
    return 0.5 * (directional_loss(logits, positive) + directional_loss(logits.T, positive.T))


def multiview_loss(
    views: Mapping[int, tuple[torch.Tensor, torch.Tensor]],
    tau: float,
    pair_weights: Mapping[tuple[int, int], float] = DEFAULT_PAIR_WEIGHTS,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted sum over view pairs; ``views`` maps view index -> (embeddings, group ids).

    Returns the total and each pair's value (for logging). Pairs whose views are absent are skipped.
    """
    total: torch.Tensor | None = None
    parts: dict[str, float] = {}
    for (a, b), weight in pair_weights.items():
        if weight == 0 or a not in views or b not in views:
            continue
        (za, ga), (zb, gb) = views[a], views[b]
        value = symmetric_loss(za, zb, ga, gb, tau)
        parts[f"T{a}-T{b}"] = float(value.detach())
        total = weight * value if total is None else total + weight * value
    if total is None:
        raise ValueError("multiview_loss: no view pair of the objective is present in the batch")
    return total, parts

"""Stage-1 contrastive loss: hand-computed values and the "same class is never a negative" property."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from train.text.loss import directional_loss, multiview_loss, symmetric_loss  # noqa: E402


def nll(pos: float, *negatives: float) -> float:
    """-log(e^pos / (e^pos + sum e^neg)), written out."""
    return -math.log(math.exp(pos) / (math.exp(pos) + sum(math.exp(n) for n in negatives)))


def test_symmetric_loss_matches_hand_computation() -> None:
    # View a: three texts, classes [0, 1, 0] (two positives of class 0); view b: two texts, classes [0, 1].
    za = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    zb = torch.tensor([[0.8, 0.6], [0.0, 1.0]])
    ga, gb = torch.tensor([0, 1, 0]), torch.tensor([0, 1])
    tau = 0.5
    # s = za zb^T / tau, by hand:
    #   a0: [0.8, 0] / .5 = [1.6, 0]   a1: [0.6, 1] / .5 = [1.2, 2]   a2: [0.96, 0.8] / .5 = [1.92, 1.6]
    a_to_b = (nll(1.6, 0.0) + nll(2.0, 1.2) + nll(1.92, 1.6)) / 3
    # b0 (class 0) has two positives, a0 and a2, and one negative, a1: the (b0, a0) term's denominator holds
    # a0 and a1 only, never the other positive a2 (and vice versa).
    b0 = (nll(1.6, 1.2) + nll(1.92, 1.2)) / 2
    b1 = nll(2.0, 0.0, 1.6)
    expected = 0.5 * (a_to_b + (b0 + b1) / 2)
    got = symmetric_loss(za, zb, ga, gb, tau)
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_same_class_pair_only_moves_its_own_positive_term() -> None:
    # One anchor row with two positives (columns 0 and 2) and one negative (column 1); a second anchor row.
    positive = torch.tensor([[True, False, True], [False, True, False]])
    base = torch.tensor([[1.0, 0.3, 0.5], [0.2, 1.5, -0.4]])
    changed = base.clone()
    changed[0, 2] = -2.0  # make the second same-class pair much less similar
    delta = float(directional_loss(changed, positive) - directional_loss(base, positive))
    # Only l_02 changes: softplus(s_01 - s_02); mean over the anchor's 2 positives, then over 2 anchors.
    expected = ((math.log1p(math.exp(0.3 + 2.0)) - math.log1p(math.exp(0.3 - 0.5))) / 2) / 2
    assert delta == pytest.approx(expected, rel=1e-6)

    # The gradient on the first positive (s_00) does not depend on the other positive's similarity ...
    def grad_00(s02: float, s01: float = 0.3) -> float:
        logits = base.clone()
        logits[0, 2], logits[0, 1] = s02, s01
        logits.requires_grad_(True)
        directional_loss(logits, positive).backward()
        return float(logits.grad[0, 0])

    assert grad_00(0.5) == pytest.approx(grad_00(-2.0), abs=1e-9)
    assert grad_00(0.5) == pytest.approx(grad_00(3.0), abs=1e-9)
    # ... whereas a negative's similarity does change it (so the check above could fail).
    assert abs(grad_00(0.5, s01=2.0) - grad_00(0.5, s01=0.3)) > 1e-3


def test_anchor_without_positive_is_ignored_and_shapes_checked() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.5, 0.1]])
    positive = torch.tensor([[True, False], [False, False]])
    assert float(directional_loss(logits, positive)) == pytest.approx(nll(2.0, 0.0), rel=1e-6)
    assert float(directional_loss(logits, torch.zeros(2, 2, dtype=torch.bool))) == 0.0
    with pytest.raises(ValueError, match="differ"):
        directional_loss(logits, torch.ones(2, 3, dtype=torch.bool))


def test_multiview_loss_is_the_weighted_sum_over_pairs() -> None:
    gen = torch.Generator().manual_seed(0)
    groups = torch.tensor([0, 1, 2])
    unit = torch.nn.functional.normalize
    views = {v: (unit(torch.randn(3, 4, generator=gen), dim=1), groups) for v in range(4)}
    weights = {(1, 2): 1.0, (0, 2): 0.25, (2, 3): 2.0, (1, 3): 0.0}
    total, parts = multiview_loss(views, 0.1, weights)
    pair = {(a, b): float(symmetric_loss(views[a][0], views[b][0], groups, groups, 0.1)) for a, b in weights}
    assert float(total) == pytest.approx(pair[(1, 2)] + 0.25 * pair[(0, 2)] + 2.0 * pair[(2, 3)], rel=1e-6)
    assert set(parts) == {"T1-T2", "T0-T2", "T2-T3"}  # zero weight: not computed
    with pytest.raises(ValueError, match="no view pair"):
        multiview_loss({0: views[0]}, 0.1, weights)

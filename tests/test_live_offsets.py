"""``myosem bench describe`` (train/live_offsets.py): the live --describe novelty weight and offset swept on
the live path itself, and chosen within the false-alarm budget on other folds."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from myosem_rt.errors import ConfigError
from train.live_offsets import BETAS, OFFSETS, READINGS, bench_describe, choose, live_shown, sweep

REPO = Path(__file__).resolve().parents[1]


def test_the_sweep_is_the_live_views_own_ranking_at_each_point() -> None:
    """Each grid point's figures are those of the view ``live --describe`` builds with that weight and
    anatomy offset (its other offsets as configured), on the same windows and novelty; the view is left as
    it was."""
    from myosem_rt.live.engine import LiveSettings, shown_columns
    from myosem_rt.model import MyoSemModel
    from myosem_rt.retrieval import generalised_curve_scores, generalised_from_columns
    from myosem_rt.text_encoder import TextEncoder
    from myosem_rt.typed import typed_back

    model = MyoSemModel.load("3dc-armband")
    encoder = TextEncoder.load(model.text_dir)
    held_out = [int(c) for c in model.class_ids[[2, 5]]]
    live = LiveSettings.from_config({})
    view, columns = typed_back(model, held_out, encoder, live)
    assert set(view.anatomical) == {view.class_names[i] for i in np.flatnonzero(view.is_typed)}
    rng = np.random.default_rng(0)
    protos = view.prototypes[rng.integers(0, len(columns), 400)]
    z = protos + rng.normal(scale=0.08, size=protos.shape).astype(np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    labels = columns[rng.integers(0, len(columns), 400)]
    novelty = rng.normal(size=400)
    novelty[:40] = np.nan  # before the stream's first fit: the plain offsets
    before = view.novelty, view.novelty_offsets.copy()
    betas, offsets = (0.2, 0.5), (-0.2, -0.1, 0.05)
    recording, start = np.repeat([0, 1], 200), np.tile(np.arange(200) * model.hop, 2)
    shown = live_shown(model, live, recording, start, rng.normal(size=(400, 10)))
    grid = sweep(view, z, novelty, labels, columns, held_out, betas, offsets, shown=shown)
    assert (view.novelty, view.novelty_offsets.tolist()) == (before[0], before[1].tolist())
    assert [c["gamma"] for c in grid] == [list(offsets)] * 2
    for b, beta in enumerate(betas):
        for o, offset in enumerate(offsets):
            own, _ = typed_back(model, held_out, encoder, replace(live, describe_novelty=beta,
                                                                  describe_novelty_offset_anatomy=offset))
            scores = own.rank(z, novelty)[0]
            point = generalised_curve_scores(scores, labels, columns, held_out, gammas=(0.0,))
            # what is shown: the same scores through the engine's smoothing and gate, each recording apart
            on_screen = np.concatenate([shown_columns(scores[recording == r], np.zeros(200), live,
                                                      model.hop_ms) for r in (0, 1)])
            live_point = generalised_from_columns(on_screen, labels, columns, held_out)
            for key in ("held_out", "seen", "harmonic", "false_alarm"):
                assert grid[b][key][o] == pytest.approx(point[key][0])
                assert grid[b]["shown"][key][o] == pytest.approx(live_point[key])
    # a larger offset takes more of the known windows for the typed gestures
    alarms = grid[1]["false_alarm"]
    assert alarms[0] <= alarms[1] <= alarms[2] and alarms[0] < alarms[2]


def _grid(harmonic: np.ndarray, false_alarm: np.ndarray, ranked: float = 0.0) -> list[dict[str, Any]]:
    """A fold's grid whose shown figures are ``harmonic`` / ``false_alarm`` (per weight, per offset), its
    hop-by-hop ranking the same less ``ranked``."""
    return [{"gamma": list(OFFSETS), "held_out": list(h - ranked), "seen": list(h - ranked),
             "harmonic": list(h - ranked), "false_alarm": list(f),
             "shown": {"held_out": list(h), "seen": list(h), "harmonic": list(h), "false_alarm": list(f)}}
            for h, f in zip(harmonic, false_alarm, strict=True)]


def test_generalised_figures_of_decisions_count_uncertain_as_neither() -> None:
    from myosem_rt.retrieval import generalised_curve_scores, generalised_from_columns

    ids, held_out = np.array([0, 1, 2]), [2]
    labels = np.array([0, 0, 1, 1, 2, 2])
    columns = np.array([0, 2, -1, 1, 2, -1])  # right, false alarm, uncertain, right, right, uncertain
    point = generalised_from_columns(columns, labels, ids, held_out)
    assert point == pytest.approx({"held_out": 0.5, "seen": 0.5, "harmonic": 0.5, "false_alarm": 0.25})
    scores = np.random.default_rng(1).normal(size=(6, 3))  # a decision on every window: the ranking's own
    ranked = generalised_curve_scores(scores, labels, ids, held_out, gammas=(0.0,))
    decided = generalised_from_columns(scores.argmax(axis=1), labels, ids, held_out)
    assert decided == pytest.approx({k: ranked[k][0] for k in decided})


def test_choice_keeps_the_budget_and_never_sees_its_own_fold() -> None:
    shape = (len(BETAS), len(OFFSETS))
    alarms = np.tile((np.arange(len(OFFSETS)) + 0.5) / 100, (len(BETAS), 1))  # more offset, more alarms
    harmonic = np.tile(np.linspace(0.1, 0.6, len(OFFSETS)), (len(BETAS), 1))
    folds = [_grid(harmonic, alarms) for _ in range(3)]
    odd = np.zeros(shape)
    odd[4, 0] = 0.9  # fold 3 alone likes the largest weight at the smallest offset
    folds.append(_grid(odd, alarms))
    chosen = choose(folds)
    assert (chosen["b"], chosen["o"]) == (4, 0)  # fold 4 lifts that point's mean above the rest
    # fold 4's own point comes from the three others: the largest offset within 0.10 false alarms
    within = np.flatnonzero(alarms[0] <= 0.10)
    assert chosen["folds"][3] == (0, within[-1]) and alarms[0, within[-1] + 1] > 0.10
    assert all(f == (4, 0) for f in chosen["folds"][:3])


def test_bench_describe_bad_input_is_one_line(tmp_path: Path) -> None:
    base = dict(suite=["3dc"], data=str(tmp_path), runs=str(tmp_path), results=None, ablate=None,
                baselines=None)
    with pytest.raises(ConfigError, match="suite"):
        bench_describe(argparse.Namespace(**{**base, "suite": ["nope"]}), {})
    with pytest.raises(ConfigError, match="results"):
        bench_describe(argparse.Namespace(**{**base, "results": str(tmp_path / "nope")}), {})
    with pytest.raises(ConfigError, match="fold1/myosem.*bench zeroshot"):
        bench_describe(argparse.Namespace(**base), {})
    r = subprocess.run([sys.executable, "-m", "myosem_rt.cli", "bench", "describe", "--data",
                        str(tmp_path / "none")], cwd=REPO, capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "is not a folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_report_says_whether_the_config_holds_the_choice() -> None:
    from myosem_rt.live.engine import LiveSettings
    from train.live_offsets import report

    alarms = np.tile((np.arange(len(OFFSETS)) + 0.5) / 100, (len(BETAS), 1))
    harmonic = np.tile(np.linspace(0.1, 0.6, len(OFFSETS)), (len(BETAS), 1))
    harmonic[BETAS.index(0.3)] += 0.05  # weight 0.3 is best; offsets within 0.10 false alarms: up to -0.21
    folds = [{"held_out": [1, 2], "windows": 10, "id": {"grid": _grid(harmonic, alarms)},
              "words": {"grid": _grid(harmonic, alarms)}} for _ in range(3)]
    for fold in folds:  # hop by hop, weight 0.5 would look best: the choice is made on what is shown
        fold["id"]["grid"][BETAS.index(0.5)]["harmonic"] = list(harmonic[BETAS.index(0.3)] + 0.1)
    live = LiveSettings.from_config({})
    held = replace(live, describe_novelty=0.3, describe_novelty_offset_anatomy=-0.21)
    text, figures = report("3dc", folds, held, "cmd")
    assert figures["chosen"] == {"beta": 0.3, "offset": -0.21} and figures["configured_matches"]
    assert "matches the choice on every fold (0.3, -0.21)" in text and "| configured |" not in text
    reads = {(r["reading"], r["view"]) for r in figures["rows"] if r["point"] == "chosen on every fold"}
    assert reads == {(said, how) for _, said in READINGS for how in ("by action id", "in the wearer's words")}
    text, figures = report("3dc", folds, replace(live, describe_novelty=0.5), "cmd")
    assert not figures["configured_matches"] and "differs from the choice" in text
    configured = [r for r in figures["rows"] if r["point"] == "configured"]
    assert len(configured) == 4 and configured[0]["betas"] == [0.5] * 3  # two views, two readings

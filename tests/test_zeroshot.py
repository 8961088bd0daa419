"""Issue 17: the held-out-class suite. Every gesture is held out at least once, rest never; for every fold the
held-out classes' EMG never reaches training and their texts never reach stage 1; stage 1 is never copied
between folds that hold out different classes; stacking's gamma is chosen without the fold it is used on."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from myosem_rt.errors import ConfigError
from myosem_rt.protocols import split
from myosem_rt.retrieval import generalised_curve
from myosem_rt.vocab import load_vocabulary
from train.zeroshot import SUITES, choose_gammas, collect, plan
from train.zeroshot_report import report

VOCABULARY = {"3dc-class": "3dc", "myodisco-class": "myodisco"}


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_folds_hold_out_every_gesture_and_never_rest(suite: str) -> None:
    protocol, folds = SUITES[suite]
    vocabulary = load_vocabulary(VOCABULARY[protocol])
    gestures = set(vocabulary.class_ids) - {0}
    assert set().union(*map(set, folds)) == gestures
    assert all(0 not in f and len(f) >= 2 for f in folds)


@pytest.mark.realdata
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_every_fold_keeps_its_held_out_emg_out_of_training(suite: str, data_dir: Path) -> None:
    from myosem_rt.config import default_config
    from myosem_rt.windowing import load_windows

    protocol, folds = SUITES[suite]
    for held in folds:
        sp = split(protocol, data_dir, held_out=held, subjects=[1])
        assert sp.held_out_classes == set(held)
        ws = load_windows(sp.train_files[:1], default_config(), max_windows_per_file=2000, seed=0,
                          vocabulary=load_vocabulary(sp.vocabulary))
        train = ws.subset(sp.train_mask(ws))
        assert len(train) > 100 and not np.isin(train.label, list(held)).any()
        test = ws.subset(sp.test_mask(ws))
        assert set(held) <= set(test.label.tolist())  # tested on the held-out classes too


def test_every_fold_keeps_its_held_out_texts_out_of_stage1(tmp_path: Path, monkeypatch) -> None:
    import train.pipeline as pl

    monkeypatch.setattr(pl, "make_tower", lambda cfg: None)
    monkeypatch.setattr(pl, "export_text_model", lambda *a, **k: None)
    cfg = pl.load_train_config("myosem-small")
    for suite, (protocol, folds) in SUITES.items():
        vocab = load_vocabulary(VOCABULARY[protocol])
        for i, held in enumerate(folds):
            seen: dict = {}
            monkeypatch.setattr(pl, "train_stage1", lambda tower, texts, c, seen=seen: seen.setdefault(
                "texts", texts) and [])
            pl._stage1(cfg, vocab, frozenset(held), tmp_path / f"{suite}{i}")
            actions = {c.action for c in vocab.classes if c.class_id in held}
            texts = {t for name in pl.list_vocabularies() for c in load_vocabulary(name).classes
                     if c.action in actions for t in (c.t0, c.t1, c.t2, *c.t3)}
            assert actions <= set(seen["texts"].excluded_actions)
            assert not texts & set(seen["texts"].all_texts())


def test_folds_never_share_a_stage1(tmp_path: Path) -> None:
    """run_jobs copies a sibling's stage 1 when the keys match: the key must see the fold's --held-out
    (it once used the protocol's default classes for every fold, which would leak texts across folds)."""
    from train.pipeline import load_train_config, stage1_key
    from train.suite import _protocol_options

    jobs = [j for j in plan("3dc", tmp_path, tmp_path) if j.config == "myosem-small"]
    keys = set()
    for job in jobs:
        held = _protocol_options(job.argv)["held_out"]
        keys.add(stage1_key(load_train_config(job.config), "3dc", frozenset(held)))
    assert len(keys) == len(SUITES["3dc"][1])


def test_held_out_option_is_checked(data_dir: Path) -> None:
    for bad, what in (([0, 3], "rest"), ([3], "at least 2"), ([3, 42], "not classes")):
        with pytest.raises(ConfigError, match=what):
            split("3dc-class", data_dir, held_out=bad)
    with pytest.raises(ConfigError, match="unknown option"):
        split("3dc-rand", data_dir, held_out=[3, 6])


def test_stacking_trades_seen_for_held_out_and_gamma_comes_from_other_folds() -> None:
    rng = np.random.default_rng(0)
    protos = np.eye(4)
    labels = np.repeat([0, 1, 2, 3], 50)
    z = protos[labels] * 0.5 + rng.normal(scale=0.3, size=(200, 4))
    z[labels >= 2, 0] += 0.6  # held-out windows drift toward seen class 0 (the sibling effect)
    curve = generalised_curve(z, labels, protos, [0, 1, 2, 3], held_out=[2, 3])
    assert curve["held_out"][-1] > curve["held_out"][0] and curve["seen"][-1] < curve["seen"][0]
    best = int(np.argmax(curve["harmonic"]))
    assert curve["harmonic"][best] > curve["harmonic"][0]
    flat = {"gamma": curve["gamma"], "harmonic": [0.0] * len(curve["gamma"])}
    flat["harmonic"][5] = 1.0
    assert choose_gammas([curve]) == [None]  # no other fold: nothing to choose on
    chosen = choose_gammas([curve, flat])
    assert chosen[0] == curve["gamma"][5]  # fold 0's gamma is fold 1's best, never its own
    assert chosen[1] == curve["gamma"][best]


def _manifest(path: Path, r1: float, curve: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = {"emg_to_text_held_out_only": {"R@1": r1, "MRR": r1}, "text_to_emg_held_out_only": {"R@1": r1},
               "generalised": curve}
    path.write_text(json.dumps({"metrics": metrics}))


def test_collect_and_report_over_folds(tmp_path: Path) -> None:
    gam = [0.0, 0.1, 0.2]
    n = len(SUITES["3dc"][1])
    for i in range(1, n + 1):
        curve = {"gamma": gam, "held_out": [0.0, 0.4, 0.6], "seen": [0.9, 0.8, 0.3],
                 "harmonic": [0.0, 0.533, 0.4]}
        _manifest(tmp_path / f"fold{i}" / "myosem" / "manifest.json", 0.5 + 0.01 * i, curve)
    res = collect("3dc", tmp_path, baselines=())
    mine = res["myosem"]
    assert mine["complete"] and mine["summary"]["gamma"][0] == pytest.approx(0.1)
    assert mine["summary"]["stacked harmonic"][0] == pytest.approx(0.533)
    assert mine["summary"]["plain harmonic"][0] == 0.0
    r1 = 0.5 + 0.01 * np.arange(1, n + 1)
    assert mine["summary"]["emg_to_text_held_out_only R@1"][0] == pytest.approx(r1.mean())
    assert not res["baseline-text-labels"]["complete"]
    text = report("3dc", res, "cmd")
    assert f"| **MyoSem-RT** | {r1.mean():.3f} ± {r1.std(ddof=1):.3f}" in text and f"0/{n}" in text


def test_bench_zeroshot_bad_input(tmp_path: Path) -> None:
    from train.zeroshot import bench_zeroshot

    base = dict(suite=["3dc"], data=str(tmp_path), runs=None, results=None, ablate=None, baselines=None,
                train_config=None, recipe="reduced", dry_run=True)
    with pytest.raises(ConfigError, match="suite"):
        bench_zeroshot(argparse.Namespace(**{**base, "suite": ["nope"]}), {})
    with pytest.raises(ConfigError, match="not a folder"):
        bench_zeroshot(argparse.Namespace(**{**base, "data": str(tmp_path / "missing")}), {})
    with pytest.raises(ConfigError, match="results"):
        bench_zeroshot(argparse.Namespace(**{**base, "results": str(tmp_path / "nope")}), {})


# -- the muscle-group head ------------------------------------------------------------------------------


@pytest.mark.parametrize("vocabulary", ["3dc", "myodisco"])
def test_every_suite_action_has_muscle_groups(vocabulary: str) -> None:
    from myosem_rt.vocab.muscles import load_muscles

    actions = [c.action for c in load_vocabulary(vocabulary).classes]
    vectors = load_muscles().vectors(actions)
    assert vectors is not None and (vectors.sum(axis=1) > 0).all()
    assert len({tuple(v) for v in vectors}) == len(actions)  # no two actions look alike to the head


@pytest.mark.parametrize("entry, message", [
    ("wrist_flexion: {fcr: 2}", "in \\[0, 1\\]"), ("wrist_flexion: {biceps: 1}", "unknown group"),
    ("not_an_action: {fcr: 1}", "not in the action catalogue"), ("wrist_flexion: {fcr: yes}", "numbers")])
def test_bad_muscle_table_is_one_line(tmp_path: Path, entry: str, message: str) -> None:
    from myosem_rt.vocab.muscles import load_muscles

    path = tmp_path / "muscles.yaml"
    path.write_text(f"groups: {{fcr: x, fcu: y}}\nactions:\n  {entry}\n")
    with pytest.raises(ConfigError, match=message) as err:
        load_muscles(path)
    assert "\n" not in str(err.value)


def test_muscle_head_finds_what_the_wording_hides() -> None:
    """Class 3's text prototype sits by class 1 (the wording), its EMG by class 2 + class 4 (the muscles):
    the text cosine ranks it wrong, the head fitted on classes 0-2 and 4 alone ranks it right."""
    from train.muscle_head import WEIGHTS, figures

    rng = np.random.default_rng(0)
    vectors = np.array([[0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0],
                        [1, 0, 1, 0]], float)
    basis = rng.normal(size=(4, 16))
    ids = np.arange(6)

    def windows(classes: list[int], n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(classes, n)
        return vectors[y] @ basis + rng.normal(scale=0.2, size=(len(y), 16)), y

    zt, yt = windows([0, 1, 2, 4], 100)
    z, y = windows([0, 1, 2, 3, 4, 5], 50)
    protos = vectors @ basis
    protos[3] = protos[1] + 0.1 * rng.normal(size=16)  # wording puts 3 beside 1
    protos[5] = protos[2] + 0.1 * rng.normal(size=16)
    out = figures(zt, yt, z, y, protos, ids, vectors, held_out=[3, 5])
    r1 = [f["R@1"] for f in out["held_out_only"]]
    assert len(r1) == len(WEIGHTS) and r1[-1] > 0.9 > r1[0]


def test_paraphrases_placed_by_the_muscles_they_read_as() -> None:
    """The held-out actions typed in the wearer's words (``paraphrase``): a paraphrase whose words sit by a
    trained class but which reads as its own action's muscles is found at the full anatomy weight; one
    read as no action keeps its words at every weight; figures are averaged over the rounds, and
    ``read_as_own`` is the share read as their own action."""
    from myosem_rt.muscle_match import Reading
    from train.muscle_head import figures

    rng = np.random.default_rng(0)
    vectors = np.array([[0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0],
                        [1, 0, 1, 0]], float)
    basis = rng.normal(size=(4, 16))
    ids = np.arange(6)
    yt, y = np.repeat([0, 1, 2, 4], 100), np.repeat(ids, 50)
    zt = vectors[yt] @ basis + rng.normal(scale=0.2, size=(len(yt), 16))
    z = vectors[y] @ basis + rng.normal(scale=0.2, size=(len(y), 16))
    protos = vectors @ basis
    words = np.stack([protos[1], protos[2]]) + 0.1 * rng.normal(size=(2, 16))  # the words by 1 and 2
    words /= np.linalg.norm(words, axis=1, keepdims=True)
    read = (words, [Reading("a", 0.8, vectors[3]), Reading("b", 0.8, vectors[5])], [True, True])
    unread = (words, [None, None], [False, False])

    def r1(rounds: list) -> tuple[list[float], float]:
        out = figures(zt, yt, z, y, protos, ids, vectors, held_out=[3, 5], paraphrases=rounds)["paraphrase"]
        assert out["rounds"] == len(rounds) and "causal_groups" not in out  # no starts: per window only
        return [f["R@1"] for f in out["held_out_only"]], out["read_as_own"]

    (found, own), (words_only, none), (both, half) = r1([read]), r1([unread]), r1([read, unread])
    assert found[-1] > 0.9 > found[0] and own == 1.0
    assert words_only[-1] == words_only[0] == found[0] and none == 0.0
    assert both[-1] == pytest.approx((found[-1] + words_only[-1]) / 2) and half == 0.5
    assert "paraphrase" not in figures(zt, yt, z, y, protos, ids, vectors, held_out=[3, 5])


def test_an_ablation_gets_the_muscle_rows_too(tmp_path: Path) -> None:
    """``--ablate NAME``: the ablation's folds get its muscle head, anatomy and grouped rows, as MyoSem-RT's
    do, so an ablation speaks to the recipe's held-out figures and not to the plain cosine alone."""
    curve = {"gamma": [0.0, 0.1], "held_out": [0.1, 0.5], "seen": [0.9, 0.7], "harmonic": [0.18, 0.58]}
    family = {"weights": [0.0, 1.0], "held_out_only": [{"R@1": 0.4, "MRR": 0.6}, {"R@1": 0.7, "MRR": 0.8}],
              "generalised": [curve, curve]}
    for i in range(1, len(SUITES["3dc"][1]) + 1):
        run = tmp_path / f"fold{i}" / "ablate-x"
        _manifest(run / "manifest.json", 0.5, curve)
        (run / "muscle_head.json").write_text(json.dumps({**family, "anatomy": family}))
    res = collect("3dc", tmp_path, ablations=["ablate-x"], baselines=())
    assert res["ablate-x-anatomy"]["title"] == "MyoSem-RT, ablate-x + anatomy"
    assert res["ablate-x-anatomy"]["summary"]["emg_to_text_held_out_only R@1"][0] == pytest.approx(0.7)
    assert res["ablate-x-muscles"]["complete"] and "myosem-anatomy" not in res


def test_muscle_rows_choose_the_weight_on_other_folds() -> None:
    from train.zeroshot import _muscle_rows

    curve = {"gamma": [0.0, 0.1], "held_out": [0.1, 0.5], "seen": [0.9, 0.7], "harmonic": [0.18, 0.58]}
    heads = [{"weights": [0.0, 1.0], "held_out_only": [{"R@1": a, "MRR": a}, {"R@1": b, "MRR": b}],
              "generalised": [curve, curve]} for a, b in ((0.9, 0.1), (0.2, 0.6), (0.2, 0.6))]
    manifests = [{"text_to_emg_held_out_only": {"R@1": 0.5}}] * 3
    rows = _muscle_rows(heads, manifests, "x")["folds"]
    assert [r["weight"] for r in rows] == [1.0, 0.0, 0.0]  # each from the other two folds, never its own
    assert rows[0]["emg_to_text_held_out_only R@1"] == 0.1 and rows[0]["gamma"] == 0.1
    fixed = _muscle_rows(heads, manifests, "x", weight=0.0)["folds"]  # the method's own cosine
    assert [r["weight"] for r in fixed] == [0.0] * 3 and fixed[0]["emg_to_text_held_out_only R@1"] == 0.9


def test_novelty_rows_choose_beta_and_gamma_together_on_other_folds() -> None:
    from train.zeroshot import _muscle_rows

    def curve(h: list[float]) -> dict:
        return {"gamma": [0.0, 0.1], "held_out": h, "seen": h, "harmonic": h}

    # folds 2 and 3 are best at beta 0.2, gamma 0.1; fold 1 at beta 0, gamma 0
    best_late = [curve([0.1, 0.2]), curve([0.3, 0.9])]
    heads = [{"weights": [0.0], "held_out_only": [{"R@1": 0.5, "MRR": 0.5}], "novelty_betas": [0.0, 0.2],
              "generalised": [curve([0.1, 0.2])], "novelty_generalised": [g]}
             for g in ([curve([0.6, 0.1]), curve([0.1, 0.1])], best_late, best_late)]
    rows = _muscle_rows(heads, [{"text_to_emg_held_out_only": {"R@1": 0.5}}] * 3, "x",
                        novelty="novelty_generalised")["folds"]
    assert (rows[0]["beta"], rows[0]["gamma"], rows[0]["stacked harmonic"]) == (0.2, 0.1, 0.1)
    assert (rows[1]["beta"], rows[1]["gamma"]) == (0.2, 0.1)  # folds 1 and 3 favour it on average
    assert rows[0]["plain harmonic"] == 0.6  # beta 0, gamma 0: the method as it ranks


def test_budget_keeps_the_other_folds_false_alarms_within_it() -> None:
    """The budgeted operating point: the best harmonic mean among the points whose mean false alarms over
    the *other* folds stay within FALSE_ALARM_BUDGET, the fewest false alarms where none does."""
    from train.zeroshot import FALSE_ALARM_BUDGET, _muscle_rows, operating_point

    def curve(harmonic: list[float], false_alarm: list[float]) -> dict:
        return {"gamma": [-0.1, 0.0, 0.1], "held_out": harmonic, "seen": harmonic, "harmonic": harmonic,
                "false_alarm": false_alarm}

    cheap, costly = FALSE_ALARM_BUDGET / 2, FALSE_ALARM_BUDGET * 3
    grid = [curve([0.2, 0.4, 0.6], [cheap, cheap, costly])]
    assert operating_point([grid]) == (0, 2)  # best harmonic mean, whatever its false alarms
    assert operating_point([grid], FALSE_ALARM_BUDGET) == (0, 1)
    assert operating_point([[curve([0.2, 0.4, 0.6], [costly, 2 * costly, 3 * costly])]],
                           FALSE_ALARM_BUDGET) == (0, 0)  # none within: the fewest
    # fold 1 alone would allow gamma 0.1; the other two folds do not
    free = curve([0.2, 0.4, 0.6], [cheap, cheap, cheap])
    heads = [{"weights": [0.0], "held_out_only": [{"R@1": 0.5, "MRR": 0.5}], "generalised": [g]}
             for g in (free, grid[0], grid[0])]
    rows = _muscle_rows(heads, [{"text_to_emg_held_out_only": {"R@1": 0.5}}] * 3, "x")["folds"]
    assert (rows[0]["budget gamma"], rows[0]["budget false_alarm"]) == (0.0, cheap)
    assert rows[0]["gamma"] == 0.1 and rows[0]["stacked false_alarm"] == cheap  # the harmonic choice
    assert rows[1]["budget gamma"] == 0.0  # folds 1 and 3 on average: 0.1 costs (cheap + costly) / 2


def test_group_rows_choose_the_weight_on_other_folds_or_take_the_given_one() -> None:
    from train.zeroshot import _group_rows

    def head(a: float, b: float) -> dict:
        return {"weights": [0.0, 1.0], "groups": [{"R@1": v, "MRR": v, "text_to_emg R@1": v} for v in (a, b)]}

    heads = [head(0.9, 0.1), head(0.2, 0.6), head(0.2, 0.6), None]
    rows = _group_rows(heads, "x")["folds"]
    assert [r["weight"] for r in rows[:3]] == [1.0, 0.0, 0.0] and rows[3] is None
    assert rows[0]["emg_to_text_held_out_only R@1"] == 0.1
    fixed = _group_rows(heads, "x", weight=0.0)
    assert [r["weight"] for r in fixed["folds"][:3]] == [0.0] * 3 and not fixed["complete"]


def test_muscle_head_figures_name_groups_of_each_recording() -> None:
    """Windows of two held-out classes whose embeddings barely lean to their own prototype (each window's
    R@1 near chance) but whose channel patterns form two clean groups per recording: grouped R@1 is 1."""
    from train.muscle_head import figures

    rng = np.random.default_rng(5)
    vectors = np.eye(4)
    protos = rng.normal(size=(4, 16))
    ids = np.arange(4)
    y = np.repeat([2, 3, 2, 3], 60)
    recording = np.repeat([0, 1], 120)
    z = 0.05 * protos[y] + rng.normal(size=(len(y), 16))
    pattern = np.where(y[:, None] == 2, 1.0, -1.0) * (1 - 2 * recording[:, None]) + rng.normal(
        scale=0.1, size=(len(y), 3))
    zt = protos[np.repeat([0, 1], 50)] + 0.1 * rng.normal(size=(100, 16))
    # each recording's two gestures interleaved in time
    start = np.r_[rng.permutation(120), rng.permutation(120)] * 50
    out = figures(zt, np.repeat([0, 1], 50), z, y, protos, ids, vectors, [2, 3], pattern, recording,
                  start=start)
    plain, grouped = out["held_out_only"][0], out["groups"][0]
    assert plain["R@1"] < 0.8 and grouped["R@1"] == 1.0 and grouped["text_to_emg R@1"] == 1.0
    # the causal form names the windows before its first cut by their own scores, the rest by their group
    causal = out["causal_groups"][0]["R@1"]
    assert plain["R@1"] + 0.1 < causal < 1.0 and "causal_groups" in out["anatomy"]


def test_paired_lines_compare_the_headline_row_fold_by_fold() -> None:
    from train.loso import fold_row
    from train.zeroshot_report import _paired_lines

    figure = "emg_to_text_held_out_only R@1"

    def row(title: str, values: list[float]) -> dict:
        return fold_row(title, [{figure: v} for v in values])

    results = {"lda-grouped": row("LDA", [0.5, 0.6, 0.4]), "myosem-grouped": row("Mine", [0.7, 0.65, 0.5]),
               "late": fold_row("Late", [None, {figure: 0.1}, None])}
    lines = _paired_lines(results, figure)
    assert any(line.startswith("| LDA | +0.117 | 0.044 | 2.6 | 3/3 |") for line in lines)
    assert not any("Late" in line for line in lines)  # an incomplete method is not compared
    assert _paired_lines({"lda": row("LDA", [0.5])}, figure) == []  # no MyoSem-RT row: nothing
    # the generalised figure against its own headline row (with the novelty where there is one)
    harmonic = {"lda-anatomy-novelty": fold_row("LDA", [{"stacked harmonic": v} for v in (0.3, 0.4)]),
                "myosem-anatomy-novelty": fold_row("Mine", [{"stacked harmonic": v} for v in (0.5, 0.5)])}
    assert any("harmonic" in line for line in _paired_lines(harmonic, "stacked harmonic"))
    assert any(line.startswith("| LDA | +0.150 |") for line in _paired_lines(harmonic, "stacked harmonic"))


def test_recipe_lines_compare_each_method_under_the_same_recipe() -> None:
    from train.zeroshot import TEXT_BASELINE
    from train.zeroshot_report import _recipe_lines

    def row(values: list[float]) -> dict:
        return {"title": "t", "complete": True, "folds": [{"stacked harmonic": v} for v in values]}

    results = {"myosem": row([0.5, 0.6]), "lda": row([0.4, 0.4]), TEXT_BASELINE: row([0.5, 0.7]),
               "myosem-stream": row([0.6, 0.6]), "lda-stream": row([0.5, 0.5])}
    lines = _recipe_lines(results)
    plain = next(x for x in lines if x.startswith("| plain |"))
    assert "+0.150 ± 0.050 (2/2)" in plain and "-0.050 ± 0.050 (0/2)" in plain
    stream = next(x for x in lines if x.startswith("| + stream novelty |"))
    assert "+0.100 ± 0.000 (2/2)" in stream and stream.endswith("| - |")  # no text-baseline row: "-"
    assert not any(x.startswith("| + anatomy |") for x in lines)
    # the held-out-only figure has recipes of its own (grouped, causally)
    only = "emg_to_text_held_out_only R@1"

    def r1(values: list[float]) -> dict:
        return {"title": "t", "complete": True, "folds": [{only: v} for v in values]}

    causal = _recipe_lines({"lda": r1([0.5, 0.5]), "myosem-causal": r1([0.7, 0.8]),
                            "lda-causal": r1([0.6, 0.6])}, only)
    assert "held-out-only" in causal[1]
    assert any(x.startswith("| + muscle head, grouped causally | +0.150") for x in causal)
    words = _recipe_lines({"lda": r1([0.5, 0.5]), "myosem-words": r1([0.6, 0.7]),
                           "lda-words": r1([0.6, 0.6])}, only)
    assert any(x.startswith("| typed in the wearer's words, + anatomy | +0.050") for x in words)
    # an ablation is one more column: what the ablated part is worth under each recipe
    ablated = {"lda": r1([0.5, 0.5]), "ablate-x": {**r1([0.4, 0.4]), "title": "MyoSem-RT, ablate-x"},
               "myosem-anatomy": r1([0.6, 0.7]), "lda-anatomy": r1([0.6, 0.6]),
               "ablate-x-anatomy": r1([0.7, 0.7])}
    lines = _recipe_lines(ablated, only)
    assert lines[3].endswith("| MyoSem-RT, ablate-x |")
    assert any(x == "| + anatomy | +0.050 ± 0.050 (1/2) | -0.050 ± 0.050 (0/2) |" for x in lines)

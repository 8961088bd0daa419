"""Held-out-class suites (``myosem bench zeroshot``): gestures nobody trained on, found by their description.

Why a suite: one split of three hand-picked gestures says more about those three than about the method.
Here several class-disjoint folds (every gesture held out at least once; rest never, a model must know it)
train and test every method on the same windows:

- ``myosem``: ``myosem train`` with the training config (default ``myosem-small``) and ``--held-out``;
- ``baseline-text-labels``: the MyoSem-RT encoder aligned to the base MiniLM's embedding of the class label
  alone (the label-only text baseline), and any ablation config given with ``--ablate``;
- the baselines (default ``lda`` = Hudgins TD + LDA, ``cnn-bilstm``), each with a linear projection into
  the same frozen prototypes (:mod:`train.baselines.run`);
- ``... + muscle groups``: every method with a muscle-group head fitted on its training windows
  (:mod:`train.muscle_head`), whose weight is chosen on the other folds like gamma;
- ``... + anatomy``: every method with the held-out actions' anatomical prototypes (:mod:`myosem_rt.anatomy`:
  the trained prototypes that drive the same muscles, mixed with the held-out text prototype; weight chosen
  on the other folds); ``+ anatomy + novelty`` adds each window's novelty against the wearer's known
  gestures to the held-out classes' scores in the generalised setting (:mod:`myosem_rt.novelty`; beta and
  gamma chosen together on the other folds); ``+ anatomy + stream novelty`` the same with the known
  gestures taken from the wearer's unlabelled test recording, each window labelled by the method's best
  known class (what ``live --describe`` does without enrolment);
- ``..., grouped``: every method with its muscle head, after transductive grouping: each test recording's
  held-out windows are cut into as many groups as held-out descriptions by their channel pattern, and each
  group is named by the description its windows score best on together (:mod:`myosem_rt.groups`); held-out
  only (the generalised setting stays per window), weight chosen on the other folds. ``..., grouped
  causally``: the same with no window later than the one named (each window named by the groups of its
  recording's held-out windows up to it: what a stream allows).

The held-out classes' EMG and texts never reach training: the protocol's masks drop their windows and
stage 1 leaves their texts out (``tests/test_zeroshot.py`` checks it for every fold).

Figures per fold (from ``myosem_rt.commands.eval.evaluate``): with the held-out descriptions as the only
candidates, EMG->text R@1 and MRR and text->EMG R@1; in the generalised setting (every class a candidate)
the held-out R@1, the seen R@1 and their harmonic mean under calibrated stacking, whose offset gamma is
chosen for each fold on the *other* folds' curves (where this fold's held-out classes were seen), never
on the fold itself; also the false alarms (the seen classes' windows taken for a held-out class) and every
generalised figure again at the operating point chosen within :data:`FALSE_ALARM_BUDGET`. Mean +- sd over
folds, written to ``<results>/zeroshot-<suite>.{md,json}`` (:mod:`train.zeroshot_report`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError
from train import muscle_head
from train.loso import bench_options, fold_jobs, fold_row, read_record, run_metrics, run_suite

log = logging.getLogger(__name__)

#: suite -> (protocol, folds of held-out classes). 3DC: the protocol's own split, its trained siblings,
#: then the rest; then four more folds that hold every gesture out once more (eight folds: a difference
#: between methods is judged on twice as many splits); MyoDisCo: its nine gestures in three folds.
SUITES: dict[str, tuple[str, tuple[tuple[int, ...], ...]]] = {
    "3dc": ("3dc-class", ((3, 6, 10), (1, 5, 9), (2, 7, 8), (4, 10, 1),
                          (1, 6, 8), (2, 4, 9), (3, 5, 7), (10, 8, 2))),
    "myodisco": ("myodisco-class", ((1, 4, 7), (2, 5, 8), (3, 6, 9))),
}
DEFAULT_BASELINES = ("lda", "cnn-bilstm")
TEXT_BASELINE = "baseline-text-labels"
ONLY = (("emg_to_text_held_out_only", "R@1"), ("emg_to_text_held_out_only", "MRR"),
        ("text_to_emg_held_out_only", "R@1"))
GENERALISED = ("held_out", "seen", "harmonic")
#: the share of known-gesture windows (rest included) a wearer who never makes a typed gesture may see named
#: as one: besides the best harmonic mean, every generalised row is also read at the stacking offset (and
#: novelty weight) the other folds choose within this budget (:func:`operating_point`). Why: at the best
#: harmonic mean MyoSem-RT + anatomy takes 0.41 of the known-gesture windows for a new gesture (0.30 with the
#: wearer's novelty; 3DC folds)
FALSE_ALARM_BUDGET = 0.10
#: one fold's generalised curves (retrieval.generalised_curve_scores), one per novelty weight
Grid = Sequence[dict[str, list[float]]]


def plan(suite: str, runs: Path, data: Path, config: str = "myosem-small", ablations: Sequence[str] = (),
         baselines: Sequence[str] = DEFAULT_BASELINES, recipe: str = "reduced") -> list[Any]:
    """Per fold: MyoSem, the label-only text baseline and the ablations, then the baselines."""
    if suite not in SUITES:
        raise ConfigError(f"bench zeroshot: unknown suite '{suite}' (expected {', '.join(SUITES)})")
    protocol, folds = SUITES[suite]
    fold_args = [["--held-out", *map(str, held)] for held in folds]
    return fold_jobs("zeroshot", protocol, fold_args, runs, data, config, [TEXT_BASELINE, *ablations],
                     baselines, recipe, None)


def choose_gammas(curves: Sequence[dict[str, list[float]] | None]) -> list[float | None]:
    """For each fold, the stacking offset with the best mean harmonic mean over the *other* folds' curves
    (None where no other fold has one). The choice never sees the fold it is applied to."""
    out: list[float | None] = []
    for k in range(len(curves)):
        others = [c for j, c in enumerate(curves) if j != k and c is not None]
        if not others:
            out.append(None)
            continue
        _, g = operating_point([[c] for c in others])
        out.append(float(others[0]["gamma"][g]))
    return out


def _at(curve: dict[str, list[float]], gamma: float) -> dict[str, float]:
    i = int(np.argmin(np.abs(np.asarray(curve["gamma"]) - gamma)))
    return {k: float(curve[k][i]) for k in (*GENERALISED, "false_alarm") if k in curve}


def operating_point(grids: Sequence[Grid], budget: float | None = None) -> tuple[int, int]:
    """(beta index, gamma index) with the best mean harmonic mean over ``grids`` (the *other* folds, each a
    list over novelty weights of generalised curves on one gamma grid); with ``budget``, among the points
    whose mean false alarms (:func:`myosem_rt.retrieval.generalised_curve_scores`) stay within it, or the
    point with the fewest where none does."""
    harmonic = np.mean([[c["harmonic"] for c in g] for g in grids], axis=0)
    if budget is None:
        b, g = np.unravel_index(int(np.argmax(harmonic)), harmonic.shape)
        return int(b), int(g)
    false_alarm = np.mean([[c["false_alarm"] for c in g] for g in grids], axis=0)
    within = false_alarm <= budget
    best = np.argmax(np.where(within, harmonic, -np.inf)) if within.any() else np.argmin(false_alarm)
    b, g = np.unravel_index(int(best), harmonic.shape)
    return int(b), int(g)


def _has_false_alarms(grid: Grid | None) -> bool:
    return grid is not None and all("false_alarm" in c for c in grid)


def _budget_figures(grid: Grid, others: Sequence[Grid], betas: Sequence[float] | None = None
                    ) -> dict[str, float]:
    """One fold's generalised figures (``grid``: its curve per novelty weight) at the :func:`operating_point`
    the ``others`` folds choose within :data:`FALSE_ALARM_BUDGET` (``budget ...``); empty where this fold or
    every other lacks false alarms."""
    others = [g for g in others if _has_false_alarms(g)]
    if not _has_false_alarms(grid) or not others:
        return {}
    b, i = operating_point(others, FALSE_ALARM_BUDGET)
    curve = grid[b]
    row = {f"budget {key}": v for key, v in _at(curve, float(curve["gamma"][i])).items()}
    row["budget gamma"] = float(curve["gamma"][i])
    if betas is not None:
        row["budget beta"] = float(betas[b])
    return row


def _generalised(curve: dict[str, list[float]], gamma: float | None) -> dict[str, float]:
    """A fold's generalised figures: without stacking (``plain ...``) and, where the other folds chose a
    gamma, with it (``gamma``, ``stacked ...``)."""
    out = {f"plain {k}": v for k, v in _at(curve, 0.0).items()}
    if gamma is not None:
        out.update({"gamma": float(gamma), **{f"stacked {k}": v for k, v in _at(curve, gamma).items()}})
    return out


def collect(suite: str, runs: Path, ablations: Sequence[str] = (),
            baselines: Sequence[str] = DEFAULT_BASELINES) -> dict[str, Any]:
    """{method: {"title", "folds": [figures or None], "summary": {figure: (mean, sd)}, "complete"}}."""
    from train.baselines.run import TITLES

    _, folds = SUITES[suite]
    methods = {**{b: (f"{TITLES[b]} + projection", f"baselines/{b}.json") for b in baselines},
               TEXT_BASELINE: ("Text baseline: base MiniLM, labels only", f"{TEXT_BASELINE}/manifest.json"),
               **{a: (f"MyoSem-RT, {a}", f"{a}/manifest.json") for a in ablations},
               "myosem": ("**MyoSem-RT**", "myosem/manifest.json")}
    out: dict[str, Any] = {}
    for key, (title, rel) in methods.items():
        found = [run_metrics(runs / f"fold{i}" / rel) for i in range(1, len(folds) + 1)]
        gammas = choose_gammas([None if m is None else m.get("generalised") for m in found])
        per_fold: list[dict[str, float] | None] = []
        for m, gamma in zip(found, gammas, strict=True):
            if m is None or "generalised" not in m:
                per_fold.append(None)
                continue
            per_fold.append({**{f"{d} {k}": float(m[d][k]) for d, k in ONLY},
                             **_generalised(m["generalised"], gamma)})
        out[key] = fold_row(title, per_fold)
    n = range(1, len(folds) + 1)
    # every method's muscle-group figures (train/muscle_head.py; the baselines' records hold theirs): the
    # fitted head, the anatomical prototypes, those with the windows' novelty (generalised), then grouped
    heads = {b: [(read_record(runs / f"fold{i}" / f"baselines/{b}.json") or {}).get("muscle_head") for i in n]
             for b in baselines}
    manifests = {b: [(read_record(runs / f"fold{i}" / f"baselines/{b}.json") or {}).get("metrics") for i in n]
                 for b in baselines}
    titles = {b: f"{TITLES[b]} + projection + muscle groups" for b in baselines}
    for run in (TEXT_BASELINE, *ablations, "myosem"):
        heads[run] = [read_record(runs / f"fold{i}" / run / muscle_head.RESULT_FILE) for i in n]
        manifests[run] = [run_metrics(runs / f"fold{i}" / run / "manifest.json") for i in n]
    titles[TEXT_BASELINE] = "Text baseline: base MiniLM, labels only + muscle groups"
    titles.update({a: f"MyoSem-RT, {a} + muscle groups" for a in ablations})
    titles["myosem"] = "**MyoSem-RT + muscle groups**"
    for run, hs in heads.items():
        if any(h is not None for h in hs):
            out[f"{run}-muscles"] = _muscle_rows(hs, manifests[run], titles[run])
        if run in out and any(h is not None for h in hs):  # the plain row's false alarms: weight 0
            _plain_false_alarms(out[run], hs)
    # the held-out actions' anatomical prototypes (myosem_rt/anatomy.py), then with the novelty
    # (myosem_rt/novelty.py) in the generalised setting
    anatomy = {run: [None if h is None else h.get("anatomy") for h in hs] for run, hs in heads.items()}
    for run, hs in anatomy.items():
        if any(h is not None for h in hs):
            out[f"{run}-anatomy"] = _muscle_rows(hs, manifests[run], titles[run].replace(
                "muscle groups", "anatomy"))
    # the stream's novelty without the muscles (weight 0: the method's own cosine): what a free typed
    # description gets at run time
    for run, hs in heads.items():
        if any(h is not None and "stream_generalised" in h for h in hs):
            out[f"{run}-stream"] = _muscle_rows(hs, manifests[run], titles[run].replace(
                "muscle groups", "stream novelty"), novelty="stream_generalised", weight=0.0)
    for suffix, key, what in (("novelty", "novelty_generalised", "novelty"),
                              ("stream", "stream_generalised", "stream novelty")):
        for run, hs in anatomy.items():
            if any(h is not None and key in h for h in hs):
                out[f"{run}-anatomy-{suffix}"] = _muscle_rows(hs, manifests[run], titles[run].replace(
                    "muscle groups", f"anatomy + {what}"), novelty=key)
    # transductive grouping (myosem_rt.groups): every method that has a head gets it, at the weight the
    # other folds choose; the text baseline and MyoSem-RT also by the text cosine alone (weight 0), the
    # grouping's own share
    text_only = {TEXT_BASELINE: "Text baseline: base MiniLM, labels only, grouped (text cosine alone)",
                 "myosem": "MyoSem-RT, grouped (text cosine alone)"}
    for run, hs in heads.items():
        if not any(h is not None and "groups" in h for h in hs):
            continue
        if run in text_only:
            out[f"{run}-grouped-text"] = _group_rows(hs, text_only[run], weight=0.0)
        out[f"{run}-grouped"] = _group_rows(hs, _suffixed(titles[run], ", grouped"))
    for run, hs in anatomy.items():  # grouped with the anatomical prototypes naming the groups
        if any(h is not None and "groups" in h for h in hs):
            out[f"{run}-anatomy-grouped"] = _group_rows(
                hs, titles[run].replace("muscle groups", "anatomy").replace("**", "") + ", grouped")
    # the causal form (each window named from the windows up to it), head and anatomy
    for family, suffix, what in ((heads, "causal", "muscle groups"), (anatomy, "anatomy-causal", "anatomy")):
        for run, hs in family.items():
            if any(h is not None and "causal_groups" in h for h in hs):
                title = _suffixed(titles[run].replace("muscle groups", what), ", grouped causally")
                out[f"{run}-{suffix}"] = _group_rows(hs, title, key="causal_groups")
    # the held-out actions typed in the wearer's words (train/muscle_head.py, paraphrase_rounds): their
    # words alone, placed by the muscles they read as (per window, grouped causally), and how often the
    # method's text space reads a paraphrase as its own action
    for run, hs in heads.items():
        words = [None if h is None else h.get("paraphrase") for h in hs]
        if not any(w is not None for w in words):
            continue
        anatomy_title = titles[run].replace("muscle groups", "anatomy")
        for suffix, title, key, weight in (
                ("words-text", titles[run].replace(" + muscle groups", "").replace("**", "")
                 + ", typed in the wearer's words (text alone)", "held_out_only", 0.0),
                ("words", _suffixed(anatomy_title, ", typed in the wearer's words"), "held_out_only", None),
                ("words-causal", _suffixed(anatomy_title, ", typed in the wearer's words, grouped causally"),
                 "causal_groups", None)):
            row = _group_rows(words, title, weight, key)
            for f, w in zip(row["folds"], words, strict=True):
                if f is not None and w is not None:
                    f["read_as_own"] = float(w["read_as_own"])
            out[f"{run}-{suffix}"] = row
    return out


def _plain_false_alarms(row: dict[str, Any], heads: list[dict[str, Any] | None]) -> None:
    """Adds to a plain row's folds (the method's own cosine, stacking from its manifest's curve) the false
    alarms at its gamma and the budgeted figures, read from the head's weight-0 curves: the same scores on
    the same windows, measured with false alarms and the wider gamma grid."""
    curves = [None if h is None or "generalised" not in h else
              h["generalised"][int(np.argmin(np.abs(np.asarray(h["weights"]))))] for h in heads]
    for k, (fold, curve) in enumerate(zip(row["folds"], curves, strict=True)):
        if fold is None or curve is None:
            continue
        if "gamma" in fold and "false_alarm" in curve:
            fold["stacked false_alarm"] = _at(curve, fold["gamma"])["false_alarm"]
        fold.update(_budget_figures([curve], [[c] for j, c in enumerate(curves) if j != k and c is not None]))
    row.update(fold_row(row["title"], row["folds"]))


def _suffixed(title: str, suffix: str) -> str:
    """``title`` + ``suffix``, inside the bold markers where the title is bold (MyoSem-RT's rows)."""
    return f"{title[:-2]}{suffix}**" if title.endswith("**") else f"{title}{suffix}"


def _group_rows(heads: list[dict[str, Any] | None], title: str,
                weight: float | None = None, key: str = "groups") -> dict[str, Any]:
    """Held-out-only figures after transductive grouping (:func:`myosem_rt.groups.grouped_scores`; ``key``
    "causal_groups": its causal form): per fold at ``weight``, or at the weight with the best mean grouped
    R@1 on the *other* folds."""
    per_fold: list[dict[str, float] | None] = []
    for k, head in enumerate(heads):
        others = [h for j, h in enumerate(heads) if j != k and h is not None and key in h]
        if head is None or key not in head or (weight is None and not others):
            per_fold.append(None)
            continue
        if weight is None:
            w = int(np.argmax(np.mean([[f["R@1"] for f in h[key]] for h in others], axis=0)))
        else:
            w = int(np.argmin(np.abs(np.asarray(head["weights"]) - weight)))
        g = head[key][w]
        per_fold.append({"emg_to_text_held_out_only R@1": g["R@1"], "emg_to_text_held_out_only MRR": g["MRR"],
                         "text_to_emg_held_out_only R@1": g["text_to_emg R@1"],
                         "weight": float(head["weights"][w]),
                         **({"group_purity": head["group_purity"]} if "group_purity" in head else {})})
    return fold_row(title, per_fold)


def _muscle_rows(heads: list[dict[str, Any] | None], manifests: list[dict[str, Any] | None],
                 title: str, novelty: str | None = None, weight: float | None = None) -> dict[str, Any]:
    """A method with its muscle-group head (:mod:`train.muscle_head`): per fold, the weight with the best
    mean held-out-only R@1 on the *other* folds (or the given ``weight``), then gamma on the other folds'
    curves at that weight; with ``novelty`` (the figures' key: ``novelty_generalised`` or
    ``stream_generalised``), gamma and the novelty's beta together (:mod:`myosem_rt.novelty`), on the other
    folds.
    ``heads``: each fold's :func:`train.muscle_head.figures` (or its ``anatomy`` family); text->EMG ranks
    the windows by the same scores (the plain method's where an older record lacks it)."""
    per_fold: list[dict[str, float] | None] = []
    key = novelty or "generalised"
    for k, head in enumerate(heads):
        others = [h for j, h in enumerate(heads) if j != k and h is not None and key in h]
        if head is None or key not in head or not others or manifests[k] is None:
            per_fold.append(None)
            continue
        if weight is None:
            w = int(np.argmax(np.mean([[f["R@1"] for f in h["held_out_only"]] for h in others], axis=0)))
        else:
            w = int(np.argmin(np.abs(np.asarray(head["weights"]) - weight)))
        t2e = head["held_out_only"][w].get("text_to_emg R@1",
                                           manifests[k]["text_to_emg_held_out_only"]["R@1"])
        row = {"emg_to_text_held_out_only R@1": head["held_out_only"][w]["R@1"],
               "emg_to_text_held_out_only MRR": head["held_out_only"][w]["MRR"],
               "text_to_emg_held_out_only R@1": float(t2e),
               "weight": float(head["weights"][w])}
        # each fold's grid: its curve per novelty weight (one curve without novelty)
        grid = head[key][w] if novelty else [head[key][w]]
        other_grids = [h[key][w] if novelty else [h[key][w]] for h in others]
        b, g = operating_point(other_grids)  # the best mean harmonic mean over the other folds
        curve = grid[b]
        row.update({"beta": float(head["novelty_betas"][b])} if novelty else {})
        row.update(_generalised(curve, float(curve["gamma"][g])))
        if novelty:  # the method as it ranks: beta 0, gamma 0
            row.update({f"plain {k}": v for k, v in _at(grid[0], 0.0).items()})
        row.update(_budget_figures(grid, other_grids, head.get("novelty_betas") if novelty else None))
        per_fold.append(row)
    return fold_row(title, per_fold)


def muscle_heads(suite: str, runs: Path, data: Path, config: dict[str, Any],
                 ablations: Sequence[str] = ()) -> None:
    """Fit and score the muscle-group head of every finished fold's MyoSem model, label-only text baseline
    and ablation (cached per run)."""
    _, folds = SUITES[suite]
    for i in range(1, len(folds) + 1):
        for run in ("myosem", TEXT_BASELINE, *ablations):
            model_dir = runs / f"fold{i}" / run
            if (model_dir / "manifest.json").is_file():
                muscle_head.evaluate_run(model_dir, data, config)


def bench_zeroshot(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench zeroshot --suite 3dc|myodisco --data DIR [--runs DIR] [--results DIR]
    [--train-config NAME] [--ablate NAME ...] [--baselines lda,cnn-bilstm] [--recipe reduced|full]
    [--dry-run]``."""
    suite, data, runs, results_dir, ablations, baselines = bench_options("zeroshot", SUITES, args,
                                                                         DEFAULT_BASELINES)
    jobs = plan(suite, runs, data, args.train_config or "myosem-small", ablations, baselines, args.recipe)

    def results() -> dict[str, Any]:
        muscle_heads(suite, runs, data, config, ablations)
        return collect(suite, runs, ablations, baselines)

    from train.zeroshot_report import report

    return run_suite("zeroshot", suite, jobs, runs, data, args.dry_run, results, report, results_dir)

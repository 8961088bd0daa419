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
on the fold itself. Mean +- sd over folds, written to ``<results>/zeroshot-<suite>.{md,json}``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError
from train import muscle_head
from train.loso import bench_options, fold_jobs, fold_row, read_record, run_metrics, run_suite, summary_rows

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
        others = [np.asarray(c["harmonic"]) for j, c in enumerate(curves) if j != k and c is not None]
        ref = next((c for j, c in enumerate(curves) if j != k and c is not None), None)
        if not others or ref is None:
            out.append(None)
            continue
        out.append(float(ref["gamma"][int(np.argmax(np.mean(others, axis=0)))]))
    return out


def _at(curve: dict[str, list[float]], gamma: float) -> dict[str, float]:
    i = int(np.argmin(np.abs(np.asarray(curve["gamma"]) - gamma)))
    return {k: float(curve[k][i]) for k in GENERALISED}


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
    for run in (TEXT_BASELINE, "myosem"):
        heads[run] = [read_record(runs / f"fold{i}" / run / muscle_head.RESULT_FILE) for i in n]
        manifests[run] = [run_metrics(runs / f"fold{i}" / run / "manifest.json") for i in n]
    titles[TEXT_BASELINE] = "Text baseline: base MiniLM, labels only + muscle groups"
    titles["myosem"] = "**MyoSem-RT + muscle groups**"
    for run, hs in heads.items():
        if any(h is not None for h in hs):
            out[f"{run}-muscles"] = _muscle_rows(hs, manifests[run], titles[run])
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
        if novelty:  # (beta, gamma) with the best mean harmonic mean over the other folds
            grid = np.mean([[c["harmonic"] for c in h[key][w]] for h in others], axis=0)
            b, g = np.unravel_index(int(np.argmax(grid)), grid.shape)
            curve = head[key][w][b]
            row.update(beta=float(head["novelty_betas"][b]),
                       **_generalised(curve, float(curve["gamma"][g])))
            row.update({f"plain {k}": v for k, v in _at(head[key][w][0], 0.0).items()})
        else:
            gamma = choose_gammas([head[key][w], *(h[key][w] for h in others)])[0]
            row.update(_generalised(head[key][w], gamma))
        per_fold.append(row)
    return fold_row(title, per_fold)


def muscle_heads(suite: str, runs: Path, data: Path, config: dict[str, Any]) -> None:
    """Fit and score the muscle-group head of every finished fold's MyoSem model and label-only text
    baseline (cached per run)."""
    _, folds = SUITES[suite]
    for i in range(1, len(folds) + 1):
        for run in ("myosem", TEXT_BASELINE):
            model_dir = runs / f"fold{i}" / run
            if (model_dir / "manifest.json").is_file():
                muscle_head.evaluate_run(model_dir, data, config)


def report(suite: str, results: dict[str, Any], command: str) -> str:
    """Markdown: mean +- sd over folds per method (both settings), then per fold."""
    protocol, folds = SUITES[suite]
    cols = [("emg_to_text_held_out_only R@1", "held-out only: EMG→text R@1"),
            ("emg_to_text_held_out_only MRR", "MRR"), ("text_to_emg_held_out_only R@1", "text→EMG R@1"),
            ("stacked held_out", "generalised: held-out R@1"), ("stacked seen", "seen R@1"),
            ("stacked harmonic", "harmonic mean"), ("plain harmonic", "harmonic mean, no stacking")]
    lines = [f"# Held-out classes: {suite} (`{protocol}`, {len(folds)} folds)", "",
             f"Command: `{command}`", "",
             "Each fold holds gestures out of training (their EMG and their texts); every method is "
             "trained and tested on the same windows of each fold. *Held-out only*: the held-out "
             "descriptions are the only candidates. *Generalised*: every class is a candidate; calibrated "
             "stacking subtracts gamma from the seen classes' cosines, gamma chosen for each fold on the "
             "other folds. *Grouped* (held-out only): each test recording's held-out windows are cut into "
             "as many groups as held-out descriptions by their channel pattern, and each group is named by "
             "the description its windows score best on together (`myosem_rt/groups.py`; transductive: "
             "it uses the recording's unlabelled windows, never a label). Mean ± sd over folds.", "",
             "| method | " + " | ".join(t for _, t in cols) + " | folds |",
             "|---|" + "---|" * (len(cols) + 1)]
    lines += summary_rows(results, [k for k, _ in cols], len(folds))
    lines += ["", "Per fold: held-out-only EMG→text R@1 / generalised harmonic mean (gamma):", "",
              "| method | " + " | ".join(f"fold {i} (held out {', '.join(map(str, h))})" for i, h in
                                         enumerate(folds, start=1)) + " |",
              "|---|" + "---|" * len(folds)]
    for r in results.values():
        cells = ["-" if f is None else
                 f"{f['emg_to_text_held_out_only R@1']:.3f} / "
                 + (f"{f['stacked harmonic']:.3f} ({f['gamma']:.2f})" if "gamma" in f else "-")
                 for f in r["folds"]]
        lines.append(f"| {r['title']} | {' | '.join(cells)} |")
    lines += _paired_lines(results, "emg_to_text_held_out_only R@1")
    lines += _paired_lines(results, "stacked harmonic")
    lines += _recipe_lines(results, "emg_to_text_held_out_only R@1")
    lines += _recipe_lines(results, "stacked harmonic")
    # the text side's own figure: how often each method's text space reads a paraphrase as its action
    read = [(r["title"].split(",")[0].replace("**", ""), [f["read_as_own"] for f in r["folds"]])
            for k, r in results.items() if k.endswith("-words") and r["complete"]]
    if read:
        lines += ["", "Typed in the wearer's words: each held-out action given as one of its everyday "
                  "paraphrases (T3, never trained on; every paraphrase in turn, figures averaged), placed by "
                  "the muscles it reads as through the catalogue (`myosem_rt/muscle_match.py`; the projected "
                  "baselines read in MyoSem-RT's text space, whose prototypes they share). Paraphrases read "
                  "as their own action, mean over folds: "
                  + "; ".join(f"{t.removesuffix(' + anatomy')} {np.mean(v):.3f}" for t, v in read) + "."]
    # the channel patterns' own figure, the same for every method: per fold, from any row that has it
    purity = [next((f["group_purity"] for r in results.values() if (f := r["folds"][i]) is not None
                    and f.get("group_purity") is not None), None) for i in range(len(folds))]
    found = [p for p in purity if p is not None]
    if found:
        lines += ["", "Grouping purity (held-out windows whose group is matched one-to-one to their gesture "
                  "by the best matching: the most any naming of the groups can reach), per fold: "
                  + " / ".join("-" if p is None else f"{p:.3f}" for p in purity)
                  + f"; mean {np.mean(found):.3f}."]
    return "\n".join(lines) + "\n"


#: per figure compared fold by fold (:func:`_paired_lines`): its name in the report and the MyoSem-RT rows
#: (best first) every method is compared against
PAIRED = {"emg_to_text_held_out_only R@1": ("held-out-only EMG→text R@1",
                                            ("myosem-grouped", "myosem-muscles", "myosem")),
          "stacked harmonic": ("generalised harmonic mean", ("myosem-anatomy-novelty", "myosem-anatomy",
                                                             "myosem-muscles", "myosem"))}


#: per figure, the recipes every method gets (row key suffixes of :func:`collect`), as named in the report
RECIPES = {
    "stacked harmonic": (("", "plain"), ("-muscles", "+ muscle head"), ("-stream", "+ stream novelty"),
                         ("-anatomy", "+ anatomy"), ("-anatomy-novelty", "+ anatomy + novelty"),
                         ("-anatomy-stream", "+ anatomy + stream novelty")),
    "emg_to_text_held_out_only R@1": (("", "plain"), ("-muscles", "+ muscle head"), ("-anatomy", "+ anatomy"),
                                      ("-grouped", "+ muscle head, grouped"),
                                      ("-anatomy-grouped", "+ anatomy, grouped"),
                                      ("-causal", "+ muscle head, grouped causally"),
                                      ("-anatomy-causal", "+ anatomy, grouped causally"),
                                      ("-words-text", "typed in the wearer's words, text alone"),
                                      ("-words", "typed in the wearer's words, + anatomy"),
                                      ("-words-causal", "typed in the wearer's words, + anatomy, grouped "
                                                        "causally")),
}


def _recipe_lines(results: dict[str, Any], figure: str = "stacked harmonic") -> list[str]:
    """Markdown: MyoSem-RT minus each other method *under the same recipe* (:data:`RECIPES`), fold by fold
    (mean, standard error, folds ahead) on ``figure`` (a key of :data:`PAIRED`). Why: the headline tables
    compare MyoSem-RT's best row with every row; this says which recipe leaves MyoSem-RT ahead of which
    method beyond the fold-to-fold noise."""
    others = [m for m in ("lda", "cnn-bilstm", TEXT_BASELINE) if m in results]
    rows = []
    for suffix, name in RECIPES[figure]:
        mine = results.get(f"myosem{suffix}")
        if mine is None or not mine["complete"] or any(figure not in f for f in mine["folds"]):
            continue
        cells = []
        for other in others:
            r = results.get(f"{other}{suffix}")
            if r is None or not r["complete"] or any(figure not in f for f in r["folds"]):
                cells.append("-")
                continue
            d = np.asarray([f[figure] for f in mine["folds"]]) - [f[figure] for f in r["folds"]]
            se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
            cells.append(f"{d.mean():+.3f} ± {se:.3f} ({int((d > 0).sum())}/{d.size})")
        rows.append(f"| {name} | {' | '.join(cells)} |")
    if not rows:
        return []
    return ["", f"Paired per fold, same recipe: MyoSem-RT minus each method, {PAIRED[figure][0]} "
            "(mean ± standard error, folds ahead):", "",
            "| recipe | " + " | ".join(results[m]["title"].replace("**", "") for m in others) + " |",
            "|---|" + "---|" * len(others), *rows]


def _paired_lines(results: dict[str, Any], figure: str) -> list[str]:
    """Markdown: MyoSem-RT's headline row minus every other method, fold by fold (``figure``, a key of
    :data:`PAIRED`): mean, its standard error over folds and the folds won. Why: the methods share each
    fold's split and windows, so the fold-to-fold spread (the ± above) is mostly the split's difficulty; the
    paired difference says whether one method is ahead beyond that noise (about 2 standard errors or
    more)."""
    name, headline = PAIRED[figure]
    key = next((k for k in headline if k in results and results[k]["complete"]), None)
    if key is None:
        return []
    mine = [f[figure] for f in results[key]["folds"]]
    rows = []
    for other, r in results.items():
        if other == key or not r["complete"] or any(figure not in f for f in r["folds"]):
            continue
        d = np.asarray(mine) - [f[figure] for f in r["folds"]]
        se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
        ratio = d.mean() / se if se > 0 else float("inf")
        rows.append(f"| {r['title']} | {d.mean():+.3f} | {se:.3f} | {ratio:.1f} "
                    f"| {int((d > 0).sum())}/{d.size} |")
    if not rows:
        return []
    return ["", f"Paired per fold: {results[key]['title']} minus each method, {name} "
            "(the methods share each fold's split and windows):", "",
            "| method | mean difference | standard error | mean / se | folds ahead |",
            "|---|---|---|---|---|", *rows]


def bench_zeroshot(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench zeroshot --suite 3dc|myodisco --data DIR [--runs DIR] [--results DIR]
    [--train-config NAME] [--ablate NAME ...] [--baselines lda,cnn-bilstm] [--recipe reduced|full]
    [--dry-run]``."""
    suite, data, runs, results_dir, ablations, baselines = bench_options("zeroshot", SUITES, args,
                                                                         DEFAULT_BASELINES)
    jobs = plan(suite, runs, data, args.train_config or "myosem-small", ablations, baselines, args.recipe)

    def results() -> dict[str, Any]:
        muscle_heads(suite, runs, data, config)
        return collect(suite, runs, ablations, baselines)

    return run_suite("zeroshot", suite, jobs, runs, data, args.dry_run, results, report, results_dir)

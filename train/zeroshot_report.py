"""The markdown of ``myosem bench zeroshot`` (:mod:`train.zeroshot`): the suite's figures over folds, the
budgeted operating points, and MyoSem-RT's paired per-fold differences to every method.

Why a module of its own: :mod:`train.zeroshot` decides what is measured and chosen on which folds; this only
lays the collected figures out, so a change of wording never touches a choice.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from train.loso import summary_rows
from train.zeroshot import FALSE_ALARM_BUDGET, SUITES, TEXT_BASELINE


def report(suite: str, results: dict[str, Any], command: str) -> str:
    """Markdown: mean +- sd over folds per method (both settings), then per fold."""
    protocol, folds = SUITES[suite]
    cols = [("emg_to_text_held_out_only R@1", "held-out only: EMG→text R@1"),
            ("emg_to_text_held_out_only MRR", "MRR"), ("text_to_emg_held_out_only R@1", "text→EMG R@1"),
            ("stacked held_out", "generalised: held-out R@1"), ("stacked seen", "seen R@1"),
            ("stacked harmonic", "harmonic mean"), ("stacked false_alarm", "false alarms"),
            ("plain harmonic", "harmonic mean, no stacking")]
    lines = [f"# Held-out classes: {suite} (`{protocol}`, {len(folds)} folds)", "",
             f"Command: `{command}`", "",
             "Each fold holds gestures out of training (their EMG and their texts); every method is "
             "trained and tested on the same windows of each fold. *Held-out only*: the held-out "
             "descriptions are the only candidates. *Generalised*: every class is a candidate; calibrated "
             "stacking subtracts gamma from the seen classes' cosines, gamma chosen for each fold on the "
             "other folds; *false alarms*: the share of the seen classes' windows (rest included) taken "
             "for a held-out gesture there. *Grouped* (held-out only): each test recording's held-out "
             "windows are cut into as many groups as held-out descriptions by their channel pattern, and "
             "each group is named by the description its windows score best on together "
             "(`myosem_rt/groups.py`; transductive: it uses the recording's unlabelled windows, never a "
             "label). Mean ± sd over folds (sample sd).", "",
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
    lines += _budget_lines(results, len(folds))
    lines += _paired_lines(results, "emg_to_text_held_out_only R@1")
    lines += _paired_lines(results, "stacked harmonic")
    lines += _recipe_lines(results, "emg_to_text_held_out_only R@1")
    lines += _recipe_lines(results, "stacked harmonic")
    lines += _recipe_lines(results, "budget harmonic")
    # the text side's own figure: how often each method's text space reads a paraphrase as its action
    read = [(r["title"].replace("**", "").removesuffix(", typed in the wearer's words"),
             [f["read_as_own"] for f in r["folds"]])
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


def _budget_lines(results: dict[str, Any], n_folds: int) -> list[str]:
    """Markdown: the generalised figures at the operating point chosen within :data:`FALSE_ALARM_BUDGET`
    on the other folds (:func:`_budgeted`), every row that has them."""
    cols = [("budget held_out", "held-out R@1"), ("budget seen", "seen R@1"),
            ("budget harmonic", "harmonic mean"), ("budget false_alarm", "false alarms"),
            ("budget gamma", "gamma"), ("budget beta", "novelty weight")]
    rows = {k: r for k, r in results.items() if "budget harmonic" in r["summary"]}
    if not rows:
        return []
    return ["", f"Generalised, within a false-alarm budget: gamma (and the novelty's weight) chosen for each "
            f"fold on the other folds for the best harmonic mean among the points whose mean false alarms "
            f"are at most {FALSE_ALARM_BUDGET:.2f}: the basis of `myosem live --describe`'s offsets (config "
            f"`live.describe_*`; their novelty weight and anatomy offset are chosen on the live path itself "
            f"by `myosem bench describe`). Mean ± sd over folds (sample sd).", "",
            "| method | " + " | ".join(t for _, t in cols) + " | folds |",
            "|---|" + "---|" * (len(cols) + 1), *summary_rows(rows, [k for k, _ in cols], n_folds)]


#: per figure compared fold by fold (:func:`_paired_lines`): its name in the report and the MyoSem-RT rows
#: (best first) every method is compared against
PAIRED = {"emg_to_text_held_out_only R@1": ("held-out-only EMG→text R@1",
                                            ("myosem-grouped", "myosem-muscles", "myosem")),
          "stacked harmonic": ("generalised harmonic mean", ("myosem-anatomy-novelty", "myosem-anatomy",
                                                             "myosem-muscles", "myosem")),
          "budget harmonic": ("generalised harmonic mean within the false-alarm budget",
                              ("myosem-anatomy-novelty", "myosem-anatomy", "myosem"))}


#: per figure, the recipes every method gets (row key suffixes of :func:`collect`), as named in the report
RECIPES = {
    "stacked harmonic": (("", "plain"), ("-muscles", "+ muscle head"), ("-stream", "+ stream novelty"),
                         ("-anatomy", "+ anatomy"), ("-anatomy-novelty", "+ anatomy + novelty"),
                         ("-anatomy-stream", "+ anatomy + stream novelty")),
    "budget harmonic": (("", "plain"), ("-stream", "+ stream novelty"), ("-anatomy", "+ anatomy"),
                        ("-anatomy-novelty", "+ anatomy + novelty"),
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
    (mean, standard error, folds ahead) on ``figure`` (a key of :data:`PAIRED`), the ablations too (what
    each part is worth under each recipe). Why: the headline tables compare MyoSem-RT's best row with every
    row; this says which recipe leaves MyoSem-RT ahead of which method beyond the fold-to-fold noise."""
    ablations = [k for k, r in results.items() if r["title"] == f"MyoSem-RT, {k}"]
    others = [m for m in ("lda", "cnn-bilstm", TEXT_BASELINE, *ablations) if m in results]
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

"""Tables of ``myosem bench enrol`` (printed, and written to docs/results/enrolment.md with ``--results``).

Every table puts the anchor (per-user TD + LDA, cue labels) beside MyoSem-RT's profile and the other
options, mean +- sd over the suite's units (subjects or days), with the paired difference to the anchor
and how many units the profile wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from myosem_rt.profile.bench import ANCHOR, OURS


def _ms(values: Sequence[float]) -> str:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return "-"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if v.size > 1 else f"{v.mean():.3f}"


def option_table(units: dict[str, Any], key: str) -> list[str]:
    """One row per option: mean ± sd over units of R@1 at ``key`` (trials), Δ vs the anchor, wins."""
    rows = [u[key] for u in units.values() if key in u]
    if not rows:
        return []
    names = [n for n in rows[0] if n not in ("fit_ms", "features_ms_per_window")]
    lines = ["| option | R@1 (mean ± sd) | Δ vs anchor (mean ± sd) | units above anchor |",
             "|---|---|---|---|"]
    for n in names:
        vals = [r.get(n) for r in rows]
        if n.startswith("text->EMG"):
            lines.append(f"| {n} | {_ms(vals)} | | |")
            continue
        d = [r[n] - r[ANCHOR] for r in rows if n in r]
        wins = sum(x > 0 for x in d)
        bold = "**" if n == OURS else ""
        lines.append(f"| {bold}{n}{bold} | {bold}{_ms(vals)}{bold} | "
                     f"{'' if n == ANCHOR else _ms(d)} | {'' if n == ANCHOR else f'{wins}/{len(d)}'} |")
    return lines


def markdown(results: dict[str, Any], command: str) -> str:
    """docs/results/enrolment.md from a results dict of :func:`myosem_rt.profile.bench.run_suites`."""
    out = ["# Enrolment: the wearer's own gestures (`myosem bench enrol`)", "",
           f"Command: `{command}`", "",
           "EMG→text R@1 on windows the enrolment never saw (per window, no smoothing), every method on the "
           "same windows in the same run. Anchor = per-user Hudgins TD + shrinkage LDA on the same "
           "enrolment trials, windows labelled by the cue. ± = sd over the units (subjects or days).", ""]
    for name, r in results.items():
        units = r["units"]
        out += [f"## {name} ({len(units)} {r['unit']}s, {r.get('seconds', 0):.0f} s)", ""]
        if r.get("note"):
            out += [r["note"], ""]
        for k in r["trials"]:
            table = option_table(units, str(k))
            if table:
                out += [f"Enrolment: {k} trial(s) per gesture.", "", *table, ""]
        first = [u[str(r["trials"][0])] for u in units.values() if str(r["trials"][0]) in u]
        fit = [u["fit_ms"] for u in first if "fit_ms" in u]
        if fit:
            per = np.median([u["features_ms_per_window"] for u in first])
            out += [f"Profile fit (one core): median {np.median(fit):.0f} ms, max {max(fit):.0f} ms; "
                    f"features + head median {per:.3f} ms per window (batched).", ""]
        q = [(u.get("query best-class share before"), u.get("query best-class share after"))
             for u in units.values() if "query best-class share after" in u]
        if q:
            out += ["Typed paraphrases that appear in no vocabulary (12), matched against each subject's "
                    f"scored windows: best class right for {_ms([a for a, _ in q])} of them before enrolment "
                    f"(the fold's encoder) and {_ms([b for _, b in q])} after.", ""]
        ng = [u["new gesture"] for u in units.values() if "new gesture" in u]
        if ng:
            out += ["New gesture (Pinch Grip left out of the enrolment, then added from the typed "
                    "description 'pressing the tips of my thumb and index finger together' and its one "
                    "trial; classical features only, so no trained EMG of it is involved):", "",
                    "| measure | mean ± sd |", "|---|---|"]
            out += [f"| {k} | {_ms([g[k] for g in ng])} |" for k in ng[0]] + [""]
        if name == "multiday":
            out += _multiday(units)
    return "\n".join(out) + "\n"


def _multiday(units: dict[str, Any]) -> list[str]:
    lines = ["By horizon (day-1 enrolment; re-enrolment and updates from the previous recorded day):", "",
             "| day | days since day 1 | anchor (day 1) | profile (day 1) | anchor re-enrolled | profile "
             "re-enrolled | day 1 + 2 s per class | day 1 + 20 confirmed hops per class |",
             "|---|---|---|---|---|---|---|---|"]
    cols: list[list[float]] = [[] for _ in range(6)]
    for day, u in units.items():
        vals = [u["1"][ANCHOR], u["1"][OURS], u["re-enrolled on the previous day"][ANCHOR],
                u["re-enrolled on the previous day"][OURS],
                u["day 1 + previous day's first 2 s per class"][OURS],
                u["day 1 + 20 confirmed hops per class of the previous day"][OURS]]
        for c, v in zip(cols, vals, strict=True):
            c.append(v)
        cells = " | ".join(f"{v:.3f}" for v in vals)
        lines.append(f"| {day} | {u['days_since_enrolment']} | {cells} |")
    lines.append("| mean | | " + " | ".join(f"{np.mean(c):.3f}" for c in cols) + " |")
    return [*lines, ""]


def summary_lines(results: dict[str, Any]) -> list[str]:
    """The printed headline: per suite and trials, anchor vs profile mean and the paired difference."""
    out = []
    for name, r in results.items():
        for k in r["trials"]:
            rows = [u[str(k)] for u in r["units"].values() if str(k) in u]
            if not rows:
                continue
            a = [x[ANCHOR] for x in rows]
            o = [x[OURS] for x in rows]
            d = np.subtract(o, a)
            out.append(f"{name:16s} {k} trial(s): anchor {np.mean(a):.3f}  MyoSem-RT profile "
                       f"{np.mean(o):.3f}  "
                       f"diff {d.mean():+.3f} ± {d.std(ddof=1) if d.size > 1 else 0:.3f} "
                       f"({int((d > 0).sum())}/{d.size} {r['unit']}s above)")
    return out

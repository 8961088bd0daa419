"""Seed-to-seed variation for the comparative report: the same jobs retrained with other seeds.

Why: the ± of the main tables is test-sampling uncertainty of one trained model. Whether one method beats
another also depends on the training seed, which redraws the windows subsampled per file, the
initialisation and the batch order (:mod:`train.suite`, ``--seeds``). Seed 0 lives in ``runs/``, seed
``s`` in ``runs/seed<s>/`` with the same layout. Every figure is read from those runs' result files, as
in :mod:`train.report`; nothing is trained here.

A row (protocol, method) is shown when at least two seeds have its result: the mean over seeds ± their
standard deviation (ddof 1). The verdict compares MyoSem-RT with the baseline of the best mean, with the
standard error of the difference of the two means, sqrt(sd_a²/n_a + sd_b²/n_b). Two or three seeds can give
a standard deviation near zero by chance, so each sd is taken as at least the mean test-sampling
uncertainty of its runs (bootstrap std or episode standard error): a verdict is never sharper than one run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from train.report import ABLATION_ROWS, BASELINE_ROWS, DIRECTIONS, MAIN, MAIN_ROW, collect
from train.suite import seed_roots


def r1_by_seed(runs: Path, protocols: Sequence[str]
               ) -> dict[tuple[str, str, str], dict[int, tuple[float, float]]]:
    """{(protocol, method, direction): {seed: (R@1, its test-sampling uncertainty)}} under ``runs``."""
    out: dict[tuple[str, str, str], dict[int, tuple[float, float]]] = {}
    for seed, root in seed_roots(runs).items():
        cells, _ = collect(root, protocols, None)
        for p, row in cells.items():
            for method, cell in row.items():
                for direction, _, spread in DIRECTIONS:
                    f = (cell.metrics or {}).get(direction)
                    if f is not None:
                        err = float((f.get(spread) or {}).get("R@1", 0.0))
                        out.setdefault((p, method, direction), {})[seed] = (float(f["R@1"]), err)
    return out


def _mean_sd(values: Sequence[tuple[float, float]], floor: bool = False) -> tuple[float, float]:
    """Mean and standard deviation over seeds of (R@1, uncertainty) pairs; ``floor``: the sd is at least
    the mean test-sampling uncertainty (see the module docstring)."""
    a = np.asarray([v for v, _ in values], dtype=np.float64)
    sd = float(a.std(ddof=1)) if a.size > 1 else math.nan
    return float(a.mean()), max(sd, float(np.mean([e for _, e in values]))) if floor else sd


def seed_section(runs: Path, protocols: Sequence[str]) -> list[str]:
    """The report section (markdown lines), or [] when no protocol has a method with two seeds."""
    r1 = r1_by_seed(runs, protocols)
    rows = (*BASELINE_ROWS, MAIN_ROW, *ABLATION_ROWS[1:])
    table = ["| protocol | method | seeds | EMG→text R@1 | text→EMG R@1 |", "|---|---|---|---|---|"]
    for p in protocols:
        for method, title in rows:
            per = [r1.get((p, method, d), {}) for d, _, _ in DIRECTIONS]
            if len(per[0]) < 2:
                continue
            cells = []
            for values in per:
                mean, sd = _mean_sd(list(values.values()))
                cells.append(f"{mean:.3f} ± {sd:.3f}" if len(values) > 1 else "--")
            table.append(f"| {p} | {title} | {', '.join(map(str, sorted(per[0])))} | " + " | ".join(cells)
                         + " |")
    if len(table) == 2:
        return []
    verdicts = _verdicts(r1, protocols)
    return (["## Seed-to-seed variation", "",
             "The same jobs retrained with other seeds (`myosem report --train --seeds 0,1,2`; seed s in "
             "`runs/seed<s>/`). A seed redraws the windows subsampled per file, the initialisation and the "
             "batch order (and so the test windows subsampled per file); stage 1 (the text space) is "
             "shared. Mean over seeds ± their standard deviation. The verdicts below use the standard error "
             "of the difference of two seed means, each sd taken as at least its runs' test-sampling "
             "uncertainty (two or three seeds can agree closely by chance).", ""]
            + table + [""] + verdicts + [""])


def _verdicts(r1: dict[tuple[str, str, str], dict[int, tuple[float, float]]], protocols: Sequence[str]
              ) -> list[str]:
    titles = dict(BASELINE_ROWS)
    lines, calls = [], []
    for p in protocols:
        for direction, name, _ in DIRECTIONS:
            mine = r1.get((p, MAIN, direction), {})
            others = {m: v for m, _ in BASELINE_ROWS if len(v := r1.get((p, m, direction), {})) > 1}
            if len(mine) < 2 or not others:
                continue
            best = max(others, key=lambda m: _mean_sd(list(others[m].values()))[0])
            (ma, sa), (mb, sb) = (_mean_sd(list(mine.values()), floor=True),
                                  _mean_sd(list(others[best].values()), floor=True))
            se = math.sqrt(sa**2 / len(mine) + sb**2 / len(others[best]))
            diff = ma - mb
            call = "within seed noise" if abs(diff) < 2 * se else ("ahead" if diff > 0 else "behind")
            calls.append(call)
            lines.append(f"- {p}, {name}: MyoSem-RT {ma:.3f} vs {titles[best]} {mb:.3f} "
                         f"(difference {diff:+.3f}, standard error {se:.3f}: {call}).")
    if not lines:
        return []
    ahead, behind = calls.count("ahead"), calls.count("behind")
    return ([f"MyoSem-RT against the baseline with the best seed-mean R@1 (baselines with at least two "
             f"seeds): ahead in {ahead}, behind in {behind}, within two standard errors in "
             f"{len(lines) - ahead - behind} of {len(lines)} (protocol, direction) pairs.", ""] + lines)

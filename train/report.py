"""The comparative report: ``docs/results.md`` from the runs of :mod:`train.suite` (``myosem report``).

Nothing here trains or invents a figure: every cell is read from a run's result file -- a MyoSem-type
model's ``manifest.json`` ``metrics`` (written by ``myosem train``'s evaluation) or a baseline's
``runs/baselines/P/<name>.json`` -- and a cell without one is shown as "--" and listed under *Missing*
with the reason (no recordings for the protocol, the run failed, or it was not run within the budget).

Layout (the paper's): EMG -> text and text -> EMG tables (R@1/3/5, MRR, each ± its uncertainty, chance
beside), a headline R@1 table per direction (methods x protocols), the held-out-class split of the
class-disjoint protocols, the ablations, where MyoSem-RT does not beat the best baseline, the commands and
seeds of every run, figures (:mod:`train.figures`), and the per-user calibration report when
``<out>/results/calibration.md`` exists. Uncertainty: EMG -> text ± the bootstrap standard deviation over
test windows, text -> EMG ± the standard error over the balanced episodes (:mod:`myosem_rt.retrieval`);
both are test-sampling uncertainties of one trained model (seed 0); runs with other seeds get a
seed-to-seed section (:mod:`train.seed_table`).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myosem_rt.errors import ConfigError
from myosem_rt.protocols import PROTOCOLS, split

log = logging.getLogger(__name__)

KEYS = ("R@1", "R@3", "R@5", "MRR")
MAIN = "myosem"
#: (run name, row title) of the comparison tables, MyoSem-RT last.
BASELINE_ROWS = (
    ("lda", "Hudgins TD + LDA"),
    ("lda-session", "Hudgins TD + LDA, session statistics"),
    ("tcn", "TCN"),
    ("cnn-bilstm", "CNN-BiLSTM"),
    ("atzori-cnn", "Atzori CNN"),
    ("baseline-text-labels", "Text baseline: base MiniLM, labels only"),
)
EMG_BASELINES = ("lda", "lda-session", "tcn", "cnn-bilstm", "atzori-cnn")
MAIN_ROW = (MAIN, "**MyoSem-RT**")
ABLATION_ROWS = (
    (MAIN, "MyoSem-RT (full)"),
    ("ablate-descriptors", "without activation-aware descriptors"),
    ("ablate-queries", "without semantic queries (alpha = 0)"),
    ("ablate-stage1", "without stage 1 (base MiniLM prototypes)"),
    ("ablate-window-features", "without window-level descriptors"),
    ("ablate-session-stats", "without session statistics"),
)
DIRECTIONS = (("emg_to_text", "EMG → text", "std"), ("text_to_emg", "text → EMG", "se"))


@dataclass
class Cell:
    """One method on one protocol: its figures, or why there are none."""

    method: str
    protocol: str
    metrics: dict[str, Any] | None = None
    command: str | None = None
    seed: int | None = None
    seconds: float | None = None
    source: str | None = None
    missing: str | None = None


def _job_log(runs: Path, method: str, protocol: str) -> dict[str, Any] | None:
    path = runs / "logs" / f"{method}-{protocol}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_cell(runs: Path, method: str, protocol: str, unavailable: str | None = None) -> Cell:
    """The result of ``method`` on ``protocol`` under ``runs`` (see the module docstring)."""
    cell = Cell(method, protocol)
    if unavailable:
        cell.missing = unavailable
        return cell
    if method in EMG_BASELINES:
        path = runs / "baselines" / protocol / f"{method}.json"
    else:
        path = runs / method / protocol / "manifest.json"
    job = _job_log(runs, "baselines" if method in EMG_BASELINES else method, protocol)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = None
    if not record or not record.get("metrics"):
        name = "baselines" if method in EMG_BASELINES else method
        if job and job.get("rc"):
            cell.missing = f"run failed (exit {job['rc']}; log runs/logs/{name}-{protocol}.log)"
        elif (runs / "logs" / f"{name}-{protocol}.log").is_file() or \
                (method not in EMG_BASELINES and path.parent.is_dir()):
            cell.missing = "not finished within the reduced CPU budget (started; re-running resumes it)"
        else:
            cell.missing = "not run within the reduced CPU budget"
        return cell
    cell.metrics, cell.command, cell.source = record["metrics"], record.get("command"), str(path)
    if method in EMG_BASELINES:
        cell.seed = (record.get("config") or {}).get("seed")
        cell.seconds = (record.get("training") or {}).get("seconds")
    else:
        cell.seed = (record.get("training") or {}).get("seed")
        cell.seconds = (job or {}).get("seconds") if job and not job.get("rc") else None
    return cell


def collect(runs: Path, protocols: Sequence[str], data: Path | None) -> tuple[dict, dict[str, str]]:
    """{protocol: {method: Cell}} for every row method, and {protocol: reason} of unavailable protocols."""
    methods = [m for m, _ in (*BASELINE_ROWS, *ABLATION_ROWS)]
    unavailable: dict[str, str] = {}
    for p in protocols:
        if p not in PROTOCOLS:
            raise ConfigError(f"unknown protocol '{p}' (expected one of {', '.join(PROTOCOLS)})")
        if data is not None:
            try:
                split(p, data)
            except ConfigError as exc:
                unavailable[p] = f"no recordings for this protocol ({exc})"
    cells = {p: {m: load_cell(runs, m, p, unavailable.get(p)) for m in dict.fromkeys(methods)}
             for p in protocols}
    return cells, unavailable


# -- formatting --------------------------------------------------------------------------------------------
def _pm(figures: dict[str, Any], key: str, spread: str) -> str:
    value, err = figures.get(key), (figures.get(spread) or {}).get(key)
    if value is None:
        return "--"
    return f"{value:.3f} ± {err:.3f}" if err is not None and math.isfinite(err) else f"{value:.3f}"


def _figures(cell: Cell, direction: str) -> dict[str, Any] | None:
    return (cell.metrics or {}).get(direction)


def _best(cells: dict[str, Cell], methods: Sequence[str], direction: str, key: str = "R@1") -> str | None:
    scored = [(f[key], m) for m in methods if (f := _figures(cells[m], direction)) is not None]
    return max(scored)[1] if scored else None


def direction_table(cells: dict, protocols: Sequence[str], direction: str, spread: str) -> list[str]:
    """Rows = (protocol, method), columns R@1/3/5/MRR ± uncertainty; the best R@1 per protocol in bold."""
    lines = ["| protocol | method | " + " | ".join(KEYS) + " |", "|---|---|" + "---|" * len(KEYS)]
    rows = (*BASELINE_ROWS, MAIN_ROW)
    for p in protocols:
        best = _best(cells[p], [m for m, _ in rows], direction)
        chance = None
        for method, title in rows:
            f = _figures(cells[p][method], direction)
            chance = chance or (f or {}).get("chance")
            vals = [_pm(f, k, spread) if f else "--" for k in KEYS]
            if f and method == best:
                vals[0] = f"**{vals[0]}**"
            lines.append(f"| {p} | {title} | " + " | ".join(vals) + " |")
        if chance:
            lines.append(f"| {p} | *chance* | " + " | ".join(f"{chance[k]:.3f}" for k in KEYS) + " |")
    return lines


def headline_table(cells: dict, protocols: Sequence[str], direction: str, spread: str,
                   rows: Sequence[tuple[str, str]] = (*BASELINE_ROWS, MAIN_ROW)) -> list[str]:
    """Methods x protocols, R@1 ± uncertainty (the best per protocol in bold), chance last."""
    lines = ["| method | " + " | ".join(protocols) + " |", "|---|" + "---|" * len(protocols)]
    best = {p: _best(cells[p], [m for m, _ in rows], direction) for p in protocols}
    for method, title in rows:
        vals = []
        for p in protocols:
            f = _figures(cells[p][method], direction)
            v = _pm(f, "R@1", spread) if f else "--"
            vals.append(f"**{v}**" if f and best[p] == method else v)
        lines.append(f"| {title} | " + " | ".join(vals) + " |")
    chance = []
    for p in protocols:
        f = next((f for m, _ in rows if (f := _figures(cells[p][m], direction))), None)
        chance.append(f"{f['chance']['R@1']:.3f}" if f else "--")
    lines.append("| *chance* | " + " | ".join(chance) + " |")
    return lines


def held_out_table(cells: dict, protocols: Sequence[str]) -> list[str]:
    """The class-disjoint protocols' seen and held-out classes: EMG -> text with all classes as candidates,
    then both directions with the held-out classes' descriptions as the only candidates."""
    lines = ["| protocol | method | all candidates: seen classes R@1 | all candidates: held-out classes R@1 "
             "| held-out only: EMG→text R@1 | held-out only: EMG→text MRR | held-out only: text→EMG R@1 |",
             "|---|---|---|---|---|---|---|"]
    for p in protocols:
        chance: dict[str, Any] = {}
        for method, title in (*BASELINE_ROWS, MAIN_ROW, *ABLATION_ROWS[1:]):
            m = cells[p][method].metrics or {}
            seen, held = m.get("emg_to_text_seen"), m.get("emg_to_text_held_out")
            if held is None:
                continue
            only, t2e = m.get("emg_to_text_held_out_only") or {}, m.get("text_to_emg_held_out_only") or {}
            for key, f in (("all", held), ("only", only), ("t2e", t2e)):
                chance.setdefault(key, f.get("chance"))
            lines.append(f"| {p} | {title} | {_pm(seen or {}, 'R@1', 'std')} | {_pm(held, 'R@1', 'std')} | "
                         f"{_pm(only, 'R@1', 'std')} | {_pm(only, 'MRR', 'std')} | {_pm(t2e, 'R@1', 'se')} |")
        if chance:
            c = [f"{chance[k][metric]:.3f}" if chance.get(k) else ""
                 for k, metric in (("all", "R@1"), ("only", "R@1"), ("only", "MRR"), ("t2e", "R@1"))]
            lines.append(f"| {p} | *chance* | | " + " | ".join(c) + " |")
    return lines if len(lines) > 2 else []


def ablation_table(cells: dict, protocols: Sequence[str]) -> list[str]:
    """Per protocol: full model vs each ablation, both directions, with the R@1 change."""
    lines = ["| protocol | variant | EMG→text R@1 | EMG→text MRR | Δ R@1 | text→EMG R@1 | text→EMG MRR "
             "| Δ R@1 |",
             "|---|---|---|---|---|---|---|---|"]
    for p in protocols:
        full = cells[p][MAIN].metrics or {}
        for method, title in ABLATION_ROWS:
            m = cells[p][method].metrics
            row = [p, title]
            for direction, _, spread in DIRECTIONS:
                f = (m or {}).get(direction)
                ref = full.get(direction)
                row += [_pm(f, "R@1", spread) if f else "--", _pm(f, "MRR", spread) if f else "--"]
                row.append(f"{f['R@1'] - ref['R@1']:+.3f}" if f and ref and method != MAIN else "")
            lines.append("| " + " | ".join(row) + " |")
    return lines


def shortfalls(cells: dict, protocols: Sequence[str]) -> list[str]:
    """One line per (protocol, direction) where a baseline's R@1 is at least MyoSem-RT's."""
    out, wins, total = [], 0, 0
    titles = dict(BASELINE_ROWS)
    for p in protocols:
        for direction, name, spread in DIRECTIONS:
            mine = _figures(cells[p][MAIN], direction)
            best = _best(cells[p], [m for m, _ in BASELINE_ROWS], direction)
            if mine is None or best is None:
                continue
            total += 1
            other = _figures(cells[p][best], direction)
            diff = other["R@1"] - mine["R@1"]
            sigma = math.hypot(mine[spread]["R@1"], other[spread]["R@1"])
            if diff < 0:
                wins += 1
                continue
            k = diff / sigma if sigma > 0 else math.inf
            out.append(f"- **{p}, {name}**: MyoSem-RT R@1 {mine['R@1']:.3f} vs {titles[best]} "
                       f"{other['R@1']:.3f} "
                       f"(baseline ahead by {diff:.3f} = {k:.1f} combined σ"
                       f"{'; within noise' if k < 2 else ''}).")
    head = [f"MyoSem-RT has the highest R@1 in {wins} of {total} (protocol, direction) pairs with both a "
            "MyoSem-RT and a baseline result (baselines here include the text baseline). Combined σ = "
            "hypot of the two uncertainties, as if independent; both are measured on the same windows, so "
            "\"within noise\" (< 2 σ) is a conservative call."]
    return head + ([""] + out if out else [])


def _recipe(cells: dict, protocols: Sequence[str], runs: Path) -> tuple[bool, str]:
    """(reduced?, a sentence describing the recipe) from the MyoSem manifests present."""
    for p in protocols:
        cell = cells[p][MAIN]
        if cell.source:
            tr = json.loads(Path(cell.source).read_text())["training"]
            mw = tr.get("max_windows_per_file")
            s2, s3 = tr["stage2"]["epochs"], tr["stage3"]
            text = (f"`{tr['name']}`, {'at most ' + str(mw) if mw else 'all'} windows per file, "
                    f"{s2} stage-2 epochs, {s3['epochs_frozen']} + {s3['epochs_unfrozen']} stage-3 epochs, "
                    f"stage 1 {tr['stage1']['steps']} steps, seed {tr['seed']}")
            return mw is not None, text
    return True, "no MyoSem-RT run found"


def _demote(markdown: str) -> str:
    return re.sub(r"^(#+) ", lambda m: "#" + m[1] + " ", markdown, flags=re.MULTILINE)


def budget_section(budget: Path, protocols: Sequence[str]) -> list[str]:
    """A larger-budget rerun of some protocols (``<runs>/budget``, same layout as ``runs``): MyoSem-RT
    and the EMG baselines, both directions -- how the comparison moves when every method gets more."""
    found = [p for p in protocols if (budget / MAIN / p / "manifest.json").is_file()]
    if not found:
        return []
    cells, _ = collect(budget, found, None)
    _, recipe = _recipe(cells, found, budget)
    rows = (*BASELINE_ROWS[:len(EMG_BASELINES)], MAIN_ROW)
    md = ["## Budget check: the same comparison with a larger training budget", "",
          f"Protocols {', '.join(found)} retrained with {recipe}; baselines with the same number of "
          f"cross-entropy epochs as stage 2 (runs in `{budget}`). Same evaluation as above.", ""]
    for direction, name, spread in DIRECTIONS:
        md += [f"**{name}, R@1**", ""] + headline_table(cells, found, direction, spread, rows) + [""]
    commands = [cells[p][m].command for p in found for m, _ in rows if cells[p][m].command]
    return md + ["Commands:", ""] + [f"- `{c}`" for c in dict.fromkeys(commands)] + [""]


def write_report(cells: dict, unavailable: dict[str, str], out: Path, runs: Path,
                 figures: dict[str, str] | None = None, command: str = "myosem report") -> Path:
    """Write ``<out>/results.md``; ``figures`` maps a caption to a PNG path relative to ``out``.
    A larger-budget rerun in ``<runs>/budget`` gets its own section (:func:`budget_section`)."""
    from train.cross_device import cross_device_section  # these two import this module
    from train.seed_table import seed_section

    protocols = [p for p in cells if p not in unavailable]
    reduced, recipe = _recipe(cells, protocols, runs)
    md: list[str] = ["# Comparative evaluation: MyoSem-RT, baselines and ablations", ""]
    if reduced:
        md += ["> **Reduced CPU run, not the paper-scale figures.** Every model here was trained on the "
               "project's shared 2-core development CPU with a reduced budget (" + recipe + "; baselines "
               "with the same number of cross-entropy epochs). The full tables come from the GPU recipe "
               "below. Compare methods within this file only.", ""]
    else:
        md += [f"Recipe: {recipe}.", ""]
    md += [f"Regenerate: `{command}` (reads `{runs}`; `--train` first runs every missing job of "
           "`train/suite.py`, resuming interrupted ones).", "",
           "GPU recipe for the full tables (all windows, `myosem-small` as configured): "
           "`myosem report --train --recipe full --runs runs-full --data DATA --out docs`.", "",
           "**Reading the tables.** Every method is tested on the same test windows of its protocol and "
           "ranks the same candidates (all class prototypes of the protocol's vocabulary, held-out classes "
           "included): the baselines are evaluated by the very function that evaluates MyoSem-RT, through "
           "the MyoSem model directory of the protocol (`train/baselines/run.py`). EMG → text: each test "
           "window ranks the class prototypes; ± is the bootstrap standard deviation over test windows "
           "(200 resamples). text → EMG: each class prototype ranks one test window per class in 100 "
           "balanced episodes; ± is the standard error over episodes. Ties count against the method. Both "
           "are test-sampling uncertainties of one trained model (seed 0); seed-to-seed variation, where "
           "other seeds were run, has its own section. Best R@1 per protocol in bold.", "",
           "Methods: **Hudgins TD + LDA** (MAV, WL, ZC, SSC per channel, shrinkage LDA; embedding = the "
           "discriminant space); the same **with session statistics** (its features standardised by each "
           "recording's running statistics, the rule MyoSem-RT's window-level descriptors follow); **TCN**, "
           "**CNN-BiLSTM**, **Atzori CNN** (embedding = penultimate layer); "
           "each maps its embedding into the text space with a linear projection trained by InfoNCE "
           "against the same frozen prototypes as MyoSem-RT. **Text baseline**: the MyoSem-RT encoder "
           "aligned to prototypes of the frozen base MiniLM embedding the class label (T0) alone.", ""]
    for direction, name, spread in DIRECTIONS:
        md += [f"## {name}: R@1 by protocol", ""]
        md += headline_table(cells, protocols, direction, spread) + [""]
    for direction, name, spread in DIRECTIONS:
        md += [f"## {name}: all figures", ""]
        md += direction_table(cells, protocols, direction, spread) + [""]
    held = held_out_table(cells, protocols)
    if held:
        md += ["## Held-out classes (zero-shot)", "",
               "Class-disjoint protocols: the test windows of the classes trained on and of the held-out "
               "classes, whose EMG and texts never entered training, for every method and ablation. \"All "
               "candidates\": EMG → text ranks every class prototype (as in the tables above). \"Held-out "
               "only\": the held-out classes' descriptions are the only candidates -- EMG → text over their "
               "test windows (± bootstrap std) and text → EMG in balanced episodes of one window per "
               "held-out class (± standard error).", ""] + held + [""]
    for pattern, title in (("loso-*.md", "Leave-subjects-out suites (`myosem bench loso`)"),
                           ("zeroshot-*.md", "Held-out classes over folds (`myosem bench zeroshot`)"),
                           ("describe-*.md", "Live --describe offsets (`myosem bench describe`)")):
        found = sorted((out / "results").glob(pattern))
        if found:  # written by their own benchmarks (newer recipes than a reduced report's runs)
            md += [f"## {title}", "", f"(From `docs/results/{pattern}`, written by the benchmark; included "
                   "verbatim.)", ""]
            md += [_demote(_demote(f.read_text(encoding="utf-8"))).strip() + "\n" for f in found]
    md += ["## Ablations", "", "Each variant is `myosem train --train-config <variant>` with the same recipe "
           "(`train/configs/ablate-*.yaml` = `myosem-small` + one switch). Δ = variant − full model.", ""]
    md += ablation_table(cells, protocols) + [""]
    md += ["## Where MyoSem-RT does not beat the best baseline", ""] + shortfalls(cells, protocols) + [""]
    md += cross_device_section(cells)
    md += seed_section(runs, protocols)
    md += budget_section(runs / "budget", protocols)
    discussion = out / "results" / "discussion.md"
    if discussion.is_file():
        md += [_demote(discussion.read_text(encoding="utf-8")).strip(), ""]
    if figures:
        md += ["## Figures", ""]
        for caption, path in figures.items():
            md += [f"**{caption}**", "", f"![{caption}]({path})", ""]
    calibration = out / "results" / "calibration.md"
    if calibration.is_file():
        md += ["## Per-user calibration", "", "(From `docs/results/calibration.md`, written by the "
               "calibration run; included verbatim.)", "",
               _demote(_demote(calibration.read_text(encoding="utf-8"))).strip(), ""]
    md += ["## Commands and seeds", "", "| protocol | method | seed | wall-clock | command |",
           "|---|---|---|---|---|"]
    titles = {**dict(BASELINE_ROWS), **dict(ABLATION_ROWS)}
    for p in protocols:
        for method, cell in cells[p].items():
            if cell.metrics:
                secs = f"{cell.seconds / 60:.1f} min" if cell.seconds else "--"
                md.append(f"| {p} | {titles[method]} | {cell.seed} | {secs} | `{cell.command}` |")
    md += ["", "Wall-clock on the shared CPU (several trainings at once): a MyoSem-type run's whole job "
           "(stages, export, evaluation); a baseline's fitting (network or LDA, then projection); \"--\" "
           "where the run was started outside `train/suite.py`.", ""]
    missing = [(p, titles[m], c.missing) for p, row in cells.items() for m, c in row.items()
               if c.missing and p not in unavailable]
    md += ["## Missing", ""]
    if unavailable:
        md += [f"- **{p}**: {reason}" for p, reason in unavailable.items()]
        if any(p.startswith("db2") for p in unavailable):
            md += ["", "The db2-* rows fill in as soon as NinaPro DB2/DB3 files are under the data folder "
                   "(`tests/test_ninapro_report.py` trains and tabulates db2-class on fixture recordings "
                   "in the documented layout).", ""]
    md += [f"- {p} / {title}: {reason}" for p, title, reason in missing]
    if not missing and not unavailable:
        md.append("Nothing: every row of every protocol has its figures.")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.md"
    path.write_text("\n".join(md).rstrip() + "\n", encoding="utf-8")
    log.info("report: %s (%d protocols, %d missing cells)", path, len(protocols), len(missing))
    return path

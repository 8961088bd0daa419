"""Leave-subjects-out suites (``myosem bench loso``): every shared subject is tested exactly once, by models
that never saw them, with the anchor, the best neural baseline and MyoSem-RT trained on the same folds.

Why a suite of its own: a single subject-disjoint split (``3dc-user``: four test subjects) says more about
which four subjects were picked than about the method, and a figure without the pooled Hudgins TD + LDA
anchor beside it says nothing about whether the network earns its cost. Here each fold is the protocol with
``--test-subjects`` set, and in every fold:

- ``myosem``: ``myosem train`` with the training config (default ``myosem-small``);
- each ablation config given (``--ablate``, e.g. ``ablate-window-features``), the same command otherwise;
- the baselines (default ``lda`` = Hudgins TD + LDA, ``lda-session`` = the same with MyoSem-RT's session
  statistics of its features, and ``cnn-bilstm``): ``python -m train.baselines`` on exactly that fold's
  MyoSem training windows and test windows (:mod:`train.baselines.run`).

Every job is a subprocess run by :func:`train.suite.run_jobs` (one at a time, skipped when done, resumed
from checkpoints; logs under ``<runs>/logs``); stage 1 is trained once and copied to the other folds. The
report is mean +- sd over folds of EMG->text R@1 and MRR and text->EMG R@1, and per fold, printed and
written to ``<results>/loso-<suite>.{md,json}``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError

log = logging.getLogger(__name__)

#: suite -> (protocol, folds of test subjects). 3DC: the subjects of ``myosem bench enrol``'s folds (S13
#: and S14, which share trials, in one fold). Myo: ``myo-user`` with ``test_subjects`` (numbers apply to
#: MyoDisCo S1-S11 and CIIL S1-S21 alike: the two datasets number different people independently).
SUITES: dict[str, tuple[str, tuple[tuple[int, ...], ...]]] = {
    "3dc": ("3dc-user", ((1, 4, 7, 10, 13, 14), (2, 5, 8, 11, 15, 16), (3, 6, 9, 12, 17, 18))),
    "myo": ("myo-user", ((1, 4, 7, 10, 13, 16, 19), (2, 5, 8, 11, 14, 17, 20), (3, 6, 9, 12, 15, 18, 21))),
}
DEFAULT_BASELINES = ("lda", "lda-session", "cnn-bilstm")
METRICS = (("emg_to_text", "R@1"), ("emg_to_text", "MRR"), ("text_to_emg", "R@1"))


def _with(args: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """The recipe's ``args`` with each option of ``values`` set to its value (replaced, or added)."""
    out = list(args)
    for flag, value in values.items():
        if flag in out:
            out[out.index(flag) + 1] = value
        else:
            out += [flag, value]
    return out


def plan(suite: str, runs: Path, data: Path, config: str = "myosem-small", ablations: Sequence[str] = (),
         baselines: Sequence[str] = DEFAULT_BASELINES, recipe: str = "reduced",
         overrides: Mapping[str, str] | None = None) -> list[Any]:
    """The jobs of ``suite``: per fold, MyoSem, its ablations, then the baselines (which read its model).
    ``overrides`` sets options of the recipe's training command (e.g. ``--max-windows-per-file``)."""
    if suite not in SUITES:
        raise ConfigError(f"bench loso: unknown suite '{suite}' (expected {', '.join(SUITES)})")
    protocol, folds = SUITES[suite]
    fold_args = [["--test-subjects", *map(str, subjects)] for subjects in folds]
    return fold_jobs("loso", protocol, fold_args, runs, data, config, ablations, baselines, recipe, overrides)


def fold_jobs(bench: str, protocol: str, fold_args: Sequence[Sequence[str]], runs: Path, data: Path,
              config: str, ablations: Sequence[str], baselines: Sequence[str], recipe: str,
              overrides: Mapping[str, str] | None) -> list[Any]:
    """Per fold ``i`` (``runs/fold<i>``, the protocol with ``fold_args[i-1]``): ``myosem`` trained with
    ``config``, each ablation config the same way, then the baselines on that fold's MyoSem windows. The
    planner of ``bench loso`` and ``bench zeroshot``."""
    from train.baselines.run import BASELINES
    from train.suite import RECIPES, Job

    if recipe not in RECIPES:
        raise ConfigError(f"bench {bench}: unknown recipe '{recipe}' (expected {', '.join(RECIPES)})")
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise ConfigError(f"bench {bench}: unknown baseline(s) {', '.join(unknown)} "
                          f"(expected {', '.join(BASELINES)})")
    r = RECIPES[recipe]
    # jobs run one at a time, so each may use the machine's cores (the suite's reduced recipe says 1)
    threads = {"--threads": str(min(4, os.cpu_count() or 1))} if recipe == "reduced" else {}
    train_args = _with(r["train"], {**threads, **(overrides or {})})
    baseline_args = _with(r["baselines"], threads)
    jobs = []
    for i, extra in enumerate(fold_args, start=1):
        fold = runs / f"fold{i}"
        for name, cfg in (("myosem", config), *((a, a) for a in ablations)):
            out = fold / name
            argv = ("-m", "myosem_rt.cli", "train", "--data", str(data), "--protocol", protocol,
                    "--train-config", cfg, *extra, "--out", str(out), *train_args)
            jobs.append(Job("myosem", f"{name}-fold{i}", protocol, argv, out, cfg, runs))
        if baselines:
            out = fold / "baselines"
            argv = ("-m", "train.baselines", "--model", str(fold / "myosem"), "--data", str(data),
                    "--out", str(out), "--only", ",".join(baselines), *baseline_args)
            jobs.append(Job("baselines", f"baselines-fold{i}", protocol, argv, out, None, runs))
    return jobs


def read_record(path: Path) -> dict[str, Any] | None:
    """A finished run's JSON record (manifest, baseline record, ...); None while it is missing or partial."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_metrics(path: Path) -> dict[str, Any] | None:
    """The ``metrics`` of a finished run's manifest or baseline record (None while it is missing)."""
    return (read_record(path) or {}).get("metrics") or None


def collect(suite: str, runs: Path, ablations: Sequence[str] = (),
            baselines: Sequence[str] = DEFAULT_BASELINES) -> dict[str, Any]:
    """{method: {"folds": [metrics per fold or None], "mean"/"sd": {metric: value}}} from the run folders."""
    from train.baselines.run import TITLES

    _, folds = SUITES[suite]
    methods = {**{b: (TITLES[b], f"baselines/{b}.json") for b in baselines},
               **{a: (f"MyoSem-RT, {a}", f"{a}/manifest.json") for a in ablations},
               "myosem": ("**MyoSem-RT**", "myosem/manifest.json")}
    out: dict[str, Any] = {}
    for key, (title, rel) in methods.items():
        per_fold = []
        for i in range(1, len(folds) + 1):
            m = run_metrics(runs / f"fold{i}" / rel)
            per_fold.append(None if m is None else {f"{d} {k}": float(m[d][k]) for d, k in METRICS})
        out[key] = fold_row(title, per_fold)
    return out


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1: the folds are a sample of the splits one could draw, and
    with three to eight of them the population formula understates the spread by 7-22 %) of fold figures;
    sd 0.0 for a single fold. Every fold table of the benches uses it (``loso``, ``zeroshot``,
    ``describe``)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fold_row(title: str, per_fold: Sequence[Mapping[str, float] | None]) -> dict[str, Any]:
    """One method of a fold suite: its figures per fold (None: not run yet) and, for each figure, the mean
    and sd over the folds that have it (``bench loso`` and ``bench zeroshot`` alike)."""
    done = [f for f in per_fold if f is not None]
    names = dict.fromkeys(k for f in done for k in f)  # first-seen order
    summary = {n: mean_sd(v) for n in names if (v := [f[n] for f in done if n in f])}
    return {"title": title, "folds": list(per_fold), "summary": summary,
            "complete": len(done) == len(per_fold)}


def summary_rows(results: Mapping[str, Any], figures: Sequence[str], n_folds: int) -> list[str]:
    """``| title | mean ± sd | ... | done/n |`` per method, for the given figures ("-" where absent)."""
    rows = []
    for r in results.values():
        s = r["summary"]
        cells = [f"{s[k][0]:.3f} ± {s[k][1]:.3f}" if k in s else "-" for k in figures]
        n = sum(f is not None for f in r["folds"])
        rows.append(f"| {r['title']} | {' | '.join(cells)} | {n}/{n_folds} |")
    return rows


def report(suite: str, results: dict[str, Any], command: str) -> str:
    """Markdown: mean +- sd over folds per method, then EMG->text R@1 per fold."""
    protocol, folds = SUITES[suite]
    lines = [f"# Leave-subjects-out: {suite} (`{protocol}`, {len(folds)} folds)", "",
             f"Command: `{command}`", "",
             "Every subject is tested exactly once, by models that never saw them; all methods are trained "
             "and tested on the same windows of each fold. Mean ± sd over folds (sample sd).", "",
             "| method | EMG→text R@1 | EMG→text MRR | text→EMG R@1 | folds |", "|---|---|---|---|---|"]
    lines += summary_rows(results, [f"{d} {k}" for d, k in METRICS], len(folds))
    lines += ["", "EMG→text R@1 per fold (test subjects):", "",
              "| method | " + " | ".join(f"fold {i} ({', '.join(map(str, s))})" for i, s in
                                         enumerate(folds, start=1)) + " |",
              "|---|" + "---|" * len(folds)]
    for r in results.values():
        cells = ["-" if f is None else f"{f['emg_to_text R@1']:.3f}" for f in r["folds"]]
        lines.append(f"| {r['title']} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def bench_options(bench: str, suites: Mapping[str, Any], args: Any, default_baselines: Sequence[str]
                  ) -> tuple[str, Path, Path, Path | None, list[str], list[str]]:
    """(suite, data, runs, results dir or None, ablations, baselines) of ``myosem bench loso|zeroshot``,
    checked before any training: a bad option is a one-line error."""
    names = list(args.suite or [next(iter(suites))])
    if len(names) != 1 or names[0] not in suites:
        raise ConfigError(f"bench {bench}: --suite takes one of {', '.join(suites)}, got {' '.join(names)}")
    data = Path(args.data or "")
    if not args.data or not data.is_dir():
        raise ConfigError(f"bench {bench}: --data {args.data} is not a folder")
    runs = Path(getattr(args, "runs", None) or f"runs/{bench}/{names[0]}")
    results_dir = Path(args.results) if args.results else None
    if results_dir is not None and not results_dir.is_dir():
        raise ConfigError(f"bench {bench}: --results {results_dir} is not a folder")
    baselines = [b for b in (args.baselines or ",".join(default_baselines)).split(",") if b]
    return names[0], data, runs, results_dir, list(args.ablate or []), baselines


def bench_command(bench: str, suite: str, data: Path) -> str:
    """The ``myosem bench BENCH ...`` command line as typed, for its report (its plain form when the bench
    was not run from the command line)."""
    if sys.argv[1:3] == ["bench", bench]:
        return " ".join([f"myosem bench {bench}", *sys.argv[3:]])
    return f"myosem bench {bench} --suite {suite} --data {data}"


def write_results(results_dir: Path, bench: str, suite: str, text: str, payload: Mapping[str, Any]) -> None:
    """A fold bench's report ``text`` and its figures ``payload`` as
    ``<results_dir>/<bench>-<suite>.{md,json}`` (each written atomically)."""
    from myosem_rt.output_files import write_bytes

    write_bytes(results_dir / f"{bench}-{suite}.md", text.encode("utf-8"))
    write_bytes(results_dir / f"{bench}-{suite}.json", (json.dumps(payload, indent=2) + "\n").encode("utf-8"))


def run_suite(bench: str, suite: str, jobs: Sequence[Any], runs: Path, data: Path, dry_run: bool,
              results: Any, render: Any, results_dir: Path | None) -> int:
    """Run the jobs (:func:`train.suite.run_jobs`), then print ``render(suite, results(), command)`` and
    write it to ``<results_dir>/<bench>-<suite>.{md,json}`` (atomically); 1 when a job failed."""
    from train.suite import run_jobs

    failed = run_jobs(jobs, runs, data, dry_run=dry_run)
    if dry_run:
        return 0
    results = results()

    command = bench_command(bench, suite, data)
    text = render(suite, results, command)
    sys.stdout.write(text)
    if results_dir is not None:
        write_results(results_dir, bench, suite, text,
                      {"suite": suite, "command": command, "results": results})
    if failed:
        log.warning("bench %s: %d job(s) failed (logs under %s)", bench, failed, runs / "logs")
    return 1 if failed else 0


def bench_loso(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench loso --suite 3dc|myo --data DIR [--runs DIR] [--results DIR] [--train-config NAME]
    [--ablate NAME ...] [--baselines lda,lda-session,cnn-bilstm] [--recipe reduced|full]
    [--max-windows-per-file N] [--dry-run]``; the baselines train on the windows MyoSem's manifest
    records, so they follow N."""
    suite, data, runs, results_dir, ablations, baselines = bench_options("loso", SUITES, args,
                                                                         DEFAULT_BASELINES)
    per_file = getattr(args, "max_windows_per_file", None)
    if per_file is not None and per_file < 1:
        raise ConfigError(f"bench loso: --max-windows-per-file must be >= 1, got {per_file}")
    overrides = {"--max-windows-per-file": str(per_file)} if per_file is not None else {}
    jobs = plan(suite, runs, data, args.train_config or "myosem-small", ablations, baselines, args.recipe,
                overrides)
    return run_suite("loso", suite, jobs, runs, data, args.dry_run,
                     lambda: collect(suite, runs, ablations, baselines), report, results_dir)

"""``myosem report``: regenerate ``docs/results.md`` and ``docs/figures/*.png`` from the trained runs.

Reads ``--runs`` (``runs/myosem/P``, ``runs/baselines/P``, ``runs/<ablation>/P``; see :mod:`train.suite`),
keeps their result files in ``--record`` (default ``<out>/results/report-runs``, committed: a report is
more CPU than one working session and ``runs/`` is not kept, :mod:`train.record`), and writes the
comparative tables from the record (:mod:`train.report`) and the figures of one model in ``runs``
(:mod:`train.figures`; without one, the figures listed in ``<out>/figures/figures.json`` stay).
``--train`` first runs every missing job for the protocols -- MyoSem-RT, the EMG baselines, the text
baseline, the ablations -- with the ``reduced`` CPU recipe or the ``full`` GPU one, resuming interrupted
ones; ``--dry-run`` lists those jobs' commands. Needs the ``train`` extra (matplotlib; torch for training
and the query-attention figure).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from myosem_rt.commands import require_train_extra
from myosem_rt.errors import ConfigError

HELP = ("regenerate docs/results.md and its figures from trained runs (MyoSem-RT, baselines, ablations); "
        "--train runs them first")

#: Figures come from the first of these protocols with a MyoSem model (unless --figure-protocol).
FIGURE_PROTOCOLS = ("3dc-rand", "myodisco-rand", "myo-user", "3dc-user", "myodisco-session", "ciil-shift")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", default="runs", metavar="DIR", help="run directories (default runs)")
    p.add_argument("--out", default="docs", metavar="DIR", help="writes DIR/results.md, DIR/figures/ (docs)")
    p.add_argument("--data", default=os.environ.get("MYOSEM_DATA"), metavar="DIR",
                   help="folder holding the recordings (default $MYOSEM_DATA)")
    p.add_argument("--record", metavar="DIR",
                   help="result files the tables come from (in git) (default OUT/results/report-runs)")
    p.add_argument("--protocols", metavar="P,P", help="comma-separated protocols (default: all)")
    p.add_argument("--figure-protocol", metavar="P", help="protocol whose MyoSem model the figures show")
    p.add_argument("--no-figures", action="store_true", help="tables only")
    p.add_argument("--train", action="store_true", help="first run every missing training job")
    p.add_argument("--steps", default="myosem,baselines,text,ablations", metavar="S,S",
                   help="--train: which jobs (myosem, baselines, text, ablations)")
    p.add_argument("--recipe", default="reduced", choices=("reduced", "full"),
                   help="--train: reduced (CPU, the rules' recipe) or full (GPU machine)")
    p.add_argument("--baselines", metavar="B,B", help="--train: subset of lda,tcn,cnn-bilstm,atzori-cnn")
    p.add_argument("--variants", metavar="V,V", help="--train: subset of the ablation / text-baseline runs")
    p.add_argument("--seeds", default="0", metavar="S,S",
                   help="--train: training seeds (default 0; seed s > 0 runs in RUNS/seed<s>)")
    p.add_argument("--dry-run", action="store_true", help="--train: list the missing jobs, run nothing")


def _split(value: str | None) -> list[str] | None:
    return [v for v in value.split(",") if v] if value else None


def command_line(args: argparse.Namespace) -> str:
    words = ["myosem", "report", "--runs", args.runs, "--out", args.out, "--data", str(args.data)]
    for name in ("record", "protocols", "figure_protocol"):
        if getattr(args, name):
            words += ["--" + name.replace("_", "-"), getattr(args, name)]
    return " ".join(shlex.quote(w) for w in words)


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    require_train_extra("the report", "matplotlib")
    from myosem_rt.protocols import PROTOCOLS
    from train.record import keep
    from train.report import collect, write_report

    if not args.data:
        raise ConfigError("--data: give the recordings folder (or set MYOSEM_DATA)")
    runs, out, data = Path(args.runs), Path(args.out), Path(args.data)
    record = Path(args.record) if args.record else out / "results" / "report-runs"
    protocols = _split(args.protocols) or list(PROTOCOLS)
    if args.train:
        from myosem_rt.protocols import split
        from train.suite import plan, run_jobs

        usable = []
        for p in protocols:
            try:
                split(p, data)
                usable.append(p)
            except ConfigError as exc:
                sys.stderr.write(f"myosem report: {p} skipped: {exc}\n")
        try:
            seeds = [int(v) for v in _split(args.seeds) or ["0"]]
        except ValueError:
            raise ConfigError(f"--seeds: expected comma-separated integers, got '{args.seeds}'") from None
        jobs = plan(usable, runs, data, _split(args.steps) or [], args.recipe, _split(args.baselines),
                    _split(args.variants), seeds)
        failed = run_jobs(jobs, runs, data, dry_run=args.dry_run, record=record)
        if args.dry_run:
            return 0
        if failed:
            sys.stderr.write(f"myosem report: {failed} job(s) failed (logs in {runs / 'logs'})\n")
    keep(runs, record)
    cells, unavailable = collect(record, protocols, data)
    figures: dict[str, str] = {}
    if not args.no_figures:
        figures = _figures(args, cells, protocols, runs, data, out, config)
    path = write_report(cells, unavailable, out, record, figures, command_line(args))
    sys.stdout.write(f"report written to {path} ({len(figures)} figures)\n")
    return 0


def _figures(args: argparse.Namespace, cells: dict, protocols: list[str], runs: Path, data: Path, out: Path,
             config: dict[str, Any]) -> dict[str, str]:
    """{caption: PNG path relative to ``out``}: drawn from a MyoSem model under ``runs`` and listed in
    ``<out>/figures/figures.json`` with the model they show; without a model (a later session, whose
    ``runs/`` is gone), the figures that list names, if their model's result is still the recorded one."""
    import json

    from train.figures import make_figures
    from train.report import MAIN

    listing = out / "figures" / "figures.json"
    order = [args.figure_protocol] if args.figure_protocol else [*FIGURE_PROTOCOLS, *protocols]
    chosen = next((p for p in order if p in cells and cells[p][MAIN].metrics
                   and (runs / MAIN / p / "manifest.json").is_file()), None)
    if chosen is not None:
        made = make_figures(runs / MAIN / chosen, data, out / "figures", config)
        figures = {caption: str(path.relative_to(out)) for caption, path in made.items()}
        created = json.loads((runs / MAIN / chosen / "manifest.json").read_text())["created"]
        listing.write_text(json.dumps({"protocol": chosen, "model_created": created, "figures": figures},
                                      indent=1) + "\n", encoding="utf-8")
        return figures
    try:
        kept = json.loads(listing.read_text())
        cell = cells[kept["protocol"]][MAIN]
        same = cell.source and json.loads(Path(cell.source).read_text())["created"] == kept["model_created"]
    except (OSError, ValueError, KeyError):
        same = False
    if same:
        return dict(kept["figures"])
    sys.stderr.write("myosem report: no MyoSem-RT model to draw figures from\n")
    return {}

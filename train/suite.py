"""Run every training behind the comparative report, for a list of protocols (``myosem report --train``).

A run directory per method and protocol (``runs/`` is git-ignored):

- ``runs/myosem/P`` -- MyoSem-RT (``myosem train``, config ``myosem-small``);
- ``runs/<variant>/P`` -- the ablations and the text-side baseline, the same command with another
  training config (:data:`VARIANTS`: ``train/configs/<variant>.yaml``);
- ``runs/baselines/P/<name>.json`` -- the EMG baselines (``python -m train.baselines``), which read
  ``runs/myosem/P`` for the split, windows and prototypes and so run after it.

Jobs run one at a time in subprocesses (memory is returned after each; one failure does not stop the
rest): each protocol's MyoSem model and right after it the baselines that read its split, windows and
prototypes (a budget that runs out never leaves a recorded model without its baselines), then the text
baseline, then the ablations, each over every protocol, so a budget that runs out leaves whole columns. A
job whose result exists -- under ``runs`` or in the report's record (:mod:`train.record`, kept in git
because a report outlasts a working session) -- is skipped; an interrupted one resumes from its
checkpoints. Each job's log and wall clock go to ``runs/logs/<step>-<P>.{log,json}``.

Stage 1 is the same for every run with the same stage-1 settings, vocabulary and held-out classes
(:func:`train.pipeline.stage1_key`); before a MyoSem-type job starts, a finished ``text/`` with that key is
copied from a sibling run, and the pipeline, which checks the key itself, then reuses it.

Seeds: seed 0 is the layout above; another seed ``s`` (``myosem report --train --seeds 0,1,2``) repeats
the chosen steps in ``runs/seed<s>/`` (same layout, its own ``logs/``) with ``--seed s`` -- which redraws
the windows subsampled per file, the initialisation and the batch order; stage 1 (its own seed) is shared.

Recipes (:data:`RECIPES`): ``reduced`` is the CPU recipe of the reduced report (800 windows per file,
15 + 6 + 3 epochs, one thread); ``full`` is ``myosem-small`` as configured on every window, for the GPU
machine (``--device auto``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from myosem_rt.errors import ConfigError

log = logging.getLogger(__name__)

#: run-directory name -> training config of the MyoSem variants (ablations and the text-side baseline).
VARIANTS = {
    "baseline-text-labels": "baseline-text-labels",
    "ablate-descriptors": "ablate-descriptors",
    "ablate-queries": "ablate-queries",
    "ablate-stage1": "ablate-stage1",
    "ablate-window-features": "ablate-window-features",
    "ablate-session-stats": "ablate-session-stats",
}
_SEED_DIR = re.compile(r"^seed([1-9]\d*)$")  #: the folder of seed s > 0 (:func:`seed_root`)
ABLATIONS = ("ablate-descriptors", "ablate-queries", "ablate-stage1", "ablate-window-features",
             "ablate-session-stats")
STEPS = ("myosem", "baselines", "text", "ablations")
RECIPES: dict[str, dict[str, list[str]]] = {
    "reduced": {
        "train": ["--max-windows-per-file", "800", "--epochs", "15", "--align-epochs", "6,3",
                  "--threads", "1", "--device", "cpu"],
        "baselines": ["--epochs", "15", "--threads", "1"],
    },
    "full": {
        "train": ["--device", "auto"],
        "baselines": ["--epochs", "30", "--threads", "4", "--device", "auto"],
    },
}


@dataclass(frozen=True)
class Job:
    step: str  #: myosem | baselines | text | ablations
    name: str  #: run-directory name (myosem, baselines, a variant)
    protocol: str
    argv: tuple[str, ...]  #: command after the python executable
    out: Path
    config: str | None = None  #: training config (MyoSem-type jobs)
    root: Path | None = None  #: the run layout this job belongs to (``runs`` or ``runs/seed<s>``)

    @property
    def label(self) -> str:
        return f"{self.name}-{self.protocol}"

    @property
    def only(self) -> tuple[str, ...]:
        """The baselines a baselines job fits (its ``--only``); () for any other job."""
        return tuple(self.argv[self.argv.index("--only") + 1].split(",")) if self.step == "baselines" else ()

    def done(self) -> bool:
        if self.step == "baselines":
            return all((self.out / f"{b}.json").is_file() for b in self.only)
        manifest = self.out / "manifest.json"
        return manifest.is_file() and bool(json.loads(manifest.read_text()).get("metrics"))


def seed_root(runs: Path, seed: int) -> Path:
    """Where the runs of ``seed`` live: ``runs`` for seed 0, ``runs/seed<s>`` otherwise."""
    return runs if seed == 0 else runs / f"seed{seed}"


def seed_roots(runs: Path) -> dict[int, Path]:
    """{seed: run layout} of every seed present under ``runs`` (seed 0 is ``runs`` itself)."""
    found = {int(m[1]): d for d in runs.glob("seed*") if d.is_dir() and (m := _SEED_DIR.match(d.name))}
    return dict(sorted({**found, 0: runs}.items()))


def plan(protocols: Sequence[str], runs: Path, data: Path, steps: Sequence[str] = STEPS,
         recipe: str = "reduced", baselines: Sequence[str] | None = None,
         variants: Sequence[str] | None = None, seeds: Sequence[int] = (0,)) -> list[Job]:
    """Every job for ``protocols`` and ``seeds``, in the order of the module docstring."""
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct non-negative integers, got {list(seeds)}")
    return [job for s in seeds for job in _plan_seed(protocols, runs, data, steps, recipe, baselines,
                                                     variants, s)]


def _plan_seed(protocols: Sequence[str], runs: Path, data: Path, steps: Sequence[str], recipe: str,
               baselines: Sequence[str] | None, variants: Sequence[str] | None, seed: int) -> list[Job]:
    from train.baselines.run import BASELINES

    root = seed_root(runs, seed)
    seeded = ["--seed", str(seed)] if seed else []
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe '{recipe}' (expected {', '.join(RECIPES)})")
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise ConfigError(f"unknown step(s) {', '.join(unknown)} (expected {', '.join(STEPS)})")
    r = RECIPES[recipe]
    train = ("-m", "myosem_rt.cli", "train", "--data", str(data))
    jobs: list[Job] = []
    for p in protocols:  # each protocol's MyoSem model, then at once the baselines that read it
        if "myosem" in steps:
            out = root / "myosem" / p
            jobs.append(Job("myosem", "myosem", p, (*train, "--protocol", p, "--out", str(out), *r["train"],
                                                    *seeded), out, "myosem-small", root))
        if "baselines" in steps:
            only = ",".join(baselines or BASELINES)
            jobs.append(Job("baselines", "baselines", p, (
                "-m", "train.baselines", "--model", str(root / "myosem" / p), "--data", str(data),
                "--out", str(root / "baselines" / p), "--only", only, *r["baselines"], *seeded),
                root / "baselines" / p, None, root))
    for step in ("text", "ablations"):
        if step not in steps:
            continue
        for p in protocols:
            names = ["baseline-text-labels"] if step == "text" else list(ABLATIONS)
            for v in names:
                if variants is not None and v not in variants:
                    continue
                out = root / v / p
                argv = (*train, "--train-config", VARIANTS[v], "--protocol", p, "--out", str(out),
                        *r["train"], *seeded)
                jobs.append(Job(step, v, p, argv, out, VARIANTS[v], root))
    return jobs


def _protocol_options(argv: Sequence[str]) -> dict[str, list[int]]:
    """The protocol options a job's ``myosem train`` command line sets (``--held-out 1 5 9`` ...)."""
    from myosem_rt.protocols import OPTION_NAMES

    out: dict[str, list[int]] = {}
    for name in OPTION_NAMES:
        flag = "--" + name.replace("_", "-")
        if flag in argv:
            i = argv.index(flag) + 1
            values = []
            while i < len(argv) and not str(argv[i]).startswith("--"):
                values.append(int(argv[i]))
                i += 1
            out[name] = values if name != "max_files" else values[0]
    return out


def seed_stage1(job: Job, runs: Path, data: Path) -> Path | None:
    """Copy a sibling's finished stage 1 into ``job.out`` when its key matches (returns the source)."""
    from myosem_rt.protocols import split
    from train.pipeline import CHECKPOINTS, load_train_config, stage1_key

    if job.config is None or (job.out / CHECKPOINTS / "stage1.json").is_file():
        return None
    sp = split(job.protocol, data, **_protocol_options(job.argv))  # a fold's --held-out changes the key
    key = stage1_key(load_train_config(job.config), sp.vocabulary, sp.held_out_classes,
                     sp.text_vocabularies)
    markers = [m for root in seed_roots(runs).values() for m in root.glob(f"*/*/{CHECKPOINTS}/stage1.json")]
    for marker in sorted(markers):
        src = marker.parent.parent
        try:
            same = json.loads(marker.read_text())["key"] == key
            text_manifest = json.loads((src / "text" / "manifest.json").read_text())
        except (OSError, ValueError, KeyError):
            continue
        if same and sp.vocabulary in text_manifest.get("vocabularies", []) and src != job.out:
            (job.out / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
            shutil.copytree(src / "text", job.out / "text", dirs_exist_ok=True)
            shutil.copyfile(marker, job.out / CHECKPOINTS / "stage1.json")
            log.info("%s: stage 1 copied from %s (same key %s)", job.label, src, key)
            return src
    return None


def run_jobs(jobs: Sequence[Job], runs: Path, data: Path, *, nice: int = 10, dry_run: bool = False,
             record: Path | None = None) -> int:
    """Run the jobs that are not done, one at a time; returns the number that failed. Each start is logged
    with its place in the queue and, once a job has run, an estimate of the time left (a full report is
    hours of CPU: a user must see where it stands). With ``record`` (:mod:`train.record`), a job whose
    result is recorded there counts as done, every finished job's results are recorded as it ends, and a
    baselines job whose MyoSem model is recorded but no longer under ``runs`` retrains that model first."""
    from train.record import keep, recorded

    def done(job: Job) -> bool:
        return job.done() or (record is not None and recorded(job.out, runs, record, job.only))

    failed = 0
    todo = [job for job in jobs if not done(job)]
    spent: list[float] = []
    by_out = {job.out: job for job in jobs if job.step != "baselines"}
    for job in jobs:
        if done(job):
            log.info("%s: done, skipped", job.label)
            continue
        if dry_run:
            shown = " ".join(shlex.quote(c) for c in job.argv)
            sys.stdout.write(f"{job.label}: python {shown}\n")
            continue
        model_dir = Path(job.argv[job.argv.index("--model") + 1]) if job.step == "baselines" else None
        if model_dir is not None and not (model_dir / "manifest.json").is_file():
            source = by_out.get(model_dir)
            if record is None or source is None:
                log.warning("%s: no MyoSem model at %s yet, skipped", job.label, model_dir)
                continue
            log.info("%s: its MyoSem model is recorded but not in %s; training it again", job.label, runs)
            if _run_one(source, runs, data, nice, f"[{job.label}]", spent) != 0:
                failed += 1
                continue
        place = todo.index(job) + 1 if job in todo else 0
        remaining_s = sum(spent) / len(spent) * (len(todo) - place + 1) if spent else 0.0
        left = f"; about {remaining_s / 60:.0f} min left" if spent else ""
        rc = _run_one(job, runs, data, nice, f"[{place}/{len(todo)}]", spent, left)
        failed += rc != 0
        if rc == 0 and record is not None:
            keep(runs, record)
    return failed


def _run_one(job: Job, runs: Path, data: Path, nice: int, place: str, spent: list[float], left: str = ""
             ) -> int:
    """Run one job in a subprocess (stage 1 seeded from a sibling), log it and its wall-clock; its exit
    code (1 when its stage 1 could not be seeded)."""
    logs = (job.root or runs) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    shown = " ".join(shlex.quote(c) for c in job.argv)
    try:
        seed_stage1(job, runs, data)
    except ConfigError as exc:
        log.warning("%s: %s", job.label, exc)
        return 1
    cmd = [sys.executable, *job.argv]
    if nice and hasattr(os, "nice"):
        cmd = ["nice", "-n", str(nice), *cmd]
    log.info("%s %s: python %s%s", place, job.label, shown, left)
    t0 = time.perf_counter()
    with open(logs / f"{job.label}.log", "a", encoding="utf-8") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    seconds = time.perf_counter() - t0
    spent.append(seconds)
    (logs / f"{job.label}.json").write_text(json.dumps(
        {"command": f"python {shown}", "rc": rc, "seconds": round(seconds, 1),
         "finished": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n", encoding="utf-8")
    log.info("%s: exit %d after %.0f s", job.label, rc, seconds)
    return rc

"""``myosem bench NAME``: benchmarks that print measured figures (median, p99, ratios) — never timed tests."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from myosem_rt.commands import require_train_extra

HELP = "run a benchmark and print its figures (see README 'Measured figures')"

#: benchmark name -> "module:function"; each function takes (args, config) and returns an exit code.
BENCHMARKS: dict[str, str] = {
    "replay": "devices.bench:bench_replay",
    "windows": "myosem_rt.windowing:bench_windows",
    "model": "myosem_rt.model:bench_model",
    "text": "myosem_rt.text_encoder:bench_text",
    "live": "myosem_rt.live.bench:bench_live",
    "stream": "myosem_rt.stream.bench:bench_stream",
    "gui": "myosem_rt.display.bench:bench_gui",
    "stability": "myosem_rt.live.stability:bench_stability",
    "soak": "myosem_rt.live.soak:bench_soak",
    "fault": "myosem_rt.stream.faults:bench_fault",
    "enrol": "myosem_rt.profile.bench:bench_enrol",
    "train": "train.bench:bench_train",  # needs the train extra (torch)
    "loso": "train.loso:bench_loso",  # trains every fold: needs the train extra (torch)
    "zeroshot": "train.zeroshot:bench_zeroshot",  # trains every fold: needs the train extra (torch)
    "describe": "train.live_offsets:bench_describe",  # over bench zeroshot's fold models
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    p.add_argument("--data", metavar="PATH", help="recording(s) to use, where the benchmark needs one")
    p.add_argument("--model", metavar="DIR", help="model directory, where the benchmark needs one")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (for a smoke run)")
    p.add_argument("--models", nargs="+", metavar="DIR",
                   help="enrol: models to pick from per subject (one that never trained on it)")
    p.add_argument("--suite", nargs="+", metavar="NAME",
                   help="enrol: 3dc, ciil-shift, myodisco-session, multiday, sim-3dc (default all); "
                        "loso: 3dc or myo; zeroshot, describe: 3dc or myodisco")
    p.add_argument("--trials", type=int, nargs="+", metavar="K", help="enrol: trials per gesture (1 2)")
    p.add_argument("--json", metavar="OUT", help="enrol: also write every figure to this JSON file")
    p.add_argument("--force", action="store_true", help="enrol: overwrite the --json file if it exists")
    p.add_argument("--results", metavar="DIR",
                   help="enrol: write DIR/enrolment.{md,json}; loso, zeroshot, describe: "
                        "DIR/BENCH-SUITE.{md,json}")
    p.add_argument("--profile", metavar="PATH",
                   help="the wearer's profile (myosem enrol): live, stability")
    p.add_argument("--describe", action="append", metavar="NAME=DESCRIPTION|ACTION",
                   help="stability: rank this typed gesture beside the model's classes, as myosem live "
                        "--describe does (repeatable); the recording never shows it, so every hop showing it "
                        "is a false alarm")
    p.add_argument("--describe-novelty", type=float, metavar="BETA",
                   help="stability: the typed gestures' stream novelty weight (config live.describe_novelty)")
    p.add_argument("--device", metavar="D", help="train: auto (default), cpu or cuda[:N]")
    p.add_argument("--train-config", metavar="NAME|PATH",
                   help="train: training config (default myosem-small)")
    p.add_argument("--windows", type=int, metavar="N",
                   help="train: estimate the wall-clock for N training windows (default: those of --data)")
    p.add_argument("--compare", action="store_true",
                   help="train: also time stage 2 with torch's nn.Dropout, alternating rounds (the speed-up)")
    p.add_argument("--runs", metavar="DIR",
                   help="loso, zeroshot: run folders (default runs/BENCH/SUITE; describe: zeroshot's)")
    p.add_argument("--ablate", nargs="+", metavar="CONFIG", help="loso, zeroshot: ablation training configs")
    p.add_argument("--baselines", metavar="LIST",
                   help="loso: baselines (default lda,lda-session,cnn-bilstm); zeroshot: (lda,cnn-bilstm)")
    p.add_argument("--recipe", choices=("reduced", "full"), default="reduced",
                   help="loso, zeroshot: the CPU recipe (default) or the full one (GPU)")
    p.add_argument("--max-windows-per-file", type=int, metavar="N",
                   help="loso: windows per recording (overrides the recipe's 800)")
    p.add_argument("--dry-run", action="store_true", help="loso, zeroshot: print the jobs, run nothing")
    p.add_argument("--minutes", type=float, metavar="M", help="soak: wall minutes (default 10)")
    p.add_argument("--speed", type=float, metavar="S", help="soak: replay speed (default 4)")


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    module_name, func = BENCHMARKS[args.name].split(":")
    if module_name.startswith("train."):
        require_train_extra(f"bench {args.name}")
    return int(getattr(importlib.import_module(module_name), func)(args, config) or 0)

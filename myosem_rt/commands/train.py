"""``myosem train``: stage 1 (text) -> stage 2 (EMG encoder) -> stage 3 (alignment) -> ONNX export -> eval.

Needs the ``train`` extra (torch); the runtime commands never do. ``--train-config`` is the training config
(model and schedule, train/configs/*.yaml), distinct from the global ``myosem --config`` runtime config,
whose ``filters`` and ``datasets`` window lengths training uses so that the model sees windows exactly as
the live runtime cuts them. Re-running with the same ``--out`` resumes from the checkpoints there; under
``torchrun`` (``torchrun --nproc_per_node=N -m myosem_rt.cli train ...``) every rank trains a shard.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from myosem_rt.commands import require_train_extra
from myosem_rt.errors import ConfigError
from myosem_rt.recordings import xdf

HELP = "train a model for a protocol (text, EMG encoder, alignment), export it and evaluate it"


def _align_epochs(value: str) -> tuple[int, int]:
    parts = value.split(",")
    try:
        frozen, unfrozen = (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FROZEN[,UNFROZEN] epochs, got '{value}'") from None
    if len(parts) > 2 or frozen < 0 or unfrozen < 0:
        raise argparse.ArgumentTypeError(f"expected FROZEN[,UNFROZEN] epochs >= 0, got '{value}'")
    return frozen, unfrozen


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train-config", default="myosem-small", metavar="NAME|FILE",
                   help="training config: a packaged name (myosem-small, tiny) or a YAML file "
                        "(default myosem-small = train/configs/myosem-small.yaml)")
    p.add_argument("--data", required=True, metavar="DIR",
                   help="folder holding the recordings (3dc/, myodisco/ ... or NinaPro DB2_s<n>/)")
    p.add_argument("--protocol", required=True, metavar="NAME", help="evaluation protocol, e.g. 3dc-rand")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="model directory to write (resumes)")
    p.add_argument("--subjects", type=int, nargs="+", metavar="N", help="protocol: only these subjects")
    p.add_argument("--test-subjects", type=int, nargs="+", metavar="N",
                   help="subject-disjoint protocols: test (never train on) these subjects")
    p.add_argument("--held-out", type=int, nargs="+", metavar="CLASS",
                   help="class-disjoint protocols (3dc-class, myodisco-class): hold out these classes "
                        "(their EMG and texts never reach training)")
    p.add_argument("--max-files", type=int, metavar="N", help="protocol: at most N files per side")
    p.add_argument("--max-windows-per-file", type=int, metavar="N",
                   help="class-stratified subset of N windows per file (default: the config's)")
    p.add_argument("--stage1-steps", type=int, metavar="N", help="stage-1 text training steps")
    p.add_argument("--epochs", type=int, metavar="N", help="stage-2 epochs")
    p.add_argument("--align-epochs", type=_align_epochs, metavar="F[,U]",
                   help="stage-3 epochs with the encoder frozen [, then partly unfrozen]")
    p.add_argument("--device", default="auto", help="auto (GPU if any), cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads")
    p.add_argument("--seed", type=int, metavar="N", help="random seed")
    p.add_argument("--labels", choices=("cue", "activity"),
                   help="train on every window of a gesture trial (cue) or only on those whose muscle "
                        "activity shows the gesture (activity; default: the training config's, cue)")
    xdf.add_arguments(p)


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    require_train_extra("training")
    from myosem_rt.protocols import options_from_args
    from train.pipeline import run_training

    options = options_from_args(args)
    for name in ("max_windows_per_file", "stage1_steps", "epochs", "threads"):
        value = getattr(args, name)
        if value is not None and value < (0 if name in ("stage1_steps", "epochs") else 1):
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
    overrides = {k: getattr(args, k) for k in ("stage1_steps", "epochs", "align_epochs",
                                              "max_windows_per_file", "seed", "threads", "labels")}
    manifest = run_training(
        args.train_config, args.data, args.protocol, args.out, runtime_config=config,
        protocol_options=options, overrides=overrides, device=args.device,
        command=command_line(args),
    )
    if manifest:
        sys.stdout.write(summary(manifest, args.out))
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The command, rebuilt from the parsed options (what ran, whatever the caller's argv looked like)."""
    words = ["myosem"] + (["--config", str(args.config)] if getattr(args, "config", None) else []) + ["train"]
    for name in ("train_config", "data", "protocol", "out", "subjects", "test_subjects", "held_out",
                 "max_files", "max_windows_per_file", "stage1_steps", "epochs", "align_epochs", "device",
                 "threads", "seed", "labels"):
        value = getattr(args, name, None)
        if value is None:
            continue
        words.append("--" + name.replace("_", "-"))
        if name == "align_epochs":
            words.append(",".join(str(v) for v in value))
        else:
            words += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return " ".join(shlex.quote(w) for w in words)


def summary(manifest: dict[str, Any], out: str) -> str:
    """What the run produced: sizes, export parity and the protocol's test figures."""
    size = sum(e["bytes"] for e in manifest["files"].values()) / 1e6
    m = manifest.get("metrics") or {}
    parity = manifest["onnx"]["parity_max_abs_diff"]
    lines = [f"model written to {out} ({size:.1f} MB; torch vs ONNX max |dz| {parity:.1e})"]
    if m:
        e2t, t2e = m["emg_to_text"], m["text_to_emg"]
        lines.append(f"{m['protocol']}: {m['n_windows']} test windows; "
                     f"EMG->text R@1 {e2t['R@1']:.3f} R@3 {e2t['R@3']:.3f} R@5 {e2t['R@5']:.3f} "
                     f"MRR {e2t['MRR']:.3f} (chance R@1 {e2t['chance']['R@1']:.3f}); "
                     f"text->EMG R@1 {t2e['R@1']:.3f} MRR {t2e['MRR']:.3f}")
        for key in ("held_out", "seen"):
            if f"emg_to_text_{key}" in m:
                f = m[f"emg_to_text_{key}"]
                name = key.replace("_", "-")
                lines.append(f"  EMG->text {name} classes: R@1 {f['R@1']:.3f} MRR {f['MRR']:.3f}")
    return "\n".join(lines) + "\n"

"""``python -m train.text {train,report}``: stage-1 text training + export, and the before/after report.

Both subcommands follow the ``myosem`` command convention (``add_*_arguments(parser)``,
``run_*(args, config)``) so that ``myosem train`` can mount them later without changes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from myosem_rt.errors import ConfigError, MyosemError


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def load_vocabularies(names: str | None) -> list[Any]:
    """``--vocab a,b`` -> Vocabulary objects (all packaged vocabularies when empty)."""
    from myosem_rt.vocab import list_vocabularies, load_vocabulary

    wanted = _split(names) or list_vocabularies()
    if not wanted:
        raise ConfigError("--vocab: no vocabularies found in myosem_rt/vocab")
    return [load_vocabulary(n) for n in wanted]


def stage1_config(args: argparse.Namespace, config: dict[str, Any]):  # noqa: ANN201
    """The training config's ``stage1`` section (``--train-config``, default myosem-small: the same settings
    `myosem train` uses), overridden by the command-line options that were given."""
    from train.pipeline import load_train_config
    from train.text.stage1 import Stage1Config

    values = load_train_config(args.train_config).stage1.to_dict()
    for key in ("steps", "train_layers", "seed", "threads", "batch_actions", "tau"):
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    return Stage1Config.from_mapping(values)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vocab", metavar="A,B", help="vocabularies to use (default: all packaged ones)")
    p.add_argument("--out", metavar="DIR", required=True, type=Path, help="output directory")
    p.add_argument("--train-config", dest="train_config", default="myosem-small", metavar="NAME|FILE",
                   help="training config whose stage1 section is used (default: myosem-small)")
    p.add_argument("--steps", type=int, help="training steps (default 150)")
    p.add_argument("--train-layers", dest="train_layers", type=int,
                   help="top MiniLM layers to train, 0 = projection head only (default 1)")
    p.add_argument("--batch-actions", dest="batch_actions", type=int, help="actions per step (default 32)")
    p.add_argument("--tau", type=float, help="contrastive temperature (default 0.1)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default 2)")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--exclude-actions", metavar="A,B", help="shared action ids never trained on")
    p.add_argument("--holdout-classes", metavar="VOCAB:ID,...",
                   help="classes held out of training (their action is excluded in every vocabulary)")


def run_train(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from train.text.stage1 import run_stage1

    held = []
    for item in _split(args.holdout_classes):
        vocab, _, cid = item.partition(":")
        if not cid.strip().lstrip("-").isdigit():
            raise ConfigError(f"--holdout-classes: expected VOCAB:ID, got '{item}'")
        held.append((vocab.strip(), int(cid)))
    text_dir = run_stage1(load_vocabularies(args.vocab), args.out, stage1_config(args, config), held,
                          _split(args.exclude_actions))
    import json

    manifest = json.loads((text_dir / "manifest.json").read_text())
    check = manifest["export_check"]
    size_mb = sum(f["bytes"] for f in manifest["files"].values()) / 1e6
    sys.stdout.write(
        f"text model written to {text_dir} ({size_mb:.1f} MB); runtime vs torch cosine on "
        f"{check['n_vocab_texts']} vocabulary texts mean {check['cosine_vocab_mean']:.4f} min "
        f"{check['cosine_vocab_min']:.4f}, nearest-prototype agreement {check['retrieval_agreement']:.1%}\n"
    )
    return 0


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--no-runtime", dest="runtime", action="store_false",
                   help="skip exporting/evaluating the runtime ONNX artefact")


def run_report(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from train.text.report import run_report as report

    vocabs = load_vocabularies(args.vocab)
    summary = report(vocabs, args.out, stage1_config(args, config), runtime=args.runtime)
    sys.stdout.write(summary["table"] + "\n")
    sys.stdout.write(f"report: {args.out / 'report.md'}, report.json and heatmap_*.png in {args.out}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from myosem_rt.cli import setup_logging
    from myosem_rt.config import load_config

    parser = argparse.ArgumentParser(prog="python -m train.text", description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="FILE", help="YAML file overlaid on the default config.yaml")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(sub.add_parser("train", help="stage-1 training + export of <out>/text"))
    add_report_arguments(sub.add_parser("report", help="before/after report with held-out paraphrases"))
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        config = load_config(args.config)
        return run_train(args, config) if args.command == "train" else run_report(args, config)
    except MyosemError as exc:
        print(f"python -m train.text {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())

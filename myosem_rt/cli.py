"""The ``myosem`` command: one entry point, one module per subcommand.

Each subcommand module defines ``HELP``, ``add_arguments(parser)`` and ``run(args, config) -> int``, and keeps
heavy imports (pylsl, scipy, onnxruntime, torch) inside ``run`` so that ``myosem --help`` stays instant.
Every :class:`~myosem_rt.errors.MyosemError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from myosem_rt import __version__
from myosem_rt.errors import MyosemError

log = logging.getLogger("myosem")

#: subcommand -> module implementing it (order = order in ``myosem --help``).
COMMANDS: dict[str, str] = {
    "demo": "myosem_rt.commands.demo",
    "replay": "devices.replay_cli",
    "simulate": "devices.simulate_cli",
    "info": "myosem_rt.commands.info",
    "models": "myosem_rt.commands.models",
    "streams": "myosem_rt.commands.streams",
    "monitor": "myosem_rt.commands.monitor",
    "record": "myosem_rt.commands.record",
    "train": "myosem_rt.commands.train",
    "eval": "myosem_rt.commands.eval",
    "live": "myosem_rt.commands.live",
    "gui": "myosem_rt.commands.gui",
    "query": "myosem_rt.commands.query",
    "enrol": "myosem_rt.commands.enrol",
    "calibrate-eval": "myosem_rt.commands.calibrate",
    "bench": "myosem_rt.commands.bench",
    "report": "myosem_rt.commands.report",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="myosem",
        description="MyoSem-RT: real-time forearm EMG to natural-language descriptions.",
    )
    parser.add_argument("--version", action="version", version=f"myosem-rt {__version__}")
    parser.add_argument("--config", metavar="FILE", help="YAML file overlaid on the default config.yaml")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    prog = f"myosem {args.command}"
    try:
        from myosem_rt._env import configure_environment
        from myosem_rt.config import load_config
        from myosem_rt.recordings.xdf import apply_arguments

        config = load_config(args.config)
        configure_environment(config["lsl"]["api_config"])
        apply_arguments(args)  # --stream / --labels-stream / --label-map of XDF recordings
        return int(args._module.run(args, config) or 0)
    except MyosemError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

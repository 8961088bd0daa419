"""``myosem demo``: the main job — a source streams over LSL and the runtime shows what it receives.

The source is a replayed recording (``--recording`` / config ``demo.recording``) or, with none configured,
the synthetic armband. Both run in this process but reach the runtime only through LSL, exactly as a real
armband would. A Qt window opens when a display is available, else a terminal status line is printed.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
from typing import Any

HELP = "replay a recording (or the synthetic armband) into the runtime and show it live"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--recording",
        metavar="FILE",
        help="recording to replay (config demo.recording; default: the synthetic armband)",
    )
    p.add_argument(
        "--simulate", action="store_true", help="use the synthetic armband even if a recording is configured"
    )
    p.add_argument("--speed", type=float, metavar="X", help="replay speed (config demo.speed)")
    p.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="seconds to run (config demo.duration_s; default: until closed / Ctrl-C)",
    )
    p.add_argument("--no-gui", action="store_true", help="terminal view even when a display is available")
    p.add_argument(
        "--screenshot",
        metavar="PNG",
        help="save a screenshot of the window at the end "
        "(needs --duration; works headless with QT_QPA_PLATFORM=offscreen)",
    )


def _gui_available(args: argparse.Namespace) -> bool:
    if args.no_gui:
        return False
    if args.screenshot:
        return True
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not has_display or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return False
    try:
        import pyqtgraph  # noqa: F401
        from PyQt5 import QtWidgets  # noqa: F401
    except ImportError:
        log.info("PyQt5/pyqtgraph not installed (pip install -e '.[gui]'): terminal view")
        return False
    return True


def build_source(args: argparse.Namespace, config: dict[str, Any], name: str):  # -> PacedSource
    """The demo's stream source: a looping replay of the recording, or the synthetic armband."""
    demo = config["demo"]
    recording = None if args.simulate else (args.recording or demo["recording"])
    speed = demo["speed"] if args.speed is None else args.speed
    if recording:
        from devices.replay import ReplayDevice
        from myosem_rt.recordings import load_session

        session = load_session(recording)  # fully validated before any outlet exists
        return ReplayDevice(
            session,
            name=name,
            speed=speed,
            chunk_ms=config["replay"]["chunk_ms"],
            loop=True,
            wait_for_consumer=10.0,
        )
    from devices.simulate import armband_from_config

    return armband_from_config(config["simulate"], name=name, speed=speed, wait_for_consumer=10.0)


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.errors import ConfigError

    duration = config["demo"]["duration_s"] if args.duration is None else args.duration
    if args.screenshot and duration is None:
        raise ConfigError("--screenshot needs --duration (the screenshot is taken at the end)")
    if duration is not None and duration <= 0:
        raise ConfigError(f"--duration must be > 0, got {duration:g}")
    name = f"myosem-demo-{os.getpid()}"
    source = build_source(args, config, name)
    source.start()
    source.ready.wait(10.0)
    if source.error is not None:
        source.join()
    cfg = copy.deepcopy(config)
    cfg["stream"].update(name=name, type="EMG", source_id=source.spec.source_id)

    from myosem_rt.display.feed import LiveFeed

    try:
        with LiveFeed(cfg, markers=source.spec.marker_name) as feed:
            title = f"{source.spec.source_id} ({source.spec.n_channels} ch @ {source.spec.fs:g} Hz)"
            log.info("demo: %s — %s", title, "Qt window" if _gui_available(args) else "terminal view")
            if _gui_available(args):
                from myosem_rt.display.scope import run_scope

                run_scope(feed, title, duration, args.screenshot)
            else:
                from myosem_rt.display.terminal import run_terminal

                run_terminal(feed, duration)
    except KeyboardInterrupt:
        log.info("stopped (Ctrl-C)")
    finally:
        source.stop()
    return 0

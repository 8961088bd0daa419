"""``myosem demo``: the main job — a source streams over LSL and the runtime describes what it receives.

The source is a replayed recording (``--data`` / ``--recording`` / config ``demo.recording``) or, with none,
the synthetic armband. Both run in this process but reach the runtime only through LSL, exactly as a real
armband would; the runtime side is the same session as ``myosem gui`` (:mod:`myosem_rt.display.connect`):
the live engine with the model matching the source (``--model`` to choose), its ranked descriptions, the
ground truth from the source's marker stream. The live window opens when a display is available, else (or
with ``--terminal``) the terminal view prints them.

Without data the synthetic armband takes the shape of the default shipped model (3dc-armband: 10 ch @
1 kHz, or ``--model``'s) and one activation pattern per model class derived from the model
(:mod:`myosem_rt.display.synthetic`), so its ground truth names the model's own classes. With no shipped
model installed it falls back to config ``simulate`` (signal only).
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
from typing import Any

from myosem_rt.commands.gui import (
    add_view_arguments,
    check_display,
    check_view_arguments,
    fps_report,
    has_display,
    require_gui,
)
from myosem_rt.recordings import xdf

HELP = "replay a recording (or the synthetic armband) into the live engine and show its descriptions"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", "--recording", dest="recording", metavar="FILE",
                   help="recording to replay, looping (config demo.recording; default: the synthetic "
                        "armband)")
    p.add_argument("--simulate", action="store_true",
                   help="use the synthetic armband even if a recording is configured")
    p.add_argument("--speed", type=float, metavar="X", help="replay speed (config demo.speed)")
    p.add_argument("--terminal", "--no-gui", dest="terminal", action="store_true",
                   help="terminal view even when a display is available")
    add_view_arguments(p)
    xdf.add_arguments(p)


def _gui_available(args: argparse.Namespace) -> bool:
    if args.terminal:
        return False
    if args.screenshot or args.fps_report:
        check_display(headless_ok=True)
        return True
    if not has_display() or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return False
    try:
        require_gui()
    except Exception:
        log.info("PyQt5/pyqtgraph not installed (pip install -e '.[gui]'): terminal view")
        return False
    return True


def _default_model(args: argparse.Namespace) -> Any | None:
    """The model the synthetic armband is shaped after: ``--model``, else the first shipped one installed."""
    from myosem_rt.model import SHIPPED, ModelError, MyoSemModel

    if args.model:
        return MyoSemModel.load(args.model, threads=1)
    for path in SHIPPED.values():
        try:
            return MyoSemModel.load(path, threads=1)
        except ModelError:
            continue
    log.warning("no shipped model installed: the synthetic armband follows config 'simulate' (signal only)")
    return None


def build_source(args: argparse.Namespace, config: dict[str, Any], name: str):  # -> PacedSource
    """The demo's stream source: a looping replay of the recording, or the synthetic armband."""
    demo = config["demo"]
    recording = None if args.simulate else (args.recording or demo["recording"])
    speed = demo["speed"] if args.speed is None else args.speed
    if recording:
        from devices.replay import ReplayDevice
        from myosem_rt.recordings import load_session

        session = load_session(recording)  # fully validated before any outlet exists
        return ReplayDevice(session, name=name, speed=speed, chunk_ms=config["replay"]["chunk_ms"], loop=True,
                            wait_for_consumer=10.0)
    from devices.simulate import armband_from_config

    model = _default_model(args)
    if model is None or config["simulate"]["topology"]:  # a topology the user chose is kept
        return armband_from_config(config["simulate"], name=name, speed=speed, wait_for_consumer=10.0)
    from myosem_rt.display.synthetic import model_topology, topology_accuracy

    seed = int(config["simulate"]["seed"])
    ids, names, a, amplitude = model_topology(model, seed)
    log.info("synthetic armband: %d ch @ %g Hz, one pattern per class of %s (fresh windows ranked as their "
             "class: %.0f %%)", model.n_channels, model.fs, model.directory,
             100 * topology_accuracy(model, a, amplitude))
    return _armband(config, name, speed, model, (ids, names, a), amplitude)


def _armband(config: dict[str, Any], name: str, speed: float, model: Any, topology: Any, amplitude: float):
    """The synthetic armband of config ``simulate`` (sequence, timing, seed) with the model's shape and the
    derived ``topology``; levels are absolute (no separate noise floor: rest has its own pattern)."""
    from devices.simulate import SyntheticArmband

    shape = ("name", "topology", "n_channels", "fs")
    options = {k: v for k, v in config["simulate"].items() if k not in shape}
    options.update(amplitude=amplitude, noise_floor=0.0)
    return SyntheticArmband(name=name, n_channels=None, fs=model.fs, topology=topology,
                            topology_source=f"derived from {model.directory}", speed=speed,
                            wait_for_consumer=10.0, **options)


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    duration = config["demo"]["duration_s"] if args.duration is None else args.duration
    check_view_arguments(args, duration)
    gui = _gui_available(args)
    if gui:
        require_gui()
    name = f"myosem-demo-{os.getpid()}"
    source = build_source(args, config, name)
    source.start()
    source.ready.wait(10.0)
    if source.error is not None:
        source.join()
    cfg = copy.deepcopy(config)
    cfg["stream"].update(name=name, type="EMG", source_id=source.spec.source_id)

    from myosem_rt.display.connect import open_session
    from myosem_rt.stream.inlet import StreamSelector

    try:
        session = open_session(cfg, StreamSelector(name=name), model=args.model,
                               markers=source.spec.marker_name, profile=args.profile)
        recording = None if args.simulate else (args.recording or config["demo"]["recording"])
        if recording and session.model is not None:
            from myosem_rt.model import warn_trained_on

            warn_trained_on(session.model, [recording], "demo")
        try:
            log.info("demo: %s — %s", session.title, "window" if gui else "terminal view")
            if gui:
                from myosem_rt.display.window import run_window

                stats = run_window(session, cfg, duration, args.screenshot, args.query)
                if args.fps_report:
                    sys.stdout.write(fps_report(stats, session) + "\n")
            else:
                from myosem_rt.display.terminal import run_terminal

                run_terminal(session.worker, duration)
        finally:
            session.close()
    except KeyboardInterrupt:
        log.info("stopped (Ctrl-C)")
    finally:
        source.stop()
    return 0

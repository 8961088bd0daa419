"""``myosem gui``: the live window on any EMG stream: descriptions, ground truth, gesture query, calibration.

The stream is chosen like ``myosem live`` does (``--name`` / ``--type`` / ``--source-id``, else config
``stream``); the model is ``--model`` or the shipped one matching the stream's channels and rate; the
calibration profile ``--profile PATH`` is loaded when it exists and written on every confirm / correct /
new gesture. See :mod:`myosem_rt.display.window` for what is shown.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

HELP = "live window: EMG, ranked descriptions, ground truth, gesture query by text, calibration"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="EMG stream name (replaces config stream.* matching)")
    p.add_argument("--type", help="EMG stream type")
    p.add_argument("--source-id", help="EMG stream source_id")
    add_view_arguments(p)


def add_view_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared with ``myosem demo``."""
    p.add_argument("--model", metavar="NAME|DIR",
                   help="model: a shipped name (3dc-armband, myo-armband) or a directory "
                        "(default: the shipped model matching the stream's channels and rate)")
    p.add_argument("--profile", metavar="PATH",
                   help="the wearer's profile (myosem enrol): loaded if present, made by enrolling in the "
                        "window otherwise, saved on every confirm / correct / new gesture")
    p.add_argument("--duration", type=float, metavar="S", help="seconds to run (default: until closed)")
    p.add_argument("--screenshot", metavar="PNG",
                   help="save the window as PNG at the end (needs --duration; works headless with "
                        "QT_QPA_PLATFORM=offscreen)")
    p.add_argument("--query", metavar="TEXT",
                   help="open the window with this gesture query, re-run every second")
    p.add_argument("--fps-report", action="store_true",
                   help="print display frames per second and frame time at the end (needs --duration)")


def check_view_arguments(args: argparse.Namespace, duration: float | None) -> None:
    from myosem_rt.errors import ConfigError

    if args.screenshot and duration is None:
        raise ConfigError("--screenshot needs --duration (the screenshot is taken at the end)")
    if getattr(args, "fps_report", False) and duration is None:
        raise ConfigError("--fps-report needs --duration")
    if duration is not None and duration <= 0:
        raise ConfigError(f"--duration must be > 0, got {duration:g}")


def require_gui() -> None:
    """A one-line error when the ``gui`` extra is missing."""
    try:
        import pyqtgraph  # noqa: F401
        from PyQt5 import QtWidgets  # noqa: F401
    except ImportError as exc:
        from myosem_rt.errors import ConfigError

        raise ConfigError(f"the window needs PyQt5 and pyqtgraph (pip install -e '.[gui]'): {exc}") from None


def has_display() -> bool:
    """Whether Qt can open a window here: an X or Wayland display, or a platform plugin chosen explicitly
    (``QT_QPA_PLATFORM``, e.g. ``offscreen``). Without one Qt aborts the process (exit 134, no message)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM"))


def check_display(headless_ok: bool) -> None:
    """Before Qt is touched: no display is a one-line error saying what to use instead; a headless
    screenshot run (``headless_ok``) renders offscreen."""
    if has_display():
        return
    if headless_ok:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return
    from myosem_rt.errors import ConfigError

    raise ConfigError("no display to open the window on (DISPLAY / WAYLAND_DISPLAY unset): use "
                      "'myosem live' for the descriptions in this terminal, or --screenshot FILE.png "
                      "(renders offscreen)")


def fps_report(stats: Any, session: Any) -> str:
    """One line: display fps and frame cost, and whether acquisition kept up (hops, rate, hop latency)."""
    s = stats.summary()
    snap = session.worker.snapshot()
    hop = "-" if snap.hop_ms is None else f"median {snap.hop_ms[0]:.2f} ms, p99 {snap.hop_ms[1]:.2f} ms"
    return (f"display: {s['fps']:.1f} fps over {s['frames']:.0f} frames, frame draw median "
            f"{s['frame_ms_median']:.1f} ms, p99 {s['frame_ms_p99']:.1f} ms (frame interval p99 "
            f"{s['interval_ms_p99']:.0f} ms) | acquisition: {snap.n_samples} samples, {snap.n_windows} "
            f"windows, {snap.n_hops} hops, {snap.rate_hz:.0f} Hz, gaps {snap.n_gaps}, hop latency {hop}")


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.display.connect import open_session
    from myosem_rt.stream.inlet import StreamSelector

    check_view_arguments(args, args.duration)
    check_display(headless_ok=bool(args.screenshot))
    require_gui()
    selector = StreamSelector.from_config(config["stream"], name=args.name, type=args.type,
                                          source_id=args.source_id)
    session = open_session(config, selector, model=args.model, profile=args.profile)
    try:
        from myosem_rt.display.window import run_window

        stats = run_window(session, config, args.duration, args.screenshot, args.query)
        if args.fps_report:
            sys.stdout.write(fps_report(stats, session) + "\n")
    finally:
        session.close()
    return 0

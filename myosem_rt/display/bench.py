"""``myosem bench gui``: does the live window stay smooth, and does it leave acquisition alone?

Per stream shape, one LSL source in this process and one live session, measured in two phases of the
same length on the same session: first the worker alone (no window), then with the window open. Printed
per phase: display frames per second and the time a frame's drawing takes (median / p99), the GUI
thread's CPU share, the worker thread's CPU share (acquisition + inference), the hop latency (arrival of a
window's last sample -> its result ready, median / p99) and the effective input rate. Acquisition is not
slowed when the hop latency and the input rate are the same with and without the window.

Shapes: 16 ch @ 2 kHz (the issue's target; no trained model has this shape, so the encoder is a
*stand-in* — a fixed random projection of the descriptors to 384-d — while everything else, ranking,
smoothing, history, drawing, is the real code) and the model's own shape with the real model (``--model``,
default the shipped 3dc-armband) on a replay of ``--data`` or the synthetic armband.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from myosem_rt.text_encoder import l2_normalize

log = logging.getLogger(__name__)


class StandInModel:
    """The model interface the live engine and the window use, with a random-projection encoder (module
    docstring): for shapes no trained model has. Not a model of anything."""

    def __init__(self, n_channels: int, fs: float, config: Any, n_classes: int = 11, dim: int = 384) -> None:
        from myosem_rt.stream.windows import WindowSpec

        spec = WindowSpec.from_config(config["windows"], fs)
        self.n_channels, self.fs = int(n_channels), float(fs)
        self.window, self.hop, self.patch = spec.window, spec.hop, spec.patch
        w = config["windows"]
        self.window_ms, self.hop_ms, self.patch_ms = (float(w[k]) for k in ("window_ms", "hop_ms",
                                                                             "patch_ms"))
        self.dim = dim
        self.manifest = {"filters": dict(config["filters"]), "normalisation": {}}
        self.directory = f"stand-in ({n_channels} ch @ {fs:g} Hz)"
        rng = np.random.default_rng(0)
        n_in = (self.window // self.patch) * self.n_channels * 3
        self._w = rng.standard_normal((n_in, dim)).astype(np.float32) / np.sqrt(n_in)
        self.class_ids = np.arange(n_classes)
        self.class_names = [f"class {i}" for i in range(n_classes)]
        self.descriptions = [f"stand-in description of class {i}" for i in range(n_classes)]
        self.actions = list(self.class_names)
        self.prototypes = l2_normalize(rng.standard_normal((n_classes, dim)))
        self.text_dir = None

    def encode(self, x: np.ndarray, desc: np.ndarray) -> np.ndarray:
        d = np.log1p(np.abs(np.asarray(desc, dtype=np.float32))).reshape(-1, self._w.shape[0])
        return l2_normalize(d @ self._w)

    def rank(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = np.atleast_2d(z) @ self.prototypes.T
        return scores, np.argsort(-scores, axis=1, kind="stable")


def _phase(session: Any, config: Any, seconds: float, window: bool) -> dict[str, float]:
    """Run ``seconds`` with or without the window; the figures of that phase."""
    from PyQt5 import QtCore, QtWidgets

    worker = session.worker
    worker.reset_latency()
    hops0, samples0, cpu0 = worker.n_hops, worker.snapshot().n_samples, worker.cpu_s
    t0, gui_cpu0 = time.perf_counter(), time.thread_time()
    out: dict[str, float] = {}
    if window:
        from myosem_rt.display.window import LiveWindow, _qt_messages

        QtCore.qInstallMessageHandler(_qt_messages)
        _app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])  # kept alive while shown
        win = LiveWindow(session, config)
        win.show()
        QtCore.QTimer.singleShot(int(seconds * 1000), win.close)
        loop = QtCore.QEventLoop()
        win.closed.connect(loop.quit)
        loop.exec_()
        out.update(win.stats.summary())
    else:
        time.sleep(seconds)
    wall = time.perf_counter() - t0
    snap = worker.snapshot()
    out.update(wall_s=wall, gui_cpu=(time.thread_time() - gui_cpu0) / wall if window else 0.0,
               worker_cpu=(worker.cpu_s - cpu0) / wall, hops=float(worker.n_hops - hops0),
               rate=(snap.n_samples - samples0) / wall,
               hop_median=snap.hop_ms[0] if snap.hop_ms else float("nan"),
               hop_p99=snap.hop_ms[1] if snap.hop_ms else float("nan"), gaps=float(snap.n_gaps))
    return out


def _case(label: str, source: Any, model: Any, config: Any, seconds: float) -> list[str]:
    from myosem_rt.display.connect import LiveSession
    from myosem_rt.display.worker import LiveWorker
    from myosem_rt.live.engine import LiveSettings
    from myosem_rt.live.truth import open_markers
    from myosem_rt.model import trained_config
    from myosem_rt.stream.consumer import StreamConsumer
    from myosem_rt.stream.inlet import StreamSelector

    timeout = float(config["lsl"]["resolve_timeout_s"])
    source.start()
    try:
        source.ready.wait(10.0)
        markers = open_markers(source.spec.marker_name, timeout)
        consumer = StreamConsumer(trained_config(model, config), StreamSelector(name=source.spec.name))
        worker = LiveWorker(consumer, model, LiveSettings.from_config(config), markers=markers,
                            view_s=float(config["gui"]["view_s"]),
                            history_s=float(config["gui"]["history_s"]))
        session = LiveSession(worker.start(), model, None, None, label)
        try:
            time.sleep(1.0)  # connected, filters settled
            alone = _phase(session, config, seconds, window=False)
            shown = _phase(session, config, seconds, window=True)
        finally:
            session.close()
    finally:
        source.stop()
    lines = []
    for name, r in (("worker only", alone), ("with window", shown)):
        fps = (f"{r['fps']:5.1f} fps, frame draw median {r['frame_ms_median']:4.1f} ms p99 "
               f"{r['frame_ms_p99']:5.1f} ms, GUI thread {100 * r['gui_cpu']:4.1f} % CPU"
               if "fps" in r else "no window")
        lines.append(f"{label:<34s} {name:<12s} | {fps} | worker {100 * r['worker_cpu']:4.1f} % CPU, "
                     f"{r['rate']:6.0f} samples/s, {r['hops'] / r['wall_s']:4.1f} hops/s, hop latency median "
                     f"{r['hop_median']:.2f} ms p99 {r['hop_p99']:.2f} ms, gaps {r['gaps']:.0f}")
    return lines


def bench_gui(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench gui [--model M] [--data FILE] [--quick]`` (module docstring)."""
    import os

    from devices.simulate import SyntheticArmband

    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    seconds = 4.0 if getattr(args, "quick", False) else 10.0
    pid = os.getpid()
    lines = _case("16 ch @ 2 kHz, stand-in encoder",
                  SyntheticArmband(name=f"bench-gui-16-{pid}", n_channels=16, fs=2000.0,
                                   wait_for_consumer=10.0),
                  StandInModel(16, 2000.0, config), config, seconds)
    from myosem_rt.model import DEFAULT_MODEL_DIR, MyoSemModel

    model = MyoSemModel.load(getattr(args, "model", None) or DEFAULT_MODEL_DIR, threads=1)
    data = getattr(args, "data", None)
    if data:
        from devices.replay import ReplayDevice
        from myosem_rt.recordings import load_session

        source = ReplayDevice(load_session(data), name=f"bench-gui-model-{pid}", loop=True,
                              wait_for_consumer=10.0)
    else:
        source = SyntheticArmband(name=f"bench-gui-model-{pid}", n_channels=model.n_channels, fs=model.fs,
                                  wait_for_consumer=10.0)
    lines += _case(f"{model.n_channels} ch @ {model.fs:g} Hz, {model.directory.name}", source, model, config,
                   seconds)
    print(f"myosem bench gui: {seconds:g} s per phase, QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')}, "
          f"gui.fps = {config['gui']['fps']}")
    print("\n".join(lines))
    return 0

"""The live window: scrolling EMG, activation, ranked descriptions, the smoothed label large, ground truth,
gesture query and calibration. Needs the ``gui`` extra (PyQt5, pyqtgraph).

Why it stays smooth: everything heavy runs in the :class:`~myosem_rt.display.worker.LiveWorker` thread; a
frame (:meth:`LiveWindow.refresh`, on a Qt timer at ``gui.fps``) copies a snapshot and draws it. The EMG
is drawn as a min/max envelope of at most ~2 points per pixel column (blocks aligned to the absolute
sample count, so the trace does not shimmer as it scrolls), the history strip and query list are redrawn a
few times a second, and the ranking table once per new hop. :class:`FrameStats` measures what a user gets:
frames per second and the time a frame takes (``--fps-report``, ``myosem bench gui``).

Layout: header (label, its description, ground truth, stream status) / left: EMG of the last ``view_s``
seconds over the activation heat strip of the last ``history_s`` seconds (query matches are
``LinearRegionItem`` s on both, in stream seconds) / right: activation bars and every class ranked /
bottom: query panel and calibration panel, or, after "Enrol…", the guided enrolment
(:class:`~myosem_rt.display.enrol_panel.EnrolPanel`) in their place.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui, QtWidgets

from myosem_rt.display.connect import LiveSession
from myosem_rt.display.interact import Calibrator, GestureQuery
from myosem_rt.display.panels import (
    ACCENT,
    BAD_COLOUR,
    MUTED,
    OK_COLOUR,
    CalibrationPanel,
    QueryPanel,
    RankingTable,
    font,
)
from myosem_rt.live.engine import UNCERTAIN
from myosem_rt.query import NO_TRUTH

log = logging.getLogger(__name__)

#: Envelope points per channel at most (about 2 per pixel column of a wide plot).
MAX_POINTS = 1600
#: Seconds between redraws of the history strip and of a live query.
SLOW_PERIOD_S = 0.25
QUERY_PERIOD_S = 1.0
REGION_BRUSH = (255, 150, 0, 40)
SELECTED_BRUSH = (255, 120, 0, 75)
REST_ID = 0
#: Half-life (s) of each channel's display scale, the largest recent envelope: long enough that a rest
#: after a gesture looks quiet, short enough that a channel quiet for long is scaled up again.
SCALE_HALF_LIFE_S = 10.0


def envelope(x: np.ndarray, first_index: int, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """(sample positions, values): min/max per block of ``x`` (n, C), blocks aligned to absolute sample
    indices (``first_index`` = absolute index of ``x[0]``), or ``x`` itself when it is short."""
    n = x.shape[0]
    k = max(1, int(np.ceil(2 * n / max_points)))
    if k < 2:
        return np.arange(n, dtype=np.float64), x
    start = (-first_index) % k
    m = (n - start) // k
    blocks = x[start : start + m * k].reshape(m, k, x.shape[1])
    out = np.empty((2 * m, x.shape[1]), dtype=x.dtype)
    out[0::2], out[1::2] = blocks.min(axis=1), blocks.max(axis=1)
    pos = start + np.repeat(np.arange(m) * k, 2) + np.tile([0, k - 1], m)
    return pos.astype(np.float64), out


#: What the header says when no model fits the stream: what is shown, and how to get descriptions.
SIGNAL_ONLY_HINT = "no model fits this stream: signal only. Press Enrol… to make your profile for it"


#: At most this many channel labels on the EMG traces' axis (more overlap at the window's default size).
MAX_CHANNEL_LABELS = 16


def channel_ticks(n: int) -> list[int]:
    """Channels labelled on the traces' axis: all up to :data:`MAX_CHANNEL_LABELS`, else every k-th and
    the last (64 labels in 300 pixels overlapped into a grey bar)."""
    step = max(1, -(-n // MAX_CHANNEL_LABELS))
    return sorted(set(range(0, n, step)) | {n - 1})


class FrameStats:
    """Frames per second and per-frame draw time over the run (and over the last second)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.costs: list[float] = []
        self._recent: deque[float] = deque(maxlen=240)

    def add(self, start: float, end: float) -> None:
        self.times.append(start)
        self.costs.append((end - start) * 1e3)
        self._recent.append(start)

    def fps_now(self) -> float:
        r = self._recent
        return (len(r) - 1) / (r[-1] - r[0]) if len(r) > 2 and r[-1] > r[0] else 0.0

    def summary(self, skip_s: float = 1.0) -> dict[str, float]:
        """fps and frame cost (median, p99 ms) after the first ``skip_s`` seconds (window creation)."""
        t = np.asarray(self.times)
        cost = np.asarray(self.costs)
        if t.size < 3:
            return {"frames": float(t.size), "fps": 0.0, "frame_ms_median": 0.0, "frame_ms_p99": 0.0,
                    "interval_ms_p99": 0.0}
        keep = t >= t[0] + skip_s if t[-1] - t[0] > 2 * skip_s else np.ones(t.size, bool)
        t, cost = t[keep], cost[keep]
        gaps = np.diff(t) * 1e3
        return {"frames": float(t.size), "fps": (t.size - 1) / (t[-1] - t[0]),
                "frame_ms_median": float(np.median(cost)), "frame_ms_p99": float(np.percentile(cost, 99)),
                "interval_ms_p99": float(np.percentile(gaps, 99))}


class LiveWindow(QtWidgets.QWidget):
    """See the module docstring. ``session.model`` None: signal-only (no ranking, query, calibration)."""

    closed = QtCore.pyqtSignal()  #: emitted when the window is closed (ends :func:`run_window`'s loop)

    def __init__(self, session: LiveSession, config: Mapping[str, Any], fps: float | None = None) -> None:
        super().__init__()
        self.session = session
        self.worker = session.worker
        self.config = config
        gui = config["gui"]
        self.view_s, self.history_s = float(gui["view_s"]), float(gui["history_s"])
        self.setWindowTitle(f"MyoSem-RT — {session.title}")
        self.resize(1360, 880)
        self.stats = FrameStats()
        self.query = self.calibrator = None
        if self.worker.model is not None:  # a model, or a profile's view of one (or of the device alone)
            self.query = GestureQuery(self.worker, top=int(gui["query_top"]),
                                      threshold=gui["query_threshold"])
            self.calibrator = Calibrator(self.worker, session.profile, session.profile_path, config,
                                         query=self.query)
        self.regions: list[pg.LinearRegionItem] = []  #: query matches drawn (tests read it)
        self._region_plots: list[pg.PlotWidget] = []
        self._truth_items: list[pg.TextItem] = []
        self._truth_runs: tuple[Any, ...] = ()
        self._scale = np.zeros(self.worker.n_channels)
        self._scaled_at = time.monotonic()
        self._bar_scale = 0.0
        self._last_hop = -1
        self._next_slow = self._next_query = 0.0
        self.enrol_panel: Any | None = None  #: the "Enrol…" flow, once opened

        layout = self._layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addLayout(self._header())
        body = QtWidgets.QHBoxLayout()
        body.addLayout(self._plots(), 5)
        body.addLayout(self._side(), 4)  # room for the ranked descriptions, whole
        layout.addLayout(body, 1)
        if self.query is not None:
            panels = QtWidgets.QHBoxLayout()
            self.query_panel = QueryPanel(self.query, self.show_segments, self._truth_name)
            panels.addWidget(self.query_panel, 1)
            if self.calibrator is not None:
                self.calibration_panel = CalibrationPanel(self.calibrator, float(gui["record_s"]))
                panels.addWidget(self.calibration_panel, 1)
            layout.addLayout(panels)

        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.PreciseTimer)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(max(1, int(round(1000.0 / float(fps or gui["fps"])))))

    # -- building -----------------------------------------------------------------------------------------
    def _header(self) -> QtWidgets.QHBoxLayout:
        self.label = QtWidgets.QLabel("—" if self.session.model is not None else "signal")
        self.label.setFont(font(self, 30, bold=True))
        self.label.setStyleSheet(f"color: {ACCENT}")
        self.label_text = QtWidgets.QLabel("waiting for the first hop…" if self.session.model is not None
                                           else SIGNAL_ONLY_HINT)
        self.label_text.setToolTip(self.label_text.text())  # whole, even where the header cuts it
        self.label_text.setWordWrap(self.session.model is None)
        self.label_text.setFont(font(self, 12, italic=True))
        self.label_text.setStyleSheet(f"color: {MUTED}")
        self.label_text.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        left = QtWidgets.QVBoxLayout()
        left.setSpacing(0)
        left.addWidget(self.label)
        left.addWidget(self.label_text)
        caption = QtWidgets.QLabel("ground truth")
        caption.setStyleSheet(f"color: {MUTED}")
        self.truth = QtWidgets.QLabel("—")
        self.truth.setFont(font(self, 20, bold=True))
        middle = QtWidgets.QVBoxLayout()
        middle.setSpacing(0)
        middle.addWidget(caption)
        middle.addWidget(self.truth)
        self.status = QtWidgets.QLabel("")
        self.status.setAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
        self.status.setStyleSheet(f"color: {MUTED}")
        self.status.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.status.setMinimumWidth(390)
        self.enrol_button = QtWidgets.QPushButton("Enrol…")
        self.enrol_button.setToolTip("guided enrolment: follow the cues for each gesture, then use it")
        self.enrol_button.clicked.connect(self.open_enrolment)
        header = QtWidgets.QHBoxLayout()
        header.addLayout(left, 5)
        header.addLayout(middle, 3)
        header.addWidget(self.status, 2)
        header.addWidget(self.enrol_button, 0, QtCore.Qt.AlignTop)
        return header

    def open_enrolment(self) -> Any:
        """Show the enrolment panel in place of the query / calibration panels (returns it)."""
        from myosem_rt.display.enrol_panel import EnrolPanel

        if self.enrol_panel is None:
            path = self.session.profile_path
            self.enrol_panel = EnrolPanel(self.worker, self.config, profile_path=path,
                                          user=path.name if path is not None else "",
                                          on_close=self.close_enrolment)
            self.enrol_panel.enrolled.connect(self._enrolled)
            self._layout.addWidget(self.enrol_panel)
        for name in ("query_panel", "calibration_panel"):
            if hasattr(self, name):
                getattr(self, name).hide()
        self.enrol_panel.show()
        self.enrol_button.setEnabled(False)
        return self.enrol_panel

    def _enrolled(self, result: Any) -> None:
        """The enrolment's view is in the worker: confirm / correct refine its profile from now on. A
        window opened signal-only (no model fitted the stream) gets its query and calibration panels now."""
        if self.calibrator is None:
            gui = self.config["gui"]
            self.query = GestureQuery(self.worker, top=int(gui["query_top"]),
                                      threshold=gui["query_threshold"])
            self.calibrator = Calibrator(self.worker, result.profile, self.session.profile_path, self.config,
                                         query=self.query)
            panels = QtWidgets.QHBoxLayout()
            self.query_panel = QueryPanel(self.query, self.show_segments, self._truth_name)
            self.calibration_panel = CalibrationPanel(self.calibrator, float(gui["record_s"]))
            panels.addWidget(self.query_panel, 1)
            panels.addWidget(self.calibration_panel, 1)
            self._layout.addLayout(panels)
            if self.enrol_panel is not None and self.enrol_panel.isVisible():
                self.query_panel.hide()
                self.calibration_panel.hide()
        self.calibrator.set_profile(result.profile)
        self.calibration_panel.refresh_classes()

    def close_enrolment(self) -> None:
        if self.enrol_panel is not None:
            self.enrol_panel.hide()
        for name in ("query_panel", "calibration_panel"):
            if hasattr(self, name):
                getattr(self, name).show()
        self.enrol_button.setEnabled(True)

    def _plots(self) -> QtWidgets.QVBoxLayout:
        n = self.worker.n_channels
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "stream time", units="s")
        self.plot.getAxis("left").setTicks([[(-i, f"ch{i + 1}") for i in channel_ticks(n)]])
        self.plot.setYRange(-n + 0.4, 0.6, padding=0)
        colours = [pg.intColor(i, hues=max(n, 8), values=1, maxValue=200) for i in range(n)]
        self.curves = [self.plot.plot(pen=pg.mkPen(colours[i], width=1), skipFiniteCheck=True)
                       for i in range(n)]
        self.strip = pg.PlotWidget(background="w")
        self.strip.setMenuEnabled(False)
        self.strip.setMouseEnabled(x=False, y=False)
        self.strip.hideButtons()
        self.strip.setTitle(f"activation per channel, last {self.history_s:g} s (query matches highlighted)",
                            color=MUTED, size="9pt")
        self.strip.getAxis("left").setTicks([[(i + 0.5, f"ch{i + 1}") for i in sorted({0, n - 1})]])
        self.strip.invertY(True)
        self.strip.setYRange(-3.3, n, padding=0)
        self.strip.setFixedHeight(190)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setColorMap(pg.colormap.get("CET-L17" if "CET-L17" in pg.colormap.listMaps()
                                               else "inferno"))
        self.strip.addItem(self.image)
        plots = QtWidgets.QVBoxLayout()
        plots.addWidget(self.plot, 3)
        plots.addWidget(self.strip, 1)
        self.strip.setVisible(self.session.model is not None)  # the strip draws the model's hop history
        return plots

    def _side(self) -> QtWidgets.QVBoxLayout:
        n = self.worker.n_channels
        self.bars = pg.BarGraphItem(x=np.arange(1, n + 1), height=np.zeros(n), width=0.7, brush="#3b7dd8")
        bar_plot = pg.PlotWidget(background="w")
        bar_plot.setTitle("activation now (RMS, filtered)", color=MUTED, size="9pt")
        bar_plot.setMenuEnabled(False)
        bar_plot.setMouseEnabled(x=False, y=False)
        bar_plot.hideButtons()
        bar_plot.addItem(self.bars)
        step = 1 if n <= 12 else 2
        bar_plot.getAxis("bottom").setTicks([[(i, str(i)) for i in range(1, n + 1, step)]])
        bar_plot.getAxis("left").setStyle(showValues=True, tickTextWidth=24)  # the bars' scale
        bar_plot.setXRange(0.4, n + 0.6, padding=0)
        bar_plot.setMaximumHeight(170)
        self._bar_plot = bar_plot
        side = QtWidgets.QVBoxLayout()
        side.addWidget(bar_plot)
        if self.session.model is not None:
            caption = QtWidgets.QLabel("descriptions ranked for the latest window (EMG → text)")
            caption.setStyleSheet(f"color: {MUTED}")
            self.table = RankingTable()
            side.addWidget(caption)
            side.addWidget(self.table, 1)
        else:
            side.addStretch(1)
        return side

    # -- per frame ----------------------------------------------------------------------------------------
    def refresh(self) -> None:
        start = time.perf_counter()
        snap = self.worker.snapshot()
        self._draw_emg(snap)
        self._draw_bars(snap)
        if snap.n_hops != self._last_hop and snap.result is not None:
            self._last_hop = snap.n_hops
            self._draw_result(snap)
        self._draw_truth(snap)
        now = time.monotonic()
        if now >= self._next_slow:
            self._next_slow = now + SLOW_PERIOD_S
            self._draw_history(snap)
            self._draw_status(snap)
        if self.calibrator is not None:
            self.calibration_panel.poll()
        if self.enrol_panel is not None:
            self.enrol_panel.poll()
        if self.query is not None and self.query_panel.live.isChecked() and now >= self._next_query:
            self._next_query = now + QUERY_PERIOD_S
            self.query_panel.run_query()
        self.stats.add(start, time.perf_counter())

    def _draw_emg(self, snap: Any) -> None:
        x, t_end = snap.samples, snap.t_end
        if x.shape[0] < 2 or t_end is None:
            return
        fs = self.worker.fs
        pos, env = envelope(x, snap.first_sample, MAX_POINTS)
        t = t_end - (x.shape[0] - 1 - pos) / fs
        spread = np.percentile(np.abs(env), 99, axis=0)
        now = time.monotonic()
        decay = 0.5 ** ((now - self._scaled_at) / SCALE_HALF_LIFE_S)
        self._scale, self._scaled_at = np.maximum(self._scale * decay, spread), now
        # a channel's own scale, but never below the median channel's: a quiet channel looks quiet, a noisy
        # one (3DC channel 2) stays in its lane
        scale = np.maximum(self._scale, np.median(self._scale))
        scaled = env / (2.2 * np.maximum(scale, 1e-12))
        for i, curve in enumerate(self.curves):
            curve.setData(t, scaled[:, i] - i)
        self.plot.setXRange(t_end - self.view_s, t_end, padding=0)

    def _draw_bars(self, snap: Any) -> None:
        self._bar_scale = max(self._bar_scale * 0.98, float(snap.activation.max(initial=0.0)), 1e-12)
        self.bars.setOpts(height=snap.activation)
        self._bar_plot.setYRange(0, self._bar_scale, padding=0.05)

    def _draw_result(self, snap: Any) -> None:
        r = snap.result
        view = self.worker.model
        names, descriptions = list(view.class_names), list(view.descriptions)
        uncertain = r.label == UNCERTAIN
        self.label.setText(r.label)
        self.label.setStyleSheet(f"color: {MUTED if uncertain else ACCENT}")
        best = names[int(np.argmax(r.scores))]
        text = (f"no clear winner (best raw: {best}, smoothed score {r.smoothed_score:.2f})" if uncertain
                 else descriptions[names.index(r.label)])
        metrics = QtGui.QFontMetrics(self.label_text.font())
        self.label_text.setText(metrics.elidedText(text, QtCore.Qt.ElideRight, self.label_text.width()))
        self.label_text.setToolTip(text)
        if len(r.scores) == len(names) and hasattr(self, "table"):  # a new view may be a hop ahead
            self.table.show_result(r, names, descriptions, None if uncertain else r.label)
        if self.calibrator is not None:
            self.calibration_panel.show_current(None if uncertain else r.label, r.label_id)

    def _draw_truth(self, snap: Any) -> None:
        if snap.truth is None:
            self.truth.setText("—")
            self.truth.setStyleSheet(f"color: {MUTED}")
            return
        name = snap.truth[1]
        label = snap.result.label if snap.result is not None else None
        agree = label is not None and label.casefold() == name.casefold()
        self.truth.setText(("✓ " if agree else "") + name)
        colour = MUTED if label in (None, UNCERTAIN) else OK_COLOUR if agree else BAD_COLOUR
        self.truth.setStyleSheet(f"color: {colour}")

    def _draw_history(self, snap: Any) -> None:
        t, _, act, truth = self.worker.history_arrays()
        if t.size < 2 or snap.t_end is None:
            return
        act = np.asarray(act, dtype=np.float64)
        norm = act / np.maximum(np.percentile(act, 99, axis=0), 1e-12)  # per channel: its own pattern
        self.image.setImage(np.clip(norm, 0, 1), autoLevels=False, levels=(0, 1))
        hop = self.worker.hop_s
        self.image.setRect(QtCore.QRectF(t[0] - hop, 0, t[-1] - t[0] + hop, act.shape[1]))
        self.strip.setXRange(snap.t_end - self.history_s, snap.t_end, padding=0)
        self._draw_truth_runs(t, truth)

    def _draw_truth_runs(self, t: np.ndarray, truth: np.ndarray) -> None:
        """The ground-truth gesture names over the strip at the start of each run (rest unlabelled), in two
        rows; a name that would overlap the previous one in both rows is left out."""
        change = np.flatnonzero(np.diff(truth, prepend=NO_TRUTH - 1) != 0)
        runs = tuple((round(float(t[i]), 3), int(truth[i])) for i in change
                     if truth[i] not in (NO_TRUTH, REST_ID))
        if runs == self._truth_runs:
            return
        self._truth_runs = runs
        for item in self._truth_items:
            self.strip.removeItem(item)
        self._truth_items = []
        metrics = QtGui.QFontMetrics(self.font())
        per_px = self.strip.getViewBox().viewPixelSize()[0]  # seconds per pixel
        row_end = [-np.inf, -np.inf]
        for start, ident in runs:
            name = self._truth_name(ident) or str(ident)
            x = start - self.worker.window_s
            row = 0 if x > row_end[0] else 1 if x > row_end[1] else None
            if row is None:
                continue
            row_end[row] = x + (metrics.horizontalAdvance(name) + 12) * per_px
            item = pg.TextItem(name, color="#333333", anchor=(0, 0.5))
            item.setPos(x, (-1.1, -2.5)[row])
            self.strip.addItem(item)
            self._truth_items.append(item)

    def _draw_status(self, snap: Any) -> None:
        # at replay speed != 1 the stamps are signal time, not arrival time: no meaningful input latency
        latency = "–" if snap.latency_ms is None or snap.latency_ms < 0 else f"{snap.latency_ms:.0f} ms"
        hop = "–" if snap.hop_ms is None else f"{snap.hop_ms[0]:.1f} ms (p99 {snap.hop_ms[1]:.0f})"
        lines = [
            self.session.title,
            f"{snap.state} {snap.rate_hz:.0f} Hz · gaps {snap.n_gaps} ({snap.gap_s:.2f} s)",
            f"latency: input {latency} · hop {hop}",
            f"{snap.n_hops} hops · display {self.stats.fps_now():.0f} fps",
        ]
        if snap.error:
            lines.append(f"<span style='color:{BAD_COLOUR}'>worker stopped: {snap.error}</span>")
        self.status.setText("<br>".join(lines))

    def closeEvent(self, event: Any) -> None:  # noqa: N802  (Qt's name)
        self.timer.stop()
        if self.enrol_panel is not None:  # a running enrolment's recording is written before the window goes
            self.enrol_panel.shutdown()
        super().closeEvent(event)
        self.closed.emit()

    # -- query results --------------------------------------------------------------------------------------
    def _truth_name(self, ident: int | None) -> str | None:
        return None if ident is None else self.worker.truth_names.get(int(ident), str(ident))

    def show_segments(self, segments: list[Any], selected: int | None) -> None:
        """Highlight the matching segments on the EMG plot and the history strip (window spans)."""
        for plot, item in zip(self._region_plots, self.regions, strict=True):
            plot.removeItem(item)
        self.regions, self._region_plots = [], []
        for i, s in enumerate(segments):
            brush = SELECTED_BRUSH if i == selected else REGION_BRUSH
            for plot in (self.plot, self.strip):
                region = pg.LinearRegionItem(values=(s.start_t - self.worker.window_s, s.end_t),
                                             movable=False, brush=brush, pen=pg.mkPen(255, 120, 0, 160))
                region.setZValue(-10 if plot is self.plot else 10)
                plot.addItem(region)
                self.regions.append(region)
                self._region_plots.append(plot)

    def run_query(self, text: str) -> None:
        """Type ``text`` into the query box and run it (as pressing Enter does)."""
        self.query_panel.edit.setText(text)
        self.query_panel.run_query()


def _qt_messages(mode: Any, context: Any, message: str | None) -> None:
    """Qt's own messages into the log, minus the offscreen platform's note on every resize."""
    if message and "propagateSizeHints" not in message:
        log.warning("Qt: %s", message)


def run_window(session: LiveSession, config: Mapping[str, Any], duration_s: float | None,
               screenshot: str | None = None, query: str | None = None) -> FrameStats:
    """Show the window until closed or ``duration_s``; ``query`` pre-fills (and live-runs) the gesture query;
    with ``screenshot`` the window is saved as PNG at the end. Returns the frame statistics."""
    QtCore.qInstallMessageHandler(_qt_messages)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    pg.setConfigOptions(antialias=False)
    window = LiveWindow(session, config)
    if query and window.query is not None:
        window.query_panel.edit.setText(query)
        window.query_panel.live.setChecked(True)
    window.show()
    if duration_s is not None:
        def finish() -> None:
            window.refresh()
            if query and window.query is not None:
                window.query_panel.run_query()
            if screenshot:
                app.processEvents()
                window.grab().save(screenshot)
            window.close()

        QtCore.QTimer.singleShot(int(duration_s * 1000), finish)
    watchdog = QtCore.QTimer(window)  # a failed worker ends the window (its error is in the log)
    watchdog.timeout.connect(lambda: window.close() if session.worker.error else None)
    watchdog.start(500)
    previous = signal.signal(signal.SIGINT, lambda *_: window.close())  # Ctrl-C closes the window
    loop = QtCore.QEventLoop()  # not app.exec_(): other windows of this application may stay open
    window.closed.connect(loop.quit)
    try:
        loop.exec_()
    finally:
        signal.signal(signal.SIGINT, previous)
    return window.stats

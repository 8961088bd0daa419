"""The Qt view: scrolling multi-channel EMG, per-channel activation bars and the ground-truth label.

Needs the ``gui`` extra (PyQt5, pyqtgraph). Repaints on a timer from :meth:`LiveFeed.snapshot`, so the
acquisition thread never waits for the GUI.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets

from myosem_rt.display.feed import LiveFeed


class ScopeWindow(QtWidgets.QWidget):
    def __init__(self, feed: LiveFeed, title: str, fps: float = 30.0) -> None:
        super().__init__()
        self.feed = feed
        self.setWindowTitle(f"MyoSem-RT — {title}")
        self.resize(1100, 650)
        layout = QtWidgets.QVBoxLayout(self)
        self.truth = QtWidgets.QLabel("—")
        font = self.truth.font()
        font.setPointSize(22)
        font.setBold(True)
        self.truth.setFont(font)
        self.status = QtWidgets.QLabel("")
        header = QtWidgets.QHBoxLayout()
        header.addWidget(self.truth, 1)
        header.addWidget(self.status)
        layout.addLayout(header)

        body = QtWidgets.QHBoxLayout()
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.hideAxis("left")
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        n = feed.n_channels
        self.curves = [
            self.plot.plot(pen=pg.mkPen(pg.intColor(i, hues=max(n, 8)), width=1)) for i in range(n)
        ]
        self.bars = pg.BarGraphItem(x=np.arange(n), height=np.zeros(n), width=0.7, brush="#3b7dd8")
        bar_plot = pg.PlotWidget(background="w", title="activation (RMS)")
        bar_plot.addItem(self.bars)
        bar_plot.getAxis("bottom").setTicks([[(i, str(i + 1)) for i in range(n)]])
        bar_plot.setLabel("bottom", "channel")
        bar_plot.setMaximumWidth(320)
        body.addWidget(self.plot, 3)
        body.addWidget(bar_plot, 1)
        layout.addLayout(body, 1)
        self._bar_plot = bar_plot
        self._scale = 0.0

        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(int(1000 / fps))

    def refresh(self) -> None:
        snap = self.feed.snapshot()
        x = snap.samples
        if x.shape[0]:
            spread = float(np.percentile(np.abs(x), 99)) or 1.0
            t = (np.arange(x.shape[0]) - x.shape[0]) / self.feed.fs
            for i, curve in enumerate(self.curves):
                curve.setData(t, x[:, i] / (2.2 * spread) - i)
        self._scale = max(self._scale * 0.98, float(snap.activation.max(initial=0.0)), 1e-12)
        self.bars.setOpts(height=snap.activation)
        self._bar_plot.setYRange(0, self._scale)
        self.truth.setText(f"truth: {snap.truth.split(':', 1)[1]}" if snap.truth else "truth: —")
        latency = "-" if snap.latency_ms is None else f"{snap.latency_ms:.0f} ms"
        self.status.setText(
            f"{snap.state} · {snap.rate_hz:.0f} Hz · {snap.n_samples} samples · gaps {snap.n_gaps}"
            f" · latency {latency}"
        )


def run_scope(feed: LiveFeed, title: str, duration_s: float | None, screenshot: str | None = None) -> None:
    """Show the scope until closed or ``duration_s``; optionally save a screenshot at the end."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    window = ScopeWindow(feed, title)
    window.show()
    if duration_s is not None:
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline and window.isVisible():
            app.processEvents()
            time.sleep(0.01)
        window.refresh()
        if screenshot:
            window.grab().save(screenshot)
        window.close()
    else:
        app.exec_()

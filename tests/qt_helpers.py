"""Qt test helpers: run the event loop of a headless (offscreen) window while a test waits for it."""

from __future__ import annotations

import time
from collections.abc import Callable


def pump(seconds: float, until: Callable[[], bool] | None = None, step_s: float = 0.005) -> None:
    """Process Qt events (timers, repaints, queued signals) for ``seconds``, or until ``until()``."""
    from PyQt5 import QtWidgets

    app = QtWidgets.QApplication.instance()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        if until is not None and until():
            return
        time.sleep(step_s)

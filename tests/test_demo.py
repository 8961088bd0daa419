"""`myosem demo`: a source streams over LSL into the runtime feed, shown in the terminal or a Qt window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from myosem_rt.cli import main

pytestmark = pytest.mark.lsl


def test_demo_terminal_synthetic(capsys: pytest.CaptureFixture[str]) -> None:
    """With no recording configured the synthetic armband streams; the status lines show it arriving."""
    assert main(["demo", "--no-gui", "--duration", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    last = lines[-1].split()
    assert last[2] == "streaming"
    assert 800 <= float(last[3]) <= 1300  # ~1000 Hz synthetic armband, measured by the feed
    assert "truth: " in lines[-1] and not lines[-1].endswith("truth: -")  # ground-truth markers arrive


@pytest.mark.realdata
def test_demo_window_screenshot(threedc_file: Path, tmp_path: Path) -> None:
    """The Qt view renders offscreen: the screenshot has traces (many colours), not a blank window."""
    from PyQt5 import QtGui

    png = tmp_path / "demo.png"
    assert main(["demo", "--recording", str(threedc_file), "--duration", "3", "--screenshot", str(png)]) == 0
    image = QtGui.QImage(str(png))
    assert image.width() > 600 and image.height() > 400
    step = 4
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)
    }
    assert len(colours) > 50


def test_demo_bad_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["demo", "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "--screenshot needs --duration" in capsys.readouterr().err
    assert main(["demo", "--recording", str(tmp_path / "missing.mat"), "--duration", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.mat: file not found" in err[0]
    np.testing.assert_equal(list(tmp_path.iterdir()), [])  # nothing written

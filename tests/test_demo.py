"""`myosem demo`: a source streams over LSL into the live engine; its ranked descriptions are shown in the
terminal or the window. The model is the shipped 3DC model (fixture ``model_3dc`` of tests/test_gui.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from myosem_rt import model as model_module
from myosem_rt.cli import main
from tests.test_gui import model_3dc  # noqa: F401  (the fixture)

pytestmark = pytest.mark.lsl


def _blocks(out: str) -> list[list[str]]:
    """Terminal output -> one block per period: the status line and the description lines under it."""
    blocks: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith(" " * 11):
            blocks[-1].append(line.strip())
        elif line.strip():
            blocks.append([line])
    return blocks


def test_demo_default_synthetic_armband_shows_descriptions(model_3dc: Path,  # noqa: F811
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """No arguments but the view: the synthetic armband takes the shipped model's shape (10 ch @ 1 kHz) and
    the model's classes, so the terminal shows ranked descriptions and a ground truth the model knows."""
    monkeypatch.setitem(model_module.SHIPPED, "3dc-armband", model_3dc)  # the default, wherever it is now
    assert main(["demo", "--terminal", "--duration", "4"]) == 0
    blocks = _blocks(capsys.readouterr().out)
    assert len(blocks) == 4
    status = blocks[-1][0].split()
    assert status[2] == "streaming" and 800 <= float(status[3]) <= 1300  # ~1000 Hz, measured by the worker
    assert len(re.search(r"\|(.*)\|", blocks[-1][0]).group(1)) == 10  # one activation bar per channel
    truth = blocks[-1][0].split("truth: ")[1]
    names = model_module.MyoSemModel.load(model_3dc, verify=False).class_names
    assert truth in names  # the synthetic gestures are the model's classes
    label, ranked = blocks[-1][1], blocks[-1][2]
    assert label.startswith("-> ")
    assert " 2. " in ranked and " 3. " in ranked
    assert any(ranked.startswith(f"1. {n} ") for n in names)


@pytest.mark.realdata
def test_demo_replay_terminal_ranks_descriptions(model_3dc: Path, threedc_file: Path,  # noqa: F811
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--data", str(threedc_file), "--model", str(model_3dc), "--terminal",
                 "--duration", "3"]) == 0
    blocks = _blocks(capsys.readouterr().out)
    assert len(blocks) == 3 and all(len(b) == 3 for b in blocks[1:]), blocks
    scores = [float(part.split()[-1]) for part in blocks[-1][2].split("   ")]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    assert "truth: " in blocks[-1][0] and not blocks[-1][0].endswith("truth: -")


@pytest.mark.realdata
def test_demo_window_screenshot(model_3dc: Path, threedc_file: Path, tmp_path: Path,  # noqa: F811
                                capsys: pytest.CaptureFixture[str]) -> None:
    """The window renders offscreen: the screenshot has traces and text (many colours), not a blank window."""
    from PyQt5 import QtGui

    png = tmp_path / "demo.png"
    assert main(["demo", "--recording", str(threedc_file), "--model", str(model_3dc), "--duration", "3",
                 "--screenshot", str(png), "--fps-report"]) == 0
    assert "fps" in capsys.readouterr().out
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
    assert main(["demo", "--simulate", "--model", str(tmp_path / "nomodel"), "--duration", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nomodel" in err[0]
    np.testing.assert_equal(list(tmp_path.iterdir()), [])  # nothing written

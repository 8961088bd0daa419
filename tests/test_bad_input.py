"""Bad recordings give one line naming the file and the problem (exit code 2 on the CLI, no traceback)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from myosem_rt.cli import main
from myosem_rt.errors import RecordingError
from myosem_rt.recordings import load_session


def _shared_layout(folder: Path, **override: object) -> Path:
    """A tiny file in the MyoSem NinaPro layout (as in ../shared/data), with a labels.json beside it."""
    n = 50
    data: dict[str, object] = {
        "emg": np.arange(n * 8, dtype=np.int8).reshape(n, 8),
        "stimulus": np.repeat([0, 1], n // 2).astype(np.uint8).reshape(-1, 1),
        "repetition": np.ones((n, 1), np.uint8),
        "frequency": np.array([[200.0]]),
        "emg_scale": np.array([[1.0]]),
        "emg_unit": "myo_int8",
        "dataset": "Toy",
        "session": "day1",
        "subject": np.array([[1]], np.int32),
    }
    data.update(override)
    data = {k: v for k, v in data.items() if v is not None}
    (folder / "labels.json").write_text(json.dumps({"classes": {"0": "rest", "1": "fist"}}))
    path = folder / "S1_day1.mat"
    scipy.io.savemat(path, data)
    return path


def _not_mat(folder: Path) -> Path:
    path = folder / "notes.mat"
    path.write_text("this is not a MATLAB file\n")
    return path


def _nan(folder: Path) -> Path:
    emg = np.ones((50, 8))
    emg[7, 3] = np.nan
    return _shared_layout(folder, emg=emg)


def _unknown_layout(folder: Path) -> Path:
    path = folder / "recording.mat"
    scipy.io.savemat(path, {"emg": np.ones((10, 2)), "stimulus": np.zeros((10, 1))})
    return path


def _bad_labels_json(folder: Path) -> Path:
    path = _shared_layout(folder)
    (folder / "labels.json").write_text("{ not json")
    return path


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing file": (lambda d: d / "nope.mat", "file not found"),
    "not a MAT file": (_not_mat, "not a readable MATLAB .mat file"),
    "no emg": (lambda d: _shared_layout(d, emg=None), "no 'emg' field"),
    "length mismatch": (
        lambda d: _shared_layout(d, stimulus=np.zeros((49, 1), np.uint8)),
        "'stimulus' has 49 samples but 'emg' has 50",
    ),
    "NaN in emg": (_nan, "'emg' contains 1 NaN/inf values (first at sample 7, channel 4)"),
    "inf in emg": (
        lambda d: _shared_layout(d, emg=np.full((50, 8), np.inf)),
        "'emg' contains 400 NaN/inf values",
    ),
    "unknown layout": (_unknown_layout, "unknown layout"),
    "unreadable labels.json": (_bad_labels_json, "unreadable labels.json"),
    "label without a name": (
        lambda d: _shared_layout(d, stimulus=np.full((50, 1), 5, np.uint8)),
        "label ids [5] have no name in labels.json",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_recording_one_line_error(tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    make, problem = CASES[case]
    path = make(tmp_path)
    with pytest.raises(RecordingError) as err:
        load_session(path)
    assert problem in str(err.value)
    assert "\n" not in str(err.value)
    assert main(["info", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("myosem info: error: ") and problem in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_labels_json_missing(tmp_path: Path) -> None:
    path = _shared_layout(tmp_path)
    (tmp_path / "labels.json").unlink()
    with pytest.raises(RecordingError, match="labels.json not found"):
        load_session(path)


def test_good_toy_file_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control case: the same builder without a defect loads, so the errors above are real."""
    s = load_session(_shared_layout(tmp_path))
    assert s.n_channels == 8 and s.fs == 200.0 and s.class_names == {0: "rest", 1: "fist"}
    assert main(["info", str(tmp_path), "--classes"]) == 0
    assert "fist" in capsys.readouterr().out


@pytest.mark.realdata
def test_info_on_real_file(threedc_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(threedc_file.parent / "labels.json", tmp_path / "labels.json")
    assert main(["info", str(threedc_file)]) == 0
    out = capsys.readouterr().out
    assert "3DC subject 1 session day1 | 420903 x 10 ch @ 1000 Hz" in out


@pytest.mark.parametrize("argv, missing", [
    (["bench", "train"], "torch"), (["bench", "loso", "--dry-run"], "torch"),
    (["report", "--data", "d"], "matplotlib"),
])
def test_commands_that_need_the_train_extra_say_so(argv: list[str], missing: str, monkeypatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`./myosem` installs only the gui extra: a training command there is one line, not a traceback."""
    import sys

    monkeypatch.setitem(sys.modules, missing, None)  # importing it now raises ImportError
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs the train extra" in err[0] and "MYOSEM_EXTRAS=gui,train" in err[0], err

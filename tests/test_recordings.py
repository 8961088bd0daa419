"""The recordings reader: every documented NinaPro layout (fixtures) and every shared recording."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from myosem_rt.errors import RecordingError
from myosem_rt.recordings import Session, find_recordings, load_session, ninapro
from tests.fixtures.ninapro import expected_globals, write_db1, write_db23


@pytest.mark.parametrize("exercise", [1, 2, 3])
def test_db1_layout(tmp_path: Path, exercise: int) -> None:
    path = write_db1(tmp_path, subject=3, exercise=exercise)
    s = load_session(path)
    assert s.dataset == "NinaPro-DB1" and s.fs == 100.0 and s.n_channels == 10
    assert (s.subject, s.session, s.exercise) == (3, f"E{exercise}", exercise)
    assert list(s.classes) == expected_globals("DB1", exercise)
    assert s.class_name(13) == "thumb up" and s.class_name(52).startswith("cut something")
    assert s.glove is not None and s.glove.shape == (s.n_samples, 22)
    assert s.emg.dtype == np.float32
    assert set(np.unique(s.repetition[s.label == 0])) == {0}  # NinaPro: no repetition during rest


@pytest.mark.parametrize("exercise", [1, 2])
def test_db2_layout(tmp_path: Path, exercise: int) -> None:
    s = load_session(write_db23(tmp_path, db=2, subject=5, exercise=exercise))
    assert s.dataset == "NinaPro-DB2" and s.fs == 2000.0 and s.n_channels == 12
    assert list(s.classes) == expected_globals("DB2", exercise)
    assert s.class_name(18) == "large diameter grasp"
    assert sorted({t.repetition for t in s.trials() if t.label}) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("coded", [True, False])
def test_db2_exercise3_coding(tmp_path: Path, coded: bool) -> None:
    path = write_db23(tmp_path, db=2, subject=2, exercise=3, coded_e3=coded)
    import scipy.io

    raw = scipy.io.loadmat(path)
    assert ("restimulus" in raw) is not coded  # the fixture really is the stimulus-only variant
    s = load_session(path)
    assert list(s.classes) == list(range(0, 1)) + list(range(41, 50))
    assert s.class_name(41) == "flexion of the little finger"
    assert s.class_name(49) == "flexion of index finger and thumb"
    # each movement's samples keep their order: the first movement block is 41, the last 49
    moving = s.label[s.label > 0]
    assert moving[0] == 41 and moving[-1] == 49


def test_db3_ten_electrodes_and_missing_movements(tmp_path: Path) -> None:
    s6 = load_session(write_db23(tmp_path, db=3, subject=6, exercise=1))
    assert s6.dataset == "NinaPro-DB3" and s6.n_channels == 10
    s1 = load_session(write_db23(tmp_path, db=3, subject=1, exercise=2, skip=(20, 25)))
    assert s1.n_channels == 12
    assert 20 not in s1.classes and 25 not in s1.classes
    assert list(s1.classes) == expected_globals("DB3", 2, skip=(20, 25))


def test_layout_override_and_unknown(tmp_path: Path) -> None:
    path = write_db23(tmp_path, db=2, subject=1, exercise=1)
    assert load_session(path, layout="db3").dataset == "NinaPro-DB3"
    with pytest.raises(RecordingError, match="unknown layout 'db9'"):
        load_session(path, layout="db9")


def test_ninapro_tables() -> None:
    assert len(ninapro.DB2_MOVEMENTS) == 50 and len(ninapro.DB1_MOVEMENTS) == 53
    # DB1 exercises B and C are DB2's exercises 1 and 2 shifted by 12
    for gid in range(1, 41):
        assert ninapro.DB1_MOVEMENTS[gid + 12] == ninapro.DB2_MOVEMENTS[gid]


def test_session_is_read_only(tmp_path: Path) -> None:
    s = load_session(write_db1(tmp_path))
    with pytest.raises(ValueError):
        s.emg[0, 0] = 1.0
    with pytest.raises(ValueError):
        s.label[0] = 3
    with pytest.raises(AttributeError):
        s.fs = 10.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.class_names[0] = "x"  # type: ignore[index]


def test_trials_cover_the_session() -> None:
    label = np.array([0, 0, 1, 1, 1, 0, 2, 2])
    rep = np.array([1, 1, 1, 1, 1, 1, 1, 2])
    s = Session(np.zeros((8, 2)), label, rep, 100.0, {0: "rest", 1: "a", 2: "b"}, "t", 1, "s")
    trials = list(s.trials())
    assert [(t.start, t.stop, t.label, t.repetition) for t in trials] == [
        (0, 2, 0, 1), (2, 5, 1, 1), (5, 6, 0, 1), (6, 7, 2, 1), (7, 8, 2, 2),
    ]  # fmt: skip


# --- the real recordings ---------------------------------------------------------------------------------


@pytest.mark.realdata
def test_every_shared_recording_loads(data_dir: Path) -> None:
    """Every file under $MYOSEM_DATA loads and agrees with manifest.json (shape, rate, classes, counts)."""
    manifest = {f["path"]: f for f in json.loads((data_dir / "manifest.json").read_text())["files"]}
    files = find_recordings(data_dir)
    assert len(files) == len(manifest) and len(files) > 0  # the manifest lists every shared file
    for path in files:
        s = load_session(path)
        entry = manifest[path.relative_to(data_dir).as_posix()]
        assert (s.n_samples, s.n_channels, s.fs) == (entry["T"], entry["C"], entry["frequency"])
        assert list(s.classes) == entry["classes"]
        assert sorted(set(s.repetition.tolist())) == entry["reps"]
        counts = np.bincount(s.label, minlength=max(s.classes) + 1)
        assert {str(c): int(counts[c]) for c in s.classes} == entry["class_samples"]
        assert (s.subject, s.session, s.dataset) == (entry["subject"], entry["session"], entry["dataset"])
        assert all(name for name in s.class_names.values())


@pytest.mark.realdata
def test_shared_values_are_scaled_source_values(threedc_file: Path) -> None:
    import scipy.io

    raw = scipy.io.loadmat(threedc_file)
    s = load_session(threedc_file)
    np.testing.assert_array_equal(s.emg, raw["emg"].astype(np.float32) * np.float32(raw["emg_scale"][0, 0]))
    assert s.class_names[7] == "Power Grip" and s.unit == "adc_counts"
    assert s.source_id == "3DC/S1/day1"

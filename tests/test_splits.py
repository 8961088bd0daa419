"""Evaluation protocols (myosem_rt.protocols / train.splits): every protocol keeps its sides apart."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from myosem_rt.config import default_config
from myosem_rt.errors import ConfigError
from myosem_rt.protocols import DUPLICATES, PROTOCOLS, duplicate_mask
from myosem_rt.windowing import load_windows
from tests.fixtures.ninapro import write_db23
from train.splits import split

SHARED = [p for p in PROTOCOLS if not p.startswith("db2")]
CONFIG = default_config()
# the NinaPro fixtures hold 40-sample movements at 2 kHz: use 20-sample windows for them
for _db in ("NinaPro-DB2", "NinaPro-DB3"):
    CONFIG["datasets"][_db] = {"window_ms": 10.0, "hop_ms": 5.0, "patch_ms": 2.5}


@cache
def _windows(path: Path):
    return load_windows([path], CONFIG, max_windows_per_file=1500, seed=0)


def _side(files: list[Path], mask) -> dict[str, np.ndarray]:
    """label / subject / session / repetition of the windows a side keeps (files loaded once, cached)."""
    parts = [ws.subset(mask(ws)) for ws in map(_windows, files)]
    return {k: np.concatenate([getattr(p, k) for p in parts]) for k in ("label", "subject", "session",
                                                                      "repetition")}


def _sides(name: str, root: Path, **options):
    sp = split(name, root, **options)
    return sp, _side(sp.train_files, sp.train_mask), _side(sp.test_files, sp.test_mask)


def _subjects_each(files: list[Path]) -> list[int]:
    return [int(p.name.split("_")[0][1:]) for p in files]


def _subjects(files: list[Path]) -> set[int]:
    return set(_subjects_each(files))


@pytest.mark.realdata
@pytest.mark.parametrize("name", SHARED)
def test_file_level_sides(data_dir: Path, name: str) -> None:
    sp = split(name, data_dir)
    assert sp.name == name and sp.description and sp.train_files and sp.test_files
    assert sp.vocabulary in {"3dc", "myodisco", "ciil", "myo"}
    if name in ("myo-user", "cross-device"):  # two datasets, each numbering its own people: per folder
        people = [{(p.parent.name, s) for p, s in zip(f, _subjects_each(f), strict=True)}
                  for f in (sp.train_files, sp.test_files)]
        assert not people[0] & people[1]
        assert {p.parent.name for p in sp.test_files} == {"myodisco", "ciil_shift"}
    elif name.endswith("-user"):
        assert not _subjects(sp.train_files) & _subjects(sp.test_files)
        if name == "3dc-user":
            assert {13, 14} <= _subjects(sp.train_files) and _subjects(sp.test_files) == {15, 16, 17, 18}
    elif name.endswith(("-rand", "-class")):
        assert sp.train_files == sp.test_files  # the sides differ by repetition (and class)
    else:
        assert not set(sp.train_files) & set(sp.test_files)
        assert _subjects(sp.train_files) == _subjects(sp.test_files)
    assert (sp.held_out_classes != frozenset()) == name.endswith("-class")
    assert split(name, data_dir) == split(name, data_dir)  # deterministic


@pytest.mark.realdata
def test_3dc_rand_and_s14_duplicates(data_dir: Path) -> None:
    sp, train, test = _sides("3dc-rand", data_dir, subjects=[13, 14])
    assert set(train["repetition"].tolist()) == {1, 2, 3, 4}
    assert set(test["repetition"].tolist()) == {5, 6, 7, 8}
    s14 = _windows(sp.test_files[1])
    assert s14.subject[0] == 14 and (s14.repetition == 5).any()  # there is something to exclude
    dup = duplicate_mask(s14)
    assert dup.any() and not (sp.test_mask(s14) & dup).any()
    t14 = test["subject"] == 14
    assert not (test["repetition"][t14] == 5).any()
    rep6 = t14 & (test["repetition"] == 6)
    assert rep6.any() and not np.isin(test["label"][rep6], [0, 1]).any()
    # S13 keeps its own repetition 5 (the original of the copies)
    assert ((test["subject"] == 13) & (test["repetition"] == 5)).any()


@pytest.mark.realdata
def test_3dc_user(data_dir: Path) -> None:
    sp, train, test = _sides("3dc-user", data_dir, subjects=[1, 14, 15])
    assert set(train["subject"].tolist()) == {1, 14} and set(test["subject"].tolist()) == {15}
    t14 = train["subject"] == 14
    assert not (train["repetition"][t14] == 5).any()
    assert set(test["repetition"].tolist()) == set(range(1, 9))


@pytest.mark.realdata
def test_3dc_class(data_dir: Path) -> None:
    sp, train, test = _sides("3dc-class", data_dir, subjects=[1])
    assert sp.held_out_classes == {3, 6, 10}
    assert not np.isin(train["label"], list(sp.held_out_classes)).any()
    assert set(test["label"].tolist()) == set(range(11))  # tested on all classes, held-out included
    assert set(train["repetition"].tolist()) == {1, 2, 3, 4}
    assert set(test["repetition"].tolist()) == {5, 6, 7, 8}


@pytest.mark.realdata
@pytest.mark.parametrize("name, subjects, train_sessions, test_sessions", [
    ("myodisco-rand", [1, 2], {"day1"}, {"day1"}),
    ("myodisco-session", [7], {"day1"}, {"day2"}),
    ("myodisco-position", [1], {"day1", "day2"}, {"position1", "position2", "position3", "position4"}),
    ("ciil-shift", [1], {"train"}, {"shift1", "shift2", "shift3", "shift4"}),
])
def test_session_protocols(data_dir: Path, name: str, subjects: list[int], train_sessions: set[str],
                           test_sessions: set[str]) -> None:
    _, train, test = _sides(name, data_dir, subjects=subjects)
    assert set(train["session"].tolist()) == train_sessions and set(test["session"].tolist()) == test_sessions
    assert set(train["subject"].tolist()) == set(test["subject"].tolist()) == set(subjects)
    if name == "myodisco-rand":
        assert set(train["repetition"].tolist()) == set(range(1, 15))
        assert set(test["repetition"].tolist()) == set(range(15, 21))
    if name == "myodisco-session":  # S7's day2 copy of day1 (rep 10, class 6) is left out
        assert ("MyoDisCo", 7, "day2", 10, frozenset({6})) in DUPLICATES
        assert not ((test["repetition"] == 10) & (test["label"] == 6)).any()
        assert ((test["repetition"] == 10) & (test["label"] == 5)).any()


@pytest.mark.realdata
def test_myodisco_user(data_dir: Path) -> None:
    _, train, test = _sides("myodisco-user", data_dir, subjects=[1, 10])
    assert set(train["subject"].tolist()) == {1} and set(test["subject"].tolist()) == {10}
    assert set(train["session"].tolist()) == set(test["session"].tolist()) == {"day1", "day2"}


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown protocol 'nope'.*3dc-rand.*db2-db3"):
        split("nope", tmp_path)
    with pytest.raises(ConfigError, match="no 3DC recordings folder"):
        split("3dc-rand", tmp_path)
    with pytest.raises(ConfigError, match="no NinaPro DB2 recordings"):
        split("db2-rand", tmp_path)


@pytest.mark.realdata
def test_option_errors(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option.*colour"):
        split("3dc-rand", data_dir, colour="red")
    with pytest.raises(ConfigError, match="no test files left"):
        split("3dc-user", data_dir, subjects=[1, 2])
    sp = split("ciil-shift", data_dir, subjects=[3], max_files=2)
    assert len(sp.train_files) == 1 and len(sp.test_files) == 2


@pytest.fixture(scope="module")
def ninapro_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ninapro")
    for subject in (1, 2, 3, 4):
        write_db23(root / "db2", db=2, subject=subject, exercise=1)
    write_db23(root / "db2", db=2, subject=1, exercise=2)
    write_db23(root / "db3", db=3, subject=1, exercise=1)
    write_db23(root / "db3", db=3, subject=6, exercise=1)  # 10 electrodes
    return root


def test_db2_rand(ninapro_dir: Path) -> None:
    sp, train, test = _sides("db2-rand", ninapro_dir, subjects=[1, 2])
    assert len(sp.train_files) == 3 and sp.vocabulary == "ninapro_db2"
    assert set(train["repetition"].tolist()) == {1, 3, 4, 6} and set(test["repetition"].tolist()) == {2, 5}
    assert (train["label"] == 0).any() and (test["label"] == 0).any()  # rest goes with its repetition
    assert 30 in set(train["label"].tolist())  # exercise 2 movements are found too


def test_db2_user(ninapro_dir: Path) -> None:
    sp, train, test = _sides("db2-user", ninapro_dir)
    assert set(train["subject"].tolist()) == {1, 2, 3} and set(test["subject"].tolist()) == {4}
    _, train, test = _sides("db2-user", ninapro_dir, test_subjects=[1, 2])
    assert set(train["subject"].tolist()) == {3, 4} and set(test["subject"].tolist()) == {1, 2}


def test_db2_class(ninapro_dir: Path) -> None:
    sp, train, test = _sides("db2-class", ninapro_dir, subjects=[1])
    held = np.isin(test["label"], list(sp.held_out_classes))
    assert set(test["label"][held].tolist()) == {3, 11, 16, 27, 35}  # the held-out ids in E1 and E2
    assert not np.isin(train["label"], list(sp.held_out_classes)).any()
    assert set(train["repetition"].tolist()) == {1, 3, 4, 6} and set(test["repetition"].tolist()) == {2, 5}


def test_db2_db3(ninapro_dir: Path) -> None:
    sp, train, test = _sides("db2-db3", ninapro_dir)
    assert all("DB2_s" in p.parent.name for p in sp.train_files)
    assert [p.parent.name for p in sp.test_files] == ["DB3_s1"]  # DB3 S6 has 10 electrodes, not 12
    assert len(train["label"]) and len(test["label"])
    db3 = _windows(sp.test_files[0])
    assert not sp.train_mask(db3).any() and sp.test_mask(db3).all()


@pytest.mark.realdata
def test_cross_device_is_myo_user_with_a_3dc_text_space(data_dir: Path) -> None:
    """Same Myo windows on each side as myo-user; only the text space's vocabularies differ."""
    cross, myo = split("cross-device", data_dir), split("myo-user", data_dir)
    assert (cross.train_files, cross.test_files, cross.vocabulary) == (myo.train_files, myo.test_files, "myo")
    assert cross.text_vocabularies == ("3dc",) and myo.text_vocabularies is None
    assert cross.held_out_classes == frozenset()
    ws = _windows(myo.test_files[0])
    np.testing.assert_array_equal(cross.test_mask(ws), myo.test_mask(ws))
    assert cross.test_mask(ws).any() and not cross.train_mask(ws).any()

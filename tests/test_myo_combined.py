"""One model for one device across datasets: MyoDisCo + CIIL windows in the ``myo`` vocabulary's class ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from myosem_rt.config import default_config
from myosem_rt.errors import ConfigError
from myosem_rt.protocols import split
from myosem_rt.vocab import class_map, load_vocabulary
from myosem_rt.windowing import load_windows

CONFIG = default_config()


def test_class_map_follows_actions() -> None:
    ciil, myo = load_vocabulary("ciil"), load_vocabulary("myo")
    assert class_map(ciil, myo) == {0: 0, 1: 5, 2: 6, 3: 2, 4: 4}
    assert class_map(load_vocabulary("myodisco"), myo) == {i: i for i in range(10)}
    with pytest.raises(ConfigError, match="vocabulary 'ciil' has no class for myodisco class 1 'double_tap'"):
        class_map(load_vocabulary("myodisco"), ciil)


@pytest.mark.realdata
def test_two_datasets_load_in_one_class_space(data_dir: Path) -> None:
    disco, ciil = data_dir / "myodisco" / "S2_day1.mat", data_dir / "ciil_shift" / "S3_train.mat"
    with pytest.raises(ConfigError, match="one dataset"):
        load_windows([disco, ciil], CONFIG, max_windows_per_file=50)
    alone = load_windows([ciil], CONFIG)
    both = load_windows([disco, ciil], CONFIG, vocabulary=load_vocabulary("myo"))
    assert both.dataset == "Myo" and both.class_names[5] == "hand_close"
    from_ciil = both.subset(both.file_index == 1)
    np.testing.assert_array_equal(from_ciil.x, alone.x)  # same windows, only the ids change
    lut = np.array([0, 5, 6, 2, 4])
    np.testing.assert_array_equal(from_ciil.label, lut[alone.label])


@pytest.mark.realdata
def test_myo_user_sides_select_by_file(data_dir: Path) -> None:
    sp = split("myo-user", data_dir, subjects=[1, 9, 17])
    names = {f"{p.parent.name}/{p.name}" for p in sp.test_files}
    assert names == {"myodisco/S9_day1.mat", "myodisco/S9_day2.mat",
                     *(f"myodisco/S9_pos{i}.mat" for i in range(1, 5)),
                     "ciil_shift/S17_train.mat", *(f"ciil_shift/S17_shift{i}.mat" for i in range(1, 5))}
    files = [data_dir / "myodisco" / "S1_day1.mat", data_dir / "ciil_shift" / "S17_shift2.mat"]
    ws = load_windows(files, CONFIG, max_windows_per_file=40, vocabulary=load_vocabulary("myo"))
    train, test = sp.train_mask(ws), sp.test_mask(ws)
    np.testing.assert_array_equal(train, ws.file_index == 0)
    np.testing.assert_array_equal(test, ws.file_index == 1)
    custom = split("myo-user", data_dir, subjects=[1, 2], test_subjects=[2])
    assert {p.name.split("_")[0] for p in custom.test_files} == {"S2"}
    assert {p.parent.name for p in custom.train_files} == {"myodisco", "ciil_shift"}

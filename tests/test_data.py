"""Windowed datasets (myosem_rt.windowing, train.data): slicing, filtering, descriptors, subsampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from myosem_rt.config import default_config
from myosem_rt.descriptors import patch_descriptors
from myosem_rt.errors import ConfigError
from myosem_rt.recordings import Session, load_session
from myosem_rt.stream.filters import StreamingFilter, design_filters
from myosem_rt.stream.windows import WindowSpec
from myosem_rt.windowing import (
    dataset_spec,
    fill_repetition,
    load_windows,
    stratified_subsample,
    trial_windows,
)
from tests.fixtures.ninapro import write_db23

CONFIG = default_config()


def _runtime_filtered(session: Session, seed: int = 0) -> np.ndarray:
    """The session as the live runtime filters it: StreamingFilter fed random-size chunks."""
    filt = StreamingFilter(design_filters(session.fs, CONFIG["filters"]), session.n_channels)
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(rng.integers(1, 400, session.n_samples // 50))
    cuts = cuts[cuts < session.n_samples]
    return np.concatenate([filt.process(c) for c in np.split(session.emg, cuts)])


@pytest.fixture(scope="module")
def myo_file(data_dir: Path) -> Path:
    return data_dir / "myodisco" / "S1_day1.mat"


@pytest.mark.realdata
def test_windows_are_slices_of_the_runtime_filtered_session(myo_file: Path) -> None:
    s = load_session(myo_file)
    ws = load_windows([myo_file], CONFIG)
    spec = dataset_spec(CONFIG, "MyoDisCo", 200.0)
    assert (ws.window, ws.hop, ws.patch) == (spec.window, spec.hop, spec.patch) == (40, 10, 5)
    assert ws.fs == spec.fs == 200.0
    assert ws.x.dtype == ws.desc.dtype == np.float32 and ws.x.shape == (len(ws), 40, 8)
    filtered = _runtime_filtered(s)
    idx = ws.start[:, None] + np.arange(ws.window)[None, :]
    np.testing.assert_allclose(ws.x, filtered[idx].astype(np.float32), rtol=1e-5, atol=1e-3)
    # no window crosses a label or repetition change; labels and provenance come from the session
    assert (s.label[idx] == ws.label[:, None]).all()
    assert (s.repetition[idx] == ws.repetition[:, None]).all()
    assert set(ws.session.tolist()) == {"day1"} and set(ws.subject.tolist()) == {1}
    assert ws.class_names == dict(s.class_names) and ws.dataset == "MyoDisCo"


@pytest.mark.realdata
def test_every_trial_is_covered_hop_by_hop(myo_file: Path) -> None:
    s = load_session(myo_file)
    ws = load_windows([myo_file], CONFIG)
    expected = 0
    for t in s.trials():
        inside = ws.start[(ws.start >= t.start) & (ws.start < t.stop)]
        n = max(0, (t.length - ws.window) // ws.hop + 1)
        expected += n
        assert inside.tolist() == [t.start + k * ws.hop for k in range(n)]
    assert len(ws) == expected > 5000


@pytest.mark.realdata
def test_descriptors_are_the_runtime_descriptors(threedc_file: Path) -> None:
    ws = load_windows([threedc_file], CONFIG, max_windows_per_file=300, seed=1)
    assert (ws.window, ws.hop, ws.patch, ws.n_channels) == (200, 50, 25, 10)
    assert ws.desc.shape == (300, 8, 10, 3)
    np.testing.assert_allclose(ws.desc, patch_descriptors(ws.x, ws.patch).astype(np.float32), rtol=1e-6)


@pytest.mark.realdata
def test_subsample_is_deterministic_stratified_and_in_time_order(threedc_file: Path) -> None:
    full = load_windows([threedc_file], CONFIG)
    a = load_windows([threedc_file], CONFIG, max_windows_per_file=500, seed=3)
    b = load_windows([threedc_file], CONFIG, max_windows_per_file=500, seed=3)
    c = load_windows([threedc_file], CONFIG, max_windows_per_file=500, seed=4)
    assert len(a) == 500 and (a.start == b.start).all() and not (a.start == c.start).all()
    assert (np.diff(a.start) > 0).all() and np.isin(a.start, full.start).all()
    counts, total = full.class_counts(), len(full)
    for cls, n in a.class_counts().items():
        assert abs(n - counts[cls] * 500 / total) < 1.0
    np.testing.assert_array_equal(a.x, full.subset(np.isin(full.start, a.start)).x)


def test_stratified_subsample_quota() -> None:
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    idx = stratified_subsample(labels, 10, np.random.default_rng(0))
    assert np.bincount(labels[idx]).tolist() == [7, 2, 1]
    assert stratified_subsample(labels, 500, np.random.default_rng(0)).tolist() == list(range(100))


def _session(label: list[int], rep: list[int], fs: float = 200.0, dataset: str = "MyoDisCo",
             channels: int = 2) -> Session:
    label_a = np.repeat(label, 50)
    rng = np.random.default_rng(len(label))
    return Session(emg=rng.normal(size=(label_a.size, channels)), label=label_a,
                   repetition=np.repeat(rep, 50), fs=fs, class_names={i: f"c{i}" for i in range(5)},
                   dataset=dataset, subject=1, session="s")


def test_short_trials_and_label_changes_give_no_crossing_windows() -> None:
    # trials of 50 samples; a 40-sample window fits once per trial with hop 10 ... 2 times (starts 0, 10)
    s = _session([1, 2, 2, 0], [1, 1, 2, 2])
    ws = load_windows([Path("synthetic.mat")], CONFIG, loader=lambda p: s)
    assert ws.start.tolist() == [0, 10, 50, 60, 100, 110, 150, 160]
    assert ws.label.tolist() == [1, 1, 2, 2, 2, 2, 0, 0]
    assert ws.repetition.tolist() == [1, 1, 1, 1, 2, 2, 2, 2]
    assert trial_windows([(0, 39), (39, 79)], 40, 10).tolist() == [39]


def test_mismatched_files_are_one_line_errors() -> None:
    sessions = {Path("a.mat"): _session([1], [1]), Path("b.mat"): _session([1], [1], channels=3),
                Path("c.mat"): _session([1], [1], dataset="CIIL_ElectrodeShift")}
    for bad in ("b.mat", "c.mat"):
        with pytest.raises(ConfigError) as err:
            load_windows([Path("a.mat"), Path(bad)], CONFIG, loader=sessions.__getitem__)
        assert "\n" not in str(err.value) and bad in str(err.value) and "a.mat" in str(err.value)
    with pytest.raises(ConfigError, match="no recording files"):
        load_windows([], CONFIG)
    with pytest.raises(ConfigError, match="windows are for 1000 Hz"):
        load_windows([Path("a.mat")], CONFIG, loader=sessions.__getitem__,
                     spec=WindowSpec(200, 50, 25, 1000.0))


def test_dataset_spec_reads_the_config_and_falls_back() -> None:
    config = default_config()
    config["datasets"]["MyoDisCo"] = {"window_ms": 400.0, "hop_ms": 100.0, "patch_ms": 50.0}
    assert dataset_spec(config, "MyoDisCo", 200.0) == WindowSpec(80, 20, 10, 200.0)
    assert dataset_spec(config, "NinaPro-DB1", 100.0).patch == 5  # 50 ms patches at 100 Hz
    assert dataset_spec(config, "My own armband", 1000.0) == WindowSpec.from_config(config["windows"], 1000.0)


def test_ninapro_rest_takes_the_preceding_repetition(tmp_path: Path) -> None:
    assert fill_repetition(np.array([0, 0, 1, 1, 0, 0, 2, 0])).tolist() == [1, 1, 1, 1, 1, 1, 2, 2]
    path = write_db23(tmp_path, db=2, subject=1, exercise=1, reps=6)
    config = default_config()
    config["datasets"]["NinaPro-DB2"] = {"window_ms": 10.0, "hop_ms": 5.0, "patch_ms": 2.5}
    ws = load_windows([path], config)
    s = load_session(path)
    assert ws.dataset == "NinaPro-DB2" and ws.window == 20 and set(ws.repetition.tolist()) == set(range(1, 7))
    rest = ws.label == 0
    assert rest.any() and (s.repetition[ws.start[rest]] == 0).all()
    filled = fill_repetition(s.repetition)
    assert (ws.repetition == filled[ws.start]).all()


def test_torch_windows() -> None:
    pytest.importorskip("torch")
    from train.data import TorchWindows

    s = _session([1, 2], [1, 1])
    ws = load_windows([Path("synthetic.mat")], CONFIG, loader=lambda p: s)
    plain = TorchWindows(ws)
    x, desc, label = plain[1]
    assert tuple(x.shape) == (40, 2) and tuple(desc.shape) == (8, 2, 3) and int(label) == 1
    assert str(x.dtype) == "torch.float32" and str(label.dtype) == "torch.int64"
    scaled = TorchWindows(ws, normaliser=lambda x, d: (x * 2, d - 1))
    x2, desc2, _ = scaled[1]
    assert np.allclose(x2.numpy(), 2 * x.numpy()) and np.allclose(desc2.numpy(), desc.numpy() - 1)
    assert len(plain) == len(ws) == 4 and ws.subset([0, 3]).label.tolist() == [1, 2]

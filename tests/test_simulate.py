"""Synthetic armband: determinism, topology-shaped levels, sequence, estimated topology, LSL stream, CLI."""

from __future__ import annotations

import numpy as np
import pytest
from lsl_helpers import run_cli, stream_to_receiver, unique_name

from devices.outlet import marker_text
from devices.simulate import (
    REST_ID,
    SyntheticArmband,
    armband_from_config,
    default_topology,
    estimate_topology,
)
from myosem_rt.config import default_config
from myosem_rt.errors import ConfigError
from myosem_rt.recordings import Session, load_session


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(class, start, stop) of each run of equal labels."""
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(labels)) + 1, [len(labels)]))
    return [(int(labels[a]), int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def test_same_seed_same_samples_whatever_the_chunking():
    a = SyntheticArmband(seed=7, chunk_ms=20.0, gesture_s=0.4, rest_s=0.2).generate(5000)
    b = SyntheticArmband(seed=7, chunk_ms=13.0, gesture_s=0.4, rest_s=0.2).generate(5000)
    c = SyntheticArmband(seed=8, chunk_ms=20.0, gesture_s=0.4, rest_s=0.2).generate(5000)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].dtype == np.float32 and a[0].shape == (5000, 8)
    assert not np.array_equal(a[0], c[0])


def test_hold_rms_follows_the_topology():
    ids, names, levels = default_topology(8)
    amplitude, floor = 2.0, 0.1
    armband = SyntheticArmband(
        sequence=[1, 2, 3, 4, 5, 6], gesture_s=1.0, rest_s=0.5, amplitude=amplitude, noise_floor=floor, seed=1
    )
    emg, labels = armband.generate(6 * 1500)
    ramp = round(0.1 * armband.spec.fs)
    seen = set()
    for cls, start, stop in _runs(labels):
        rms = np.sqrt(np.mean(emg[start + ramp : stop].astype(np.float64) ** 2, axis=0))
        a = levels[ids.index(cls)]
        np.testing.assert_allclose(rms, floor + amplitude * a, rtol=0.15)
        if cls != REST_ID:
            active, inactive = rms[a > 0.5], rms[a < 0.1]
            assert active.size and inactive.size and active.min() > 2 * inactive.max()
            seen.add(cls)
    assert seen == {1, 2, 3, 4, 5, 6}


def test_random_sequence_is_seeded_and_never_repeats_a_gesture():
    def gestures(seed: int) -> list[int]:
        labels = SyntheticArmband(seed=seed, gesture_s=0.05, rest_s=0.0).generate(50 * 40)[1]
        return [cls for cls, _, _ in _runs(labels)]

    first = gestures(3)
    assert first == gestures(3) and first != gestures(4)
    assert len(first) == 40 and set(first) <= set(default_topology(8)[0]) - {REST_ID}
    assert all(x != y for x, y in zip(first, first[1:], strict=False))


def _toy_session(pattern: np.ndarray, per_class: int = 400) -> Session:
    """Each class holds ±pattern (alternating sign: zero mean), so its per-channel RMS is exactly pattern."""
    sign = np.where(np.arange(per_class) % 2 == 0, 1.0, -1.0)[:, None]
    emg = np.concatenate([sign * row for row in pattern]).astype(np.float32)
    label = np.repeat([0, 3, 5], per_class)
    return Session(
        emg=emg,
        label=label,
        repetition=np.ones(len(label)),
        fs=500.0,
        class_names={0: "neutral", 3: "fist", 5: "open", 9: "unused"},
        dataset="Toy",
        subject=1,
        session="a",
    )


def test_estimate_topology_is_per_class_rms_over_the_maximum():
    pattern = np.array([[1.0, 1.0, 2.0, 1.0], [10.0, 4.0, 2.0, 1.0], [2.0, 3.0, 20.0, 8.0]])
    ids, names, a = estimate_topology(_toy_session(pattern))
    assert ids == (0, 3, 5) and names == ("neutral", "fist", "open")
    np.testing.assert_allclose(a, pattern / 20.0, rtol=1e-6)

    armband = SyntheticArmband(n_channels=None, fs=500.0, topology=(ids, names, a), sequence=[5, 3])
    assert armband.spec.n_channels == 4 and armband.spec.class_names[3] == "fist"
    with pytest.raises(ConfigError, match="--channels 8"):
        SyntheticArmband(n_channels=8, topology=(ids, names, a))


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"sequence": [1, 99]}, "--sequence"),
        ({"sequence": "1,x"}, "--sequence"),
        ({"fs": 40.0}, "--fs"),
        ({"gesture_s": 0}, "--gesture-s"),
        ({"rest_s": -1}, "--rest-s"),
        ({"n_channels": 0}, "--channels"),
        ({"amplitude": 0}, "--amplitude"),
        ({"speed": -1}, "--speed"),
    ],
)
def test_bad_options_raise_one_line_config_errors(kwargs, option):
    with pytest.raises(ConfigError, match=f"^{option}") as err:
        SyntheticArmband(**kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.lsl
def test_stream_carries_the_generated_samples_and_the_sequence(tmp_path):
    fs, n = 1000.0, 2000
    kwargs = {"fs": fs, "n_channels": 10, "sequence": [2, 1, 3], "gesture_s": 0.3, "rest_s": 0.2, "seed": 5}
    expected_emg, expected_labels = SyntheticArmband(**kwargs).generate(n)
    armband = SyntheticArmband(
        name=unique_name("sim"), duration_s=n / fs, speed=10.0, wait_for_consumer=20.0, **kwargs
    )
    rx = stream_to_receiver(armband, n, tmp_path)

    np.testing.assert_array_equal(rx["values"], expected_emg)
    ts = rx["timestamps"]
    np.testing.assert_allclose(np.diff(ts), 1.0 / fs, rtol=0, atol=1e-9)
    runs = _runs(expected_labels)
    assert [cls for cls, _, _ in runs] == [0, 2, 0, 1, 0, 3, 0, 2]
    names = dict(zip(*default_topology(10)[:2], strict=True))
    assert list(rx["markers"]) == [marker_text(cls, names[cls]) for cls, _, _ in runs]
    np.testing.assert_array_equal(rx["marker_timestamps"], ts[[start for _, start, _ in runs]])
    assert list(rx["channel_labels"]) == [f"ch{k}" for k in range(1, 11)]
    assert str(rx["manufacturer"]) == "MyoSem-RT simulate" and float(rx["nominal_srate"]) == fs


@pytest.mark.lsl
def test_cli_simulate_runs_and_reports(capsys):
    name = unique_name("simcli")
    args = [
        "simulate",
        "--name",
        name,
        "--duration",
        "0.5",
        "--speed",
        "20",
        "--sequence",
        "1,2",
        "--seed",
        "3",
    ]
    assert run_cli(args) == 0
    err = capsys.readouterr().err
    assert f"streaming {name}: source_id synthetic/{name}/seed3, 10 ch @ 1000 Hz" in err
    assert "pushed 500 samples" in err


@pytest.mark.parametrize(
    ("args", "option"),
    [(["--sequence", "1,99"], "--sequence"), (["--fs", "30"], "--fs"), (["--gesture-s", "0"], "--gesture-s")],
)
def test_cli_bad_options_exit_2_with_one_line(args, option, capsys):
    assert run_cli(["simulate", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("myosem simulate: error: ") and option in err


@pytest.mark.realdata
def test_topology_estimated_from_a_real_recording(threedc_file):
    session = load_session(threedc_file)
    ids, names, a = estimate_topology(session)
    assert ids == tuple(range(11)) and names[2] == "Wrist Flexion"
    assert a.shape == (11, 10) and a.max() == 1.0 and a.min() > 0
    rest = a[ids.index(0)]
    assert np.all(rest < a.max(axis=0))  # no channel is most active at rest


def test_armband_from_config_takes_defaults_and_overrides():
    cfg = default_config()["simulate"]
    armband = armband_from_config(cfg, name="x", speed=2.0, fs=None, sequence="3, 4")
    assert (armband.spec.name, armband.spec.n_channels, armband.spec.fs) == (
        "x",
        cfg["n_channels"],
        cfg["fs"],
    )
    assert (armband.speed, armband.sequence, armband.seed) == (2.0, (3, 4), cfg["seed"])


@pytest.mark.realdata
def test_armband_from_a_recording_topology_takes_its_layout(threedc_file):
    cfg = default_config()["simulate"]
    armband = armband_from_config(cfg, topology=str(threedc_file), sequence=[7])
    assert (armband.spec.n_channels, armband.spec.fs) == (10, 1000.0)
    assert armband.spec.class_names[7] == "Power Grip" and armband.class_ids == tuple(range(11))
    assert armband.spec.metadata["topology"] == "estimated from 3DC/S1/day1"
    assert armband_from_config(cfg, topology=str(threedc_file), fs=500.0).spec.fs == 500.0

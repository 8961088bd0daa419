"""``myosem record``: a replayed real recording -> the file holds exactly the streamed samples and labels;
Ctrl-C, SIGTERM and a source that dies keep everything received; outputs are checked first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pylsl
import pytest
import scipy.io

from devices.replay import ReplayDevice
from myosem_rt.config import load_config
from myosem_rt.record.session import COMPLETE, STOPPED, RecordSettings, record
from myosem_rt.recordings import Session, load_session
from myosem_rt.stream.inlet import StreamSelector
from tests.lsl_helpers import run_cli, unique_name

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config() -> dict:
    cfg = load_config()
    cfg["stream"]["stall_timeout_s"] = 0.5
    cfg["lsl"]["resolve_timeout_s"] = 10.0
    return cfg


def _replay(session: Session, **kwargs) -> ReplayDevice:
    device = ReplayDevice(session, name=unique_name("record"), wait_for_consumer=20.0, **kwargs)
    device.linger_s = 30.0
    device.start()
    assert device.ready.wait(10.0)
    return device


def _timestamps(path: Path) -> np.ndarray:
    return scipy.io.loadmat(path, variable_names=["timestamps"])["timestamps"][:, 0]


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(90)
def test_replay_to_record_holds_exactly_the_streamed_samples_and_labels(data_dir: Path, config: dict,
                                                                       tmp_path: Path) -> None:
    source = load_session(data_dir / "ciil_shift" / "S8_shift4.mat")
    device = _replay(source, speed=20.0, chunk_ms=50.0)
    out = tmp_path / "rec.mat"
    try:
        path, status, recorder = record(StreamSelector(name=device.spec.name),
                                        RecordSettings(out, timestamps=True), config)
    finally:
        device.stop()
    assert status == STOPPED and path == out and recorder.gaps.gaps == 0
    assert device.samples_pushed == source.n_samples
    rec = load_session(out)
    assert rec.n_samples == source.n_samples
    np.testing.assert_array_equal(rec.emg, source.emg)
    np.testing.assert_array_equal(rec.label, source.label)
    np.testing.assert_array_equal(rec.repetition, source.repetition)
    assert dict(rec.class_names) == dict(source.class_names)
    assert (rec.dataset, rec.subject, rec.session, rec.unit) == (source.dataset, source.subject,
                                                                 source.session, source.unit)
    step = np.diff(_timestamps(out))  # sample-exact and no gap
    np.testing.assert_allclose(step, 1.0 / source.fs, rtol=0, atol=0.1 / source.fs)
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mat"]


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(90)
def test_source_that_dies_mid_recording_keeps_every_sample_received(data_dir: Path, config: dict,
                                                                   tmp_path: Path) -> None:
    source = load_session(data_dir / "ciil_shift" / "S8_shift4.mat")
    device = _replay(source, speed=20.0, chunk_ms=50.0, duration_s=11.0)  # dies 11 s into 30 s of signal
    out = tmp_path / "cut.mat"
    try:
        _path, status, recorder = record(StreamSelector(name=device.spec.name), RecordSettings(out), config)
    finally:
        device.stop()
    rec = load_session(out)
    assert status == STOPPED and rec.n_samples == device.samples_pushed == 2200
    np.testing.assert_array_equal(rec.emg, source.emg[:2200])
    np.testing.assert_array_equal(rec.label, source.label[:2200])


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(90)
def test_duration_ends_the_recording_at_that_much_signal(data_dir: Path, config: dict,
                                                         tmp_path: Path) -> None:
    source = load_session(data_dir / "ciil_shift" / "S8_shift4.mat")
    device = _replay(source, speed=10.0)
    try:
        _path, status, _rec = record(StreamSelector(name=device.spec.name),
                                     RecordSettings(tmp_path / "d.mat", duration_s=5.0), config)
    finally:
        device.stop()
    rec = load_session(tmp_path / "d.mat")
    assert status == COMPLETE and rec.n_samples == 1000  # 5 s @ 200 Hz
    np.testing.assert_array_equal(rec.emg, source.emg[:1000])


def _synthetic(n: int, fs: float = 500.0) -> Session:
    emg = np.random.default_rng(3).normal(size=(n, 4)).astype(np.float32)
    label = np.repeat([0, 1, 0, 2], n // 4)
    return Session(emg=emg, label=np.pad(label, (0, n - len(label))), repetition=np.ones(n), fs=fs,
                   class_names={0: "rest", 1: "fist", 2: "open"}, dataset="Toy", subject=4, session="s")


@pytest.mark.lsl
@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_recording_and_keeps_every_sample(sig: int, tmp_path: Path) -> None:
    """``myosem record`` in its own process, stopped by a real signal while the source still streams."""
    source = _synthetic(20000)  # 40 s at 500 Hz, streamed at real time
    device = _replay(source, speed=1.0)
    out = tmp_path / "sig.mat"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "myosem_rt.cli", "record", str(out), "--name",
                             device.spec.name, "--dataset", "MyoDisCo", "--subject", "12",
                             "--session", "day1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30.0
        while device.samples_pushed < 1500 and time.monotonic() < deadline:  # 3 s of signal recorded
            time.sleep(0.02)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30.0)
        pushed = device.samples_pushed
    finally:
        device.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rec = load_session(out)
    assert 1500 <= rec.n_samples <= pushed
    np.testing.assert_array_equal(rec.emg, source.emg[: rec.n_samples])
    np.testing.assert_array_equal(rec.label, source.label[: rec.n_samples])
    assert f"recorded {rec.n_samples} samples" in err and "(interrupted)" in err
    assert (rec.dataset, rec.subject, rec.session) == ("MyoDisCo", 12, "day1")  # as given on the line


@pytest.mark.lsl
@pytest.mark.timeout(60)
def test_results_stream_is_recorded_beside(config: dict, tmp_path: Path) -> None:
    source = _synthetic(2000)
    device = _replay(source, speed=2.0)
    name = unique_name("results")
    info = pylsl.StreamInfo(name, "MyoSemResults", 3, 20.0, pylsl.cf_float32, name)
    info.set_channel_labels(["rest", "fist", "open"])
    outlet = pylsl.StreamOutlet(info)
    import threading

    stop = threading.Event()

    def push() -> None:
        k = 0
        while not stop.is_set():
            outlet.push_sample([float(k), float(k) + 0.5, float(k) + 0.25])
            k += 1
            stop.wait(0.02)

    pusher = threading.Thread(target=push)
    pusher.start()
    try:
        path, _status, recorder = record(StreamSelector(name=device.spec.name),
                                         RecordSettings(tmp_path / "r.mat"), config, results_stream=name)
    finally:
        stop.set()
        pusher.join()
        device.stop()
    fields = scipy.io.loadmat(path, variable_names=["results", "results_timestamps", "results_classes"])
    values = fields["results"]
    assert values.shape[1] == 3 and len(values) >= 10 and len(fields["results_timestamps"]) == len(values)
    np.testing.assert_array_equal(values[:, 1] - values[:, 0], 0.5)
    assert "fist" in str(fields["results_classes"])
    assert load_session(path).n_samples == 2000  # the EMG as ever


def test_existing_output_is_refused_before_any_stream_is_touched(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "old.mat"
    out.write_bytes(b"keep me")
    for argv, message in ((["record", str(out), "--name", "nobody"], "already exists"),
                          (["record", str(tmp_path / "x.npz"), "--name", "nobody"], "must end in .mat"),
                          (["record", str(tmp_path / "no" / "x.mat"), "--name", "nobody"], "does not exist"),
                          (["record", str(tmp_path / "y.mat"), "--duration", "0"], "--duration")):
        t = time.monotonic()
        assert run_cli(["-q", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert time.monotonic() - t < 2.0  # refused up front, no stream resolution
    assert out.read_bytes() == b"keep me"

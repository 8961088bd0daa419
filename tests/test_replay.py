"""Replay device: what a consumer in another process receives, looping, selection and CLI errors."""

from __future__ import annotations

import _thread
import logging
import signal
import threading
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pylsl
import pytest
from lsl_helpers import run_cli, stream_to_receiver, unique_name

from devices.outlet import marker_text, run_until_interrupted
from devices.replay import ReplayDevice
from myosem_rt.errors import ConfigError
from myosem_rt.live.truth import parse_marker
from myosem_rt.recordings import Session, load_session


def _session(n: int = 300, fs: float = 1000.0, path: Path | None = None) -> Session:
    """A small recording whose first and last labels are equal (so a loop start is not a label change)."""
    emg = np.arange(n * 3, dtype=np.float32).reshape(n, 3) * 0.5
    label = np.zeros(n, dtype=np.int16)
    label[n // 3 : 2 * n // 3] = 2
    return Session(
        emg=emg,
        label=label,
        repetition=np.ones(n),
        fs=fs,
        class_names={0: "rest", 2: "fist: closed"},
        dataset="Toy",
        subject=3,
        session="day1",
        unit="mV",
        path=path,
    )


def _marker_positions(labels: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.flatnonzero(np.diff(labels)) + 1))


@pytest.mark.lsl
@pytest.mark.realdata
def test_replay_of_a_real_recording_reaches_another_process_sample_exact(threedc_file, tmp_path):
    session = load_session(threedc_file)
    start_s, duration_s = 2.0, 20.0
    first, n = round(start_s * session.fs), round(duration_s * session.fs)
    labels = session.label[first : first + n]
    positions = _marker_positions(labels)
    assert len(positions) >= 3, "the selected part must contain at least two label changes"

    device = ReplayDevice(
        session,
        name=unique_name("replay"),
        speed=50.0,
        chunk_ms=20.0,
        start_s=start_s,
        duration_s=duration_s,
        wait_for_consumer=20.0,
    )
    rx = stream_to_receiver(device, n, tmp_path)

    values, ts = rx["values"], rx["timestamps"]
    assert values.shape == (n, session.n_channels) and values.dtype == np.float32
    np.testing.assert_array_equal(values, session.emg[first : first + n])
    assert ts[0] == device.t0
    np.testing.assert_allclose(ts - ts[0], np.arange(n) / session.fs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.diff(ts), 1.0 / session.fs, rtol=0, atol=1e-9)

    expected = [marker_text(c, session.class_name(c)) for c in labels[positions]]
    assert list(rx["markers"]) == expected
    np.testing.assert_array_equal(rx["marker_timestamps"], ts[positions])
    assert (device.samples_pushed, device.markers_pushed) == (n, len(positions))

    assert str(rx["source_id"]) == session.source_id == "3DC/S1/day1"
    assert str(rx["marker_source_id"]) == session.source_id + "-labels"
    assert float(rx["nominal_srate"]) == session.fs
    assert str(rx["type"]) == "EMG"
    assert list(rx["channel_labels"]) == list(session.channel_names)
    assert list(rx["channel_units"]) == [session.unit] * session.n_channels == ["adc_counts"] * 10
    assert list(rx["channel_types"]) == ["EMG"] * session.n_channels
    assert str(rx["manufacturer"]) == "MyoSem-RT replay"
    acquisition = ElementTree.fromstring(str(rx["xml"])).find("desc/acquisition")  # XDF meta-data convention
    assert acquisition is not None and acquisition.findtext("manufacturer") == "MyoSem-RT replay"
    assert acquisition.findtext("model") == (session.device or session.dataset)
    assert "<dataset>3DC</dataset>" in str(rx["xml"]) and "Wrist Flexion" in str(rx["xml"])


@pytest.mark.lsl
def test_loop_continues_timestamps_and_marks_every_pass(tmp_path):
    session = _session()
    n, passes = session.n_samples, 3
    device = ReplayDevice(
        session, name=unique_name("loop"), speed=20.0, chunk_ms=7.0, loop=True, wait_for_consumer=20
    )
    rx = stream_to_receiver(device, n * passes, tmp_path)

    values, ts = rx["values"][: n * passes], rx["timestamps"][: n * passes]
    np.testing.assert_array_equal(values, np.tile(session.emg, (passes, 1)))
    np.testing.assert_allclose(np.diff(ts), 1.0 / session.fs, rtol=0, atol=1e-9)  # no jump, no repeat

    in_range = rx["marker_timestamps"] <= ts[-1]
    positions = np.concatenate([_marker_positions(session.label) + k * n for k in range(passes)])
    loop_labels = np.tile(session.label, passes)
    assert [parse_marker(m) for m in rx["markers"][in_range]] == [
        (int(c), session.class_name(c)) for c in loop_labels[positions]
    ]
    # each pass starts with a marker although its label equals the previous pass's last label
    assert session.label[0] == session.label[-1]
    np.testing.assert_array_equal(rx["marker_timestamps"][in_range], ts[positions])


def test_selection_and_chunks_without_lsl():
    session = _session(n=300)
    device = ReplayDevice(session, start_s=0.25, duration_s=10.0, chunk_ms=40.0)  # cut at the end of the file
    assert (device.first, device.end, device.n_selected) == (250, 300, 50)
    chunks = list(device.chunks())
    assert [len(c.labels) for c in chunks] == [40, 10]
    assert [c.restart for c in chunks] == [True, False]
    np.testing.assert_array_equal(np.concatenate([c.emg for c in chunks]), session.emg[250:])
    assert device.spec.source_id == "Toy/S3/day1" and device.spec.name == "myosem-replay"


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"speed": 0}, "--speed"),
        ({"speed": float("inf")}, "--speed"),
        ({"chunk_ms": -1}, "--chunk-ms"),
        ({"start_s": 0.3}, "--start"),
        ({"start_s": -1}, "--start"),
        ({"duration_s": 0}, "--duration"),
        ({"duration_s": 1e-5}, "--duration"),
        ({"wait_for_consumer": -1}, "--wait-for-consumer"),
    ],
)
def test_bad_options_raise_one_line_config_errors(kwargs, option):
    with pytest.raises(ConfigError, match=f"^{option} ") as err:
        ReplayDevice(_session(n=300), **kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--speed", "0"], "--speed"),
        (["--speed", "-3"], "--speed"),
        (["--chunk-ms", "0"], "--chunk-ms"),
        (["--duration", "0"], "--duration"),
        (["--start", "-1"], "--start"),
        (["--wait-for-consumer", "-2"], "--wait-for-consumer"),
    ],
)
def test_cli_bad_options_exit_2_with_one_line(args, option, tmp_path, capsys):
    # options are checked before the file is read, so the file need not exist
    assert run_cli(["replay", str(tmp_path / "whatever.mat"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("myosem replay: error: ") and option in err


@pytest.mark.parametrize("content", [None, b"not a mat file\n"])
def test_cli_bad_file_exits_2_and_names_it(content, tmp_path, capsys):
    path = tmp_path / "broken.mat"
    if content is not None:
        path.write_bytes(content)
    assert run_cli(["replay", str(path), "--name", unique_name("bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "broken.mat" in err
    assert "streaming" not in err  # nothing was streamed


@pytest.mark.realdata
def test_cli_start_past_the_end_exits_2(threedc_file, capsys):
    assert run_cli(["replay", str(threedc_file), "--start", "5000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--start 5000" in err and "S1_E1_A1.mat" in err


@pytest.mark.lsl
@pytest.mark.realdata
def test_cli_replays_a_part_and_reports_what_it_pushed(threedc_file, capsys):
    name = unique_name("cli")
    assert run_cli(["replay", str(threedc_file), "--duration", "0.5", "--speed", "10", "--name", name]) == 0
    err = capsys.readouterr().err
    assert f"streaming {name}: source_id 3DC/S1/day1, 10 ch @ 1000 Hz, speed 10x" in err
    assert "pushed 500 samples (0.500 s of signal)" in err


def test_replay_help_documents_signal_time(capsys):
    with pytest.raises(SystemExit):
        run_cli(["replay", "--help"])
    assert "t0 + i/fs" in capsys.readouterr().out


def test_marker_text_round_trip():
    assert parse_marker(marker_text(7, "Power Grip: 2")) == (7, "Power Grip: 2")


def test_session_file_name_in_metadata(tmp_path):
    assert ReplayDevice(_session(path=tmp_path / "toy.mat")).spec.metadata["file"] == "toy.mat"


@pytest.mark.lsl
@pytest.mark.timeout(60)
def test_ctrl_c_stops_cleanly_destroys_the_outlets_and_reports(caplog):
    name = unique_name("ctrlc")
    device = ReplayDevice(_session(), name=name, loop=True)
    visible = []

    def press_ctrl_c() -> None:
        device.ready.wait(10.0)
        visible.extend(info.name() for info in pylsl.resolve_byprop("name", name, 1, 5.0))
        _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    presser = threading.Thread(target=press_ctrl_c)
    try:
        presser.start()
        with caplog.at_level(logging.INFO, logger="devices"):
            assert run_until_interrupted(device) == 0
    finally:
        presser.join()
        signal.signal(signal.SIGINT, previous)
    assert visible == [name]
    assert device.samples_pushed > 0
    assert "stopped (Ctrl-C)" in caplog.text and f"pushed {device.samples_pushed} samples" in caplog.text
    assert pylsl.resolve_byprop("name", name, 1, 0.5) == []  # the outlets are gone


@pytest.mark.lsl
def test_no_consumer_within_the_wait_streams_anyway(caplog):
    device = ReplayDevice(_session(n=100), name=unique_name("nowait"), speed=50.0, wait_for_consumer=0.2)
    device.linger_s = 0.0
    with caplog.at_level(logging.WARNING, logger="devices"):
        device.run()
    assert device.samples_pushed == 100 and device.markers_pushed == 3  # 0, 2, 0
    assert "no consumer after 0.2 s" in caplog.text

"""Guided enrolment: the recording writer, the self-describing reader, the cues, and live sessions over LSL.

The live sessions stream a replayed recording into the session in this process; with ``--follow-markers``
the replay's markers play the user, so the written file can be compared sample by sample with the source.
"""

from __future__ import annotations

import _thread
import argparse
import io
import logging
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from lsl_helpers import unique_name

from devices.replay import ReplayDevice
from myosem_rt.config import load_config
from myosem_rt.errors import ConfigError, RecordingError, StreamError
from myosem_rt.profile.guided import (
    INTERRUPTED,
    CueSchedule,
    EnrolError,
    EnrolView,
    Gesture,
    MarkerCues,
    Status,
    add_guided_arguments,
    choose_classes,
    record_guided,
    run_guided,
)
from myosem_rt.recordings import Session, load_session
from myosem_rt.recordings.writer import write_recording

NAMES = {0: "rest", 3: "Fist", 300: "Wave"}


def _toy(n: int = 40) -> dict:
    rng = np.random.default_rng(0)
    label = np.zeros(n, dtype=np.int64)
    label[10:20], label[25:35] = 3, 300
    return {"emg": rng.normal(size=(n, 4)).astype(np.float32) * 1e-3, "label": label,
            "repetition": np.ones(n, dtype=np.int64), "fs": 250.0}


def _write(path: Path, force: bool = False, **changes) -> Path:
    d = {**_toy(), **changes}
    return write_recording(path, d["emg"], d["label"], d["repetition"], d["fs"], dataset="enrol", subject=7,
                           session="alice-1", device="", unit="uV", class_names=NAMES,
                           descriptions={300: "Waving the open hand side to side."},
                           timestamps=100.0 + np.arange(len(d["label"])) / 250.0, force=force)


# --- writer and reader ---------------------------------------------------------------------------------


def test_writer_round_trip_is_self_describing(tmp_path):
    path = _write(tmp_path / "rec.mat")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mat"]  # no labels.json, no temp file left
    s = load_session(path)
    toy = _toy()
    np.testing.assert_array_equal(s.emg, toy["emg"])  # float32 exactly as given
    np.testing.assert_array_equal(s.label, toy["label"])
    np.testing.assert_array_equal(s.repetition, toy["repetition"])
    assert (s.fs, s.dataset, s.subject, s.session) == (250.0, "enrol", 7, "alice-1")
    assert (s.unit, s.device) == ("uV", "")
    assert dict(s.class_names) == NAMES
    assert dict(s.class_descriptions) == {300: "Waving the open hand side to side."}
    with pytest.raises(TypeError):
        s.class_descriptions[1] = "x"  # frozen like class_names
    raw = scipy.io.loadmat(path)
    assert raw["emg"].dtype == np.float32 and float(raw["emg_scale"][0, 0]) == 1.0
    assert raw["stimulus"].dtype == np.uint16 and raw["stimulus"].shape == (40, 1)  # an id above 255
    assert raw["repetition"].dtype == np.uint8 and np.array_equal(raw["restimulus"], raw["stimulus"])
    np.testing.assert_array_equal(raw["timestamps"][:, 0], 100.0 + np.arange(40) / 250.0)


def test_writer_refuses_to_overwrite_unless_forced(tmp_path):
    path = _write(tmp_path / "rec.mat")
    before = path.read_bytes()
    with pytest.raises(RecordingError, match="already exists") as err:
        _write(path, emg=_toy()["emg"] * 2)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert path.read_bytes() == before
    _write(path, force=True, emg=_toy()["emg"] * 2)
    np.testing.assert_array_equal(load_session(path).emg, _toy()["emg"] * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mat"]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"emg": np.full((40, 4), np.nan, dtype=np.float32)}, "NaN/inf"),
        ({"emg": np.zeros(40, dtype=np.float32)}, "T x C"),
        ({"label": np.zeros(39)}, "'label' must hold one value per sample"),
        ({"label": -np.ones(40)}, "non-negative"),
        ({"label": np.full(40, 0.5)}, "integers"),
        ({"label": np.full(40, 4)}, "label ids [4] have no name"),
        ({"repetition": np.full(40, 70000)}, "at most 65535"),
        ({"fs": 0.0}, "sampling rate"),
    ],
)
def test_writer_bad_input_is_one_line_and_writes_nothing(tmp_path, changes, problem):
    with pytest.raises(RecordingError) as err:
        _write(tmp_path / "rec.mat", **changes)
    assert problem in str(err.value) and "\n" not in str(err.value) and "rec.mat" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_writer_wants_a_mat_name_and_matching_timestamps(tmp_path):
    with pytest.raises(RecordingError, match="must end in .mat"):
        _write(tmp_path / "rec.npz")
    toy = _toy()
    with pytest.raises(RecordingError, match="'timestamps' has 3 values"):
        write_recording(tmp_path / "r.mat", toy["emg"], toy["label"], toy["repetition"], 250.0, dataset="d",
                        subject=1, session="s", class_names=NAMES, timestamps=np.zeros(3))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("text", "problem"), [("not json", "unreadable 'labels_json'"),
                                                ('{"names": {}}', "unreadable 'labels_json'"),
                                                ('{"classes": {"0": "rest"}}', "[3, 300] have no name")])
def test_bad_labels_json_is_one_line(tmp_path, text, problem):
    toy = _toy()
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, {"emg": toy["emg"], "stimulus": toy["label"][:, None].astype(np.uint16),
                            "repetition": toy["repetition"][:, None].astype(np.uint8), "frequency": 250.0,
                            "dataset": "enrol", "labels_json": text})
    with pytest.raises(RecordingError) as err:
        load_session(path)
    assert problem in str(err.value) and "\n" not in str(err.value) and "bad.mat" in str(err.value)


# --- cues and the class list ----------------------------------------------------------------------------


def test_schedule_labels_follow_stream_time():
    s = CueSchedule([(1, "Fist", "Closing the hand."), (2, "Open", "")], repetitions=2, ready_s=1.0,
                    hold_s=2.0, rest_s=1.0)
    assert (s.duration_s, s.n_cues) == (16.0, 4)
    t = np.arange(0, 16, 0.5)
    label, rep = s.labels(t)
    hold = ((t % 4 >= 1) & (t % 4 < 3))
    np.testing.assert_array_equal(label, np.where(hold, np.where(t % 8 < 4, 1, 2), 0))
    np.testing.assert_array_equal(rep, np.where(t < 8, 1, 2))  # rest samples carry their repetition
    assert s.cue_at(1.5).text == "hold Fist: Closing the hand." and s.cue_at(0.2).text == "get ready: Fist"
    assert s.cue_at(12.5).describe(4) == "'get ready for Open' (repetition 2, cue 4 of 4)"
    assert s.cue_at(16.0) is None and s.held(3.0) == {1} and s.held(2.9) == set()
    with pytest.raises(ConfigError, match="^--hold-s must be > 0"):
        CueSchedule([(1, "a")], hold_s=0)


def test_recorded_labels_fall_on_the_sample_grid_whatever_the_clock_jitter():
    """The clock sync moves LSL times by microseconds; a sample on a cue boundary keeps the boundary's label
    (the label of sample n is the schedule's at n / fs), whichever way its timestamp moved."""
    from myosem_rt.profile.recorder import COMPLETE, CuedRecording

    s = CueSchedule([(1, "Fist"), (2, "Open")], repetitions=1, ready_s=1.0, hold_s=2.0, rest_s=1.0)
    fs = 500.0
    n = np.arange(int(s.duration_s * fs))
    jitter = np.where(n % 2, 2e-6, -2e-6)  # every boundary sample (even) a little early
    jitter[0] = 0.0  # stream second 0 on the grid
    rec = CuedRecording(s, fs, 1, "jittery")
    rec._take(np.zeros((len(n), 1), np.float32), 1234.5 + n / fs + jitter)
    label, _ = s.labels(n / fs)
    outcome = rec.outcome(COMPLETE)
    assert len(outcome.label) == len(n) and label[1500] == 0 and label[1499] == 1
    np.testing.assert_array_equal(outcome.label, label)


def test_marker_cues_count_occurrences_and_end_after_n():
    cues = MarkerCues([Gesture(1, "a"), Gesture(2, "b")], 2, {}, tolerance_s=0.0005)
    for t, m in [(0.0, "0:rest"), (1.0, "1:a"), (2.0, "2:b"), (3.0, "0:rest"), (3.5, "0:rest"), (4.0, "1:a"),
                 (5.0, "2:b")]:
        cues.add(m, t)
    assert cues.end_stamp is None and cues.complete_at_source_end() and cues.missing() == ["b (1 of 2)"]
    cues.add("0:rest", 6.0)
    assert cues.end_stamp == 6.0
    label, rep = cues.labels(np.array([-1.0, 0.5, 1.0, 2.5, 3.7, 4.2, 5.9]))
    assert label.tolist() == [0, 0, 1, 2, 0, 1, 2] and rep.tolist() == [0, 1, 1, 1, 2, 2, 2]


def test_class_list_from_the_vocabulary_or_new_gestures():
    vocab = {0: Gesture(0, "Neutral", "Still."), 1: Gesture(1, "Fist", "Closing."), 2: Gesture(2, "Open", "")}
    assert [g.class_id for g in choose_classes(vocab, None, None)] == [1, 2]
    got = choose_classes(vocab, ["open", "1"], ["Wave=Waving the hand", "Point=Pointing the index"])
    assert got == (vocab[2], vocab[1], Gesture(3, "Wave", "Waving the hand"), Gesture(4, "Point",
                                                                                      "Pointing the index"))
    assert choose_classes({}, ["Fist"], None) == (Gesture(1, "Fist", ""),)
    for classes, new, problem in [(None, None, "--new NAME=DESCRIPTION"), (["7"], None, "--classes 7"),
                                  (None, ["Wave"], "expected NAME=DESCRIPTION")]:
        with pytest.raises(ConfigError, match=problem) as err:
            choose_classes({}, classes, new)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="'Kick': no class of that name"):
        choose_classes(vocab, ["Kick"], None)


# --- live sessions over LSL ---------------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_guided_arguments(p)
    return p.parse_args(list(argv))


@pytest.fixture
def config() -> dict:
    cfg = load_config()
    cfg["stream"]["stall_timeout_s"] = 0.5
    cfg["lsl"]["resolve_timeout_s"] = 10.0
    return cfg


def _synthetic(n: int, fs: float = 500.0) -> Session:
    """3 channels of non-integer float32 values (no shipped model is 3 ch @ 500 Hz: gestures via --new)."""
    emg = np.random.default_rng(1).normal(size=(n, 3)).astype(np.float32)
    return Session(emg=emg, label=np.zeros(n), repetition=np.ones(n), fs=fs, class_names={0: "rest"},
                   dataset="Toy", subject=2, session="s")


def _replay(session: Session, **kwargs) -> ReplayDevice:
    device = ReplayDevice(session, name=unique_name("enrol"), wait_for_consumer=20.0, **kwargs)
    device.start()
    assert device.ready.wait(10.0)
    return device


NEW = ["--new", "Fist=Closing the hand into a fist", "Open=Opening the hand wide"]
TIMING = ["--ready-s", "0.2", "--hold-s", "0.5", "--rest-s", "0.3"]


def _file_timestamps(path: Path) -> np.ndarray:
    return scipy.io.loadmat(path, variable_names=["timestamps"])["timestamps"][:, 0]


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(60)
def test_markers_play_the_user_and_the_file_holds_exactly_the_stream(threedc_file, config, tmp_path):
    source = load_session(threedc_file)
    end = int(np.flatnonzero(source.repetition == 3)[0])  # repetitions 1-2, then 3 s into repetition 3
    device = _replay(source, speed=20.0, chunk_ms=50.0, duration_s=end / source.fs + 3.0)
    try:
        out = tmp_path / "alice.mat"
        result = record_guided(_args("--profile", str(tmp_path / "alice"), "--name", device.spec.name,
                                     "--follow-markers", "--repetitions", "2", "--out", str(out)), config)
    finally:
        device.stop()
    assert result.outcome.status == "complete" and result.path == out and result.outcome.gaps == 0
    rec = load_session(out)
    assert rec.n_samples == end  # ends at the marker that starts repetition 3
    np.testing.assert_array_equal(rec.emg, source.emg[:end])
    np.testing.assert_array_equal(rec.label, source.label[:end])
    np.testing.assert_array_equal(rec.repetition, source.repetition[:end])
    step = np.diff(_file_timestamps(out))  # no gap (clock-offset updates move stamps by microseconds)
    np.testing.assert_allclose(step, 1.0 / source.fs, rtol=0, atol=0.1 / source.fs)
    assert dict(rec.class_names) == dict(source.class_names) and dict(rec.class_descriptions) == {}
    assert (rec.dataset, rec.subject, rec.unit) == ("3DC", 1, "adc_counts")
    assert [p.name for p in tmp_path.iterdir()] == ["alice.mat"]
    assert ReplayDevice(rec).spec.source_id == f"3DC/S1/{rec.session}"  # replayable as it is


@pytest.mark.lsl
@pytest.mark.timeout(60)
def test_ctrl_c_keeps_every_sample_received(config, tmp_path, caplog):
    source = _synthetic(4000)
    device = _replay(source, speed=2.0)
    out = tmp_path / "bob.mat"

    def press_ctrl_c() -> None:
        while device.samples_pushed < 750 and device.running:  # into the hold of 'Open' (1.2-1.7 s)
            threading.Event().wait(0.01)
        _thread.interrupt_main()  # what Ctrl-C does

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    presser = threading.Thread(target=press_ctrl_c)
    try:
        presser.start()
        with caplog.at_level(logging.INFO, logger="myosem_rt"):
            rc = run_guided(_args("--profile", str(tmp_path / "bob"), "--name", device.spec.name, *NEW,
                                  *TIMING, "--repetitions", "2", "--out", str(out)), config)
    finally:
        presser.join()
        signal.signal(signal.SIGINT, previous)
        device.stop()
    assert rc == 130
    rec = load_session(out)
    n = rec.n_samples
    assert 620 <= n < 1000
    np.testing.assert_array_equal(rec.emg, source.emg[:n])
    ts = _file_timestamps(out)
    schedule = CueSchedule([(1, "Fist"), (2, "Open")], 2, 0.2, 0.5, 0.3)
    label, rep = schedule.labels(np.round((ts - ts[0]) * source.fs) / source.fs)  # on the sample grid
    np.testing.assert_array_equal(rec.label, label)
    np.testing.assert_array_equal(rec.repetition, rep)
    assert set(rec.label.tolist()) == {0, 1, 2} and rec.label[150] == 1 and rec.label[99] == 0
    assert dict(rec.class_names) == {0: "rest", 1: "Fist", 2: "Open"}
    assert dict(rec.class_descriptions) == {1: "Closing the hand into a fist", 2: "Opening the hand wide"}
    assert f"recording of {n} samples kept in {out}" in caplog.text
    assert "interrupted during cue" in caplog.text
    assert not (tmp_path / "bob.json").exists()  # no profile from an interrupted session


@pytest.mark.lsl
@pytest.mark.timeout(60)
def test_stop_event_interrupts_and_the_recording_is_readable(config, tmp_path):
    source = _synthetic(4000)
    device = _replay(source, speed=2.0)
    stop = threading.Event()

    def press_stop() -> None:
        while device.samples_pushed < 1300 and device.running:  # stream time 2.6 s: in repetition 2
            stop.wait(0.01)
        stop.set()

    watcher = threading.Thread(target=press_stop)
    watcher.start()
    try:
        result = record_guided(_args("--profile", str(tmp_path / "c"), "--name", device.spec.name, *NEW,
                                     *TIMING, "--repetitions", "3"), config, stop=stop)
    finally:
        watcher.join()
        device.stop()
    o = result.outcome
    assert o.status == INTERRUPTED and o.cut is not None and o.cut.repetition == 2 and o.n_samples >= 1200
    rec = load_session(tmp_path / "c.recording.mat")
    np.testing.assert_array_equal(rec.emg, source.emg[: rec.n_samples])
    assert rec.n_samples == o.n_samples


@pytest.mark.lsl
@pytest.mark.timeout(60)
def test_stream_that_stops_mid_cue_is_one_line_and_keeps_the_file(config, tmp_path):
    source = _synthetic(750)  # 1.5 s: the schedule (2 x 1 s) is cut during the hold of 'Open' (1.2-1.7 s)
    device = _replay(source, speed=2.0)
    out = tmp_path / "dan.mat"
    try:
        with pytest.raises(StreamError) as err:
            record_guided(_args("--profile", str(tmp_path / "dan"), "--name", device.spec.name, *NEW, *TIMING,
                                "--out", str(out)), config)
    finally:
        device.stop()
    message = str(err.value)
    assert "\n" not in message and str(out) in message and "stopped" in message
    assert "cut during cue 'hold Open' (repetition 1, cue 2 of 2)" in message
    assert "never held: Open" in message
    rec = load_session(out)
    assert rec.n_samples == 750 and device.samples_pushed == 750
    np.testing.assert_array_equal(rec.emg, source.emg)
    assert rec.label.max() == 2 and abs(int((rec.label == 1).sum()) - 250) <= 1  # 0.5 s of hold


@pytest.mark.lsl
@pytest.mark.timeout(60)
def test_failed_fit_keeps_the_recording_and_says_where(config, tmp_path, monkeypatch):
    enrol = pytest.importorskip("myosem_rt.profile.enrol")

    def fail(session, cfg, **kwargs):
        raise ConfigError("enrol: something the user can fix")

    monkeypatch.setattr(enrol, "enrol_from_session", fail)
    source = _synthetic(1500)
    device = _replay(source, speed=4.0)
    try:
        with pytest.raises(EnrolError) as err:
            run_guided(_args("--profile", str(tmp_path / "hal"), "--name", device.spec.name, *NEW, *TIMING),
                       config)
    finally:
        device.stop()
    out = tmp_path / "hal.recording.mat"
    message = str(err.value)
    assert "\n" not in message and "something the user can fix" in message and str(out) in message
    rec = load_session(out)
    assert rec.n_samples == 1000  # the whole schedule (2 cues of 1 s), nothing after it
    np.testing.assert_array_equal(rec.emg, source.emg[:1000])
    assert not (tmp_path / "hal.json").exists()


def test_terminal_view_redraws_in_place():
    out = io.StringIO()
    view = EnrolView(out, tty=True)
    s = CueSchedule([(1, "Fist", "Closing the hand.")], hold_s=2.0)
    view.update(Status(s.cue_at(3.0), s.n_cues, 3.0, 0.3, 7.0, 3000, 0))
    view.update(Status(s.cue_at(6.0), s.n_cues, 6.0, 0.6, 4.0, 6000, 1))
    text = out.getvalue()
    assert "HOLD Fist: Closing the hand." in text and "relax" in text and "gaps 1" in text
    assert text.count("\x1b[3F") == 1  # the second frame overwrote the first three lines


def test_existing_recording_or_profile_is_refused_before_anything_is_recorded(config, tmp_path):
    (tmp_path / "eve.recording.mat").write_bytes(b"keep")
    with pytest.raises(RecordingError, match="already exists") as err:
        record_guided(_args("--profile", str(tmp_path / "eve"), "--name", "nothing-here", *NEW), config)
    assert "\n" not in str(err.value)
    (tmp_path / "fay.json").write_text("{}")
    with pytest.raises(Exception, match="profile already exists"):
        record_guided(_args("--profile", str(tmp_path / "fay"), "--name", "nothing-here", *NEW), config)


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(90)
def test_profile_of_the_live_session_equals_the_profile_of_its_file(threedc_file, config, tmp_path,
                                                                    monkeypatch):
    enrol = pytest.importorskip("myosem_rt.profile.enrol")
    fitted = []
    original = enrol.enrol_from_session

    def capture(session, cfg, **kwargs):
        fitted.append((original(session, cfg, **kwargs), kwargs))
        return fitted[-1][0]

    monkeypatch.setattr(enrol, "enrol_from_session", capture)
    source = load_session(threedc_file)
    end = int(np.flatnonzero(source.repetition == 2)[0])
    device = _replay(source, speed=20.0, chunk_ms=50.0, duration_s=end / source.fs)
    try:
        rc = run_guided(_args("--profile", str(tmp_path / "gil"), "--name", device.spec.name,
                              "--follow-markers", "--user", "gil"), config)
    finally:
        device.stop()
    assert rc == 0 and (tmp_path / "gil.json").is_file()
    (live_profile, _), kwargs = fitted[0]
    again, _ = original(load_session(tmp_path / "gil.recording.mat"), config, **kwargs)
    a, b = live_profile.arrays(), again.arrays()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])

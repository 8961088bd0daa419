"""The window's guided enrolment ("Enrol…"): the consumer's raw-sample tap, the flow in the live window
(offscreen), Cancel, a stream no model fits, and a screenshot during a "hold" cue.

The replays are *gated*: their outlets exist and the window connects, but no sample is pushed until the
test presses Start and opens the gate, so the enrolment's first sample is the source's first and its cues
(stream time) can be checked sample by sample. The 3DC source is composed from pieces of 3DC subject 1
laid out as the cues ask (rest while "get ready" / "relax", the cued gesture while "hold"), so the
activity labelling of the fit sees what a cooperative wearer would give it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lsl_helpers import unique_name
from qt_helpers import pump

from devices.replay import ReplayDevice
from myosem_rt.config import load_config
from myosem_rt.recordings import Session, load_session

#: 3DC: the two gestures enrolled and the cue timing (s): one trial = ready + hold + rest = 4 s.
CLASSES = {7: "Power Grip", 8: "Open Hand"}
READY_S, HOLD_S, REST_S = 1.0, 2.0, 1.0
SPEED = 5.0
#: Where the shipped 3DC model is (as tests/test_gui.py).
MODEL = Path(__file__).resolve().parents[1] / "myosem_rt" / "models" / "3dc-armband"


class GatedReplay(ReplayDevice):
    """A replay that, once its consumer is connected, waits for ``gate`` before its first sample."""

    def __init__(self, session: Session, *, gate: threading.Event, **kwargs: Any) -> None:
        super().__init__(session, **kwargs)
        self.gate = gate

    def _await_consumer(self) -> None:
        super()._await_consumer()
        while not self.gate.wait(0.005):
            if self._stop.is_set():
                return


def _composed_3dc(path: Path) -> Session:
    """Rest / gesture pieces of 3DC S1 in the order the cues of one repetition ask for (a looping replay
    performs every repetition)."""
    s = load_session(path)
    fs = int(s.fs)
    rest = s.emg[: 4 * fs]  # Neutral: 0-4.98 s

    def hold(class_id: int) -> np.ndarray:
        start = int(np.flatnonzero(s.label == class_id)[0]) + fs // 2  # into the gesture's plateau
        return s.emg[start : start + int(HOLD_S * fs)]

    pieces, labels = [], []
    for k, class_id in enumerate(CLASSES):
        for x, lab in ((rest[k * fs : k * fs + int(READY_S * fs)], 0), (hold(class_id), class_id),
                       (rest[2 * fs : 2 * fs + int(REST_S * fs)], 0)):
            pieces.append(x)
            labels.append(np.full(len(x), lab))
    emg = np.concatenate(pieces)
    return Session(emg=emg, label=np.concatenate(labels), repetition=np.ones(len(emg)), fs=s.fs,
                   class_names=dict(s.class_names), dataset="3DC", subject=1, session="composed",
                   unit=s.unit)


def _config() -> dict:
    cfg = load_config()
    cfg["lsl"]["resolve_timeout_s"] = 10.0
    return cfg


def _choose(panel: Any, classes: dict[int, str]) -> None:
    for class_id, box in panel.checks.items():
        box.setChecked(class_id in classes)
    panel.repetitions.setValue(1)
    panel.ready.setValue(READY_S)
    panel.hold.setValue(HOLD_S)
    panel.rest.setValue(REST_S)


# --- the tap ------------------------------------------------------------------------------------------------


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(60)
def test_tap_delivers_every_raw_sample_exactly_once(threedc_file):
    from myosem_rt.stream.consumer import StreamConsumer
    from myosem_rt.stream.inlet import StreamSelector

    source = load_session(threedc_file)
    n = 15_000
    device = ReplayDevice(source, name=unique_name("tap"), speed=10.0, chunk_ms=20.0,
                          duration_s=n / source.fs, wait_for_consumer=20.0)
    device.start()
    assert device.ready.wait(10.0)
    got: list[tuple[np.ndarray, np.ndarray]] = []
    calls = []

    def tap(x: np.ndarray, ts: np.ndarray) -> None:
        assert not x.flags.writeable and not ts.flags.writeable  # the pipeline reads them after the tap
        got.append((x.copy(), ts.copy()))

    def broken(x: np.ndarray, ts: np.ndarray) -> None:
        calls.append(len(ts))
        raise RuntimeError("a bug in somebody's tap")

    try:
        with StreamConsumer(_config(), StreamSelector(name=device.spec.name)) as consumer:
            consumer.add_tap(tap)
            consumer.add_tap(tap)  # once only
            consumer.add_tap(broken)
            deadline = time.monotonic() + 30.0
            while sum(len(t) for _, t in got) < n and time.monotonic() < deadline:
                consumer.poll(0.05)
            assert consumer.remove_tap(tap) and not consumer.remove_tap(tap)
            consumer.poll(0.2)
            assert consumer.pipeline.n_samples == n  # the stream went on past the broken tap
    finally:
        device.stop()
    assert len(calls) == 1  # a tap that raises is removed
    emg = np.concatenate([x for x, _ in got])
    ts = np.concatenate([t for _, t in got])
    assert emg.dtype == np.float32 and emg.shape == (n, source.n_channels)
    np.testing.assert_array_equal(emg, source.emg[:n])  # raw, unfiltered, each sample once, in order
    np.testing.assert_allclose(np.diff(ts), 1.0 / source.fs, rtol=0, atol=0.1 / source.fs)


# --- the flow in the window ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(threedc_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The live window on a gated, looping replay of the composed 3DC source, with a profile path."""
    from PyQt5 import QtWidgets

    from myosem_rt.display.connect import open_session
    from myosem_rt.display.window import LiveWindow
    from myosem_rt.stream.inlet import StreamSelector

    if not (MODEL / "manifest.json").is_file():
        pytest.fail(f"no 3DC model in {MODEL}")
    source = _composed_3dc(threedc_file)
    gate = threading.Event()
    name = unique_name("enrolwin")
    replay = GatedReplay(source, gate=gate, name=name, speed=SPEED, loop=True, wait_for_consumer=20.0)
    replay.start()
    assert replay.ready.wait(10.0)
    config = _config()
    folder = tmp_path_factory.mktemp("enrolwin")
    session = open_session(config, StreamSelector(name=name), model=str(MODEL), markers=name + "-labels",
                           profile=str(folder / "alice"))
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    window = LiveWindow(session, config)
    window.show()
    app.processEvents()
    window.source, window.gate, window.folder = source, gate, folder  # for the tests
    try:
        yield window
    finally:
        gate.set()
        window.close()
        session.close()
        replay.stop()


def _wait_done(panel: Any, seconds: float = 15.0) -> Any:
    pump(seconds, until=lambda: panel.result is not None)
    assert panel.result is not None, "the enrolment did not end"
    return panel.result


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(60)
def test_guided_flow_in_the_window_records_fits_and_swaps_the_view(live):
    from myosem_rt.profile.profile import UserProfile
    from myosem_rt.profile.view import CalibratedModel

    panel = live.open_enrolment()
    assert not live.enrol_button.isEnabled() and not live.query_panel.isVisible()
    assert set(panel.checks) == set(range(1, 11))  # the model's classes but rest, all ticked
    assert all(box.isChecked() for box in panel.checks.values())
    _choose(panel, CLASSES)
    panel.start_button.click()
    assert panel.flow is not None and panel.pages.currentIndex() == 1, panel.setup_status.text()
    assert "waiting for the first sample" in panel.cue.text()
    live.gate.set()  # the source's first sample is the enrolment's first
    phases = set()
    deadline = time.monotonic() + 20.0
    while panel.result is None and time.monotonic() < deadline:
        pump(0.01)
        phases.add(panel.cue.text().split(":")[0].split(" ")[0])
    result = _wait_done(panel)
    assert result.ok, result.message
    assert {"get", "hold", "relax"} <= phases
    assert "\n" not in result.message and str(result.recording) in result.message

    n = int(len(CLASSES) * (READY_S + HOLD_S + REST_S) * live.source.fs)
    rec = load_session(result.recording)
    assert result.recording == live.folder / "alice.recording.mat"
    assert rec.n_samples == n
    np.testing.assert_array_equal(rec.emg, live.source.emg[:n])  # every raw sample, once
    np.testing.assert_array_equal(rec.label, live.source.label[:n])  # the cues, by stream time
    assert dict(rec.class_names) == {0: "Neutral", **CLASSES} and rec.dataset == "enrol"

    assert result.profile_path == live.folder / "alice.json" and result.profile_path.is_file()
    saved = UserProfile.load(result.profile_path)
    assert sorted(int(c["id"]) for c in saved.classes) == [0, *CLASSES]
    assert isinstance(live.worker.model, CalibratedModel) and live.worker.model is result.view
    assert live.worker.model.base_model is live.worker.base_model
    assert live.calibrator is not None and live.calibrator.profile is result.profile  # confirm / correct it
    view_names = set(result.view.class_names)
    pump(10.0, until=lambda: live.worker.snapshot().result is not None
         and set(r["name"] for r in live.worker.snapshot().result.topk) <= view_names)
    pump(0.3)
    assert live.worker.snapshot().error is None
    assert live.label.text() in view_names | {"uncertain", "—"}
    assert "fitted" in panel.message.text() or "profile of" in panel.message.text()


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(60)
def test_cancel_keeps_the_partial_recording(live):
    panel = live.open_enrolment()
    panel.again.click()
    _choose(panel, CLASSES)
    panel.start_button.click()
    assert panel.flow is None or panel.flow.state == "done" or panel.pages.currentIndex() == 0
    assert "profile exists" in panel.setup_status.text()  # the first test's profile: not replaced silently
    panel.replace.setChecked(True)
    panel.start_button.click()
    flow = panel.flow
    assert flow.state == "recording", panel.setup_status.text()
    pump(10.0, until=lambda: flow.status().samples >= 3000)
    before = (live.folder / "alice.json").read_bytes()
    panel.cancel_button.click()
    result = _wait_done(panel)
    assert result.status == "interrupted" and not result.ok
    assert "cancelled during cue" in result.message and str(result.recording) in result.message
    assert result.recording != live.folder / "alice.recording.mat"  # never overwritten
    rec = load_session(result.recording)
    assert 3000 <= rec.n_samples < 8000
    assert (live.folder / "alice.json").read_bytes() == before  # no profile from a cancelled session
    assert "stopped" in panel.cue.text()


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(60)
def test_screenshot_during_a_hold_cue(live, tmp_path):
    panel = live.open_enrolment()
    panel.again.click()
    _choose(panel, CLASSES)
    panel.repetitions.setValue(4)  # four chances to catch Power Grip's hold between two repaints
    panel.replace.setChecked(True)
    panel.start_button.click()
    flow = panel.flow
    assert flow.state == "recording", panel.setup_status.text()
    live.gate.set()  # already open unless this test runs alone (then the wearer "performs" the cues)

    def holding() -> bool:
        s = flow.status()
        return s.cue is not None and s.cue.phase == "hold" and s.cue.gesture.name == "Power Grip" and \
            s.t - s.cue.start_s >= 0.4 * HOLD_S

    pump(15.0, until=holding)
    assert holding()
    live.refresh()
    assert panel.cue.text() == "hold Power Grip"
    assert panel.cue_text.text() == "Closing the empty hand into a fist."
    out = Path(os.environ.get("MYOSEM_ENROL_SCREENSHOT") or tmp_path / "enrol-window.png")
    assert live.grab().save(str(out))
    assert out.stat().st_size > 10_000
    panel.cancel_button.click()
    _wait_done(panel)


# --- a stream no model fits ---------------------------------------------------------------------------------


def _toy_stream(fs: float = 500.0) -> Session:
    """3 ch @ 500 Hz (no shipped model): noise, channel 1 five times louder during 'Wave', channel 3
    during 'Tap', laid out as the cues ask; then rest."""
    rng = np.random.default_rng(3)
    trial = int((READY_S + HOLD_S + REST_S) * fs)
    n = 2 * trial + int(3 * fs)
    emg = rng.normal(size=(n, 3)).astype(np.float32)
    label = np.zeros(n, dtype=np.int64)
    for k, (class_id, channel) in enumerate(((1, 0), (2, 2))):
        a = k * trial + int(READY_S * fs)
        b = a + int(HOLD_S * fs)
        emg[a:b, channel] *= 5.0
        label[a:b] = class_id
    return Session(emg=emg, label=label, repetition=np.ones(n), fs=fs,
                   class_names={0: "rest", 1: "Wave", 2: "Tap"}, dataset="Toy", subject=2, session="s")


@pytest.mark.lsl
@pytest.mark.timeout(60)
def test_without_a_model_two_new_gestures_make_a_device_only_view(tmp_path, monkeypatch):
    from PyQt5 import QtWidgets

    from myosem_rt.display.connect import open_session
    from myosem_rt.display.window import LiveWindow
    from myosem_rt.profile.view import CalibratedModel
    from myosem_rt.stream.inlet import StreamSelector

    monkeypatch.chdir(tmp_path)
    source = _toy_stream()
    gate = threading.Event()
    replay = GatedReplay(source, gate=gate, name=unique_name("enrolnomodel"), speed=SPEED, loop=True,
                         wait_for_consumer=20.0)
    replay.start()
    assert replay.ready.wait(10.0)
    config = _config()
    session = open_session(config, StreamSelector(name=replay.spec.name))
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])  # noqa: F841  (kept alive)
    window = LiveWindow(session, config)
    window.show()
    try:
        assert session.model is None and window.worker.base_model is None
        # issue 16 item 14: signal-only says so whole and how to get descriptions
        pump(0.3)
        assert "Enrol" in window.label_text.text() and window.label_text.wordWrap()
        panel = window.open_enrolment()
        assert panel.checks == {}
        _choose(panel, {})
        panel.new_name.setText("Wave")
        panel.new_text.setText("Waving the open hand from side to side.")
        panel.add.click()
        panel.start_button.click()
        assert panel.flow is None and "at least 2 new gestures" in panel.setup_status.text()
        panel.new_name.setText("wave")
        panel.new_text.setText("again")
        panel.add.click()
        assert "exists already" in panel.setup_status.text() and len(panel.new) == 1
        panel.new_name.setText("Tap")
        panel.new_text.setText("Tapping the table with the fingertips.")
        panel.add.click()
        panel.start_button.click()
        assert panel.flow is not None, panel.setup_status.text()
        gate.set()
        result = _wait_done(panel, 20.0)
        assert result.ok, result.message
        assert "not saved" in result.message and result.profile_path is None
        view = window.worker.model
        assert isinstance(view, CalibratedModel) and view.base_model is None
        assert view.class_names == ["rest", "Wave", "Tap"]
        rec = load_session(result.recording)
        assert result.recording.parent == tmp_path and result.recording.name.startswith("enrol-")
        np.testing.assert_array_equal(rec.emg, source.emg[: rec.n_samples])
        np.testing.assert_array_equal(rec.label, source.label[: rec.n_samples])
        assert dict(rec.class_descriptions) == {1: "Waving the open hand from side to side.",
                                                2: "Tapping the table with the fingertips."}
        pump(5.0, until=lambda: window.worker.snapshot().result is not None)
        pump(0.3)
        assert window.worker.snapshot().error is None
        # the signal-only window now has the panels to query and refine the new profile
        assert window.calibrator is not None and window.calibrator.profile is result.profile
        assert [n for _, n in window.calibrator.classes()] == ["rest", "Wave", "Tap"]
        assert window.label.text() in {"rest", "Wave", "Tap", "uncertain"}
    finally:
        gate.set()
        window.close()
        session.close()
        replay.stop()

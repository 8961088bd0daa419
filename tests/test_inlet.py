"""The consumer through real LSL: no drop / no duplicate under bursty arrival, loss and recovery with the
gap counted, the "no such stream" listing, and the streams / monitor commands."""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import numpy as np
import pylsl  # conftest imported myosem_rt first, so LSLAPICFG keeps this machine-local
import pytest

from myosem_rt.config import default_config
from myosem_rt.errors import ConfigError, StreamError
from myosem_rt.stream import inlet as inlet_module
from myosem_rt.stream.consumer import StreamConsumer
from myosem_rt.stream.inlet import StreamSelector, resolve_stream


def _config(stall_timeout_s: float = 1.0) -> dict:
    cfg = default_config()
    cfg["filters"].update(bandpass_hz=None, notch_hz=None)  # channel 0 must arrive unchanged
    cfg["windows"].update(window_ms=50.0, hop_ms=50.0, patch_ms=25.0)  # windows tile the stream
    cfg["stream"].update(stall_timeout_s=stall_timeout_s, buffer_s=5.0)
    cfg["lsl"]["resolve_timeout_s"] = 5.0
    return cfg


def _outlet(source_id: str, fs: float = 1000.0, n_channels: int = 3) -> pylsl.StreamOutlet:
    info = pylsl.StreamInfo(f"test-{source_id}", "EMG", n_channels, fs, "float32", source_id)
    return pylsl.StreamOutlet(info)


def _push(outlet: pylsl.StreamOutlet, first: int, n: int, t0: float, fs: float) -> None:
    """Samples ``first .. first+n-1``: channel 0 = sample index, stamped ``t0 + index / fs``."""
    x = np.random.default_rng(first).normal(size=(n, outlet.channel_count)).astype(np.float32)
    x[:, 0] = np.arange(first, first + n)
    outlet.push_chunk(x, t0 + (first + n - 1) / fs)


def _sid() -> str:
    return uuid.uuid4().hex[:12]


def test_selector_from_config_and_predicate() -> None:
    stream = default_config()["stream"]
    assert StreamSelector.from_config(stream) == StreamSelector(type="EMG")
    assert StreamSelector.from_config(stream, name="x", type=None) == StreamSelector(name="x")  # CLI replaces
    assert StreamSelector(name="it's", type="EMG").predicate() == "name=\"it's\" and type='EMG'"
    with pytest.raises(ConfigError, match="at least one"):
        StreamSelector().predicate()


@pytest.mark.lsl
def test_no_matching_stream_lists_visible_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    sid = _sid()
    outlet = _outlet(sid)
    try:
        with pytest.raises(StreamError) as err:
            resolve_stream(StreamSelector(name=f"absent-{sid}"), timeout_s=0.5)
        message = str(err.value)
        assert f"no LSL stream matches name='absent-{sid}'" in message and "\n" not in message
        assert f"test-{sid} (type EMG, source_id {sid}, 3 ch @ 1000 Hz)" in message
        monkeypatch.setattr(inlet_module, "list_streams", lambda wait_s=1.0: [])
        with pytest.raises(StreamError, match="no LSL stream is visible"):
            resolve_stream(StreamSelector(source_id=f"absent-{sid}"), timeout_s=0.2)
    finally:
        del outlet


@pytest.mark.lsl
def test_bursty_stream_arrives_without_drop_or_duplicate() -> None:
    fs, n_total, sid = 1000.0, 12_000, _sid()
    outlet = _outlet(sid, fs)
    consumer = StreamConsumer(_config(), StreamSelector(source_id=sid))
    t0 = pylsl.local_clock()
    sizes = [1, 1, 1, 2, 3, 17, 250, 2999, 1, 5, 1500, 7]  # 1 sample .. 3 s in one chunk

    def produce(outlet: pylsl.StreamOutlet) -> None:
        rng = np.random.default_rng(0)
        i = k = 0
        while i < n_total:
            n = min(sizes[k % len(sizes)], n_total - i)
            _push(outlet, i, n, t0, fs)
            i, k = i + n, k + 1
            time.sleep(float(rng.uniform(0.0, 0.1)))

    producer = threading.Thread(target=produce, args=(outlet,), daemon=True)
    producer.start()
    got: list[np.ndarray] = []
    deadline = time.monotonic() + 30.0
    try:
        while consumer.pipeline.n_samples < n_total and time.monotonic() < deadline:
            for w in consumer.poll(timeout_s=0.05):
                assert w.timestamp == pytest.approx(t0 + (w.start + len(w.samples) - 1) / fs, abs=2e-3)
                got.append(w.samples[:, 0].copy())
        producer.join(timeout=10)
        assert consumer.pipeline.n_samples == n_total
        indices = np.concatenate(got)
        np.testing.assert_array_equal(indices, np.arange(len(indices)))  # in order, none missing or twice
        assert len(indices) == n_total - n_total % consumer.pipeline.spec.window
        assert not consumer.events and consumer.state == "streaming" and consumer.pipeline.segment == 0
    finally:
        consumer.close()
        del outlet


@pytest.mark.lsl
def test_source_restart_is_reported_and_survived() -> None:
    fs, sid = 1000.0, _sid()
    outlet = _outlet(sid, fs)
    consumer = StreamConsumer(_config(stall_timeout_s=0.3), StreamSelector(source_id=sid))
    t0 = pylsl.local_clock()
    sent = 0
    windows: list[tuple[int, np.ndarray]] = []
    last_before: float | None = None

    def step(live: pylsl.StreamOutlet | None) -> None:
        """Real time: samples due by now are pushed when the outlet exists, and are lost otherwise."""
        nonlocal sent, last_before
        due = int((pylsl.local_clock() - t0) * fs)
        if live is not None and due > sent:
            _push(live, sent, due - sent, t0, fs)
        sent = max(sent, due)
        windows.extend((w.segment, w.samples[:, 0].copy()) for w in consumer.poll(timeout_s=0.02))
        if consumer.state == "lost" and last_before is None:
            last_before = consumer.inlet.last_timestamp

    try:
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            step(outlet)
        del outlet  # the source goes away mid-stream ...
        end = time.monotonic() + 0.8
        while time.monotonic() < end:
            step(None)
        assert consumer.state == "lost" and [e.kind for e in consumer.events] == ["lost"]
        outlet = _outlet(sid, fs)  # ... and comes back with the same source_id
        deadline = time.monotonic() + 15.0
        while consumer.state != "streaming" and time.monotonic() < deadline:
            step(outlet)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            step(outlet)
    finally:
        consumer.close()

    kinds = [e.kind for e in consumer.events]
    assert kinds == ["lost", "recovered"], kinds
    recovered = consumer.events[1]
    first_after = round((recovered.timestamp - t0) * fs)
    last = round((last_before - t0) * fs)
    assert recovered.gap_samples == first_after - last - 1 > 800  # at least the 0.8 s without an outlet
    assert recovered.gap_s == pytest.approx(recovered.gap_samples / fs, abs=1e-3)
    assert recovered.restarted and consumer.pipeline.segment == 1
    assert consumer.n_gaps == 1 and consumer.gap_samples == recovered.gap_samples
    before = [w for seg, w in windows if seg == 0]
    after = [w for seg, w in windows if seg == 1]
    assert before and len(after) >= 5
    assert after[0][0] == first_after  # windows restart at the first sample after the gap
    for w in before + after:
        assert np.all(np.diff(w) == 1)  # no window mixes samples from both sides
    assert before[-1][-1] <= last
    del outlet


@pytest.mark.lsl
def test_streams_and_monitor_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from myosem_rt.commands import monitor, streams

    fs, sid = 500.0, _sid()
    outlet = _outlet(sid, fs, n_channels=4)
    stop = threading.Event()

    def produce(outlet: pylsl.StreamOutlet) -> None:
        t0, sent = pylsl.local_clock(), 0
        while not stop.is_set():
            due = int((pylsl.local_clock() - t0) * fs)
            if due > sent:
                _push(outlet, sent, due - sent, t0, fs)
                sent = due
            time.sleep(0.01)

    producer = threading.Thread(target=produce, args=(outlet,), daemon=True)
    producer.start()
    try:
        assert streams.run(argparse.Namespace(wait=1.0), default_config()) == 0
        table = capsys.readouterr().out.splitlines()
        assert table[0].split()[:4] == ["name", "type", "channels", "rate_hz"]
        assert any(line.split()[:4] == [f"test-{sid}", "EMG", "4", "500"] and sid in line for line in table)
        args = argparse.Namespace(name=None, type=None, source_id=sid, duration=2.5)
        assert monitor.run(args, default_config()) == 0
        lines = capsys.readouterr().out.splitlines()
        rows = [line.split() for line in lines if line.strip()[:1].isdigit()]
        assert len(rows) == 2 and rows[-1][-1] == "streaming"
        rate, samples, gaps = float(rows[-1][1]), int(rows[-1][2]), int(rows[-1][4])
        assert abs(rate - fs) < 0.2 * fs and samples > fs and gaps == 0
    finally:
        stop.set()
        producer.join(timeout=5)
        del outlet


@pytest.mark.lsl
@pytest.mark.parametrize("fs_after, channels_after", [(2000.0, 3), (1000.0, 5)], ids=["rate", "channels"])
def test_source_back_in_another_layout_is_refused(fs_after: float, channels_after: int) -> None:
    """Issue 16 item 1: a source that comes back under its source_id at another rate (liblsl reconnects and
    keeps the old header) or channel count (liblsl reconnects forever without a sample) stops the consumer
    with one line naming both layouts."""
    fs, sid = 1000.0, _sid()
    outlet = _outlet(sid, fs)
    consumer = StreamConsumer(_config(stall_timeout_s=0.3), StreamSelector(source_id=sid))
    t0 = pylsl.local_clock()
    try:
        for i in range(10):
            _push(outlet, i * 50, 50, t0, fs)
            consumer.poll(timeout_s=0.05)
        del outlet
        end = time.monotonic() + 0.8
        while time.monotonic() < end:
            consumer.poll(timeout_s=0.05)
        assert consumer.state == "lost"
        outlet = _outlet(sid, fs_after, channels_after)
        deadline = time.monotonic() + 15.0
        with pytest.raises(StreamError) as err:
            while time.monotonic() < deadline:
                x = np.zeros((50, channels_after), np.float32)
                outlet.push_chunk(x)
                consumer.poll(timeout_s=0.05)
        message = str(err.value)
        assert "\n" not in message and f"came back as {channels_after} ch @ {fs_after:g} Hz" in message
        assert "was 3 ch @ 1000 Hz" in message
    finally:
        consumer.close()

"""Streaming filters: equal to one offline sosfilt for any chunking; designs adapted to low rates."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from myosem_rt.config import default_config
from myosem_rt.errors import ConfigError
from myosem_rt.stream.filters import StreamingFilter, design_filters


def _offline(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """One sosfilt over the whole signal, from the steady state of its first sample."""
    zi = signal.sosfilt_zi(sos)[:, :, None] * x[0].astype(np.float64)
    return signal.sosfilt(sos, x, axis=0, zi=zi)[0]


def _streamed(filt: StreamingFilter, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    out, i, k = [], 0, 0
    while i < x.shape[0]:
        out.append(filt.process(x[i : i + sizes[k % len(sizes)]]))
        i += sizes[k % len(sizes)]
        k += 1
    return np.concatenate(out)


@pytest.mark.parametrize("sizes", [[1], [7, 13, 101], [4999], [20_000]], ids=["1", "primes", "4999", "whole"])
@pytest.mark.parametrize("fs", [200.0, 1000.0, 2000.0])
def test_streaming_equals_offline(fs: float, sizes: list[int]) -> None:
    rng = np.random.default_rng(int(fs))
    n = 3000 if sizes == [1] else 20_000
    x = (rng.normal(size=(n, 4)) * 300 + rng.normal(size=4) * 1000).astype(np.float32)  # with ADC offsets
    design = design_filters(fs, default_config()["filters"])
    assert design.sos is not None
    y = _streamed(StreamingFilter(design, 4), x, sizes)
    ref = _offline(design.sos, x)
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_restart_starts_again_from_the_new_first_sample() -> None:
    design = design_filters(1000.0, default_config()["filters"])
    x = np.random.default_rng(0).normal(size=(2000, 2)) + 500.0
    filt = StreamingFilter(design, 2)
    filt.process(x[:1000])
    filt.restart()
    np.testing.assert_allclose(filt.process(x[1000:]), _offline(design.sos, x[1000:]), atol=1e-9)


def test_filters_do_their_job() -> None:
    fs = 1000.0
    t = np.arange(4000) / fs
    design = design_filters(fs, default_config()["filters"])
    filt = StreamingFilter(design, 3)
    x = np.stack([np.sin(2 * np.pi * 50 * t), np.sin(2 * np.pi * 120 * t), np.sin(2 * np.pi * 3 * t)], axis=1)
    y = filt.process(x * 100.0 + 2000.0)[2000:]  # after the transients
    gain = y.std(axis=0) / (100.0 / np.sqrt(2))
    assert gain[0] < 0.05  # mains removed
    assert 0.9 < gain[1] < 1.1  # EMG band kept
    assert gain[2] < 0.05  # motion artefact removed
    assert abs(y.mean(axis=0)).max() < 1.0  # ADC offset removed


def test_low_rate_adapts_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    cfg = default_config()["filters"]
    with caplog.at_level(logging.INFO, logger="myosem_rt.stream.filters"):
        myo = design_filters(200.0, cfg)
    assert myo.bandpass_hz == (20.0, 90.0)  # high edge lowered to 0.45 fs
    assert myo.notch_hz == 50.0  # 50 Hz is below Nyquist (100 Hz): kept
    assert "lowered from 450 to 90 Hz" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="myosem_rt.stream.filters"):
        slow = design_filters(40.0, cfg)
    assert slow.bandpass_hz is None and slow.notch_hz is None and slow.sos is None
    assert "disabled" in caplog.text and "notch" in caplog.text
    x = np.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(StreamingFilter(slow, 2).process(x), x)  # pass-through
    full = design_filters(2000.0, cfg)
    assert full.bandpass_hz == (20.0, 450.0) and full.notch_hz == 50.0


@pytest.mark.parametrize("change, message", [
    ({"bandpass_hz": [450.0, 20.0]}, "0 < low < high"),
    ({"bandpass_hz": "wide"}, "bandpass_hz"),
    ({"bandpass_order": 0}, "bandpass_order"),
    ({"notch_q": -1.0}, "notch_q"),
])
def test_bad_filter_config(change: dict, message: str) -> None:
    cfg = {**default_config()["filters"], **change}
    with pytest.raises(ConfigError, match=message):
        design_filters(1000.0, cfg)


def test_disabled_by_config() -> None:
    design = design_filters(1000.0, {"bandpass_hz": None, "notch_hz": None})
    assert design.sos is None and design.description == "no filtering"
    only_notch = design_filters(1000.0, {"bandpass_hz": None, "notch_hz": 60.0, "notch_q": 30.0})
    assert only_notch.sos is not None and only_notch.sos.shape == (1, 6)


@pytest.mark.realdata
def test_streaming_equals_offline_on_myo_data(data_dir: Path) -> None:
    from myosem_rt.recordings import load_session

    session = load_session(data_dir / "myodisco" / "S1_day1.mat")
    assert session.fs == 200.0
    x = session.emg[:30_000]
    design = design_filters(session.fs, default_config()["filters"])
    y = _streamed(StreamingFilter(design, session.n_channels), x, [3, 40, 997])
    ref = _offline(design.sos, x)
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())

"""Window arithmetic and the consumer pipeline (no LSL): windows in order, per chunking, across gaps."""

from __future__ import annotations

import numpy as np
import pytest

from myosem_rt.config import default_config
from myosem_rt.descriptors import patch_descriptors
from myosem_rt.errors import ConfigError
from myosem_rt.stream.consumer import Pipeline, Window
from myosem_rt.stream.windows import WindowSpec, window_ends


@pytest.mark.parametrize("fs, expected",
                         [(200.0, (40, 10, 5)), (1000.0, (200, 50, 25)), (2000.0, (400, 100, 50))])
def test_config_windows_per_rate(fs: float, expected: tuple[int, int, int]) -> None:
    spec = WindowSpec.from_config(default_config()["windows"], fs)
    assert (spec.window, spec.hop, spec.patch) == expected
    assert spec.patches_per_window == 8 and spec.patches_per_hop == 2


@pytest.mark.parametrize("ms, fs, message", [
    ((200.0, 50.0, 30.0), 1000.0, "window_ms = 200 ms must be a whole multiple"),
    ((200.0, 35.0, 25.0), 1000.0, "hop_ms = 35 ms must be a whole multiple"),
    ((200.0, 50.0, 2.0), 200.0, ">= 1 sample"),
    ((200.0, 0.0, 25.0), 1000.0, "hop_ms must be positive"),
    ((200.0, 50.0, 25.0), 0.0, "rate must be positive"),
])
def test_invalid_windows(ms: tuple[float, float, float], fs: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WindowSpec.from_ms(*ms, fs=fs)


def test_window_ends_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    for window, hop in [(40, 10), (50, 50), (30, 60), (5, 5)]:
        spec = WindowSpec(window, hop, 5, 1000.0)
        expected = [e for e in range(1, 3001) if e >= window and (e - window) % hop == 0]
        got, n = [], 0
        while n < 3000:
            step = int(rng.integers(1, 200))
            got.extend(window_ends(n, min(n + step, 3000), spec))
            n = min(n + step, 3000)
        assert got == expected


def _config(filters: bool = True) -> dict:
    cfg = default_config()
    if not filters:
        cfg["filters"].update(bandpass_hz=None, notch_hz=None)
    cfg["stream"]["buffer_s"] = 2.0
    return cfg


def _run(pipe: Pipeline, x: np.ndarray, ts: np.ndarray, sizes: list[int]) -> list[Window]:
    """Feed in chunks; copy the windows (their views are only valid until the next chunk)."""
    out, i, k = [], 0, 0
    while i < x.shape[0]:
        size = sizes[k % len(sizes)]
        for w in pipe.process(x[i : i + size], ts[i : i + size]):
            assert w.timestamp in ts[i : i + size]  # emitted by the chunk holding its last sample
            out.append(Window(w.index, w.segment, w.start, w.timestamp,
                              w.samples.copy(), w.descriptors.copy()))
        i += size
        k += 1
    return out


@pytest.mark.parametrize("sizes", [[1], [7, 13, 3], [1009], [1800]], ids=["1", "primes", "1009", "1800"])
def test_pipeline_windows_independent_of_chunking(sizes: list[int]) -> None:
    fs, n = 1000.0, 5000
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(n, 3)) * 100 + 1000).astype(np.float32)
    ts = 100.0 + np.arange(n) / fs
    pipe = Pipeline(fs, 3, _config())
    spec = pipe.spec
    windows = _run(pipe, x, ts, sizes)
    assert len(windows) == (n - spec.window) // spec.hop + 1
    reference = _run(Pipeline(fs, 3, _config()), x, ts, [n // 4])  # few big chunks
    for k, (w, ref) in enumerate(zip(windows, reference, strict=True)):
        assert (w.index, w.segment, w.start) == (k, 0, k * spec.hop)
        assert w.timestamp == ts[w.start + spec.window - 1]
        np.testing.assert_allclose(w.samples, ref.samples, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(w.descriptors, patch_descriptors(w.samples, spec.patch), rtol=1e-9)


def test_unfiltered_windows_are_the_input_samples() -> None:
    fs, n = 200.0, 350  # 2 s buffer at 200 Hz takes chunks up to 360 samples
    x = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
    pipe = Pipeline(fs, 2, _config(filters=False))
    windows = pipe.process(x, np.arange(n) / fs)  # one chunk -> several windows, in order
    assert [w.start for w in windows] == list(range(0, n - pipe.spec.window + 1, pipe.spec.hop))
    for w in windows:
        np.testing.assert_array_equal(w.samples, x[w.start : w.start + pipe.spec.window])
        assert not w.samples.flags.writeable


@pytest.mark.parametrize("jump_s", [0.5, -3.0], ids=["forward", "backward"])
def test_discontinuity_restarts_windows(jump_s: float) -> None:
    fs = 1000.0
    x = np.arange(3000, dtype=np.float64)[:, None] * np.ones((1, 2))
    ts = 50.0 + np.arange(3000) / fs
    ts[1700:] += jump_s  # samples 1700.. come after a gap (or a clock reset)
    pipe = Pipeline(fs, 2, _config(filters=False))
    windows = _run(pipe, x, ts, [333])
    assert pipe.segment == 1
    gap_windows = [w for w in windows if w.segment == 1]
    assert gap_windows[0].start == 0 and gap_windows[0].samples[0, 0] == 1700  # restarted at the gap
    for w in windows:  # no window mixes both sides
        assert np.all(np.diff(w.samples[:, 0]) == 1)
    assert len(windows) == (1700 - 200) // 50 + 1 + (1300 - 200) // 50 + 1
    pipe2 = Pipeline(fs, 2, _config(filters=False))
    pipe2.process(x[:1650], ts[:1650])
    pipe2.process(x[1650:], ts[1650:])
    (index, event), = pipe2.take_events()
    assert index == 50 and event.kind == "discontinuity" and event.restarted
    assert event.gap_s == pytest.approx(jump_s, abs=1e-9)
    assert event.gap_samples == round(jump_s * fs)


def test_small_jitter_is_not_a_gap() -> None:
    fs = 1000.0
    ts = 10.0 + np.arange(2000) / fs + np.random.default_rng(0).uniform(-0.02, 0.02, 2000)
    pipe = Pipeline(fs, 1, _config())
    _run(pipe, np.zeros((2000, 1)), ts, [20])
    assert pipe.segment == 0 and not pipe.take_events()


def test_chunk_longer_than_the_ring_is_refused() -> None:
    pipe = Pipeline(1000.0, 1, _config())
    n = pipe.max_chunk + 1
    with pytest.raises(ValueError, match="max_chunk"):
        pipe.process(np.zeros((n, 1)), np.arange(n) / 1000.0)

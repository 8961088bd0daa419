"""Patch descriptors: the definition, and incremental == batch for any chunking (random and real EMG)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from myosem_rt.descriptors import DESCRIPTOR_NAMES, IncrementalDescriptors, patch_descriptors
from myosem_rt.stream.ring import RingBuffer

REL_TOL = 1e-6


def _reference(x: np.ndarray, patch: int) -> np.ndarray:
    """The paper's definition written out patch by patch and channel by channel (slow, obvious)."""
    n = x.shape[0] // patch
    out = np.zeros((n, x.shape[1], 3))
    for k in range(n):
        for c in range(x.shape[1]):
            p = x[k * patch : (k + 1) * patch, c].astype(np.float64)
            out[k, c, 0] = np.sqrt(np.mean((p - p.mean()) ** 2))
            out[k, c, 1] = np.log(1.0 + np.mean(p**2))
            out[k, c, 2] = np.mean(np.abs(np.diff(p))) if patch > 1 else 0.0
    return out


def _chunks(n: int, sizes: list[int] | str, rng: np.random.Generator) -> Iterator[slice]:
    i = 0
    k = 0
    while i < n:
        size = int(rng.integers(1, 4000)) if sizes == "random" else sizes[k % len(sizes)]
        yield slice(i, min(n, i + size))
        i += size
        k += 1


def _incremental(x: np.ndarray, patch: int, sizes: list[int] | str, seed: int = 0) -> np.ndarray:
    inc = IncrementalDescriptors(x.shape[1], patch, capacity=x.shape[0] // patch + 1)
    total = 0
    for sl in _chunks(x.shape[0], sizes, np.random.default_rng(seed)):
        total += inc.push(x[sl])
        assert inc.n_patches == (sl.stop // patch)  # every patch completed as soon as its last sample is in
    assert total == x.shape[0] // patch
    return inc.latest(inc.n_patches)


def _assert_close(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    err = np.abs(a - b) / np.maximum(np.abs(b), 1e-12)
    assert err.max() <= REL_TOL, f"max relative error {err.max():.3g}"


def test_order_and_definition_match_the_paper() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(103, 5))  # DC offset: rms must remove it, energy must keep it
    assert DESCRIPTOR_NAMES == ("rms", "energy", "var")
    got = patch_descriptors(x, 10)
    assert got.shape == (10, 5, 3)  # the 3 trailing samples do not make a patch
    _assert_close(got, _reference(x, 10))
    assert np.all(got[..., 1] > np.log1p(got[..., 0] ** 2))  # E[x^2] = var + mean^2 > var


def test_var_uses_differences_inside_the_patch_only() -> None:
    x = np.zeros((8, 1))
    x[4:] = 100.0  # a step exactly at the patch boundary: no patch sees a difference
    d = patch_descriptors(x, 4)
    assert np.all(d[:, 0, 2] == 0.0)
    assert np.all(patch_descriptors(x, 1)[..., 2] == 0.0)  # patch of one sample: no difference at all


def test_batch_over_leading_dimensions_and_integer_input() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(-32768, 32767, size=(3, 2, 250, 4), dtype=np.int16)
    got = patch_descriptors(x, 25)
    assert got.shape == (3, 2, 10, 4, 3) and got.dtype == np.float64
    for i in range(3):
        for j in range(2):
            _assert_close(got[i, j], _reference(x[i, j], 25))


@pytest.mark.parametrize("patch", [1, 5, 25, 50])
@pytest.mark.parametrize("sizes", [[1], [7], [13, 101, 3], [997], [5003], "random"],
                         ids=["1", "7", "primes", "997", "longer-than-window", "random"])
def test_incremental_equals_batch_random(patch: int, sizes: list[int] | str) -> None:
    x = np.random.default_rng(patch).normal(0.0, 50.0, size=(12_007, 6)).astype(np.float32)
    if patch == 1 and sizes == [1]:
        x = x[:3000]  # 1-sample chunks of 1-sample patches: keep it quick
    _assert_close(_incremental(x, patch, sizes), patch_descriptors(x, patch))


@pytest.mark.realdata
@pytest.mark.parametrize("sizes", [[1], [7, 13, 31], [1009], [4999]], ids=["1", "primes", "1009", "4999"])
def test_incremental_equals_batch_real_3dc(threedc_file: Path, sizes: list[int]) -> None:
    from myosem_rt.recordings import load_session

    session = load_session(threedc_file)
    assert session.fs == 1000.0
    x = session.emg[100_000 : 100_000 + (20_000 if sizes == [1] else 120_000)]  # active and rest trials
    patch = 25  # 25 ms at 1 kHz, the configured patch
    _assert_close(_incremental(x, patch, sizes), patch_descriptors(x, patch))


def test_window_descriptors_are_the_last_patches() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1000, 3))
    inc = IncrementalDescriptors(3, 10, capacity=30)  # ring smaller than the signal: old patches drop out
    inc.push(x[:617])
    _assert_close(inc.latest(20), patch_descriptors(x[410:610], 10))  # 61 patches done, 7 samples pending
    inc.push(x[617:])
    _assert_close(inc.latest(8, end=95), patch_descriptors(x[870:950], 10))
    with pytest.raises(IndexError):
        inc.latest(8, end=60)  # overwritten by newer patches


def test_ring_buffer_views_after_wraparound() -> None:
    rng = np.random.default_rng(4)
    ring = RingBuffer(50, 2)
    stream = rng.normal(size=(1000, 2))
    i = 0
    for size in [3, 49, 50, 1, 77, 20, 200, 13]:
        ring.write(stream[i : i + size])
        i += size
        for n in (1, 17, 50):
            if n <= i:
                np.testing.assert_array_equal(ring.view(n), stream[i - n : i])
            else:
                with pytest.raises(IndexError):  # never written
                    ring.view(n)
        if i >= 50:
            np.testing.assert_array_equal(ring.view(10, end=i - 40), stream[i - 50 : i - 40])
    view = ring.view(5)
    assert not view.flags.writeable
    with pytest.raises(IndexError):
        ring.view(51)
    with pytest.raises(IndexError):
        ring.view(5, end=i + 1)

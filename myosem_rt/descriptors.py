"""Patch descriptors: THE one definition, shared by the runtime (incremental) and training (batch).

A window of EMG is cut into consecutive, non-overlapping *patches* of ``patch`` samples. For every patch
and channel, three descriptors are computed, in this order along the last axis:

0. ``rms    = sqrt(E[(x - mean)^2])``   -- the spread of the patch around its own mean (DC-free RMS);
1. ``energy = log(1 + E[x^2])``          -- log mean power, DC included, compressed for large ADC counts;
2. ``var    = E[|dx|]``                  -- mean absolute first difference (signal "activity").

``E`` is the mean over the patch's samples. For ``var`` the differences are taken *inside the patch*: the
``patch - 1`` differences of consecutive samples of that patch, so that each patch's descriptors depend on
its own samples only (the difference that straddles two patches belongs to neither). This is what makes an
incremental computation exact: a patch is computed once, when its last sample arrives, and never again.
For ``patch == 1`` there is no difference and ``var`` is 0.

All arithmetic is float64 whatever the input dtype, so int16 ADC counts and float32 recordings give the
same numbers in training and at run time.

:func:`patch_descriptors` (batch, used by training) and :class:`IncrementalDescriptors` (run time) call the
same kernel :func:`_describe`; the incremental class only adds the bookkeeping of a partial patch and a ring
of finished patches. tests/test_descriptors.py proves them equal for any chunking.
"""

from __future__ import annotations

import numpy as np

from myosem_rt.stream.ring import RingBuffer

#: Names of the descriptors along the last axis, in order.
DESCRIPTOR_NAMES: tuple[str, str, str] = ("rms", "energy", "var")
N_DESCRIPTORS = len(DESCRIPTOR_NAMES)


def _describe(patches: np.ndarray) -> np.ndarray:
    """``(..., N, P, C)`` patches -> ``(..., N, C, 3)`` descriptors (rms, energy, var), float64."""
    p = np.asarray(patches, dtype=np.float64)
    n_samples = p.shape[-2]
    out = np.empty((*p.shape[:-2], p.shape[-1], N_DESCRIPTORS), dtype=np.float64)
    mean = p.mean(axis=-2, keepdims=True)
    centred = p - mean
    np.square(centred, out=centred)
    np.sqrt(centred.mean(axis=-2), out=out[..., 0])
    np.square(p, out=centred)  # reuse the buffer: centred now holds x^2
    np.log1p(centred.mean(axis=-2), out=out[..., 1])
    if n_samples > 1:
        diff = np.diff(p, axis=-2)
        np.abs(diff, out=diff)
        diff.mean(axis=-2, out=out[..., 2])
    else:
        out[..., 2] = 0.0
    return out


def patch_descriptors(x: np.ndarray, patch: int) -> np.ndarray:
    """Descriptors of every complete patch of ``x``: ``(..., T, C)`` -> ``(..., T // patch, C, 3)``.

    Patches start at sample 0; the ``T % patch`` trailing samples that do not fill a patch are ignored
    (the run time has not computed them yet either). Order of the last axis: (rms, energy, var).
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must be (..., T, C), got shape {x.shape}")
    if patch < 1:
        raise ValueError(f"patch must be >= 1 sample, got {patch}")
    n = x.shape[-2] // patch
    trimmed = x[..., : n * patch, :]
    return _describe(trimmed.reshape(*x.shape[:-2], n, patch, x.shape[-1]))


class IncrementalDescriptors:
    """Patch descriptors of a stream, each patch computed once, when its last sample arrives.

    Per-push work is proportional to the new samples: the complete patches inside the new chunk are
    described through one reshape, the leftover samples wait in a one-patch buffer. The finished patches
    sit in a ring of ``capacity`` patches, so a window's descriptors are simply its last ``n`` patches
    (:meth:`latest`), without recomputing anything.
    """

    def __init__(self, n_channels: int, patch: int, capacity: int) -> None:
        if patch < 1:
            raise ValueError(f"patch must be >= 1 sample, got {patch}")
        self.n_channels = n_channels
        self.patch = patch
        self.ring = RingBuffer(capacity, (n_channels, N_DESCRIPTORS), dtype=np.float64)
        self._partial = np.zeros((1, patch, n_channels), dtype=np.float64)
        self._fill = 0

    @property
    def n_patches(self) -> int:
        """Patches completed since creation (across :meth:`restart`)."""
        return self.ring.total

    def restart(self) -> None:
        """Drop the partial patch: the next sample starts a new patch (after a stream discontinuity)."""
        self._fill = 0

    def push(self, x: np.ndarray) -> int:
        """Add ``(n, C)`` samples; return how many patches were completed by them."""
        n = x.shape[0]
        p = self.patch
        i = 0
        done = 0
        if self._fill:
            i = min(p - self._fill, n)
            self._partial[0, self._fill : self._fill + i] = x[:i]
            self._fill += i
            if self._fill == p:
                self.ring.write(_describe(self._partial))
                self._fill = 0
                done = 1
        m = (n - i) // p
        if m:
            block = x[i : i + m * p].reshape(m, p, self.n_channels)
            self.ring.write(_describe(block))
            i += m * p
            done += m
        if i < n:
            self._partial[0, : n - i] = x[i:]
            self._fill = n - i
        return done

    def latest(self, n_patches: int, end: int | None = None) -> np.ndarray:
        """Read-only ``(n_patches, C, 3)`` view of the patches before patch number ``end`` (default: now)."""
        return self.ring.view(n_patches, end)

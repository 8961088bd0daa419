"""Sliding-window arithmetic: milliseconds -> samples per stream rate, and which windows a chunk completes.

Windows are configured once in milliseconds (config.yaml ``windows``) and converted at each stream's rate:
the patch length is rounded to whole samples, and window and hop are whole numbers of patches (checked in
milliseconds, so 200/50/25 ms is 40/10/5 samples at 200 Hz and 400/100/50 at 2 kHz). A window therefore
always starts and ends on a patch boundary, which is what lets its descriptors come from a ring of
already-computed patches.

Window ``k`` of a segment covers samples ``[k * hop, k * hop + window)`` counted from the segment start,
and is emitted as soon as its last sample has arrived (:func:`window_ends`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from myosem_rt.errors import ConfigError

log = logging.getLogger(__name__)

_RATIO_TOLERANCE = 1e-6


@dataclass(frozen=True)
class WindowSpec:
    """Window, hop and patch lengths in samples at one stream rate (window, hop multiples of patch)."""

    window: int
    hop: int
    patch: int
    fs: float

    @property
    def patches_per_window(self) -> int:
        return self.window // self.patch

    @property
    def patches_per_hop(self) -> int:
        return self.hop // self.patch

    @classmethod
    def from_ms(cls, window_ms: float, hop_ms: float, patch_ms: float, fs: float) -> WindowSpec:
        """Convert millisecond lengths at rate ``fs``; :class:`ConfigError` names the offending key."""
        for key, value in (("window_ms", window_ms), ("hop_ms", hop_ms), ("patch_ms", patch_ms)):
            if not value > 0:
                raise ConfigError(f"windows.{key} must be positive, got {value}")
        if not fs > 0:
            raise ConfigError(f"windows: stream rate must be positive, got {fs}")
        exact = patch_ms * fs / 1000.0
        patch = round(exact)
        if patch < 1:
            raise ConfigError(f"windows.patch_ms = {patch_ms:g} ms is {exact:.3g} samples at {fs:g} Hz; "
                              "it must be >= 1 sample")
        if abs(exact - patch) > _RATIO_TOLERANCE * max(1.0, exact):
            log.info("windows: patch of %g ms is %.3f samples at %g Hz; using %d samples (%.3f ms)",
                     patch_ms, exact, fs, patch, patch * 1000.0 / fs)
        counts = {}
        for key, value in (("window_ms", window_ms), ("hop_ms", hop_ms)):
            ratio = value / patch_ms
            k = round(ratio)
            if k < 1 or abs(ratio - k) > _RATIO_TOLERANCE * max(1.0, ratio):
                raise ConfigError(f"windows.{key} = {value:g} ms must be a whole multiple of "
                                  f"windows.patch_ms = {patch_ms:g} ms")
            counts[key] = k * patch
        return cls(counts["window_ms"], counts["hop_ms"], patch, float(fs))

    @classmethod
    def from_config(cls, windows: Mapping[str, Any], fs: float) -> WindowSpec:
        """The ``windows`` section of config.yaml at rate ``fs``."""
        return cls.from_ms(float(windows["window_ms"]), float(windows["hop_ms"]),
                           float(windows["patch_ms"]), fs)


def window_ends(before: int, after: int, spec: WindowSpec) -> range:
    """Segment-relative end positions (exclusive) of the windows completed when the segment grows from
    ``before`` to ``after`` samples, in order: every ``e`` with ``before < e <= after``, ``e >= window``
    and ``(e - window) % hop == 0``.
    """
    w, h = spec.window, spec.hop
    if after < w:
        return range(0)
    first_k = 0 if before < w else (before - w) // h + 1
    last_k = (after - w) // h
    return range(w + first_k * h, w + last_k * h + 1, h)

"""Streaming band-pass + mains-notch filtering with persistent per-channel state.

The filters are configured in Hz (config.yaml ``filters``) and designed per stream rate, because one
configuration must serve a 2 kHz research amplifier and a 200 Hz Myo alike:

* band-pass ``[low, high]``: the high edge is lowered to ``0.45 * fs`` when it does not fit under the
  Nyquist frequency (with margin, so the design stays well-conditioned); if ``low`` is then no longer
  below ``high`` the band-pass is disabled. ``bandpass_hz: null`` disables it.
* notch at ``notch_hz`` (quality ``notch_q``): disabled when ``notch_hz >= fs / 2`` (it cannot exist
  there). ``notch_hz: null`` disables it.

Every adaptation is logged at INFO. Both filters are cascaded into one second-order-section array and run
with :func:`scipy.signal.sosfilt` carrying the state ``zi`` between chunks, so the output for any chunking
equals one ``sosfilt`` over the concatenated signal started from the same state. The state starts at the
steady state for the first sample (:func:`initial_state`): an ADC offset then causes no start-up transient.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal

from myosem_rt.errors import ConfigError

log = logging.getLogger(__name__)

#: Highest usable band edge as a fraction of the sampling rate (just under Nyquist = 0.5).
MAX_EDGE_FRACTION = 0.45


@dataclass(frozen=True)
class FilterDesign:
    """The designed cascade for one rate: ``sos`` is None when every filter is disabled."""

    sos: np.ndarray | None
    fs: float
    bandpass_hz: tuple[float, float] | None
    notch_hz: float | None
    description: str


def design_filters(fs: float, filters: Mapping[str, Any]) -> FilterDesign:
    """Design the config's filters for sampling rate ``fs`` (adapting or disabling them, with a log line)."""
    if not fs > 0:
        raise ConfigError(f"filters: sampling rate must be positive, got {fs}")
    sections: list[np.ndarray] = []
    parts: list[str] = []
    band = _bandpass_edges(fs, filters.get("bandpass_hz"))
    if band is not None:
        order = int(filters.get("bandpass_order", 4))
        if order < 1:
            raise ConfigError(f"filters.bandpass_order must be >= 1, got {order}")
        sections.append(signal.butter(order, band, btype="bandpass", fs=fs, output="sos"))
        parts.append(f"band-pass {band[0]:g}-{band[1]:g} Hz (order {order})")
    notch = filters.get("notch_hz")
    if notch is not None:
        notch = float(notch)
        q = float(filters.get("notch_q", 30.0))
        if notch <= 0 or q <= 0:
            raise ConfigError(f"filters: notch_hz and notch_q must be positive, got {notch} and {q}")
        if notch >= fs / 2:
            log.info("filters: %g Hz notch disabled: not below Nyquist (%g Hz) at %g Hz", notch, fs / 2, fs)
            notch = None
        else:
            b, a = signal.iirnotch(notch, q, fs=fs)
            sections.append(signal.tf2sos(b, a))
            parts.append(f"notch {notch:g} Hz (Q {q:g})")
    sos = np.ascontiguousarray(np.concatenate(sections)) if sections else None
    description = ", ".join(parts) if parts else "no filtering"
    return FilterDesign(sos, float(fs), band, notch, description)


def _bandpass_edges(fs: float, edges: Any) -> tuple[float, float] | None:
    if edges is None:
        return None
    try:
        low, high = (float(e) for e in edges)
    except (TypeError, ValueError):
        raise ConfigError(f"filters.bandpass_hz must be [low, high] in Hz or null, got {edges!r}") from None
    if not 0 < low < high:
        raise ConfigError(f"filters.bandpass_hz must satisfy 0 < low < high, got [{low}, {high}]")
    limit = MAX_EDGE_FRACTION * fs
    if high > limit:
        log.info("filters: band-pass high edge lowered from %g to %g Hz (0.45 x %g Hz)", high, limit, fs)
        high = limit
    if low >= high:
        log.info("filters: band-pass %g-%g Hz disabled: no band left below %g Hz at %g Hz",
                 low, high, limit, fs)
        return None
    return (low, high)


def initial_state(sos: np.ndarray, first_sample: np.ndarray) -> np.ndarray:
    """``(n_sections, 2, C)`` state = the steady state of the cascade for a constant ``first_sample``."""
    zi = signal.sosfilt_zi(sos)  # (n_sections, 2), for a unit step
    return zi[:, :, None] * np.asarray(first_sample, dtype=np.float64)[None, None, :]


class StreamingFilter:
    """Filters ``(n, C)`` chunks as if the whole stream were one signal; :meth:`restart` after a gap."""

    def __init__(self, design: FilterDesign, n_channels: int) -> None:
        self.design = design
        self.n_channels = n_channels
        self._zi: np.ndarray | None = None

    def restart(self) -> None:
        """Forget the state: the next chunk starts from the steady state of its own first sample."""
        self._zi = None

    def process(self, x: np.ndarray) -> np.ndarray:
        """Filtered ``(n, C)`` float64 chunk (a new array; the input is not modified)."""
        sos = self.design.sos
        if sos is None:
            return np.array(x, dtype=np.float64)
        if x.shape[0] == 0:
            return np.empty((0, self.n_channels), dtype=np.float64)
        if self._zi is None:
            self._zi = initial_state(sos, x[0])
        y, self._zi = signal.sosfilt(sos, x, axis=0, zi=self._zi)
        return y

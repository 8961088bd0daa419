"""Find an EMG stream on LSL, open it with clock correction, and pull chunks without allocating.

* :func:`resolve_stream` matches name / type / source_id (config.yaml ``stream`` or command-line options)
  within a timeout; when nothing matches, the :class:`StreamError` lists what *is* visible.
* :class:`EmgInlet` pulls into buffers allocated once (liblsl writes straight into them through pylsl's
  chunk function, so a pull allocates nothing), with ``proc_clocksync`` always on and ``proc_dejitter``
  when configured. ``proc_monotonize`` is deliberately *not* used: it would hide the backward timestamp
  jumps of a restarted source, which the consumer must see to restart its windows.
* Loss and recovery: liblsl's ``recover=True`` silently reconnects to a stream with the same source_id.
  The inlet adds what liblsl does not say: no sample for ``stall_timeout_s`` switches the state to
  ``lost`` (logged), and the first sample afterwards switches it back (``resumed``); the consumer turns
  those transitions into events with the gap measured from the timestamps.
"""

from __future__ import annotations

import ctypes
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pylsl
from pylsl.util import LostError, handle_error

from myosem_rt.errors import ConfigError, StreamError

log = logging.getLogger(__name__)

#: Inlet states.
CONNECTING, STREAMING, LOST = "connecting", "streaming", "lost"
_FIELDS = ("name", "type", "source_id")


@dataclass(frozen=True)
class StreamSelector:
    """Which stream to consume: every field that is not None must match exactly."""

    name: str | None = None
    type: str | None = None
    source_id: str | None = None

    @classmethod
    def from_config(cls, stream: Mapping[str, Any], **overrides: str | None) -> StreamSelector:
        """config.yaml ``stream`` section, replaced as a whole by any command-line override that is set
        (``--name foo`` alone means "the stream named foo", whatever the config's ``type`` says)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        source = given if given else {k: stream.get(k) for k in _FIELDS}
        return cls(**{k: (None if source.get(k) is None else str(source[k])) for k in _FIELDS})

    def __str__(self) -> str:
        return " ".join(f"{k}={getattr(self, k)!r}" for k in _FIELDS if getattr(self, k) is not None)

    def predicate(self) -> str:
        """The XPath predicate liblsl resolves with."""
        terms = []
        for key in _FIELDS:
            value = getattr(self, key)
            if value is None:
                continue
            if "'" in value and '"' in value:
                raise ConfigError(f"stream.{key} = {value!r}: cannot contain both ' and \"")
            quote = '"' if "'" in value else "'"
            terms.append(f"{key}={quote}{value}{quote}")
        if not terms:
            raise ConfigError("stream: set at least one of name, type, source_id to choose a stream")
        return " and ".join(terms)

    def matches(self, info: pylsl.StreamInfo) -> bool:
        return all(getattr(self, k) is None or getattr(self, k) == getattr(info, k)() for k in _FIELDS)


def list_streams(wait_s: float = 1.0) -> list[pylsl.StreamInfo]:
    """Every stream visible in this machine's LSL scope (``lsl.api_config``), sorted by name."""
    infos = pylsl.resolve_streams(wait_time=wait_s)
    return sorted(infos, key=lambda i: (i.name(), i.type(), i.source_id()))


def describe(info: pylsl.StreamInfo) -> str:
    """One stream as ``name (type T, source_id S, C ch @ R Hz)``."""
    return (f"{info.name()} (type {info.type() or '-'}, source_id {info.source_id() or '-'}, "
            f"{info.channel_count()} ch @ {info.nominal_srate():g} Hz)")


def resolve_stream(selector: StreamSelector, timeout_s: float) -> pylsl.StreamInfo:
    """The first stream matching ``selector`` within ``timeout_s``, else a :class:`StreamError` listing the
    visible streams (or saying that none is visible)."""
    found = pylsl.resolve_bypred(selector.predicate(), 1, max(float(timeout_s), 0.01))
    found = [i for i in found if selector.matches(i)]
    if not found:
        visible = list_streams(wait_s=min(1.0, max(float(timeout_s), 0.2)))
        listing = "; ".join(describe(i) for i in visible) if visible else "no LSL stream is visible"
        what = "visible streams: " + listing if visible else listing
        raise StreamError(f"no LSL stream matches {selector} within {timeout_s:g} s; {what}")
    if len(found) > 1:
        log.warning("%d streams match %s; using %s", len(found), selector, describe(found[0]))
    return found[0]


#: Seconds to look for the source's header when it resumes, and between looks while it is lost.
RESOLVE_ON_RESUME_S = 0.5
LOST_CHECK_S = 2.0
#: The largest stream the runtime buffers (an absurd header, 1e9 Hz, once asked for 1.46 TiB of buffers).
MAX_RATE_HZ = 100_000.0
MAX_CHANNELS = 1024


def check_emg_stream(info: pylsl.StreamInfo) -> None:
    """:class:`StreamError` unless ``info`` is a numeric stream with a nominal rate (windowable)."""
    if info.channel_format() == pylsl.cf_string:
        raise StreamError(f"stream {info.name()!r}: string stream, not EMG samples")
    if not info.nominal_srate() > 0:
        raise StreamError(f"stream {info.name()!r}: no nominal sampling rate (irregular streams cannot be "
                          "windowed)")
    if info.nominal_srate() > MAX_RATE_HZ or info.channel_count() > MAX_CHANNELS:
        raise StreamError(f"stream {info.name()!r}: {info.channel_count()} ch @ {info.nominal_srate():g} Hz "
                          f"is beyond what this runtime buffers (at most {MAX_CHANNELS} channels and "
                          f"{MAX_RATE_HZ / 1000:g} kHz); is the stream's header right?")


class EmgInlet:
    """One numeric LSL stream, pulled in chunks of at most ``max_chunk`` samples into reused buffers."""

    def __init__(self, info: pylsl.StreamInfo, *, buffer_s: float, max_chunk: int,
                 stall_timeout_s: float, dejitter: bool = False) -> None:
        check_emg_stream(info)
        self.fs = float(info.nominal_srate())
        self.n_channels = int(info.channel_count())
        self.name, self.source_id = info.name(), info.source_id()
        self._info = info
        if not self.source_id:
            log.warning("stream %r has no source_id: liblsl cannot recover it if its source restarts",
                        self.name)
        flags = pylsl.proc_clocksync | (pylsl.proc_dejitter if dejitter else 0)
        self._inlet = pylsl.StreamInlet(info, max_buflen=max(1, math.ceil(buffer_s)), max_chunklen=0,
                                        recover=True, processing_flags=flags)
        self.max_chunk = int(max_chunk)
        self.stall_timeout_s = float(stall_timeout_s)
        self._data = np.zeros((self.max_chunk, self.n_channels), dtype=self._inlet.np_dtype)
        self._ts = np.zeros(self.max_chunk, dtype=np.float64)
        self._pull = self._inlet.do_pull_chunk
        self._err = ctypes.c_int()
        # liblsl's fixed-buffer pull waits for a *full* buffer or the timeout, so a waiting pull asks for
        # one sample first (returns as soon as it arrives) and then drains the rest after it, unblocked.
        self._args_all = self._pull_args(0, self.max_chunk)
        self._args_one = self._pull_args(0, 1)
        self._args_rest = self._pull_args(1, self.max_chunk - 1)
        self.state = CONNECTING
        self._next_check = 0.0  # while lost: when to look again for a comeback in another layout
        self.last_arrival = pylsl.local_clock()  #: local_clock() of the last non-empty pull
        self.last_timestamp: float | None = None  #: corrected timestamp of the newest sample
        #: local_clock() at the last non-empty pull minus the newest sample's corrected timestamp
        self.arrival_latency_s: float | None = None

    def open(self, timeout_s: float) -> None:
        """Subscribe now (instead of at the first pull) and get the first clock-offset estimate."""
        try:
            self._inlet.open_stream(timeout=timeout_s)
            self._inlet.time_correction(timeout=timeout_s)
        except (TimeoutError, LostError) as exc:
            raise StreamError(f"stream {self.name!r}: cannot open it within {timeout_s:g} s ({exc})"
                              ) from None
        try:  # the full header (channels, units, device) is a nicety: never fail a stream for it
            self._info = self._inlet.info(timeout=timeout_s)
        except (TimeoutError, LostError) as exc:
            log.debug("stream %r: no full header (%s); keeping the resolved one", self.name, exc)
        self.last_arrival = pylsl.local_clock()

    @property
    def info(self) -> pylsl.StreamInfo:
        """The stream's header: the full one with its ``desc()`` (channel labels and units, device), as
        fetched by :meth:`open`, else the resolved one (no description). Read-only and fetched once, so any
        thread may read it while another pulls."""
        return self._info

    def close(self) -> None:
        """Disconnect (close inlets before their outlets, or liblsl waits for the broken connection)."""
        if self._inlet is not None:
            self._inlet.close_stream()
            self._inlet = None

    def pull(self, timeout_s: float = 0.0) -> tuple[np.ndarray, np.ndarray, str | None]:
        """``(samples, timestamps, transition)``: views of the reused buffers (valid until the next pull),
        and ``"lost"`` / ``"resumed"`` when the state changed with this pull, else None."""
        if self._inlet is None:
            raise StreamError(f"stream {self.name!r}: inlet is closed")
        if timeout_s > 0 and self.max_chunk > 1:
            n = self._pull_into(self._args_one, timeout_s)
            if n:
                n += self._pull_into(self._args_rest, 0.0)
        else:
            n = self._pull_into(self._args_all, timeout_s)
        now = pylsl.local_clock()
        transition = None
        if n:
            self.last_arrival = now
            self.last_timestamp = float(self._ts[n - 1])
            self.arrival_latency_s = now - self.last_timestamp
            if self.state != STREAMING:
                transition = "resumed" if self.state == LOST else None
                if transition == "resumed":
                    self._check_layout(RESOLVE_ON_RESUME_S)
                self.state = STREAMING
        elif self.state == STREAMING and now - self.last_arrival > self.stall_timeout_s:
            self.state = LOST
            transition = "lost"
            self._next_check = now + LOST_CHECK_S
        elif self.state == LOST and now >= self._next_check:
            self._next_check = now + LOST_CHECK_S
            self._check_layout(0.05)  # a comeback with another channel count never delivers a sample
        return self._data[:n], self._ts[:n], transition

    def _check_layout(self, timeout_s: float) -> None:
        """:class:`StreamError` when the source is back with another rate or channel count. Why a fresh
        resolve: liblsl's recovery reconnects by source_id and keeps the old header (a 2 kHz comeback was
        consumed as the 1 kHz stream it replaced), and with another channel count it silently reconnects
        forever without a sample."""
        prop, value = ("source_id", self.source_id) if self.source_id else ("name", self.name)
        for info in pylsl.resolve_byprop(prop, value, 1, timeout_s):
            layout = (int(info.channel_count()), float(info.nominal_srate()))
            if layout != (self.n_channels, self.fs):
                raise StreamError(f"stream {self.name!r} came back as {layout[0]} ch @ {layout[1]:g} Hz (it "
                                  f"was {self.n_channels} ch @ {self.fs:g} Hz): filters, windows and model "
                                  "are planned for the old layout; restart the command for the new one")

    def _pull_args(self, offset: int, count: int) -> tuple[Any, ...]:
        data = ctypes.c_void_p(self._data.ctypes.data + offset * self._data.strides[0])
        ts = ctypes.c_void_p(self._ts.ctypes.data + offset * self._ts.strides[0])
        return data, ts, ctypes.c_size_t(count * self.n_channels), ctypes.c_size_t(count)

    def _pull_into(self, args: tuple[Any, ...], timeout_s: float) -> int:
        n_values = self._pull(self._inlet.obj, *args, ctypes.c_double(timeout_s), ctypes.byref(self._err))
        try:
            handle_error(self._err)
        except LostError:
            raise StreamError(f"stream {self.name!r} was lost and cannot be recovered (it has no source_id)"
                              ) from None
        return n_values // self.n_channels

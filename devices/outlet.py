"""The LSL side shared by every stream source: outlets with metadata, label markers and the paced push loop.

A replayed recording and the synthetic armband differ only in where their samples come from, so everything
a consumer can observe (stream layout, metadata, timestamps, markers, pacing, start/stop) lives here once;
a source subclasses :class:`PacedSource` and implements :meth:`PacedSource.chunks`.

Timestamps are *signal time*: sample ``i`` (counted from the first sample pushed, across loops) is stamped
``t0 + i / fs`` where ``t0`` is ``local_clock()`` when streaming starts. The wall clock only paces the
pushes and never enters a timestamp, so the spacing is exactly ``1/fs`` whatever the pacing jitter. At
``speed`` X the pushes come X times faster than real time while the stamps stay ``1/fs`` apart; the stamps
then run ahead of (X > 1) or behind (X < 1) ``local_clock()``, so latency against ``local_clock()`` is only
meaningful at speed 1.

Each EMG stream comes with a marker stream ``<name>-labels`` (type ``Markers``, one ``"<id>:<name>"``
string per label change, stamped with the timestamp of the first sample carrying the new label, plus one
for the first sample and one at every loop start), so a consumer can score itself against the truth.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from myosem_rt.errors import ConfigError

# isort: split
import pylsl  # after myosem_rt: liblsl must see LSLAPICFG (machine-local streams) when it loads

log = logging.getLogger(__name__)

#: Type of the EMG stream and of its ground-truth marker stream.
EMG_TYPE = "EMG"
MARKER_TYPE = "Markers"
#: Suffix of the marker stream's name and source_id.
MARKER_SUFFIX = "-labels"


@dataclass(frozen=True)
class StreamSpec:
    """What a source advertises: the EMG stream's identity, layout and descriptive metadata."""

    name: str
    source_id: str
    fs: float
    channel_names: tuple[str, ...]
    unit: str
    class_names: Mapping[int, str]
    manufacturer: str
    #: extra ``desc`` children (dataset, subject, session, device ...): written as text elements
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    @property
    def marker_name(self) -> str:
        return self.name + MARKER_SUFFIX

    def class_name(self, class_id: int) -> str:
        return self.class_names.get(int(class_id), f"class {int(class_id)}")


def marker_text(class_id: int, name: str) -> str:
    """The marker string of a label: ``"<id>:<name>"`` (read by ``myosem_rt.live.truth.parse_marker``)."""
    return f"{int(class_id)}:{name}"


def _describe(info: pylsl.StreamInfo, spec: StreamSpec) -> None:
    """Shared ``desc`` content: manufacturer, the XDF meta-data convention's
    ``acquisition/{manufacturer,model}`` (what LabRecorder, pyxdf and mne-lsl show), free metadata, class
    map (``classes/class/{id,name}``)."""
    desc = info.desc()
    desc.append_child_value("manufacturer", spec.manufacturer)
    acquisition = desc.append_child("acquisition")
    acquisition.append_child_value("manufacturer", spec.manufacturer)
    acquisition.append_child_value("model", str(spec.metadata.get("model", "")))
    for key, value in spec.metadata.items():
        desc.append_child_value(key, str(value))
    classes = desc.append_child("classes")
    for class_id in sorted(spec.class_names):
        node = classes.append_child("class")
        node.append_child_value("id", str(int(class_id)))
        node.append_child_value("name", spec.class_names[class_id])


def emg_stream_info(spec: StreamSpec) -> pylsl.StreamInfo:
    """float32 EMG stream at the nominal rate with ``desc/channels/channel/{label,unit,type}`` (XDF)."""
    info = pylsl.StreamInfo(
        spec.name, EMG_TYPE, spec.n_channels, float(spec.fs), pylsl.cf_float32, spec.source_id
    )
    info.set_channel_labels(list(spec.channel_names))
    info.set_channel_units(spec.unit or "none")
    info.set_channel_types(EMG_TYPE)
    _describe(info, spec)
    return info


def marker_stream_info(spec: StreamSpec) -> pylsl.StreamInfo:
    """Irregular-rate string stream carrying the ground-truth label changes of ``spec``'s EMG stream."""
    info = pylsl.StreamInfo(
        spec.marker_name,
        MARKER_TYPE,
        1,
        pylsl.IRREGULAR_RATE,
        pylsl.cf_string,
        spec.source_id + MARKER_SUFFIX,
    )
    _describe(info, spec)
    info.desc().append_child_value("emg_stream", spec.name)
    return info


def check_positive(option: str, value: float, *, allow_zero: bool = False) -> float:
    """``value`` as a float, or a one-line :class:`ConfigError` naming ``option`` (a command-line flag)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option} must be a number, got {value!r}") from None
    ok = number >= 0 if allow_zero else number > 0
    if not (ok and math.isfinite(number)):
        raise ConfigError(f"{option} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return number


class Chunk(NamedTuple):
    """A block of consecutive samples from a source."""

    emg: np.ndarray  #: (n, C) float32
    labels: np.ndarray  #: (n,) class id per sample
    restart: bool = False  #: first chunk of a new pass (loop start): its first sample is always marked


class PacedSource:
    """Pushes a source's chunks to an EMG outlet and a marker outlet, paced by the wall clock.

    Subclasses implement :meth:`chunks`. Use :meth:`run` (blocking; Ctrl-C propagates after the outlets are
    destroyed) or :meth:`start` / :meth:`stop` / :meth:`join` (background thread). A source streams once.
    ``wait_for_consumer`` seconds: before the first sample, wait until an inlet is connected to the EMG
    outlet (an LSL inlet only receives samples pushed after it connected); when none comes the source
    streams anyway. Pushes that fall behind the wall clock are caught up at once, so the average rate holds.
    """

    #: Seconds the outlets stay open after the last sample of a finite source (not after stop / Ctrl-C),
    #: so that connected inlets receive the tail.
    linger_s = 0.5

    def __init__(
        self, spec: StreamSpec, *, speed: float = 1.0, chunk_ms: float = 20.0, wait_for_consumer: float = 0.0
    ) -> None:
        self.spec = spec
        self.speed = check_positive("--speed", speed)
        self.chunk_ms = check_positive("--chunk-ms", chunk_ms)
        self.wait_for_consumer = check_positive("--wait-for-consumer", wait_for_consumer, allow_zero=True)
        self.chunk_samples = max(1, round(self.chunk_ms * spec.fs / 1000.0))
        self.samples_pushed = 0
        self.markers_pushed = 0
        self.t0: float | None = None  #: local_clock() of sample 0, once streaming has started
        self.wall_s = 0.0  #: wall time from t0 to the last push
        self.error: BaseException | None = None  #: what ended the background thread, if anything failed
        self.ready = threading.Event()  #: set once both outlets exist (they can be resolved from then on)
        self._stop = threading.Event()
        self._emg_outlet: pylsl.StreamOutlet | None = None
        self._marker_outlet: pylsl.StreamOutlet | None = None
        self._thread: threading.Thread | None = None
        self._started = False

    # -- what a subclass provides ---------------------------------------------------------------------
    def chunks(self) -> Iterator[Chunk]:
        """The samples to stream, in order; a fresh iterator restarts the source from its beginning."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the start-up log."""
        return (
            f"{self.spec.name}: source_id {self.spec.source_id}, {self.spec.n_channels} ch "
            f"@ {self.spec.fs:g} Hz, speed {self.speed:g}x"
        )

    # -- running ----------------------------------------------------------------------------------------
    def run(self) -> None:
        """Stream until the source ends or :meth:`stop` is called; the outlets are gone when this returns."""
        if self._started and threading.current_thread() is not self._thread:
            raise RuntimeError("a PacedSource streams once; create a new one")
        self._started = True
        # Held only by these attributes (no frame of a traceback keeps them), so clearing them destroys the
        # outlets at once, also when Ctrl-C propagates: consumers see the streams end.
        try:
            self._emg_outlet = pylsl.StreamOutlet(emg_stream_info(self.spec))
            self._marker_outlet = pylsl.StreamOutlet(marker_stream_info(self.spec))
            self.ready.set()
            log.info("streaming %s", self.describe())
            if self.wait_for_consumer > 0:
                self._await_consumer()
            if not self._stop.is_set():
                self._push_loop()
            # The last chunks may still be on their way: destroying an outlet drops what it has not sent.
            self._stop.wait(self.linger_s)
        finally:
            self._emg_outlet = self._marker_outlet = None

    def start(self) -> PacedSource:
        """Run in a background thread; returns at once (wait on :attr:`ready` before resolving)."""
        if self._started:
            raise RuntimeError("a PacedSource streams once; create a new one")
        self._thread = threading.Thread(target=self._run_thread, name=f"lsl-{self.spec.name}", daemon=True)
        self._started = True
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the push loop to end and wait for the thread (if any) to destroy the outlets."""
        self._stop.set()
        if self._thread is not None:
            self.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the background thread; re-raises what ended it. Returns False if it is still running."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # surfaced by join()
            self.error = exc
            self.ready.set()

    def _await_consumer(self) -> None:
        deadline = pylsl.local_clock() + self.wait_for_consumer
        while not self._emg_outlet.have_consumers():
            if pylsl.local_clock() >= deadline:
                log.warning(
                    "%s: no consumer after %g s, streaming anyway", self.spec.name, self.wait_for_consumer
                )
                return
            if self._stop.wait(0.005):
                return

    def _push_loop(self) -> None:
        fs = float(self.spec.fs)
        wall_per_sample = 1.0 / (fs * self.speed)
        t0 = self.t0 = pylsl.local_clock()
        previous: int | None = None
        i = 0
        try:
            for chunk in self.chunks():
                n = len(chunk.labels)
                if n == 0:
                    continue
                # A chunk is pushed once its last sample is "captured": like a device, never ahead of time.
                delay = t0 + (i + n) * wall_per_sample - pylsl.local_clock()
                if self._stop.wait(delay) if delay > 0 else self._stop.is_set():
                    break
                stamps = t0 + (i + np.arange(n)) / fs
                labels = chunk.labels
                marks = np.flatnonzero(labels[1:] != labels[:-1]) + 1
                if chunk.restart or previous is None or labels[0] != previous:
                    marks = np.concatenate(([0], marks))
                for j in marks.tolist():
                    label = int(labels[j])
                    self._marker_outlet.push_sample(
                        [marker_text(label, self.spec.class_name(label))], stamps[j]
                    )
                    self.markers_pushed += 1
                self._emg_outlet.push_chunk(chunk.emg, stamps.tolist())
                previous = int(labels[-1])
                i += n
                self.samples_pushed = i
        finally:
            self.wall_s = pylsl.local_clock() - t0


def run_until_interrupted(source: PacedSource) -> int:
    """The CLI's way to stream: blocking, Ctrl-C is a normal stop, one summary line at the end. Returns 0."""
    try:
        source.run()
    except KeyboardInterrupt:
        log.info("stopped (Ctrl-C)")
    signal_s = source.samples_pushed / source.spec.fs
    log.info(
        "pushed %d samples (%.3f s of signal) and %d markers in %.1f s",
        source.samples_pushed,
        signal_s,
        source.markers_pushed,
        source.wall_s,
    )
    return 0

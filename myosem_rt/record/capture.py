"""What every recorder of an LSL stream shares: keep what arrives, and never lose it on the way to disk.

* :class:`SampleBuffer` -- samples and timestamps appended into preallocated blocks: nothing recorded is
  reallocated or copied while a session runs (a long recording does not stall the pulls);
* :func:`keep_recording` -- write the file (``write(path, force)``, normally
  :func:`myosem_rt.recordings.writer.write_recording`: atomic, never overwriting); if that fails (the file
  appeared meanwhile, a full disk, a read-only folder ...) a sibling with a time suffix, then the temporary
  folder, and as a last resort the raw arrays as ``.npz``;
* :func:`deferred_interrupt` -- a second Ctrl-C while the file is written is noted, not obeyed;
* :class:`GapCounter` -- timestamp gaps as chunks arrive;
* :func:`stream_meta`, :func:`marker_header` -- unit, device and class map from the streams' headers.

Used by ``myosem record`` (:mod:`myosem_rt.record.session`) and the guided enrolment
(:mod:`myosem_rt.profile.recorder`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import RecordingError

log = logging.getLogger(__name__)


class SampleBuffer:
    """Samples and timestamps appended into preallocated blocks (no reallocation of what is recorded)."""

    def __init__(self, n_channels: int, block: int) -> None:
        self.n_channels, self.block = int(n_channels), max(int(block), 1)
        self._emg: list[np.ndarray] = []
        self._ts: list[np.ndarray] = []
        self.n = 0
        self._fill = self.block  # samples used in the last block

    def append(self, x: np.ndarray, ts: np.ndarray) -> None:
        done = 0
        while done < len(ts):
            if self._fill == self.block:
                self._emg.append(np.empty((self.block, self.n_channels), dtype=np.float32))
                self._ts.append(np.empty(self.block, dtype=np.float64))
                self._fill = 0
            take = min(self.block - self._fill, len(ts) - done)
            self._emg[-1][self._fill : self._fill + take] = x[done : done + take]
            self._ts[-1][self._fill : self._fill + take] = ts[done : done + take]
            self._fill += take
            done += take
        self.n += len(ts)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(samples (n, C) float32, timestamps (n,)) of everything appended."""
        if not self._emg:
            return np.zeros((0, self.n_channels), np.float32), np.zeros(0, np.float64)
        last = self._fill
        emg = np.concatenate([*self._emg[:-1], self._emg[-1][:last]])
        ts = np.concatenate([*self._ts[:-1], self._ts[-1][:last]])
        return emg, ts


class GapCounter:
    """Timestamp gaps of one stream as chunks arrive, by the consumer's rule
    (:class:`~myosem_rt.stream.continuity.GapDetector`); ``samples`` estimates how many samples the gaps
    hold (a clock that went back breaks the stream too, but is not counted as a gap)."""

    def __init__(self, fs: float) -> None:
        from myosem_rt.stream.continuity import GapDetector

        self.fs = float(fs)
        self.detector = GapDetector(self.fs)
        self.gaps = 0
        self.samples = 0
        self.last_ts: float | None = None

    def add(self, ts: np.ndarray) -> None:
        if not len(ts):
            return
        from myosem_rt.stream.consumer import timestamp_gap

        for b in self.detector.breaks(ts, self.last_ts):  # index 0 only when there is a last_ts
            gap_s, gap_n = timestamp_gap(float(ts[b - 1]) if b else self.last_ts, float(ts[b]), self.fs)
            if gap_s > 0:
                self.gaps += 1
                self.samples += gap_n
        self.last_ts = float(ts[-1])


def marker_header(inlet: Any, timeout_s: float) -> tuple[dict[int, str], dict[str, str]]:
    """The class map (``desc/classes/class/{id,name}``) and metadata (dataset, subject, session, device) a
    marker stream of this project's sources publishes; empty when it publishes none."""
    try:
        desc = inlet.info(timeout=timeout_s).desc()
    except Exception:  # a header is a nicety: never fail a recording for it
        return {}, {}
    classes: dict[int, str] = {}
    node = desc.child("classes").child("class")
    while not node.empty():
        with contextlib.suppress(ValueError):
            classes[int(node.child_value("id"))] = node.child_value("name")
        node = node.next_sibling("class")
    meta = {k: desc.child_value(k) for k in ("dataset", "subject", "session", "model", "manufacturer")
            if desc.child_value(k)}
    return classes, meta


def drain(inlet: Any, take: Callable[[np.ndarray, np.ndarray], None], max_pulls: int = 1000) -> None:
    """Hand ``take`` every chunk liblsl already holds for ``inlet`` (a stopped recording keeps them: they
    were received)."""
    for _ in range(max_pulls):
        x, ts, _transition = inlet.pull(0.0)
        if not len(ts):
            return
        take(x, ts)


def stream_meta(inlet: Any, more: tuple[str, ...] = ()) -> dict[str, str]:
    """Stream name, unit and device of an EMG inlet from its full header (:attr:`EmgInlet.info`; only the
    name when the stream publishes no description); ``more``: other ``desc`` text children to take
    (``myosem record`` keeps a replay's dataset, subject and session)."""
    meta: dict[str, str] = {"stream": str(inlet.name)}
    try:
        desc = inlet.info.desc()
        unit = desc.child("channels").child("channel").child_value("unit")
    except Exception:  # metadata is a nicety: never fail a session for it
        return meta
    if unit and unit != "none":
        meta["unit"] = unit
    for key in ("model", "manufacturer", *more):
        if desc.child_value(key):
            meta.setdefault(key, desc.child_value(key))
    return meta


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[list[int]]:
    """Ctrl-C while the recording is written would delete the half-written temporary file and lose the
    session: note it instead (the yielded list gets an entry) and let the caller report it afterwards.
    Main thread only (elsewhere Python cannot handle signals, and none arrives)."""
    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield pending
    finally:
        signal.signal(signal.SIGINT, previous)


def keep_recording(out: Path, write: Callable[[Path, bool], Path], raw: Mapping[str, np.ndarray],
                   force: bool) -> Path:
    """``write(path, force)`` to ``out``, else to the fallbacks (module docstring); the path written.
    Only when even the raw dump fails is the error raised, naming where the arrays are."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    alternatives = [out, out.with_name(f"{out.stem}-{stamp}{out.suffix}"),
                    Path(tempfile.gettempdir()) / f"{out.stem}-{stamp}{out.suffix}"]
    first: RecordingError | None = None
    for i, path in enumerate(alternatives):
        try:
            written = write(path, force and i == 0)
        except RecordingError as exc:
            first = first or exc
            continue
        if i:
            log.warning("%s; the recording was written to %s instead", first, written)
        return written
    dumped = dump_raw(out.with_name(f"{out.stem}-{stamp}.raw.npz"), raw)
    problem = first.problem if first else "not written"
    raise RecordingError(out, f"{problem}; the raw samples are kept in {dumped}")


def dump_raw(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Last resort: every array as received, in a plain .npz (written atomically), beside the target or
    else in the temporary folder."""
    from myosem_rt.output_files import write_bytes

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    for folder in (path.parent, Path(tempfile.gettempdir())):
        target = folder / path.name
        try:
            write_bytes(target, buf.getvalue())
            return target
        except OSError:
            continue
    raise RecordingError(path, "cannot write the recording anywhere (disk full or read-only?)")

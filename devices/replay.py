"""Replay a recorded session as if it were a live armband: an LSL EMG outlet plus its ground-truth markers.

The replay is what makes the whole runtime testable without hardware: the stream carries the recording's
own rate, channel names and unit, a stable ``source_id`` (``dataset/S<subject>/<session>``), and samples that
are bit-identical to the file's scaled float32 values. Stamps are signal time, ``t0 + i/fs`` (see
:mod:`devices.outlet`), at every speed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from devices.outlet import Chunk, PacedSource, StreamSpec, check_positive
from myosem_rt.errors import ConfigError
from myosem_rt.recordings import Session

log = logging.getLogger(__name__)

#: Stream name when none is given (config ``replay.name: null``).
DEFAULT_NAME = "myosem-replay"
MANUFACTURER = "MyoSem-RT replay"


def session_spec(session: Session, name: str) -> StreamSpec:
    """How a session is advertised on LSL: its layout plus dataset/subject/session/device metadata."""
    metadata = {
        "model": session.device or session.dataset,
        "dataset": session.dataset,
        "subject": str(session.subject),
        "session": session.session,
        "exercise": str(session.exercise),
    }
    if session.path is not None:
        metadata["file"] = session.path.name
    return StreamSpec(
        name=name,
        source_id=session.source_id,
        fs=float(session.fs),
        channel_names=tuple(session.channel_names),
        unit=session.unit,
        class_names=dict(session.class_names),
        manufacturer=MANUFACTURER,
        metadata=metadata,
    )


class ReplayDevice(PacedSource):
    """Streams ``session`` (or the part ``start_s`` .. ``start_s + duration_s`` of it, in seconds of signal).

    ``loop``: at the end of the part, start over at its beginning with timestamps that keep counting (no
    jump, no repeat) and a marker for the first sample of every pass; runs until :meth:`stop` / Ctrl-C.
    ``duration_s`` None = to the end of the file; a part reaching past the end is cut there (logged).
    Bad options raise a one-line :class:`ConfigError` naming the command-line flag.
    """

    def __init__(
        self,
        session: Session,
        *,
        name: str | None = None,
        speed: float = 1.0,
        chunk_ms: float = 20.0,
        loop: bool = False,
        start_s: float = 0.0,
        duration_s: float | None = None,
        wait_for_consumer: float = 0.0,
    ) -> None:
        super().__init__(
            session_spec(session, name or DEFAULT_NAME),
            speed=speed,
            chunk_ms=chunk_ms,
            wait_for_consumer=wait_for_consumer,
        )
        self.session = session
        self.loop = bool(loop)
        self.first, self.end = self._select(session, start_s, duration_s)

    @staticmethod
    def _select(session: Session, start_s: float, duration_s: float | None) -> tuple[int, int]:
        """Sample range [first, end) of the requested part; errors name --start / --duration."""
        where = session.path.name if session.path is not None else session.source_id
        start_s = check_positive("--start", start_s, allow_zero=True)
        first = round(start_s * session.fs)
        if first >= session.n_samples:
            raise ConfigError(
                f"--start {start_s:g} s is past the end of {where} ({session.duration_s:.3f} s of signal)"
            )
        if duration_s is None:
            return first, session.n_samples
        duration_s = check_positive("--duration", duration_s)
        count = round(duration_s * session.fs)
        if count < 1:
            raise ConfigError(f"--duration {duration_s:g} s is shorter than one sample at {session.fs:g} Hz")
        end = first + count
        if end > session.n_samples:
            log.warning(
                "%s: --duration %g s from --start %g s reaches past the end; replaying %.3f s",
                where,
                duration_s,
                start_s,
                (session.n_samples - first) / session.fs,
            )
            end = session.n_samples
        return first, end

    @property
    def n_selected(self) -> int:
        """Samples in one pass over the selected part."""
        return self.end - self.first

    def describe(self) -> str:
        part = f"{self.n_selected / self.spec.fs:.3f} s from {self.first / self.spec.fs:g} s"
        return f"{super().describe()}, {part}{', looping' if self.loop else ''}"

    def chunks(self) -> Iterator[Chunk]:
        emg, label, step = self.session.emg, self.session.label, self.chunk_samples
        while True:
            for a in range(self.first, self.end, step):
                b = min(a + step, self.end)  # a pass never straddles the loop boundary
                yield Chunk(emg[a:b], label[a:b], restart=a == self.first)
            if not self.loop:
                return

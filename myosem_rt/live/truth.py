"""Ground truth from a source's marker stream: which class was cued when a window ended.

A replay (``devices/replay``) or the synthetic armband publishes ``<name>-labels``: a ``Markers`` stream
whose string samples are ``"<class id>:<name>"``, pushed at each label change with the LSL time of the
change. The truth of a hop is the last marker at or before its window's last sample. A real armband has no
marker stream, and then there is no truth. Used by the window (:mod:`myosem_rt.display.worker`) and by
``myosem live --jsonl`` (each hop's ``truth``), so both read markers the same way.

An inlet opened after the source started misses the markers pushed before it connected: the truth is
unknown (None) until the next label change.
"""

from __future__ import annotations

import logging

import pylsl  # after myosem_rt (LSLAPICFG)

log = logging.getLogger(__name__)

#: Seconds to look for the marker stream of a stream found by type/source_id (a real armband has none).
MARKER_LOOKUP_S = 1.0
MARKER_SUFFIX = "-labels"
#: Markers kept: enough to cover the windows of a few polls.
_KEEP = 64


def parse_marker(text: str) -> tuple[int, str]:
    """``"<id>:<name>"`` -> (id, name), as devices.outlet writes them (names may contain ':');
    ValueError when the id is not an integer."""
    ident, _, name = str(text).partition(":")
    return int(ident), name


def open_markers(name: str, timeout_s: float) -> pylsl.StreamInlet | None:
    """The ground-truth marker inlet named ``name``, or None when it is not visible within ``timeout_s``."""
    found = pylsl.resolve_byprop("name", name, 1, timeout_s)
    if not found:
        log.info("no marker stream '%s': no ground truth shown", name)
        return None
    inlet = pylsl.StreamInlet(found[0], processing_flags=pylsl.proc_clocksync)
    inlet.open_stream(timeout=timeout_s)
    return inlet


class GroundTruth:
    """The markers of one marker inlet and the truth in force at a time (module docstring)."""

    def __init__(self, inlet: pylsl.StreamInlet) -> None:
        self.inlet = inlet
        self.names: dict[int, str] = {}  #: class id -> name, from the markers seen
        self._markers: list[tuple[float, int, str]] = []  # (LSL time, class id, name)
        self._last: tuple[int, str] | None = None

    def pull(self) -> None:
        """Take the markers that arrived since the last call (never blocks)."""
        texts, stamps = self.inlet.pull_chunk(timeout=0.0)
        for m, t in zip(texts, stamps, strict=True):
            try:
                ident, name = parse_marker(m[0])
            except ValueError:
                log.debug("ignoring marker %r", m[0])
                continue
            self._markers.append((float(t), ident, name))
            self.names[ident] = name
        del self._markers[:-_KEEP]

    def at(self, t: float) -> tuple[int, str] | None:
        """(class id, name) of the last marker at or before LSL time ``t`` (the last known one when the
        kept markers are all later), None before the first."""
        truth = None
        for ts, ident, name in self._markers:
            if ts <= t:
                truth = (ident, name)
        if truth is not None:
            self._last = truth
        return self._last

    def close(self) -> None:
        self.inlet.close_stream()

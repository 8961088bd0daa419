"""Ground truth from a source's marker stream: which class was cued when a window ended.

A replay (``devices/replay``) or the synthetic armband publishes ``<name>-labels``: a ``Markers`` stream
whose string samples are ``"<class id>:<name>"``, pushed at each label change with the LSL time of the
change. The truth of a hop is the last marker at or before its window's last sample. A real armband has no
marker stream, and then there is no truth. Used by the window (:mod:`myosem_rt.display.worker`) and by
``myosem live --jsonl`` (each hop's ``truth``), so both read markers the same way.

An inlet opened after the source started misses the markers pushed before it connected: the truth is
unknown (None) until the next label change. A marker travels on its own connection: the source pushes it
before the samples it precedes, but on a loaded machine its inlet thread can deliver it a few ms after
them, so ``live`` pulls the markers again just before naming each hop's truth; a hop processed before its
change's marker has arrived keeps the previous class (``tests/test_live.py`` counts such hops: rare).

**One naming.** A source names its classes as its dataset does (MyoDisCo: ``z_rest``, ``extension``) and a
model as its vocabulary does (``rest``, ``wrist_extension``); CIIL even numbers them differently. Given the
model, the truth is translated into the model's ids and names by shared action
(:func:`myosem_rt.vocab.class_map`, the rule training and ``eval`` use), so the shown truth and the shown
prediction use the same words and can be compared by id. The source's dataset is read from its marker
stream's description; an unknown dataset, or a class the model's vocabulary lacks, keeps the source's
naming.
"""

from __future__ import annotations

import logging
from typing import Any

import pylsl  # after myosem_rt (LSLAPICFG)

log = logging.getLogger(__name__)

#: Seconds to look for the marker stream of a stream found by type/source_id (a real armband has none).
MARKER_LOOKUP_S = 1.0
MARKER_SUFFIX = "-labels"
#: A marker stamped this close after a window's last sample counts as at it: a marker shares its sample's
#: stamp, and two inlets' clock-offset estimates differ by microseconds.
SAME_INSTANT_S = 1e-4
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


def model_naming(model: Any | None, dataset: str) -> dict[int, tuple[int, str]]:
    """Source class id of ``dataset`` -> (the model's class id, its name) for the same action; empty when
    there is no model, no vocabulary describes the dataset, or an action is missing (module docstring)."""
    vocabulary = getattr(model, "vocabulary", None)
    if model is None or not vocabulary or not dataset:
        return {}
    from myosem_rt.errors import ConfigError
    from myosem_rt.vocab import class_map, load_vocabulary, vocabulary_for_dataset

    try:
        mapping = class_map(vocabulary_for_dataset(dataset), load_vocabulary(vocabulary))
    except ConfigError:
        return {}
    names = {int(i): str(n) for i, n in zip(model.class_ids, model.class_names, strict=True)}
    return {src: (dst, names[dst]) for src, dst in mapping.items() if dst in names}


class GroundTruth:
    """The markers of one marker inlet and the truth in force at a time (module docstring); ``model``: the
    model whose naming the truth is given in."""

    def __init__(self, inlet: pylsl.StreamInlet, model: Any | None = None) -> None:
        self.inlet = inlet
        self.names: dict[int, str] = {}  #: class id -> name, from the markers seen
        self._markers: list[tuple[float, int, str]] = []  # (LSL time, class id, name)
        self._last: tuple[int, str] | None = None
        self._rename: dict[int, tuple[int, str]] = {}
        if model is not None:
            try:
                dataset = inlet.info(timeout=MARKER_LOOKUP_S).desc().child_value("dataset")
            except Exception:  # noqa: BLE001  (a header is a nicety: keep the source's naming)
                dataset = ""
            self._rename = model_naming(model, dataset)

    def pull(self) -> None:
        """Take the markers that arrived since the last call (never blocks)."""
        texts, stamps = self.inlet.pull_chunk(timeout=0.0)
        for m, t in zip(texts, stamps, strict=True):
            try:
                ident, name = parse_marker(m[0])
            except ValueError:
                log.debug("ignoring marker %r", m[0])
                continue
            ident, name = self._rename.get(ident, (ident, name))
            self._markers.append((float(t), ident, name))
            self.names[ident] = name
        del self._markers[:-_KEEP]

    def at(self, t: float) -> tuple[int, str] | None:
        """(class id, name) of the last marker at or before LSL time ``t`` (the last known one when the
        kept markers are all later), None before the first."""
        truth = None
        for ts, ident, name in self._markers:
            if ts <= t + SAME_INSTANT_S:
                truth = (ident, name)
        if truth is not None:
            self._last = truth
        return self._last

    def close(self) -> None:
        self.inlet.close_stream()

"""What a guided enrolment cues: gestures, timed cues (or the source's markers), and the class list.

Shared by the terminal session (:mod:`myosem_rt.profile.guided`) and the window's (``Enrol…``,
:mod:`myosem_rt.display.enrol_panel`), so both cue, label and name a recording the same way. Why these
choices:

* **stream time drives the cue**, not the wall clock: the cue in force at a sample is a function of its LSL
  timestamp (seconds since the session's first sample, :meth:`CueSchedule.cue_at`), so the labels are exact
  for that sample whatever the pacing, and a replay at 4x is cued 4x faster and labelled identically;
* the label of a sample is the cue's class during "hold" and 0 (rest) during "get ready" and "relax"; its
  repetition is the cue's (rest samples of a repetition carry it, as in the shared data), in
  repetition-major order (repetition 1: every class, then repetition 2 ...) like the shared recordings;
* :class:`MarkerCues` (``--follow-markers``, tests and demos): the source's ``<name>-labels`` markers
  (``"<id>:<name>"`` per label change) *play the user*: each sample gets the marker label in force and
  repetitions are counted per class occurrence.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from myosem_rt.errors import ConfigError
from myosem_rt.live.truth import parse_marker

log = logging.getLogger(__name__)

#: Class id of rest (ready / relax phases, and the shared data's rest trials).
REST_ID = 0
#: Name and description of rest when the model does not name class 0.
REST_NAME, REST_TEXT = "rest", "The hand and forearm stay relaxed and still."
#: Largest class id a recording can hold (uint16).
MAX_CLASS_ID = 65535

class Gesture(NamedTuple):
    """One class of the session: its id (the label of its hold samples), name and description."""

    class_id: int
    name: str
    description: str = ""


@dataclass(frozen=True)
class Cue:
    """What the wearer is asked to do (or, with markers, is doing) from ``start_s`` to ``end_s``."""

    index: int  #: 0-based cue (trial) number in the session
    phase: str  #: "ready", "hold" or "rest"
    gesture: Gesture
    repetition: int
    start_s: float  #: stream seconds since the session's first sample
    end_s: float | None  #: None when the end is not known in advance (markers)

    @property
    def label(self) -> int:
        return self.gesture.class_id if self.phase == "hold" else REST_ID

    @property
    def text(self) -> str:
        g = self.gesture
        if self.phase == "ready":
            return f"get ready: {g.name}"
        if self.phase == "hold":
            return f"hold {g.name}: {g.description}" if g.description else f"hold {g.name}"
        return "relax"

    def describe(self, n_cues: int | None = None) -> str:
        """``'hold Power Grip' (repetition 2, cue 13 of 20)`` for messages (no cue number with markers)."""
        name = self.gesture.name
        what = {"ready": f"get ready for {name}", "hold": f"hold {name}"}.get(self.phase,
                                                                               f"relax after {name}")
        if self.end_s is None:
            return f"'{name}' (repetition {self.repetition})"
        of = f" of {n_cues}" if n_cues else ""
        return f"'{what}' (repetition {self.repetition}, cue {self.index + 1}{of})"


@dataclass(frozen=True)
class CueSchedule:
    """The timed cues: per repetition, per class ``ready_s`` get ready, ``hold_s`` hold, ``rest_s`` relax."""

    classes: tuple[Gesture, ...]
    repetitions: int = 1
    ready_s: float = 2.0
    hold_s: float = 5.0
    rest_s: float = 3.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(Gesture(*c) for c in self.classes))
        if not self.classes:
            raise ConfigError("enrol: no gesture to cue")
        if not (isinstance(self.repetitions, int) and self.repetitions >= 1):
            raise ConfigError(f"--repetitions must be a whole number >= 1, got {self.repetitions!r}")
        for option, value, zero_ok in (("--ready-s", self.ready_s, True), ("--hold-s", self.hold_s, False),
                                       ("--rest-s", self.rest_s, True)):
            ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= 0 if zero_ok
                                                                                else value > 0)
            if not ok:
                raise ConfigError(f"{option} must be {'>= 0' if zero_ok else '> 0'} seconds, got {value!r}")

    @property
    def trial_s(self) -> float:
        return self.ready_s + self.hold_s + self.rest_s

    @property
    def n_cues(self) -> int:
        return self.repetitions * len(self.classes)

    @property
    def duration_s(self) -> float:
        return self.n_cues * self.trial_s

    def cue_at(self, t: float) -> Cue | None:
        """The cue in force ``t`` stream seconds after the first sample (None before 0 or after the end)."""
        if not 0 <= t < self.duration_s:
            return None
        k = min(int(t // self.trial_s), self.n_cues - 1)
        within = t - k * self.trial_s
        start = k * self.trial_s
        if within < self.ready_s:
            phase, a, b = "ready", start, start + self.ready_s
        elif within < self.ready_s + self.hold_s:
            phase, a, b = "hold", start + self.ready_s, start + self.ready_s + self.hold_s
        else:
            phase, a, b = "rest", start + self.ready_s + self.hold_s, start + self.trial_s
        return Cue(k, phase, self.classes[k % len(self.classes)], k // len(self.classes) + 1, a, b)

    def labels(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample (label, repetition) for stream seconds ``t`` (clipped to the session)."""
        t = np.asarray(t, dtype=np.float64)
        k = np.clip(np.floor(t / self.trial_s), 0, self.n_cues - 1).astype(np.int64)
        within = t - k * self.trial_s
        ids = np.array([g.class_id for g in self.classes], dtype=np.int64)
        hold = (within >= self.ready_s) & (within < self.ready_s + self.hold_s)
        label = np.where(hold, ids[k % len(self.classes)], REST_ID)
        return label, k // len(self.classes) + 1

    def held(self, t_last: float) -> set[int]:
        """Class ids with at least one hold cue completed by stream second ``t_last``."""
        done = set()
        for k in range(self.n_cues):
            if k * self.trial_s + self.ready_s + self.hold_s <= t_last:
                done.add(self.classes[k % len(self.classes)].class_id)
        return done


class MarkerCues:
    """``--follow-markers``: the cue is the source's marker label in force (see module docstring).

    Markers are added in time order. A marker whose label equals the previous one (a loop start) continues
    that occurrence. The session is complete at the first label change after which every chosen class has
    ``repetitions`` finished occurrences (``end_stamp``), or at the source's end once each has started them.
    """

    def __init__(self, classes: Sequence[Gesture], repetitions: int, names: Mapping[int, Gesture],
                 tolerance_s: float) -> None:
        self.classes = tuple(Gesture(*c) for c in classes)
        if not self.classes:
            raise ConfigError("enrol: no gesture to follow")
        if not (isinstance(repetitions, int) and repetitions >= 1):
            raise ConfigError(f"--repetitions must be a whole number >= 1, got {repetitions!r}")
        self.repetitions = repetitions
        self.known = dict(names)  #: id -> Gesture (names from the source / model, descriptions if known)
        self.tolerance_s = float(tolerance_s)
        self.stamps: list[float] = []
        self.ids: list[int] = []
        self.occurrence: list[int] = []
        self.started: Counter[int] = Counter()
        self.finished: Counter[int] = Counter()
        self.end_stamp: float | None = None

    @property
    def n_cues(self) -> int:
        return self.repetitions * len(self.classes)

    def add(self, text: str, stamp: float) -> None:
        try:
            class_id, name = parse_marker(text)
        except ValueError:
            log.warning("ignoring marker %r (not '<id>:<name>')", text)
            return
        if self.end_stamp is not None and stamp >= self.end_stamp:
            return
        known = self.known.get(class_id)
        if name and (known is None or known.name == f"class {class_id}"):
            self.known[class_id] = Gesture(class_id, name, known.description if known else "")
        if self.ids and self.ids[-1] == class_id:
            return
        if self.ids:
            self.finished[self.ids[-1]] += 1
            if self._all(self.finished):
                self.end_stamp = float(stamp)
                return
        self.started[class_id] += 1
        self.stamps.append(float(stamp))
        self.ids.append(class_id)
        self.occurrence.append(self.started[class_id])

    def _all(self, counts: Counter[int]) -> bool:
        return all(counts[g.class_id] >= self.repetitions for g in self.classes)

    def complete_at_source_end(self) -> bool:
        return self._all(self.started)

    def missing(self, at_source_end: bool = False) -> list[str]:
        """``'Name (1 of 2)'`` for every chosen class short of its repetitions."""
        counts = self.started if at_source_end else self.finished
        return [f"{g.name} ({counts[g.class_id]} of {self.repetitions})" for g in self.classes
                if counts[g.class_id] < self.repetitions]

    def labels(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample (label, repetition) of the marker in force at LSL times ``ts`` (0, 0 before any)."""
        i = np.searchsorted(np.asarray(self.stamps), np.asarray(ts) + self.tolerance_s, side="right") - 1
        ids = np.asarray([REST_ID, *self.ids], dtype=np.int64)
        occ = np.asarray([0, *self.occurrence], dtype=np.int64)
        return ids[i + 1], occ[i + 1]

    def cue_at(self, stamp: float, t0: float) -> Cue | None:
        """What is being performed at LSL time ``stamp`` (times relative to ``t0``, the first sample)."""
        i = int(np.searchsorted(np.asarray(self.stamps), stamp + self.tolerance_s, side="right")) - 1
        if i < 0:
            return None
        class_id = self.ids[i]
        gesture = self.known.get(class_id, Gesture(class_id, f"class {class_id}"))
        phase = "rest" if class_id == REST_ID else "hold"
        return Cue(i, phase, gesture, self.occurrence[i], self.stamps[i] - t0, None)

    def progress(self) -> float:
        done = sum(min(self.finished[g.class_id], self.repetitions) for g in self.classes)
        return done / self.n_cues


# --- the class list ------------------------------------------------------------------------------


def model_vocabulary(model: Any) -> dict[int, Gesture]:
    """id -> Gesture (name, description) of every class of a model (empty for None)."""
    if model is None:
        return {}
    return {int(i): Gesture(int(i), str(n), str(d)) for i, n, d in
            zip(model.class_ids, model.class_names, model.descriptions, strict=True)}


def source_vocabulary(source: Mapping[int, str], model_vocab: Mapping[int, Gesture]) -> dict[int, Gesture]:
    """With markers the source's ids are the truth; a description comes from the model when the model has
    the same id under the same name."""
    if not source:
        return dict(model_vocab)
    out = {}
    for class_id, name in source.items():
        m = model_vocab.get(class_id)
        same = m is not None and m.name.casefold() == name.casefold()
        out[class_id] = Gesture(class_id, name, m.description if same else "")
    return out


def choose_classes(vocab: Mapping[int, Gesture], classes: Sequence[str] | None, new: Sequence[str] | None,
                   *, follow: bool = False, model: Any = None) -> tuple[Gesture, ...]:
    """The gestures to cue: ``--classes`` (ids or names of ``vocab``; without a vocabulary, names of new
    gestures), then ``--new NAME=DESCRIPTION`` (ids above every other); default: ``vocab`` but rest."""
    where = f"model {model.directory}" if model is not None else "the source" if follow else ""
    chosen: list[Gesture] = []
    by_name = {g.name.casefold(): g for g in vocab.values()}
    next_id = max([REST_ID, *vocab]) + 1
    for token in classes or ():
        token = str(token).strip()
        if token.lstrip("-").isdigit():
            ident = int(token)
            if follow and not vocab and ident >= 0:  # named by the markers as they come
                vocab = {**vocab}
                g = Gesture(ident, f"class {ident}")
                if g not in chosen:
                    chosen.append(g)
                continue
            if ident not in vocab:
                known = f"{where} has ids {', '.join(map(str, sorted(vocab)))}" if vocab else \
                    "there is no vocabulary to take it from; name the gesture (--new NAME=DESCRIPTION)"
                raise ConfigError(f"--classes {token}: no such class ({known})")
            g = vocab[ident]
        elif token.casefold() in by_name:
            g = by_name[token.casefold()]
        elif not vocab and not follow and token:
            g = Gesture(next_id, token, "")
            by_name[token.casefold()] = g
            next_id += 1
        else:
            names = ", ".join(g.name for g in sorted(vocab.values()))
            raise ConfigError(f"--classes {token!r}: no class of that name in {where} ({names})")
        if g not in chosen:
            chosen.append(g)
    if new and follow:
        raise ConfigError("--new cannot be used with --follow-markers (the markers carry the source's ids)")
    for item in new or ():
        name, sep, description = str(item).partition("=")
        name, description = name.strip(), description.strip()
        if not sep or not name or not description:
            raise ConfigError(f"--new {item!r}: expected NAME=DESCRIPTION (a name, a description in words)")
        if name.casefold() in by_name:
            raise ConfigError(f"--new {name!r}: a class of that name exists; choose it with --classes")
        g = Gesture(next_id, name, description)
        by_name[name.casefold()] = g
        chosen.append(g)
        next_id += 1
    if not classes and not new:
        chosen = [g for i, g in sorted(vocab.items()) if i != REST_ID]
        if not chosen and follow:
            raise ConfigError("enrol: the source names no gesture; choose them with --classes ID ...")
        if not chosen:
            raise ConfigError("enrol: no model fits the stream, so there is no gesture list: name the "
                              "gestures with --new NAME=DESCRIPTION ... (or --classes NAME ...)")
    if max(g.class_id for g in chosen) > MAX_CLASS_ID:
        raise ConfigError(f"enrol: class ids above {MAX_CLASS_ID} cannot be recorded")
    return tuple(chosen)


def pick_gestures(vocab: Mapping[int, Gesture], chosen: Sequence[int], new: Sequence[tuple[str, str]], *,
                  min_new: int = 0) -> tuple[Gesture, ...]:
    """The window's choice (no command-line syntax, so a name may hold any character): the ``chosen`` ids
    of ``vocab`` in vocabulary order, then the ``new`` (name, description) pairs with ids above every
    other. One-line :class:`ConfigError` for an empty choice, fewer than ``min_new`` new gestures, a new
    gesture without name or description, or a name used twice."""
    unknown = sorted(set(int(i) for i in chosen) - set(vocab))
    if unknown:
        raise ConfigError(f"enrol: no class id(s) {unknown} in the vocabulary")
    picked = [vocab[i] for i in sorted(vocab) if i in set(int(c) for c in chosen)]
    taken = {g.name.casefold() for g in vocab.values()}
    next_id = max([REST_ID, *vocab]) + 1
    for name, description in new:
        name, description = " ".join(str(name).split()), " ".join(str(description).split())
        if not name or not description:
            raise ConfigError(f"new gesture {name or description!r}: give it a name and a description in "
                              "words")
        if name.casefold() in taken:
            raise ConfigError(f"new gesture {name!r}: a class of that name exists already")
        taken.add(name.casefold())
        picked.append(Gesture(next_id, name, description))
        next_id += 1
    if sum(1 for g in picked if g.class_id not in vocab) < min_new:
        raise ConfigError(f"enrol: there is no model for this stream: type at least {min_new} new gestures "
                          "(a name and a description each)")
    if not picked:
        raise ConfigError("enrol: choose at least one gesture")
    if picked[-1].class_id > MAX_CLASS_ID:
        raise ConfigError(f"enrol: class ids above {MAX_CLASS_ID} cannot be recorded")
    return tuple(picked)


def new_descriptions(classes: Sequence[Gesture], vocab: Mapping[int, Gesture]) -> dict[int, str]:
    """What the user described (new gestures) for the recording: vocabulary classes keep the model's texts
    and prototypes, so their descriptions are not stored."""
    return {g.class_id: g.description for g in classes if g.class_id not in vocab and g.description}


def class_names(cues: CueSchedule | MarkerCues, vocab: Mapping[int, Gesture], classes: Sequence[Gesture],
                label: np.ndarray) -> dict[int, Gesture]:
    """Every id the file holds, named: rest, the chosen classes, and (markers) whatever was performed."""
    rest = vocab.get(REST_ID, Gesture(REST_ID, REST_NAME, REST_TEXT))
    names = {REST_ID: rest, **{g.class_id: g for g in classes}}
    if isinstance(cues, MarkerCues):
        for class_id in np.unique(label).tolist():
            names.setdefault(int(class_id), cues.known.get(int(class_id),
                                                           Gesture(int(class_id), f"class {class_id}")))
    return dict(sorted(names.items()))


"""Gestures typed by the user, ranked beside the model's classes: descriptions as candidates, no enrolment.

Why: what separates MyoSem from a gesture classifier is that a gesture described in words, whose EMG
nobody trained on, can still be ranked (issue 17). ``myosem query`` already searches EMG for any text; this
is the other direction at run time: ``myosem live --describe "NAME=DESCRIPTION"`` adds the description's
text embedding as one more candidate prototype, and every hop is ranked against the model's classes and
the typed ones by the same cosine, plus an ``offset`` on the typed ones. Why the offset: a gesture no one
trained on scores below its trained siblings on its own windows (its EMG was never pulled to its
description), so by the cosine alone it is almost never shown; calibrated stacking (Chao et al., ECCV 2016)
adds one constant to the new candidates. The larger it is, the more of a new gesture's windows it wins and
the more of the known gestures' windows too (false alarms); its default (config ``live.describe_offset``)
is the offset ``myosem bench zeroshot`` chooses on the held-out 3DC folds for the best harmonic mean of new-
and known-gesture R@1 with at most 0.10 of the known gestures' windows taken for a new one (README, "Live
descriptions").

A gesture of the action catalogue (``--describe thumb_up``: an action id of ``myosem_rt/vocab/actions.yaml``,
its canonical description used) also gets its anatomy: its prototype is moved toward the model's trained
actions that drive the same forearm muscles (:mod:`myosem_rt.anatomy`), which on the held-out folds finds
new gestures more often than the wording alone. A free description gets it too, read through the catalogue:
it takes the muscles of the catalogue actions it reads like in the model's text space
(:mod:`myosem_rt.muscle_match`; one that reads like no action keeps its text embedding).

The wearer's own stream says more than one constant can: a window unlike the wearer's own windows of the
gesture the model takes it for is likely a new one. With ``novelty`` (beta, ``--describe-novelty``, 0.3 by
default) each hop's window is measured so against the last two minutes of the stream, each window labelled
by the model's best trained class (:class:`myosem_rt.novelty.StreamNovelty`, no labels, no enrolment),
and ``beta * novelty`` is added to the typed gestures' scores; where it has a novelty the offsets are
``novelty_offsets`` instead, chosen with beta by the bench for the same false-alarm budget: below zero, so a
typed gesture wins only on windows unlike the known ones. Within that budget it finds more of a new gesture
than the offsets alone (README, "Live descriptions").

When the wearer makes nothing but the typed gestures (``--describe-only``: trying out new commands), the
candidates are the typed gestures and the model's rest class alone, and each window a typed gesture wins is
named by the causal grouping of the stream's typed-gesture windows (:class:`myosem_rt.groups.StreamGroups`:
one wearer's windows of one gesture look alike, and a group's mean score names it surer than one window's
score). Measured through this path by ``myosem eval --held-out`` (row *new gestures only*).

A :class:`TypedCandidates` is a model view (the contract of :class:`~myosem_rt.model.MyoSemModel` that the
engine, outputs and window use): the EMG encoder is the model's, the candidates are its prototypes plus
the typed ones (ids after the model's largest). Not with a wearer's profile: its scores are posteriors
over the enrolled classes, not cosines; a profile takes a new gesture by enrolling it with its description.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from myosem_rt.anatomy import DEFAULT_WEIGHT
from myosem_rt.errors import ConfigError, MyosemError
from myosem_rt.text_encoder import l2_normalize

log = logging.getLogger(__name__)


class Typed(NamedTuple):
    """One typed gesture: its name, its description and, for a catalogue action, the action's id."""

    name: str
    description: str
    action: str = ""


def parse_typed(values: Sequence[str], option: str = "--describe") -> list[Typed]:
    """``["Thumb tap=Tapping the thumb on the index finger", "thumb_up", ...]`` -> [:class:`Typed`] (a value
    without ``=`` is an action id of the catalogue, described by its canonical description), or a one-line
    :class:`ConfigError`."""
    from myosem_rt.vocab import load_actions

    out: list[Typed] = []
    for value in values:
        name, sep, text = str(value).partition("=")
        name, text = name.strip(), text.strip()
        if not sep:
            actions = load_actions()
            if name not in actions:
                raise ConfigError(f"{option} {value!r}: expected NAME=DESCRIPTION (what the hand does, in "
                                  "words) or an action id of the catalogue (myosem_rt/vocab/actions.yaml)")
            typed = Typed(name, actions[name].t2, name)
        elif not name or not text:
            raise ConfigError(f"{option} {value!r}: expected NAME=DESCRIPTION (what the hand does, in words)")
        else:
            typed = Typed(name, text)
        if typed.name.lower() in {t.name.lower() for t in out}:
            raise ConfigError(f"{option}: gesture {typed.name!r} given twice")
        out.append(typed)
    return out


class TypedCandidates:
    """``model`` with the typed gestures as extra candidates (module docstring)."""

    def __init__(self, model: Any, typed: Sequence[tuple[str, ...]], encoder: Any,
                 offset: float = 0.0, anatomy_weight: float = DEFAULT_WEIGHT,
                 anatomy_offset: float | None = None, novelty: float = 0.0,
                 novelty_offsets: tuple[float, float] | None = None, only: bool = False) -> None:
        if getattr(model, "score_kind", "cosine") != "cosine":
            raise ConfigError("--describe ranks by the model's cosine; with --profile, enrol the new gesture "
                              "by its description instead (Enrol… or myosem enrol --new NAME=DESCRIPTION)")
        typed = [Typed(*t) for t in typed]
        taken = {n.lower() for n in model.class_names} | {a for a in getattr(model, "actions", []) if a}
        clash = [t.name for t in typed if t.name.lower() in taken or t.action in taken]
        if clash:
            raise ConfigError(f"--describe: {', '.join(clash)} is a class of the model already")
        self.base_model = model
        z = l2_normalize(np.asarray(encoder.encode([t.description for t in typed]), dtype=np.float32))
        start = int(max(model.class_ids)) + 1
        self.class_ids = np.concatenate([np.asarray(model.class_ids, np.int64),
                                         np.arange(start, start + len(typed), dtype=np.int64)])
        self.class_names = [*model.class_names, *(t.name for t in typed)]
        self.descriptions = [*model.descriptions, *(t.description for t in typed)]
        self.actions = [*getattr(model, "actions", [""] * len(model.class_names)), *(t.action for t in typed)]
        self.prototypes = np.vstack([np.asarray(model.prototypes, np.float32), z])
        #: free descriptions read as catalogue actions: name -> :class:`myosem_rt.muscle_match.Reading`
        self.readings: dict[str, Any] = {}
        #: names of the typed gestures whose prototype took their anatomy (:func:`_with_anatomy`)
        self.anatomical = _with_anatomy(self, len(model.class_ids), anatomy_weight, encoder)
        self.typed = typed
        #: (K + typed,) added to the cosines: 0 for the model's classes, ``offset`` for the typed ones
        #: (``anatomy_offset``, when given, for those placed by their anatomy)
        placed = set(self.anatomical)

        def offsets(free: float, anatomical: float | None) -> np.ndarray:
            return np.r_[np.zeros(len(model.class_ids)),
                         [float(anatomical if anatomical is not None and t.name in placed else free)
                          for t in typed]].astype(np.float32)

        self.offsets = offsets(offset, anatomy_offset)
        #: the stream's novelty (module docstring): beta, the offsets used once it is fitted, the live state
        self.novelty = float(novelty)
        self.novelty_offsets = offsets(*(novelty_offsets or (offset, anatomy_offset)))
        self.is_typed = np.arange(len(self.class_ids)) >= len(model.class_ids)
        self.stream = self.groups = None
        if only:
            self._keep_rest_and_typed()
        elif self.novelty > 0:
            from myosem_rt.novelty import StreamNovelty

            self.stream = StreamNovelty()

    def _keep_rest_and_typed(self) -> None:
        """``--describe-only``: the model's rest class and the typed gestures are the only candidates (their
        anatomy already placed by every trained class), and the typed ones are grouped (module docstring)."""
        from myosem_rt.groups import StreamGroups

        if self.novelty > 0:
            raise ConfigError("--describe-only takes no --describe-novelty: with only the typed gestures "
                              "made, there are no known gestures to be novel against")
        keep = self.is_typed | (np.asarray(self.actions) == "rest")
        if keep.sum() == len(self.typed):
            raise ConfigError(f"--describe-only: model {self.base_model.directory} has no rest class to show "
                              "between the typed gestures")
        _keep_classes(self, self, keep)
        self.offsets, self.novelty_offsets = self.offsets[keep], self.novelty_offsets[keep]
        self.is_typed = self.is_typed[keep]
        self.groups = StreamGroups(len(self.typed))

    @classmethod
    def from_settings(cls, model: Any, typed: Sequence[tuple[str, ...]], encoder: Any,
                      settings: Any) -> TypedCandidates:
        """The view with the offsets and stream novelty of ``settings``
        (:class:`~myosem_rt.live.engine.LiveSettings`): how live, stability and eval rank typed gestures.
        With ``describe_only`` the novelty is off (no known gestures to be novel against)."""
        return cls(model, typed, encoder, settings.describe_offset,
                   anatomy_offset=settings.describe_offset_anatomy,
                   novelty=0.0 if settings.describe_only else settings.describe_novelty,
                   novelty_offsets=(settings.describe_novelty_offset,
                                    settings.describe_novelty_offset_anatomy), only=settings.describe_only)

    def __getattr__(self, name: str) -> Any:  # the rest (layout, encoder, session state): the model's
        return getattr(self.__dict__["base_model"], name)

    def rank(self, z: np.ndarray, novelty: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores (N, K + typed) against every candidate (cosine, plus the offset for the typed ones) and
        their order, best first; with each window's ``novelty`` (N,), the novelty offsets and beta times
        the novelty on the typed ones instead (the plain offsets where it is NaN: no novelty yet)."""
        return self._lifted(self._cosine(z), novelty)

    def _cosine(self, z: np.ndarray) -> np.ndarray:
        return np.atleast_2d(np.asarray(z, dtype=np.float32)) @ self.prototypes.T

    def _lifted(self, scores: np.ndarray, novelty: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`rank` from the cosines ``scores`` (N, K + typed)."""
        if novelty is None:
            scores = scores + self.offsets
        else:
            nov = np.asarray(novelty, dtype=np.float32).reshape(-1, 1)
            lean = self.novelty_offsets + self.novelty * np.nan_to_num(nov) * self.is_typed
            scores = (scores + np.where(np.isnan(nov), self.offsets, lean)).astype(np.float32)
        return scores, np.argsort(-scores, axis=1, kind="stable")

    def new_stream(self) -> None:
        """Forget the stream's known gestures and groups (a live engine starts a new stream)."""
        for state in (self.stream, self.groups):
            if state is not None:
                state.reset()

    def rank_window(self, z: np.ndarray, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`rank` of one live hop: its window's ``samples`` (W, C) join the stream's state (the known
        gestures' novelty, or the typed gestures' groups) and that is used once fitted (the live engine
        calls this when a view has it)."""
        if self.stream is None and self.groups is None:
            return self.rank(z)
        from myosem_rt.groups import log_mav

        return self.rank_features(z, log_mav(np.asarray(samples)[None])[0])

    def rank_features(self, z: np.ndarray, log_mav_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`rank_window` from the window's log MAV (C,) (``myosem eval`` has it already)."""
        cosine = self._cosine(z)
        if self.groups is not None:  # the group's name takes the window's best typed score (a swap)
            scores = (cosine + self.offsets)[0]
            if self.is_typed[int(scores.argmax())]:
                typed = np.flatnonzero(self.is_typed)
                named = self.groups.push(log_mav_row, scores[typed])
                if named is not None:
                    best, name = int(typed[scores[typed].argmax()]), int(typed[named])
                    scores[[best, name]] = scores[[name, best]]
            return scores[None], np.argsort(-scores, kind="stable")[None]
        if self.stream is None:
            return self.rank(z)
        # the model's classes' columns label the stream
        value = self.stream.push(log_mav_row, cosine[0, ~self.is_typed])
        return self._lifted(cosine, np.array([np.nan if value is None else value]))


def _offsets_text(offsets: np.ndarray) -> str:
    """"+0.13" where every typed gesture has the same offset, else "+0.13 / -0.05" (each distinct one)."""
    return " / ".join(f"{o:+.2f}" for o in dict.fromkeys(np.round(np.asarray(offsets, float), 2).tolist()))


def with_typed(model: Any, typed: Sequence[tuple[str, ...]], settings: Any) -> TypedCandidates:
    """``model`` with the typed gestures as candidates, embedded by the model's text encoder and ranked with
    the offsets and stream novelty of ``settings`` (:class:`~myosem_rt.live.engine.LiveSettings`): what
    ``myosem live --describe`` and ``myosem bench stability --describe`` rank with."""
    from myosem_rt.text_encoder import TextEncoder

    if getattr(model, "text_dir", None) is None:
        raise MyosemError(f"--describe: {model.directory} has no text encoder (text/) to embed a description")
    view = TypedCandidates.from_settings(model, typed, TextEncoder.load(model.text_dir), settings)
    typed_offsets = view.offsets[view.is_typed]
    log.info("ranking %d typed gesture(s) beside the model's %d classes (cosine %s): %s",
             len(view.typed), len(model.class_ids), _offsets_text(typed_offsets),
             ", ".join(t.name for t in view.typed))
    if view.stream is not None:
        log.info("typed gestures lean ahead on windows unlike the gestures of the last %d hops (novelty x "
                 "%.2f, cosine %s from the first %d hops on; myosem_rt/novelty.py)", view.stream.span,
                 view.novelty, _offsets_text(view.novelty_offsets[view.is_typed]), view.stream.min_windows)
    if view.anatomical:
        log.info("%s placed by the muscles each drives as well as by its description (myosem_rt/anatomy.py)",
                 ", ".join(view.anatomical))
    known = set(getattr(model, "actions", []) or [])
    for name, reading in view.readings.items():
        log.info("%s reads like %s (cosine %.2f): placed by the muscles it drives "
                 "(myosem_rt/muscle_match.py)", name, reading.action, reading.cosine)
        if reading.action in known:  # a near-duplicate of a trained class: the two split its windows
            log.warning("%s reads like %s, which the model already knows: the two will compete for its "
                        "windows (describe a gesture the model lacks)", name, reading.action)
    if view.groups is not None:
        from myosem_rt.groups import CAUSAL_MIN_PER_GROUP

        log.info("only the typed gestures and %s are candidates; each typed-gesture window is named by its "
                 "group among the last %d (from the first %d on; myosem_rt/groups.py)",
                 ", ".join(n for n, t in zip(view.class_names, view.is_typed, strict=True) if not t),
                 view.groups.span, view.groups.k * CAUSAL_MIN_PER_GROUP)
    return view


def _with_anatomy(view: TypedCandidates, n_model: int, weight: float, encoder: Any) -> list[str]:
    """Move the prototype of each typed gesture with muscles toward the model's actions that drive the same
    muscles (:func:`myosem_rt.anatomy.anatomical_prototypes`), in place: a catalogue action by its muscle
    entry, a free description by the muscles it reads as (:func:`myosem_rt.muscle_match.reader_for`,
    recorded in ``view.readings``). Needs a muscle entry for every class of the model (else nothing moves).
    The names of those moved."""
    from myosem_rt.anatomy import anatomical_prototypes
    from myosem_rt.muscle_match import reader_for
    from myosem_rt.vocab.muscles import load_muscles

    table = load_muscles()
    base = table.vectors(view.actions[:n_model])
    if base is None or weight == 0:
        return []
    typed = range(n_model, len(view.actions))
    vectors = {i: table.actions[view.actions[i]] for i in typed if view.actions[i] in table.actions}
    free = [i for i in typed if not view.actions[i]]
    if free:
        readings = reader_for(encoder).read_embedded(view.prototypes[free])
        for i, reading in zip(free, readings, strict=True):
            if reading is not None:
                vectors[i] = reading.vector
                view.readings[view.class_names[i]] = reading
    moved = sorted(vectors)
    if not moved:
        return []
    rows = [*range(n_model), *moved]
    known = np.arange(len(rows)) < n_model
    mixed = anatomical_prototypes(view.prototypes[rows], np.vstack([base, *(vectors[i] for i in moved)]),
                                  known, weight)
    view.prototypes[moved] = mixed[n_model:]
    return [view.class_names[i] for i in moved]


class QueryText:
    """A text encoder for ``myosem query``: a text is embedded as ``--describe`` would rank it -- a catalogue
    action id (``thumb_up``) as the model's own prototype for an action it trained on, else as the action's
    description placed by its anatomy; any other text placed by the muscles it reads as, where it reads like
    catalogue actions (:class:`TypedCandidates`), else by ``encoder`` as it is. A model that does not rank
    by cosine (a wearer's profile) gets every text as ``encoder`` embeds it."""

    def __init__(self, model: Any, encoder: Any, anatomy_weight: float = DEFAULT_WEIGHT) -> None:
        self.model, self.encoder, self.anatomy_weight = model, encoder, anatomy_weight

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        from myosem_rt.vocab import load_actions

        actions = load_actions()
        rows = []
        for text in texts:
            key = str(text).strip()
            if getattr(self.model, "score_kind", "cosine") != "cosine":
                rows.append(l2_normalize(np.asarray(self.encoder.encode([text]), dtype=np.float32))[0])
            elif key in list(getattr(self.model, "actions", [])):
                row = list(self.model.actions).index(key)
                rows.append(np.asarray(self.model.prototypes, np.float32)[row])
            else:
                typed = Typed(key, actions[key].t2, key) if key in actions else Typed("\x00query", str(text))
                view = TypedCandidates(self.model, [typed], self.encoder, anatomy_weight=self.anatomy_weight)
                rows.append(view.prototypes[-1])
        return np.stack(rows)


class _Without:
    """``model`` without the classes not in ``keep`` (a model view: the rest is the model's)."""

    def __init__(self, model: Any, keep: np.ndarray) -> None:
        self.base_model = model
        _keep_classes(self, model, keep)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["base_model"], name)


def _keep_classes(view: Any, model: Any, keep: np.ndarray) -> None:
    """Set ``view``'s per-class fields (ids, prototypes, names, descriptions, actions) to ``model``'s for the
    classes in ``keep`` (K,) bool: one definition for :class:`_Without` and ``--describe-only``."""
    view.class_ids = np.asarray(model.class_ids, np.int64)[keep]
    view.prototypes = np.asarray(model.prototypes, np.float32)[keep]
    for name in ("class_names", "descriptions", "actions"):
        setattr(view, name, [v for v, k in zip(getattr(model, name), keep, strict=True) if k])


def typed_back(model: Any, held_out: Sequence[int], encoder: Any, settings: Any,
               free: bool = False, only: bool = False) -> tuple[TypedCandidates, np.ndarray]:
    """A held-out model as a user meets its held-out classes live: the model without them, each typed back
    with ``--describe ACTION`` (its catalogue sentence, its anatomy), or with ``free`` as ``--describe
    ACTION=PARAPHRASE`` in a wearer's words (the action's first everyday paraphrase, T3: a free description,
    its muscles read through the catalogue), ranked as ``settings`` say
    (:meth:`TypedCandidates.from_settings`; with ``only`` as ``--describe-only``: the rest class and the
    typed gestures alone). Returns the view and the class id each of its columns stands for, so that
    ``myosem eval`` scores the run-time path itself."""
    ids = np.asarray(model.class_ids, np.int64)
    keep = ~np.isin(ids, list(held_out))
    actions = [model.actions[int(np.flatnonzero(ids == c)[0])] for c in held_out]
    typed = parse_typed(actions)
    if free:
        from myosem_rt.vocab import load_actions

        typed = [Typed(t.name, load_actions()[t.action].t3[0]) for t in typed]
    if only:
        settings = replace(settings, describe_only=True)  # from_settings then drops the novelty
    view = TypedCandidates.from_settings(_Without(model, keep), typed, encoder, settings)
    kept = view.class_ids[~view.is_typed] if only else ids[keep]  # only: the rest class alone
    return view, np.r_[kept, np.asarray(list(held_out), np.int64)]


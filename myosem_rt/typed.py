"""Gestures typed by the user, ranked beside the model's classes: descriptions as candidates, no enrolment.

Why: what separates MyoSem from a gesture classifier is that a gesture described in words, whose EMG
nobody trained on, can still be ranked (issue 17). ``myosem query`` already searches EMG for any text; this
is the other direction at run time: ``myosem live --describe "NAME=DESCRIPTION"`` adds the description's
text embedding as one more candidate prototype, and every hop is ranked against the model's classes and
the typed ones by the same cosine. How often such a gesture wins against its trained siblings is what
issue 17 measures (docs/results.md, "Held-out classes"); this view only makes it available.

A :class:`TypedCandidates` is a model view (the contract of :class:`~myosem_rt.model.MyoSemModel` that the
engine, outputs and window use): the EMG encoder is the model's, the candidates are its prototypes plus
the typed ones (ids after the model's largest). Not with a wearer's profile: its scores are posteriors
over the enrolled classes, not cosines; a profile takes a new gesture by enrolling it with its description.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError
from myosem_rt.text_encoder import l2_normalize


def parse_typed(values: Sequence[str], option: str = "--describe") -> list[tuple[str, str]]:
    """``["Thumb tap=Tapping the thumb on the index finger", ...]`` -> [(name, description)], or a
    one-line :class:`ConfigError`."""
    out: list[tuple[str, str]] = []
    for value in values:
        name, sep, text = str(value).partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise ConfigError(f"{option} {value!r}: expected NAME=DESCRIPTION (what the hand does, in words)")
        if name.lower() in {n.lower() for n, _ in out}:
            raise ConfigError(f"{option}: gesture {name!r} given twice")
        out.append((name, text))
    return out


class TypedCandidates:
    """``model`` with the typed gestures as extra candidates (module docstring)."""

    def __init__(self, model: Any, typed: Sequence[tuple[str, str]], encoder: Any) -> None:
        if getattr(model, "score_kind", "cosine") != "cosine":
            raise ConfigError("--describe ranks by the model's cosine; with --profile, enrol the new gesture "
                              "by its description instead (Enrol… or myosem enrol --new NAME=DESCRIPTION)")
        taken = {n.lower() for n in model.class_names}
        clash = [n for n, _ in typed if n.lower() in taken]
        if clash:
            raise ConfigError(f"--describe: {', '.join(clash)} is a class of the model already")
        self.base_model = model
        z = l2_normalize(np.asarray(encoder.encode([t for _, t in typed]), dtype=np.float32))
        start = int(max(model.class_ids)) + 1
        self.class_ids = np.concatenate([np.asarray(model.class_ids, np.int64),
                                         np.arange(start, start + len(typed), dtype=np.int64)])
        self.class_names = [*model.class_names, *(n for n, _ in typed)]
        self.descriptions = [*model.descriptions, *(t for _, t in typed)]
        self.actions = [*getattr(model, "actions", [""] * len(model.class_names)), *([""] * len(typed))]
        self.prototypes = np.vstack([np.asarray(model.prototypes, np.float32), z])
        self.typed = list(typed)

    def __getattr__(self, name: str) -> Any:  # the rest (layout, encoder, session state): the model's
        return getattr(self.__dict__["base_model"], name)

    def rank(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cosine scores (N, K + typed) against every candidate and their order, best first."""
        scores = np.atleast_2d(np.asarray(z, dtype=np.float32)) @ self.prototypes.T
        return scores, np.argsort(-scores, axis=1, kind="stable")

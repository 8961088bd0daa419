"""Prototype blending, the v1 per-user calibration: a measured baseline, no longer what ``--profile`` is.

A :class:`PrototypeBlend` moves the model's K class prototypes toward one user's EMG: per class the running
sum and count of the user's example embeddings, and

    p_c = normalize((1 - w_c) * t_c + w_c * m_c),   w_c = beta * n_c / (n_c + k0)

with ``t_c`` the class's text prototype and ``m_c`` the normalised mean of its ``n_c`` example embeddings;
``k0`` (5) and ``beta`` (1) are config ``calibration``. Measured on unseen 3DC subjects with one trial per
gesture it reaches 0.52-0.58 R@1 where a per-user TD + LDA reaches 0.77 (docs/results/enrolment.md), so
the wearer's profile is now :mod:`myosem_rt.profile` (a discriminative head on the user's own features);
this module stays for ``myosem calibrate-eval`` and as the "v1 profile" row of ``myosem bench enrol``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from myosem_rt.errors import MyosemError
from myosem_rt.model import model_sha
from myosem_rt.text_encoder import l2_normalize

log = logging.getLogger(__name__)

#: Defaults when no config is given (config.yaml ``calibration`` documents them).
DEFAULT_K0 = 5.0
DEFAULT_BETA = 1.0
class ProfileError(MyosemError):
    """A blend cannot take these examples (unknown class, NaN values, no name or description)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def calibration_settings(config: Mapping[str, Any] | None) -> tuple[float, float]:
    """(k0, beta) from config ``calibration`` (defaults when absent), validated."""
    section = dict((config or {}).get("calibration") or {})
    k0, beta = float(section.get("k0", DEFAULT_K0)), float(section.get("beta", DEFAULT_BETA))
    if not k0 > 0 or not 0 < beta <= 1:
        from myosem_rt.errors import ConfigError

        raise ConfigError(f"calibration: k0 must be > 0 and beta in (0, 1], got k0={k0:g}, beta={beta:g}")
    return k0, beta


@dataclass
class PrototypeBlend:
    """One user's prototype blend for one model (see the module docstring for the update rule)."""

    model_sha: str
    dim: int
    class_ids: np.ndarray  #: (K,) int64: the model's classes in its order, then enrolled ones
    prototypes: np.ndarray  #: (K, D) float32 calibrated, unit norm
    counts: np.ndarray  #: (K,) int64 examples seen per class
    text_prototypes: np.ndarray  #: (K, D) float32 the text side of each class
    sums: np.ndarray  #: (K, D) float64 sum of each class's example embeddings
    enrolled: list[dict[str, Any]] = field(default_factory=list)  #: {id, name, description}
    beta: float = DEFAULT_BETA
    k0: float = DEFAULT_K0
    user: str = ""
    model: str = ""  #: model directory when created (informational)
    created: str = ""
    updated: str = ""

    # --- building ------------------------------------------------------------------------------------

    @classmethod
    def new(cls, model: Any, user: str, *, k0: float = DEFAULT_K0, beta: float = DEFAULT_BETA,
            config: Mapping[str, Any] | None = None) -> PrototypeBlend:
        """An empty profile for ``model`` (prototypes = the model's); ``config`` overrides k0 / beta."""
        if config is not None:
            k0, beta = calibration_settings(config)
        protos = l2_normalize(np.asarray(model.prototypes, dtype=np.float32))
        k, d = protos.shape
        now = _now()
        ids = np.asarray(model.class_ids, dtype=np.int64).copy()
        return cls(model_sha(model), int(d), ids, protos.copy(),
                   np.zeros(k, dtype=np.int64), protos.copy(), np.zeros((k, d), dtype=np.float64), [],
                   float(beta), float(k0), str(user), str(model.directory), now, now)

    def _row(self, class_id: int) -> int:
        rows = np.flatnonzero(self.class_ids == int(class_id))
        if rows.size == 0:
            raise ProfileError(f"profile of {self.user or 'user'}: no class id {class_id} "
                               f"(have {self.class_ids.tolist()})")
        return int(rows[0])

    def weight(self, n: int | np.ndarray) -> np.ndarray:
        """w = beta * n / (n + k0): the weight of the user's EMG centroid after n examples."""
        n = np.asarray(n, dtype=np.float64)
        return self.beta * n / (n + self.k0)

    def _update(self, row: int) -> None:
        n = int(self.counts[row])
        if n == 0:
            self.prototypes[row] = self.text_prototypes[row]
            return
        w = float(self.weight(n))
        centroid = l2_normalize(self.sums[row])
        self.prototypes[row] = l2_normalize((1.0 - w) * self.text_prototypes[row] + w * centroid)
        self.updated = _now()

    def add_examples(self, class_id: int, z: np.ndarray) -> None:
        """Add ``z`` (n, D) (or one (D,)) embeddings of the user doing class ``class_id``."""
        z = np.asarray(z, dtype=np.float64).reshape(-1, self.dim)
        if not np.isfinite(z).all():
            raise ProfileError("calibration examples contain NaN/inf values")
        row = self._row(class_id)
        self.sums[row] += l2_normalize(z).astype(np.float64).sum(axis=0)
        self.counts[row] += z.shape[0]
        self._update(row)

    def correct(self, z: np.ndarray, true_class_id: int) -> None:
        """A hop the user confirmed or corrected: one example of ``true_class_id``."""
        self.add_examples(true_class_id, np.reshape(z, (1, self.dim)))

    def enroll(self, name: str, description: str, text_z: np.ndarray, z_examples: np.ndarray) -> int:
        """A new class: ``description``'s embedding ``text_z`` is its text prototype, blended with its
        examples ``z_examples`` (n, D) like any class. Returns its id (above every existing id)."""
        name, description = str(name).strip(), str(description).strip()
        if not name or not description:
            raise ProfileError("enroll: a new class needs a name and a description")
        if name in {e["name"] for e in self.enrolled}:
            raise ProfileError(f"enroll: class '{name}' is already enrolled")
        text_z = l2_normalize(np.asarray(text_z, dtype=np.float32).reshape(self.dim))
        if not np.isfinite(text_z).all() or not np.linalg.norm(text_z) > 0:
            raise ProfileError(f"enroll: description embedding of '{name}' is zero or not finite")
        new_id = int(self.class_ids.max()) + 1
        self.class_ids = np.append(self.class_ids, np.int64(new_id))
        self.text_prototypes = np.vstack([self.text_prototypes, text_z[None]]).astype(np.float32)
        self.prototypes = np.vstack([self.prototypes, text_z[None]]).astype(np.float32)
        self.sums = np.vstack([self.sums, np.zeros((1, self.dim))])
        self.counts = np.append(self.counts, np.int64(0))
        self.enrolled.append({"id": new_id, "name": name, "description": description})
        z = np.asarray(z_examples, dtype=np.float32).reshape(-1, self.dim)
        if z.shape[0]:
            self.add_examples(new_id, z)
        self.updated = _now()
        return new_id

    def apply(self, model: Any) -> Any:
        """A shallow copy of ``model`` ranking against the blended prototypes, enrolled classes included."""
        import copy

        if int(model.prototypes.shape[1]) != self.dim or model_sha(model) != self.model_sha:
            raise ProfileError(f"prototype blend of {self.user or 'user'}: made for another model")
        view = copy.copy(model)
        extra = self.enrolled
        view.class_ids = self.class_ids.copy()
        view.prototypes = l2_normalize(self.prototypes)
        view.class_names = [*model.class_names, *(e["name"] for e in extra)]
        view.descriptions = [*model.descriptions, *(e["description"] for e in extra)]
        view.actions = [*model.actions, *("enrolled" for _ in extra)]
        view.classes = [*model.classes, *({"id": e["id"], "name": e["name"], "t2": e["description"],
                                           "action": "enrolled", "enrolled": True} for e in extra)]
        return view

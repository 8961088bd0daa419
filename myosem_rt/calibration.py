"""Per-user calibration: a profile that moves the model's class prototypes toward one user's EMG. No torch.

Why: a model trained on other people, another day or another armband placement sees a user's EMG land away
from where the text prototypes sit (the drift protocols measure that drop). A few labelled windows of the
user fix much of it without retraining: the encoder stays as shipped, only the K prototypes it is ranked
against move. A :class:`Profile` keeps, per class, the running sum and count of the user's example
embeddings, and the adapted prototype is

    p_c = normalize((1 - w_c) * t_c + w_c * m_c),   w_c = beta * n_c / (n_c + k0)

with ``t_c`` the class's text prototype, ``m_c`` the normalised mean of its ``n_c`` examples (windows, or
a GUI confirmation/correction). ``k0`` is the number of examples at which the user's EMG weighs as much as
the text (times ``beta``). Default ``k0 = 5``, chosen on a tuning run (the myodisco-rand model on MyoDisCo
day 2, docs/results/calibration.md): single 200 ms windows are noisy, and ``k0 = 1`` (one window moves the
prototype half way) *lost* 5 points of R@1 at one window per class, while ``k0 = 5`` never fell below the
uncalibrated figure; ``k0 = 20`` was at most 1 point better with many examples but makes one GUI
correction nearly invisible (w = 0.05 instead of 0.17). ``beta`` < 1 keeps a share of the text forever (the
live ranking stays tied to the descriptions); default 1. Both live in config.yaml ``calibration``.

New classes (:meth:`Profile.enroll`) get the embedding of their typed description as text prototype and
the same blend with their examples, so they rank next to the model's classes. :meth:`Profile.apply` gives a
shallow copy of the model whose class lists include them, so :class:`~myosem_rt.live.engine.LiveEngine`,
the outputs and the GUI work unchanged.

On disk a profile is ``<path>.json`` (metadata, enrolled classes, the sha256 of the model's manifest and of
the arrays file) plus ``<path>.npz`` (arrays, no pickle), each written to a temporary file and renamed, the
arrays first: a crash leaves the old profile or a pair whose sha256 check fails, never a silently mixed
one. :meth:`Profile.load` checks everything and raises :class:`ProfileError` (one line naming the file).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import MyosemError
from myosem_rt.text_encoder import MANIFEST, l2_normalize

log = logging.getLogger(__name__)

SCHEMA = "myosem-profile/1"
#: Defaults when no config is given (config.yaml ``calibration`` documents them).
DEFAULT_K0 = 5.0
DEFAULT_BETA = 1.0
_JSON_KEYS = {"schema": str, "model_sha": str, "model": str, "dim": int, "user": str, "beta": float,
              "k0": float, "created": str, "updated": str, "enrolled": list, "class_ids": list,
              "arrays_sha256": str}
#: arrays file: name -> (dtype kind, dims as "K" / "D" symbols)
_ARRAYS = {"class_ids": ("i", ("K",)), "prototypes": ("f", ("K", "D")), "text_prototypes": ("f", ("K", "D")),
           "sums": ("f", ("K", "D")), "counts": ("i", ("K",))}


class ProfileError(MyosemError):
    """A calibration profile is missing, corrupt, or made for another model."""


def model_sha(model: Any) -> str:
    """sha256 of the model directory's manifest.json bytes (it lists every file's sha256, so it names the
    exact model)."""
    path = Path(model.directory) / MANIFEST
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the model manifest ({exc.strerror or exc})") from None


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
class Profile:
    """One user's calibration of one model (see the module docstring for the update rule)."""

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
            config: Mapping[str, Any] | None = None) -> Profile:
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

    # --- use -----------------------------------------------------------------------------------------

    def apply(self, model: Any) -> Any:
        """A shallow copy of ``model`` ranking against the calibrated prototypes, enrolled classes included
        (class_ids, prototypes, class_names, descriptions, actions, classes); the encoder is shared."""
        check_model(self, model, "profile")
        view = copy.copy(model)
        extra = self.enrolled
        view.class_ids = self.class_ids.copy()
        view.prototypes = l2_normalize(self.prototypes)
        view.class_names = [*model.class_names, *(e["name"] for e in extra)]
        view.descriptions = [*model.descriptions, *(e["description"] for e in extra)]
        view.actions = [*model.actions, *("enrolled" for _ in extra)]
        view.classes = [*model.classes, *({"id": e["id"], "name": e["name"], "t2": e["description"],
                                           "action": "enrolled", "enrolled": True} for e in extra)]
        view.profile = self
        return view

    # --- files ---------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<path>.json`` and ``<path>.npz`` atomically (see module docstring); returns both paths."""
        base = profile_base(path)
        json_path, npz_path = base.with_name(base.name + ".json"), base.with_name(base.name + ".npz")
        base.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, class_ids=self.class_ids.astype(np.int64),
                 prototypes=self.prototypes.astype(np.float32),
                 text_prototypes=self.text_prototypes.astype(np.float32), sums=self.sums.astype(np.float64),
                 counts=self.counts.astype(np.int64))
        blob = buf.getvalue()
        meta = {"schema": SCHEMA, "model_sha": self.model_sha, "model": self.model, "dim": self.dim,
                "user": self.user, "beta": self.beta, "k0": self.k0, "created": self.created,
                "updated": self.updated, "enrolled": self.enrolled,
                "class_ids": [int(c) for c in self.class_ids],
                "counts": {str(int(c)): int(n) for c, n in zip(self.class_ids, self.counts, strict=True)},
                "arrays_sha256": hashlib.sha256(blob).hexdigest()}
        _atomic_write(npz_path, blob)
        _atomic_write(json_path, (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
        log.info("profile of %s saved to %s (+ .npz)", self.user or "user", json_path)
        return json_path, npz_path

    @classmethod
    def load(cls, path: str | Path, model: Any) -> Profile:
        """Read and validate a profile made for ``model`` (else :class:`ProfileError`, nothing loaded)."""
        base = profile_base(path)
        json_path, npz_path = base.with_name(base.name + ".json"), base.with_name(base.name + ".npz")
        meta = _read_json(json_path)
        _check_model(meta["model_sha"], int(meta["dim"]), model, str(json_path))
        arrays = _read_arrays(npz_path, meta)
        k = arrays["class_ids"].shape[0]
        if [int(c) for c in arrays["class_ids"]] != [int(c) for c in meta["class_ids"]]:
            raise ProfileError(f"{npz_path}: class ids differ from {json_path.name}")
        n_model = len(model.class_ids)
        if k < n_model or not np.array_equal(arrays["class_ids"][:n_model], np.asarray(model.class_ids)):
            raise ProfileError(f"{npz_path}: classes {arrays['class_ids'].tolist()} do not start with the "
                               f"model's {np.asarray(model.class_ids).tolist()}")
        extra = [int(e.get("id", -1)) if isinstance(e, dict) else -1 for e in meta["enrolled"]]
        if extra != [int(c) for c in arrays["class_ids"][n_model:]] or not all(
                isinstance(e.get("name"), str) and isinstance(e.get("description"), str)
                for e in meta["enrolled"]):
            raise ProfileError(f"{json_path}: 'enrolled' must list {{id, name, description}} of classes "
                               f"{arrays['class_ids'][n_model:].tolist()}")
        profile = cls(meta["model_sha"], int(meta["dim"]), arrays["class_ids"].astype(np.int64),
                      arrays["prototypes"].astype(np.float32), arrays["counts"].astype(np.int64),
                      arrays["text_prototypes"].astype(np.float32), arrays["sums"].astype(np.float64),
                      list(meta["enrolled"]), float(meta["beta"]), float(meta["k0"]), meta["user"],
                      meta["model"], meta["created"], meta["updated"])
        return profile


def profile_base(path: str | Path) -> Path:
    """``alice``, ``alice.json`` or ``alice.npz`` -> ``alice`` (the pair's common stem path)."""
    p = Path(path).expanduser()
    return p.with_suffix("") if p.suffix in (".json", ".npz") else p


def check_model(profile: Profile, model: Any, where: str) -> None:
    """:class:`ProfileError` unless ``profile`` was made for exactly ``model``."""
    _check_model(profile.model_sha, profile.dim, model, where)


def _check_model(sha: str, dim: int, model: Any, where: str) -> None:
    have = model_sha(model)
    if sha != have:
        raise ProfileError(f"{where}: made for another model (manifest sha256 {sha[:12]}..., "
                           f"{model.directory} has {have[:12]}...)")
    if dim != int(model.prototypes.shape[1]):
        raise ProfileError(f"{where}: embedding dimension {dim} but model {model.directory} has "
                           f"{int(model.prototypes.shape[1])}")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: profile not found") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: corrupt profile (not JSON: {exc})") from None
    if not isinstance(meta, dict):
        raise ProfileError(f"{path}: not a JSON object")
    if meta.get("schema") != SCHEMA:
        raise ProfileError(f"{path}: schema {meta.get('schema')!r} is not {SCHEMA!r}")
    for key, kind in _JSON_KEYS.items():
        if key not in meta:
            raise ProfileError(f"{path}: missing key '{key}'")
        ok = isinstance(meta[key], (int, float)) and not isinstance(meta[key], bool) if kind is float \
            else isinstance(meta[key], kind) and not isinstance(meta[key], bool)
        if not ok:
            raise ProfileError(f"{path}: '{key}' must be {kind.__name__}, got {type(meta[key]).__name__}")
    if meta["dim"] < 1 or not meta["k0"] > 0 or not 0 < meta["beta"] <= 1:
        raise ProfileError(f"{path}: invalid dim/k0/beta ({meta['dim']}, {meta['k0']}, {meta['beta']})")
    return meta


def _read_arrays(path: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise ProfileError(f"{path}: profile arrays not found") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if hashlib.sha256(blob).hexdigest() != meta["arrays_sha256"]:
        raise ProfileError(f"{path}: sha256 differs from the one in its .json (truncated, edited or from "
                           "another save)")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile/numpy raise several types for a damaged file
        raise ProfileError(f"{path}: cannot read profile arrays ({type(exc).__name__}: {exc})") from None
    dims = {"D": int(meta["dim"])}
    if "class_ids" in arrays and arrays["class_ids"].ndim == 1:
        dims["K"] = int(arrays["class_ids"].shape[0])
    for key, (kind, shape) in _ARRAYS.items():
        if key not in arrays:
            raise ProfileError(f"{path}: no '{key}' array")
        a = arrays[key]
        want = tuple(dims.get(s, -1) for s in shape)
        if a.dtype.kind != kind or a.shape != want:
            raise ProfileError(f"{path}: '{key}' is {a.dtype} {a.shape}, expected {kind}-type {want}")
        if kind == "f" and not np.isfinite(a).all():
            raise ProfileError(f"{path}: '{key}' contains NaN/inf values")
    if len(set(arrays["class_ids"].tolist())) != dims["K"] or (arrays["counts"] < 0).any():
        raise ProfileError(f"{path}: class ids repeat or counts are negative")
    if (np.linalg.norm(arrays["prototypes"], axis=1) < 1e-6).any() or \
            (np.linalg.norm(arrays["text_prototypes"], axis=1) < 1e-6).any():
        raise ProfileError(f"{path}: a prototype is zero")
    return arrays


def load_profile_for(path: str | Path, model: Any) -> Any:
    """``myosem live --profile`` / GUI helper: the model view calibrated by the profile at ``path``."""
    profile = Profile.load(path, model)
    log.info("profile %s (%s): %d examples, %d enrolled class(es)", profile_base(path), profile.user or "-",
             int(profile.counts.sum()), len(profile.enrolled))
    return profile.apply(model)

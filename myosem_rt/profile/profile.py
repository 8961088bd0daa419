"""One wearer's profile: their classes, their own labelled feature vectors, and how their stream is cut.

A profile is data, not a fitted model: it keeps the enrolment (and later GUI feedback) *examples* -- one
feature vector per window, with its class -- and the head (:class:`~myosem_rt.profile.head.UserHead`) is
refitted from them whenever they change (milliseconds), so a confirm / correct in the window, a new
gesture, or a short re-enrolment are all "add examples, refit". What it holds:

* ``layout``: channels, rate, window / hop / patch (ms) and filters of the stream the features came from
  (a live stream is cut and filtered exactly so; a stream of another shape is refused);
* ``model``: the trained model the profile was made with (name or directory, and the sha256 of its
  manifest), or None for a device-only profile (any armband: classical features only);
* ``text``: the text artefact that embedded the descriptions (for typed queries), likewise;
* ``classes``: id, name, description and origin (``vocabulary``, ``new`` -- named and described by the
  user -- or ``matched:<action>`` -- a recording's class name matched to the action catalogue);
* arrays: ``text_prototypes`` (K, D) per class, ``features`` (N, F) float32, ``labels`` (N,), ``source``
  (N,: 0 enrolment, 1 feedback), the TD noise threshold ``eps`` (C,) and the enrolment's mean channel
  correlation ``corr`` (C, C), against which a later session's electrode polarity is checked
  (:mod:`~myosem_rt.profile.polarity`).

On disk: ``<path>.json`` and an arrays file named by its content, ``<path>.<sha12>.npz`` (plain arrays, no
pickle). Save writes the new arrays file, then the JSON (temp file + rename), and only then removes older
arrays files: a crash at any point leaves a loadable profile, the old one or the new one. The JSON
records the arrays' sha256 and a sha256 of its own fields, so an edited or truncated file is refused
(:class:`ProfileError`, one line naming the file) instead of being half-used.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import MyosemError
from myosem_rt.output_files import write_bytes

log = logging.getLogger(__name__)

SCHEMA = "myosem-profile/2"
SOURCE_ENROL, SOURCE_FEEDBACK = 0, 1
_FIELDS = ("schema", "user", "created", "updated", "layout", "model", "text", "classes", "feature_set",
           "shrinkage", "activity_fraction", "recording", "arrays_file", "arrays_sha256")
_ARRAYS = ("text_prototypes", "features", "labels", "source", "eps")


class ProfileError(MyosemError):
    """A profile is missing, corrupt, or does not fit the model or stream it is used with."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def profile_base(path: str | Path) -> Path:
    """``alice``, ``alice.json`` -> ``alice`` (the stem every file of the profile starts with)."""
    p = Path(path).expanduser()
    return p.with_suffix("") if p.suffix == ".json" else p


def json_path(path: str | Path) -> Path:
    base = profile_base(path)
    return base.with_name(base.name + ".json")


@dataclass
class UserProfile:
    """See the module docstring."""

    user: str
    layout: dict[str, Any]
    model: dict[str, str] | None
    text: dict[str, str] | None
    classes: list[dict[str, Any]]
    text_prototypes: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    source: np.ndarray
    eps: np.ndarray
    feature_set: str = "td+cov+d"
    shrinkage: float | str = "auto"
    activity_fraction: float = 0.5
    recording: dict[str, str] | None = None
    corr: np.ndarray | None = None  #: (C, C) mean channel correlation of the enrolment (polarity check)
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        self._head: Any = None

    # --- classes and examples ----------------------------------------------------------------------

    @property
    def class_ids(self) -> np.ndarray:
        return np.asarray([int(c["id"]) for c in self.classes], dtype=np.int64)

    def class_row(self, class_id: int) -> int:
        rows = np.flatnonzero(self.class_ids == int(class_id))
        if rows.size == 0:
            raise ProfileError(f"profile of {self.user or 'user'}: no class id {class_id} "
                               f"(have {self.class_ids.tolist()})")
        return int(rows[0])

    def add_examples(self, class_id: int, features: np.ndarray, source: int = SOURCE_FEEDBACK) -> None:
        """Add ``features`` (n, F) as examples of ``class_id``; the head is refitted on next use."""
        self.class_row(class_id)
        f = np.asarray(features, dtype=np.float32).reshape(-1, self.features.shape[1])
        if not np.isfinite(f).all():
            raise ProfileError("profile: example features contain NaN/inf values")
        self.features = np.vstack([self.features, f])
        self.labels = np.concatenate([self.labels, np.full(f.shape[0], int(class_id), dtype=np.int64)])
        self.source = np.concatenate([self.source, np.full(f.shape[0], int(source), dtype=np.int8)])
        self._changed()

    def add_class(self, name: str, description: str, text_z: np.ndarray, features: np.ndarray) -> int:
        """A new gesture: its description's embedding ``text_z`` and its examples. Returns its new id."""
        name, description = str(name).strip(), str(description).strip()
        if not name or not description:
            raise ProfileError("new gesture: it needs a name and a description")
        if name in {c["name"] for c in self.classes}:
            raise ProfileError(f"new gesture: a class named '{name}' exists already")
        z = np.asarray(text_z, dtype=np.float32).reshape(-1)
        if z.shape[0] != self.text_prototypes.shape[1] or not np.isfinite(z).all() or not np.linalg.norm(z):
            raise ProfileError(f"new gesture '{name}': its description embedding is unusable")
        if np.asarray(features).reshape(-1, self.features.shape[1]).shape[0] == 0:
            raise ProfileError(f"new gesture '{name}': no windows recorded")
        new_id = int(self.class_ids.max()) + 1 if self.classes else 1
        self.classes.append({"id": new_id, "name": name, "description": description, "origin": "new"})
        self.text_prototypes = np.vstack([self.text_prototypes, (z / np.linalg.norm(z))[None]])
        self.add_examples(new_id, features, SOURCE_FEEDBACK)
        return new_id

    def _changed(self) -> None:
        self._head = None
        self.updated = _now()

    def head(self) -> Any:
        """The fitted :class:`~myosem_rt.profile.head.UserHead` (refitted after any change)."""
        if self._head is None:
            from myosem_rt.profile.head import UserHead

            present = set(np.unique(self.labels).tolist())
            missing = [c["name"] for c in self.classes if int(c["id"]) not in present]
            if missing:
                raise ProfileError(f"profile of {self.user or 'user'}: no examples of {', '.join(missing)}")
            if len(present) < 2:
                raise ProfileError(f"profile of {self.user or 'user'}: at least two classes are needed")
            self._head = UserHead(self.shrinkage).fit(self.features, self.labels)
        return self._head

    def arrays(self) -> dict[str, np.ndarray]:
        """The profile's arrays by name (what the arrays file holds)."""
        return {"text_prototypes": self.text_prototypes.astype(np.float32),
                "features": self.features.astype(np.float32), "labels": self.labels.astype(np.int64),
                "source": self.source.astype(np.int8), "eps": self.eps.astype(np.float64),
                **({"corr": self.corr.astype(np.float64)} if self.corr is not None else {})}

    def summary(self) -> str:
        counts = {int(c): int(n) for c, n in zip(*np.unique(self.labels, return_counts=True), strict=True)}
        names = ", ".join(f"{c['name']} ({counts.get(int(c['id']), 0)})" for c in self.classes)
        where = (self.model or {}).get("name") or "device only"
        return (f"profile of {self.user or 'user'}: {len(self.classes)} classes, {self.labels.size} windows "
                f"[{names}]; {self.layout['n_channels']} ch @ {self.layout['fs']:g} Hz; features "
                f"{self.feature_set}; model {where}")

    # --- files -------------------------------------------------------------------------------------

    def _fields(self, arrays_file: str, arrays_sha: str) -> dict[str, Any]:
        return {"schema": SCHEMA, "user": self.user, "created": self.created, "updated": self.updated,
                "layout": self.layout, "model": self.model, "text": self.text, "classes": self.classes,
                "feature_set": self.feature_set, "shrinkage": self.shrinkage,
                "activity_fraction": self.activity_fraction, "recording": self.recording,
                "arrays_file": arrays_file, "arrays_sha256": arrays_sha}

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.json`` + ``<path>.<sha12>.npz`` crash-safely (module docstring); returns the
        JSON's path."""
        base = profile_base(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **self.arrays())
        blob = buf.getvalue()
        sha = hashlib.sha256(blob).hexdigest()
        arrays_name = f"{base.name}.{sha[:12]}.npz"
        meta = self._fields(arrays_name, sha)
        meta["fields_sha256"] = _fields_sha(meta)
        write_bytes(base.with_name(arrays_name), blob)
        target = json_path(base)
        write_bytes(target, (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
        for old in base.parent.glob(f"{base.name}.*.npz"):
            if old.name != arrays_name and len(old.name) == len(arrays_name):
                old.unlink(missing_ok=True)
        log.info("profile saved to %s (+ %s)", target, arrays_name)
        return target

    @classmethod
    def load(cls, path: str | Path) -> UserProfile:
        """Read and check a profile (:class:`ProfileError` naming the file for any problem)."""
        target = json_path(path)
        meta = _read_meta(target)
        arrays = _read_arrays(target.with_name(meta["arrays_file"]), meta)
        profile = cls(meta["user"], meta["layout"], meta["model"], meta["text"], meta["classes"],
                      arrays["text_prototypes"], arrays["features"], arrays["labels"].astype(np.int64),
                      arrays["source"].astype(np.int8), arrays["eps"], meta["feature_set"], meta["shrinkage"],
                      float(meta["activity_fraction"]), meta["recording"], arrays.get("corr"),
                      meta["created"], meta["updated"])
        return profile


def _fields_sha(meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "fields_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: profile not found (make one with: myosem enrol --profile "
                           f"{profile_base(path)} ...)") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: corrupt profile (not JSON: {exc})") from None
    if not isinstance(meta, dict):
        raise ProfileError(f"{path}: not a JSON object")
    if meta.get("schema") != SCHEMA:
        hint = " (made by an older version: enrol again)" if str(meta.get("schema", "")).startswith(
            "myosem-profile/") else ""
        raise ProfileError(f"{path}: schema {meta.get('schema')!r} is not {SCHEMA!r}{hint}")
    missing = [k for k in (*_FIELDS, "fields_sha256") if k not in meta]
    if missing:
        raise ProfileError(f"{path}: missing key(s) {', '.join(missing)}")
    if meta["fields_sha256"] != _fields_sha(meta):
        raise ProfileError(f"{path}: its fields were changed after it was saved (checksum differs); "
                           "enrol again or restore the file")
    try:
        layout = meta["layout"]
        int(layout["n_channels"]), float(layout["fs"])  # noqa: B018
        for c in meta["classes"]:
            int(c["id"]), str(c["name"]), str(c["description"])  # noqa: B018
        name = str(meta["arrays_file"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{path}: malformed layout or classes ({type(exc).__name__}: {exc})") from None
    if "/" in name or "\\" in name or name.startswith("."):
        raise ProfileError(f"{path}: arrays file {name!r} must sit beside the profile")
    return meta


def _read_arrays(path: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise ProfileError(f"{path}: profile arrays not found (the .json names this file)") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if hashlib.sha256(blob).hexdigest() != meta["arrays_sha256"]:
        raise ProfileError(f"{path}: sha256 differs from the one in its .json (truncated or edited)")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile/numpy raise several types for a damaged file
        raise ProfileError(f"{path}: cannot read profile arrays ({type(exc).__name__}: {exc})") from None
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
        raise ProfileError(f"{path}: no array(s) {', '.join(missing)}")
    k, n = len(meta["classes"]), arrays["labels"].shape[0]
    ok = (arrays["text_prototypes"].ndim == 2 and arrays["text_prototypes"].shape[0] == k
          and arrays["features"].ndim == 2 and arrays["features"].shape[0] == n
          and arrays["source"].shape == (n,) and arrays["labels"].ndim == 1
          and arrays["eps"].shape == (int(meta["layout"]["n_channels"]),))
    if not ok:
        raise ProfileError(f"{path}: array shapes do not agree with each other or with the .json")
    c = int(meta["layout"]["n_channels"])
    if "corr" in arrays and arrays["corr"].shape != (c, c):
        raise ProfileError(f"{path}: 'corr' must be {c} x {c}")
    for key in ("text_prototypes", "features", "eps", *(("corr",) if "corr" in arrays else ())):
        if not np.isfinite(arrays[key]).all():
            raise ProfileError(f"{path}: '{key}' contains NaN/inf values")
    unknown = set(np.unique(arrays["labels"]).tolist()) - {int(c["id"]) for c in meta["classes"]}
    if unknown:
        raise ProfileError(f"{path}: examples of class ids {sorted(unknown)} that the profile does not list")
    return arrays

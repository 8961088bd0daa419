"""The trained MyoSem model at run time: a model directory read with numpy + onnxruntime only (no torch).

A model directory (written by ``myosem train``, train/emg/export.py) holds:

- ``encoder.onnx``: (x (N, W, C) filtered window, desc (N, P, C, 3) its raw patch descriptors) -> z (N, D),
  unit norm; input normalisation is inside the graph;
- ``prototypes.npz``: ``class_ids`` (K,), ``prototypes`` (K, D) unit-norm text prototypes of the vocabulary's
  classes (plain arrays, no pickle; the per-view embeddings are in ``text/prototypes.npz``);
- ``classes.json``: per class id, name (T0), shared action, T2 description, whether EMG of it was trained on;
- ``text/``: the stage-1 text artefact (:mod:`myosem_rt.text_encoder`), for descriptions typed at run time;
- ``manifest.json``: schema version, channels, rate, window/hop/patch (samples and ms), the filters and
  normalisation used, vocabulary, dimensions, metrics, training command and data summary, and the sha256 of
  every file above.

:meth:`MyoSemModel.load` checks all of it; any problem is one :class:`ModelError` line naming the directory
(or file) and the problem, never a traceback from onnxruntime or numpy.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import myosem_rt  # noqa: F401  (environment before onnxruntime)
from myosem_rt.context import ContextSpec
from myosem_rt.descriptors import N_DESCRIPTORS, patch_descriptors
from myosem_rt.errors import MyosemError
from myosem_rt.text_encoder import MANIFEST, l2_normalize, sha256_file

log = logging.getLogger(__name__)

SCHEMA = "myosem-model/1"
ENCODER_FILE = "encoder.onnx"
PROTOTYPES_FILE = "prototypes.npz"
CLASSES_FILE = "classes.json"
TEXT_DIR = "text"
REQUIRED_FILES = (ENCODER_FILE, PROTOTYPES_FILE, CLASSES_FILE)
REQUIRED_KEYS = ("schema", "n_channels", "fs", "window", "hop", "patch", "window_ms", "hop_ms", "patch_ms",
                 "dim", "vocabulary", "files")
#: Shipped models (package data): name -> directory. ``--model`` takes a name or any directory.
MODELS_DIR = Path(__file__).resolve().parent / "models"
SHIPPED = {"3dc-armband": MODELS_DIR / "3dc-armband", "myo-armband": MODELS_DIR / "myo-armband"}
#: The model a bare ``myosem bench model`` uses when no directory is given.
DEFAULT_MODEL_DIR = SHIPPED["3dc-armband"]


class ModelError(MyosemError):
    """The model directory is missing, incomplete, corrupt, or its parts disagree."""


def read_model_manifest(model_dir: Path, verify: bool = True) -> dict[str, Any]:
    """Parse ``manifest.json`` and check schema, keys and (with ``verify``) every file's sha256."""
    if not model_dir.is_dir():
        if len(Path(model_dir).parts) == 1:  # a bare name: most likely a mistyped shipped model
            raise ModelError(f"{model_dir}: no such model (shipped models: {', '.join(SHIPPED)}; or give a "
                             "model directory)")
        raise ModelError(f"{model_dir}: model directory not found")
    path = model_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{model_dir}: no {MANIFEST} (not a model directory)") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: corrupt manifest (not JSON: {exc.msg} at line {exc.lineno})") from None
    if not isinstance(manifest, dict):
        raise ModelError(f"{path}: manifest is not a JSON object")
    if manifest.get("schema") != SCHEMA:
        raise ModelError(f"{model_dir}: unsupported model schema {manifest.get('schema')!r} "
                         f"(this runtime reads {SCHEMA!r})")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ModelError(f"{path}: manifest lacks {', '.join(missing)}")
    files = manifest["files"]
    if not isinstance(files, dict):
        raise ModelError(f"{path}: 'files' must map file names to their sha256")
    for name in REQUIRED_FILES:
        if name not in files:
            raise ModelError(f"{path}: manifest does not list {name}")
    for key, kind in _NUMBERS.items():  # checked before any file is hashed
        value = manifest[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or
                                                                                  float(value).is_integer())
        if not (ok and value > 0):
            raise ModelError(f"{path}: '{key}' must be a positive {kind.__name__}, got {value!r}")
    root = model_dir.resolve()
    for name, entry in files.items():
        file = model_dir / str(name)
        if Path(str(name)).is_absolute() or not file.resolve().is_relative_to(root):
            raise ModelError(f"{path}: file {name!r} lies outside the model directory (refused)")
        if not isinstance(entry, dict):
            raise ModelError(f"{path}: the entry of {name!r} in 'files' must be an object with its sha256")
        if not file.is_file():
            raise ModelError(f"{file}: missing (listed in {MANIFEST})")
        if verify and sha256_file(file) != entry.get("sha256"):
            raise ModelError(f"{file}: corrupt (sha256 differs from {MANIFEST})")
    window, patch = int(manifest["window"]), int(manifest["patch"])
    if patch < 1 or window < patch or window % patch:
        raise ModelError(f"{path}: window {window} is not a whole number of {patch}-sample patches")
    return manifest


#: Manifest fields that must be positive numbers (int: whole numbers).
_NUMBERS: dict[str, type] = {"n_channels": int, "fs": float, "window": int, "hop": int, "patch": int,
                             "dim": int, "window_ms": float, "hop_ms": float, "patch_ms": float}


def model_sha(model: Any) -> str:
    """sha256 of the model directory's manifest.json bytes (it lists every file's sha256, so it names the
    exact model): what a profile records to refuse being used with another model."""
    import hashlib

    path = Path(model.directory) / MANIFEST
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model manifest ({exc.strerror or exc})") from None


def trained_on(model: Any, paths: Sequence[str | Path]) -> list[Path]:
    """The recordings among ``paths`` that ``model`` (or the model under a wearer's profile) was trained
    on: the same sha256 as a file of its manifest's ``data.train_files``, whatever the file is called now.
    Scores on them measure memory, not generalisation; the commands that score say so."""
    base = model if "data" in getattr(model, "manifest", {}) else getattr(model, "base_model", None)
    listed = {str(f.get("sha256")) for f in (getattr(base, "manifest", {}).get("data", {}) or {})
              .get("train_files", []) if isinstance(f, dict)}
    if not listed:
        return []
    return [Path(p) for p in paths if Path(p).is_file() and sha256_file(Path(p)) in listed]


def warn_trained_on(model: Any, paths: Sequence[str | Path], command: str) -> list[str]:
    """Log one loud warning per recording ``model`` was trained on; their names (for a JSON result)."""
    seen = trained_on(model, paths)
    for p in seen:
        log.warning("%s: WARNING %s is one of the recordings %s was TRAINED on: its figures measure memory, "
                    "not a new wearer or session", command, p, Path(getattr(model, "directory", "")).name)
    return [str(p) for p in seen]


def resolve_model(name_or_dir: str | Path) -> Path:
    """A shipped model's name (``3dc-armband``, ``myo-armband``) or a model directory -> its directory."""
    if str(name_or_dir) in SHIPPED and not Path(name_or_dir).is_dir():
        return SHIPPED[str(name_or_dir)]
    return Path(name_or_dir).expanduser()


def model_for_stream(n_channels: int, fs: float) -> Path:
    """The shipped model for a stream of this shape; :class:`ModelError` when none fits (use ``--model``)."""
    shapes = []
    for name, path in SHIPPED.items():
        try:
            manifest = read_model_manifest(path, verify=False)
        except ModelError:
            continue
        shapes.append(f"{name}: {manifest['n_channels']} ch @ {float(manifest['fs']):g} Hz")
        if int(manifest["n_channels"]) == int(n_channels) and float(manifest["fs"]) == float(fs):
            return path
    raise ModelError(f"no shipped model for a {n_channels}-channel {fs:g} Hz stream "
                     f"({'; '.join(shapes) or 'none installed'}); train one and pass --model DIR")


def fitting_model(choice: str | Path | None, n_channels: int, fs: float, what: str,
                  without: str = "no model", level: int = logging.INFO) -> MyoSemModel | None:
    """``--model`` (checked against ``what``'s shape), else the shipped model for this shape, else None (the
    reason logged with ``without``: what the caller does instead). The one place that picks a model for a
    stream or recording (``gui``/``demo``, ``enrol`` live and from a recording)."""
    if choice:
        model = MyoSemModel.load(choice, threads=1)
        from myosem_rt.live.engine import check_compatible

        check_compatible(model, n_channels, fs, what)
        return model
    try:
        path = model_for_stream(n_channels, fs)
    except ModelError as exc:
        log.log(level, "%s: %s", exc, without)
        return None
    log.info("model: %s (shipped, matches %d ch @ %g Hz of %s)", path, n_channels, fs, what)
    return MyoSemModel.load(path, threads=1)


class MyoSemModel:
    """EMG windows -> unit-norm embeddings z, ranked by cosine against the class text prototypes."""

    def __init__(self, model_dir: Path, manifest: dict[str, Any], session: Any, arrays: dict[str, np.ndarray],
                 classes: list[dict[str, Any]], threads: int = 1) -> None:
        self.directory = model_dir
        self.manifest = manifest
        self.session = session
        self._single: Any | None = None  # the batch-1 session of one live hop (:meth:`_session_for`)
        self._threads = int(threads)
        self.n_channels = int(manifest["n_channels"])
        self.fs = float(manifest["fs"])
        self.window, self.hop, self.patch = (int(manifest[k]) for k in ("window", "hop", "patch"))
        self.window_ms, self.hop_ms, self.patch_ms = (float(manifest[k]) for k in ("window_ms", "hop_ms",
                                                                                   "patch_ms"))
        self.n_patches = self.window // self.patch
        self.dim = int(manifest["dim"])
        self.vocabulary = str(manifest["vocabulary"])
        self.class_ids = arrays["class_ids"].astype(np.int64)
        self.prototypes = l2_normalize(arrays["prototypes"])
        self.classes = classes
        self.class_names = [str(c["name"]) for c in classes]
        self.descriptions = [str(c["t2"]) for c in classes]
        self.actions = [str(c.get("action", "")) for c in classes]
        text = model_dir / TEXT_DIR
        self.text_dir: Path | None = text if (text / MANIFEST).is_file() else None
        #: the activity context its scores are pooled over (myosem_rt.context; None: per window)
        try:
            self.context = ContextSpec.from_manifest(manifest.get("context"))
        except ValueError as exc:
            raise ModelError(f"{model_dir}/{MANIFEST}: {exc}") from None
        wf = manifest.get("window_features")  # the encoder's window-level descriptors, when it has them
        self.feature_set: str | None = str(wf["set"]) if wf else None
        self.feature_eps = np.asarray(wf["eps"], dtype=np.float64) if wf else None
        #: the stream's running feature statistics (myosem_rt.session_stats), when the encoder uses them
        self.session_stats = None
        if wf and wf.get("session") is not None:
            from myosem_rt.session_stats import SessionStats

            n = next((int(i.shape[1]) for i in session.get_inputs() if i.name == "feat"), 0)  # load checks it
            try:
                self.session_stats = SessionStats.from_manifest(wf["session"], n)
            except ValueError as exc:
                raise ModelError(f"{model_dir}: manifest window_features.session: {exc}") from None

    @classmethod
    def load(cls, model_dir: str | Path, threads: int = 1, verify: bool = True) -> MyoSemModel:
        """Open and validate a model directory; ``threads`` = onnxruntime intra-op threads (default 1)."""
        model_dir = resolve_model(model_dir)
        manifest = read_model_manifest(model_dir, verify)
        arrays = _read_prototypes(model_dir / PROTOTYPES_FILE, int(manifest["dim"]))
        classes = _read_classes(model_dir / CLASSES_FILE, arrays["class_ids"])
        session = _open_session(model_dir / ENCODER_FILE, threads)
        _check_io(model_dir, session, manifest)
        return cls(model_dir, manifest, session, arrays, classes, threads)

    def encode(self, x: np.ndarray, desc: np.ndarray, feat: np.ndarray | None = None,
               weights: np.ndarray | None = None) -> np.ndarray:
        """Windows ``x`` (N, W, C) and descriptors ``desc`` (N, P, C, 3) -> z (N, D) float32, unit norm.

        A single window ``(W, C)`` with ``(P, C, 3)`` is accepted too and gives ``(1, D)``. ``feat``: the
        windows' :meth:`window_features` when the caller has computed them already (a wearer profile does,
        together with its own), else computed here. With :attr:`session_stats` the windows are taken as the
        stream's next ones, in time order (``weights``: hops each stands for, default 1; a new stream or
        recording starts with :meth:`new_session`; :func:`myosem_rt.commands.eval.encode` does both).
        """
        x = np.asarray(x, dtype=np.float32)
        desc = np.asarray(desc, dtype=np.float32)
        if x.ndim == 2 and desc.ndim == 3:
            x, desc = x[None], desc[None]
        want_x = (self.window, self.n_channels)
        want_d = (self.n_patches, self.n_channels, N_DESCRIPTORS)
        if x.ndim != 3 or x.shape[1:] != want_x:
            raise ModelError(f"{self.directory}: x must be (N, {want_x[0]}, {want_x[1]}), got {x.shape}")
        if desc.ndim != 4 or desc.shape[1:] != want_d or desc.shape[0] != x.shape[0]:
            raise ModelError(f"{self.directory}: desc must be ({x.shape[0]}, {', '.join(map(str, want_d))}), "
                             f"got {desc.shape}")
        feed = {"x": np.ascontiguousarray(x), "desc": np.ascontiguousarray(desc)}
        if self.feature_set is not None:
            f = self.window_features(x) if feat is None else np.ascontiguousarray(feat, np.float32)
            feed["feat"] = f if self.session_stats is None else self.session_stats.normalise(f, weights)
        (z,) = self._session_for(x.shape[0]).run(None, feed)
        return z

    def _session_for(self, n: int) -> Any:
        """The session for a batch of ``n`` windows: for one window (a live hop) a second session of the same
        graph with its batch dimension fixed to 1, built on first use. Why: the exported graph keeps the
        batch dynamic, so ~200 of its ~400 nodes after optimisation are shape arithmetic
        (Shape/Gather/Concat/Reshape); with the batch fixed onnxruntime folds them away, and one hop's
        encoder call takes about 0.6x the time (same outputs to float rounding; tests compare)."""
        if n != 1:
            return self.session
        if self._single is None:
            names = {str(i.shape[0]) for i in self.session.get_inputs() if isinstance(i.shape[0], str)}
            self._single = _open_session(self.directory / ENCODER_FILE, self._threads,
                                         {name: 1 for name in names})
        return self._single

    def window_features(self, x: np.ndarray) -> np.ndarray:
        """(N, F) float32 window-level features of filtered windows ``x`` (N, W, C), the encoder's third input
        (the classical features of :mod:`myosem_rt.profile.features`, with the training noise threshold)."""
        from myosem_rt.profile.features import classical_features

        return np.ascontiguousarray(classical_features(x, self.feature_eps, self.feature_set or ""))

    def new_session(self) -> None:
        """Forget the stream's feature statistics (a new wearer, recording or stream); no-op without them."""
        if self.session_stats is not None:
            self.session_stats.reset()

    def encode_windows(self, x: np.ndarray) -> np.ndarray:
        """Embed filtered windows, computing their descriptors here (the batch path of training and eval)."""
        x = np.asarray(x, dtype=np.float32)
        return self.encode(x, patch_descriptors(x, self.patch).astype(np.float32))

    def rank(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cosine scores (N, K) of ``z`` against the prototypes and the class order, best first (N, K)."""
        scores = np.atleast_2d(np.asarray(z, dtype=np.float32)) @ self.prototypes.T
        return scores, np.argsort(-scores, axis=1, kind="stable")

    def size_bytes(self) -> dict[str, int]:
        """Bytes on disk: the encoder, the text artefact and everything listed in the manifest."""
        files = self.manifest["files"]
        text = sum(int(e.get("bytes", 0)) for n, e in files.items() if n.startswith(TEXT_DIR + "/"))
        total = sum(int(e.get("bytes", 0)) for e in files.values())
        return {"encoder": int(files[ENCODER_FILE].get("bytes", 0)), "text": text, "total": total}


def _read_prototypes(path: Path, dim: int) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ModelError(f"{path}: cannot read prototypes ({str(exc).splitlines()[0] if str(exc) else exc})"
                         ) from None
    for key in ("class_ids", "prototypes"):
        if key not in arrays:
            raise ModelError(f"{path}: no '{key}' array")
    ids, protos = arrays["class_ids"], arrays["prototypes"]
    if ids.ndim != 1 or protos.shape != (len(ids), dim):
        raise ModelError(f"{path}: prototypes have shape {protos.shape}, expected ({len(ids)}, {dim})")
    if not np.all(np.isfinite(protos)) or np.any(np.linalg.norm(protos, axis=1) < 1e-6):
        raise ModelError(f"{path}: prototypes contain non-finite or zero rows")
    return arrays


def _read_classes(path: Path, class_ids: np.ndarray) -> list[dict[str, Any]]:
    try:
        classes = json.loads(path.read_text(encoding="utf-8"))["classes"]
        ids = [int(c["id"]) for c in classes]
        for c in classes:
            c["name"], c["t2"]  # noqa: B018  (required keys)
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: not a valid classes file ({type(exc).__name__}: {exc})") from None
    if ids != [int(i) for i in class_ids]:
        raise ModelError(f"{path}: class ids {ids} differ from the prototypes' {class_ids.tolist()}")
    return classes


def _open_session(path: Path, threads: int, fixed: dict[str, int] | None = None) -> Any:
    """An onnxruntime CPU session of ``path``; ``fixed``: symbolic dimensions (the batch) set to a size."""
    from myosem_rt._env import onnxruntime

    ort = onnxruntime()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    for name, size in (fixed or {}).items():
        opts.add_free_dimension_override_by_name(name, int(size))
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: cannot load ONNX model ({first})") from None


def _check_io(model_dir: Path, session: Any, manifest: dict[str, Any]) -> None:
    """The graph's inputs/outputs must be the shapes the manifest promises (else windows would not fit)."""
    window, patch, c = int(manifest["window"]), int(manifest["patch"]), int(manifest["n_channels"])
    want = {"x": [window, c], "desc": [window // patch, c, N_DESCRIPTORS]}
    wf = manifest.get("window_features")
    if wf:
        from myosem_rt.profile.features import CLASSICAL_SETS, classical_features

        ok = isinstance(wf, dict) and wf.get("set") in CLASSICAL_SETS
        if not ok or not isinstance(wf.get("eps"), list) or len(wf["eps"]) != c:
            raise ModelError(f"{model_dir}: manifest window_features must name a classical feature set and "
                             f"{c} noise thresholds, got {wf!r}"[:300])
        want["feat"] = [classical_features(np.zeros((1, window, c)), 0.0, wf["set"]).shape[1]]
    got = {i.name: list(i.shape[1:]) for i in session.get_inputs()}
    if got != want:
        raise ModelError(f"{model_dir}: encoder inputs {got} do not match the manifest {want}")
    out = session.get_outputs()
    if len(out) != 1 or out[0].shape[-1] != int(manifest["dim"]):
        shapes = [o.shape for o in out]
        raise ModelError(f"{model_dir}: encoder output {shapes} is not (N, {manifest['dim']})")


def bench_model(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench model``: per-window encoder latency on 1 CPU thread (median, p99), sizes, load time."""
    path = getattr(args, "model", None) or getattr(args, "data", None) or DEFAULT_MODEL_DIR
    t0 = time.perf_counter()
    model = MyoSemModel.load(path, threads=1)
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    norm = model.manifest.get("normalisation", {})
    scale = np.asarray(norm.get("x_std", np.ones(model.n_channels)), dtype=np.float32)
    x = (rng.standard_normal((64, model.window, model.n_channels)) * scale).astype(np.float32)
    desc = patch_descriptors(x, model.patch).astype(np.float32)
    reps = 100 if getattr(args, "quick", False) else 1000
    for i in range(20):  # warm-up
        model.encode(x[i : i + 1], desc[i : i + 1])
    times, rank_times = [], []
    for i in range(reps):
        t = time.perf_counter()
        z = model.encode(x[i % 64 : i % 64 + 1], desc[i % 64 : i % 64 + 1])
        t1 = time.perf_counter()
        model.rank(z)
        times.append((t1 - t) * 1e3)
        rank_times.append((time.perf_counter() - t1) * 1e3)
    t = time.perf_counter()
    model.encode(x, desc)
    batch_ms = (time.perf_counter() - t) * 1e3
    ms = np.asarray(times)
    sizes = model.size_bytes()
    print("\n".join([
        f"model  {model.directory}  ({model.n_channels} ch @ {model.fs:g} Hz, window {model.window} / patch "
        f"{model.patch} samples, D={model.dim}, K={len(model.class_ids)} classes)",
        f"size   encoder.onnx {sizes['encoder'] / 1e6:.2f} MB, text/ {sizes['text'] / 1e6:.2f} MB, "
        f"all files {sizes['total'] / 1e6:.2f} MB",
        f"load (verify sha256 + session)  {load_s * 1e3:8.1f} ms",
        f"one window (1 CPU thread)  median {np.median(ms):6.3f} ms   p99 {np.percentile(ms, 99):6.3f} ms   "
        f"max {ms.max():6.3f} ms   (n={reps})",
        f"rank vs prototypes  median {np.median(rank_times) * 1e3:6.1f} us",
        f"batch of 64 windows  {batch_ms:8.2f} ms  ({batch_ms / 64:.3f} ms per window)",
    ]))
    return 0


def trained_config(model: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with ``model``'s windows (ms) and filters, so that live and evaluation data are cut and
    filtered exactly as the training data was. A model that records no filters keeps config ``filters``."""
    cfg = copy.deepcopy(dict(config))
    cfg["windows"] = {"window_ms": model.window_ms, "hop_ms": model.hop_ms, "patch_ms": model.patch_ms}
    filters = (getattr(model, "manifest", None) or {}).get("filters")
    if filters is None:
        log.warning("model %s records no filters; using config 'filters'", getattr(model, "directory", model))
    else:
        cfg["filters"] = dict(filters)
    return cfg

"""Runtime text encoder: any description a user types -> the trained text space, on CPU, without torch.

Why a separate artefact: the trained text tower (train/text, torch + transformers) is exported once to a small
directory that the runtime reads with onnxruntime and the ``tokenizers`` library only, so a live session can
embed new descriptions offline in a few milliseconds. Layout of ``<model_dir>/text/``:

- ``text_encoder.onnx``: ids + mask -> unit-norm embeddings (int8 linear weights, 4-bit word embeddings);
- ``tokenizer.json``: the base model's tokenizer (copied, so the runtime needs no model package);
- ``prototypes.npz``: per-class per-view embeddings and prototypes (plain arrays, never pickle);
- ``manifest.json``: dimensions, max_len, pooling, base model, training config, sha256 of every file.

Every problem with the artefact is a one-line :class:`TextModelError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import MyosemError

log = logging.getLogger(__name__)

FORMAT = "myosem-text/1"
MANIFEST = "manifest.json"
ONNX_FILE = "text_encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
PROTOTYPES_FILE = "prototypes.npz"
VIEWS = ("t0", "t1", "t2", "t3")
#: Where a model shipped inside the package keeps its text side (used when no directory is given).
DEFAULT_TEXT_DIR = Path(__file__).resolve().parent / "models" / "3dc-armband" / "text"


class TextModelError(MyosemError):
    """The text artefact is missing, incomplete or corrupt."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Unit-norm rows in float32 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


def resolve_text_dir(path: str | Path | None) -> Path:
    """``<model_dir>`` or ``<model_dir>/text`` -> the folder holding ``manifest.json``."""
    base = Path(path).expanduser() if path is not None else DEFAULT_TEXT_DIR
    if (base / MANIFEST).is_file():
        return base
    if (base / "text" / MANIFEST).is_file():
        return base / "text"
    if not base.exists():
        raise TextModelError(f"{base}: text model directory not found")
    raise TextModelError(f"{base}: no {MANIFEST} here or in text/ (not a text model directory)")


def read_manifest(text_dir: Path, verify: bool = True) -> dict[str, Any]:
    """Parse and check the manifest; with ``verify`` every listed file must exist with its sha256."""
    path = text_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TextModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise TextModelError(f"{path}: corrupt manifest (not JSON: {exc.msg} at line {exc.lineno})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise TextModelError(f"{path}: not a {FORMAT} manifest")
    for key in ("dim", "max_len", "files"):
        if key not in manifest:
            raise TextModelError(f"{path}: manifest has no '{key}'")
    for name in (ONNX_FILE, TOKENIZER_FILE):
        if name not in manifest["files"]:
            raise TextModelError(f"{path}: manifest does not list {name}")
    for name, entry in manifest["files"].items():
        file = text_dir / name
        if not file.is_file():
            raise TextModelError(f"{file}: missing (listed in {MANIFEST})")
        if verify and sha256_file(file) != entry.get("sha256"):
            raise TextModelError(f"{file}: corrupt (sha256 differs from {MANIFEST})")
    return manifest


class TextEncoder:
    """Trained text tower on onnxruntime: ``encode(list[str]) -> (N, D)`` float32, unit-norm rows."""

    def __init__(
        self, onnx_path: Path, tokenizer_path: Path, max_len: int, dim: int, threads: int = 1
    ) -> None:
        from myosem_rt._env import onnxruntime

        ort = onnxruntime()
        from tokenizers import Tokenizer

        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise TextModelError(f"{tokenizer_path}: cannot load tokenizer ({exc})") from None
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=int(max_len))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TextModelError(f"{onnx_path}: cannot load ONNX model ({first})") from None
        self.max_len = int(max_len)
        self.dim = int(dim)
        self.manifest: dict[str, Any] = {}
        self.directory: Path | None = None

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int = 1, verify: bool = True) -> TextEncoder:
        """Open ``<model_dir>/text`` (or the folder itself); ``verify`` checks every file's sha256."""
        text_dir = resolve_text_dir(path)
        manifest = read_manifest(text_dir, verify=verify)
        enc = cls(
            text_dir / ONNX_FILE, text_dir / TOKENIZER_FILE, manifest["max_len"], manifest["dim"], threads
        )
        enc.manifest = manifest
        enc.directory = text_dir
        return enc

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and mask (int64, N x T), padded to the longest text, truncated at ``max_len``."""
        encs = self.tokenizer.encode_batch(list(texts))
        length = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), length), dtype=np.int64)
        mask = np.zeros((len(encs), length), dtype=np.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        return ids, mask

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed ``texts``: (N, D) float32 with unit-norm rows (N = 0 gives a (0, D) array)."""
        if isinstance(texts, str):
            raise TypeError("TextEncoder.encode expects a list of strings, not one string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for i in range(0, len(texts), batch_size):
            ids, mask = self.tokenize(texts[i : i + batch_size])
            (emb,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            out.append(emb)
        return l2_normalize(np.concatenate(out))

    def prototypes(self) -> TextPrototypes:
        """The class prototypes exported with this encoder."""
        if self.directory is None:
            raise TextModelError("TextEncoder: built from files, not a model directory (no prototypes)")
        return TextPrototypes.load(self.directory / PROTOTYPES_FILE)


@dataclass(frozen=True)
class TextPrototypes:
    """Per-class text embeddings of one or more vocabularies (rows aligned across all arrays)."""

    vocab: np.ndarray  #: (C,) str, vocabulary name of each class
    class_id: np.ndarray  #: (C,) int64
    action: np.ndarray  #: (C,) str, shared action id
    label: np.ndarray  #: (C,) str, the T0 label
    view_embeddings: np.ndarray  #: (C, V, D) float32, unit-norm mean of each view's texts
    prototypes: np.ndarray  #: (C, D) float32, normalize(mean of the view embeddings)
    views: tuple[str, ...] = VIEWS

    def select(self, vocab: str) -> TextPrototypes:
        """The rows of one vocabulary."""
        keep = self.vocab == vocab
        if not keep.any():
            raise TextModelError(f"prototypes: no vocabulary '{vocab}' (have {sorted(set(self.vocab))})")
        return TextPrototypes(
            self.vocab[keep], self.class_id[keep], self.action[keep], self.label[keep],
            self.view_embeddings[keep], self.prototypes[keep], self.views,
        )

    def save(self, path: Path) -> None:
        np.savez(
            path, vocab=self.vocab.astype(str), class_id=self.class_id.astype(np.int64),
            action=self.action.astype(str), label=self.label.astype(str),
            view_embeddings=self.view_embeddings.astype(np.float32),
            prototypes=self.prototypes.astype(np.float32),
            views=np.asarray(self.views, dtype=str),
        )

    @classmethod
    def load(cls, path: Path) -> TextPrototypes:
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise TextModelError(f"{path}: cannot read prototypes ({exc})") from None
        fields = ("vocab", "class_id", "action", "label", "view_embeddings", "prototypes", "views")
        missing = [k for k in fields if k not in arrays]
        if missing:
            raise TextModelError(f"{path}: prototypes file lacks {', '.join(missing)}")
        views = tuple(str(v) for v in arrays.pop("views"))
        return cls(**arrays, views=views)


def build_prototypes(
    encode: Callable[[list[str]], np.ndarray],
    classes: Sequence[tuple[str, int, str, Sequence[Sequence[str]]]],
) -> TextPrototypes:
    """Prototypes P_c = normalize(mean over views of normalize(mean of the view's text embeddings)).

    ``classes``: (vocab, class_id, action, per-view text lists in :data:`VIEWS` order). ``encode`` is any
    text -> unit-norm embedding function (the runtime encoder, or the torch tower during training), so
    training and runtime build prototypes identically. Every text is embedded once.
    """
    unique = list(dict.fromkeys(t for *_, views in classes for texts in views for t in texts))
    emb = dict(zip(unique, encode(unique), strict=True)) if unique else {}
    view_emb = []
    for vocab, class_id, _, views in classes:
        if len(views) != len(VIEWS) or any(len(texts) == 0 for texts in views):
            raise ValueError(f"{vocab} class {class_id}: every view {VIEWS} needs at least one text")
        view_emb.append([l2_normalize(np.mean([emb[t] for t in texts], axis=0)) for texts in views])
    ve = np.asarray(view_emb, dtype=np.float32).reshape(len(classes), len(VIEWS), -1)
    return TextPrototypes(
        vocab=np.asarray([c[0] for c in classes], dtype=str),
        class_id=np.asarray([c[1] for c in classes], dtype=np.int64),
        action=np.asarray([c[2] for c in classes], dtype=str),
        label=np.asarray([c[3][0][0] for c in classes], dtype=str),
        view_embeddings=ve,
        prototypes=l2_normalize(ve.mean(axis=1)),
    )


#: Descriptions the benchmark embeds one at a time (none is in any vocabulary).
BENCH_SENTENCES = (
    "slowly curl every finger into the palm",
    "tilt my hand toward the thumb side",
    "press the tip of my thumb against the ring finger",
    "rotate the wrist as if turning a doorknob to the left",
    "relax the whole arm and let the hand hang loosely",
    "lift the back of the hand up toward the ceiling while keeping the fingers straight and together",
    "hold an imaginary tennis ball",
    "point at the screen with one finger",
)


def bench_text(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench text``: load time and single-description embedding latency (median, p99) on CPU."""
    path = getattr(args, "model", None) or getattr(args, "data", None)
    t0 = time.perf_counter()
    enc = TextEncoder.load(path)
    load_s = time.perf_counter() - t0
    reps = 50 if getattr(args, "quick", False) else 400
    for s in BENCH_SENTENCES:  # warm-up
        enc.encode([s])
    times = []
    for i in range(reps):
        t = time.perf_counter()
        enc.encode([BENCH_SENTENCES[i % len(BENCH_SENTENCES)]])
        times.append((time.perf_counter() - t) * 1e3)
    batch = list(BENCH_SENTENCES) * 4
    t = time.perf_counter()
    enc.encode(batch)
    batch_ms = (time.perf_counter() - t) * 1e3
    ms = np.asarray(times)
    p99 = float(np.percentile(ms, 99))
    size_mb = sum(e["bytes"] for e in enc.manifest["files"].values()) / 1e6
    lines = [
        f"text encoder  {enc.directory}  ({size_mb:.1f} MB on disk, D={enc.dim}, 1 CPU thread)",
        f"load (verify sha256 + session)  {load_s * 1e3:8.1f} ms",
        f"one description  median {np.median(ms):6.2f} ms   p99 {p99:6.2f} ms   max {ms.max():6.2f} ms   "
        f"(n={reps}, budget 30 ms: {'OK' if p99 <= 30 else 'OVER'})",
        f"batch of {len(batch)}  {batch_ms:8.1f} ms  ({batch_ms / len(batch):.2f} ms per description)",
    ]
    print("\n".join(lines))
    return 0

"""Export the trained network to ONNX and write the model directory that :mod:`myosem_rt.model` reads.

The exported graph is encoder + alignment only (``MyoSemNet.forward``): raw filtered window and raw
descriptors in, unit-norm z out, with the training-set normalisation baked in as constants. Every export is
checked against torch on real windows (max abs difference recorded in the manifest). Everything in the
directory is plain arrays and JSON, never pickle.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from myosem_rt import __version__
from myosem_rt import model as rt
from myosem_rt import text_encoder as rtt
from myosem_rt.descriptors import DESCRIPTOR_NAMES
from train.emg.model import LOG_DESCRIPTORS, MyoSemNet

log = logging.getLogger(__name__)

OPSET = 17
#: Size budget of a model directory, text artefact included (it ships with the package / is downloaded).
MAX_MODEL_BYTES = 20_000_000


def export_onnx(net: MyoSemNet, path: Path) -> None:
    """Trace ``net`` (eval mode, CPU, fp32) to ONNX: x (N, W, C), desc (N, P, C, 3)[, feat (N, F)] -> z."""
    net = net.eval().cpu()
    dims = net.dims
    x = torch.zeros(2, dims.window, dims.n_channels)
    desc = torch.zeros(2, dims.n_patches, dims.n_channels, len(DESCRIPTOR_NAMES))
    inputs, names = (x, desc), ["x", "desc"]
    if dims.n_features:
        inputs, names = (x, desc, torch.zeros(2, dims.n_features)), ["x", "desc", "feat"]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # The fused inference kernel of nn.TransformerEncoderLayer (taken under no_grad) has no ONNX symbolic.
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                net, inputs, str(path), input_names=names, output_names=["z"],
                dynamic_axes={**{n: {0: "batch"} for n in names}, "z": {0: "batch"}},
                opset_version=OPSET, dynamo=False,
            )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def onnx_parity(net: MyoSemNet, path: Path, x: np.ndarray, desc: np.ndarray, feat: np.ndarray | None = None,
                batch: int = 256) -> float:
    """Max abs difference of z between torch and onnxruntime on the given windows."""
    session = rt._open_session(path, threads=1)
    net = net.eval().cpu()
    worst = 0.0
    for i in range(0, len(x), batch):
        feed = {"x": np.ascontiguousarray(x[i : i + batch], dtype=np.float32),
                "desc": np.ascontiguousarray(desc[i : i + batch], dtype=np.float32)}
        if feat is not None:
            feed["feat"] = np.ascontiguousarray(feat[i : i + batch], dtype=np.float32)
        with torch.no_grad():
            z_torch = net(*(torch.from_numpy(v) for v in feed.values())).numpy()
        (z_ort,) = session.run(None, feed)
        worst = max(worst, float(np.abs(z_torch - z_ort).max()))
    return worst


def _file_entries(model_dir: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every model file, the text artefact's included (checkpoints are not part of it)."""
    names = list(rt.REQUIRED_FILES)
    text = model_dir / rt.TEXT_DIR
    if text.is_dir():
        names += sorted(f"{rt.TEXT_DIR}/{p.name}" for p in text.iterdir() if p.is_file())
    return {n: {"sha256": rtt.sha256_file(model_dir / n), "bytes": (model_dir / n).stat().st_size}
            for n in names}


def write_model_dir(
    out_dir: Path,
    net: MyoSemNet,
    *,
    vocabulary: Any,
    text_prototypes: rtt.TextPrototypes,
    train_class_ids: Sequence[int],
    fs: float,
    hop: int,
    dataset: str,
    runtime_config: Mapping[str, Any],
    parity_windows: tuple[np.ndarray, ...],
    extra: Mapping[str, Any] | None = None,
    window_features: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write encoder.onnx, prototypes.npz, classes.json and manifest.json next to ``<out_dir>/text``.

    ``text_prototypes`` are the stage-1 prototypes of every class of ``vocabulary`` (held-out classes
    included: zero-shot retrieval ranks them too). ``extra`` (training config, data summary, command line,
    history) is merged into the manifest. ``window_features`` (``{"set", "eps"}``) describes the encoder's
    window-feature input, which the runtime computes from each window. Returns the manifest.
    """
    from myosem_rt.stream.filters import design_filters

    out_dir = Path(out_dir)
    dims = net.dims
    if bool(dims.n_features) != (window_features is not None):
        raise ValueError("write_model_dir: window_features must be given exactly when the encoder takes them")
    out_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(net, out_dir / rt.ENCODER_FILE)
    parity = onnx_parity(net, out_dir / rt.ENCODER_FILE, *parity_windows)
    log.info("ONNX export: %s, torch vs onnxruntime max |dz| = %.2e on %d windows",
             out_dir / rt.ENCODER_FILE, parity, len(parity_windows[0]))

    protos = text_prototypes.select(vocabulary.name)
    # per-view embeddings stay in text/prototypes.npz (no second copy: the size budget is 20 MB)
    np.savez(out_dir / rt.PROTOTYPES_FILE, class_ids=protos.class_id.astype(np.int64),
             prototypes=protos.prototypes.astype(np.float32))
    trained = {int(c) for c in train_class_ids}
    classes = [{"id": int(c.class_id), "name": c.t0, "action": c.action, "t0": c.t0, "t2": c.t2,
                "trained": int(c.class_id) in trained} for c in vocabulary.classes]
    if [c["id"] for c in classes] != protos.class_id.tolist():
        raise ValueError(f"vocabulary {vocabulary.name}: classes differ from the stage-1 prototypes")
    (out_dir / rt.CLASSES_FILE).write_text(json.dumps({"vocabulary": vocabulary.name, "classes": classes},
                                                      indent=2) + "\n", encoding="utf-8")
    if not (out_dir / rt.TEXT_DIR / rtt.MANIFEST).is_file():
        raise FileNotFoundError(f"{out_dir / rt.TEXT_DIR}: stage-1 text artefact missing")

    filters = dict(runtime_config["filters"])
    manifest = {
        "schema": rt.SCHEMA,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "package_version": __version__,
        "dataset": dataset,
        "vocabulary": vocabulary.name,
        "n_channels": dims.n_channels,
        "fs": float(fs),
        "window": dims.window, "hop": int(hop), "patch": dims.patch, "n_patches": dims.n_patches,
        "window_ms": dims.window * 1000.0 / fs, "hop_ms": hop * 1000.0 / fs,
        "patch_ms": dims.patch * 1000.0 / fs,
        "filters": filters,
        "filter_design": design_filters(fs, filters).description,
        "descriptors": list(DESCRIPTOR_NAMES),
        "normalisation": {
            **net.encoder.norm.stats(),
            "log1p_descriptors": [n for n, lg in zip(DESCRIPTOR_NAMES, LOG_DESCRIPTORS, strict=True) if lg],
            "note": "x -> (x - x_mean) / x_std per channel; desc -> log1p for the listed descriptors, then "
                    "(d - d_mean) / d_std per (channel, descriptor); fitted on the training windows only; "
                    "applied inside encoder.onnx",
        },
        "dim": dims.text_dim,
        "inputs": {"x": ["N", dims.window, dims.n_channels],
                   "desc": ["N", dims.n_patches, dims.n_channels, len(DESCRIPTOR_NAMES)],
                   **({"feat": ["N", dims.n_features]} if dims.n_features else {})},
        **({"window_features": {"set": str(window_features["set"]),
                                "eps": [float(v) for v in window_features["eps"]],
                                **({"session": window_features["session"].to_manifest()}
                                   if window_features.get("session") is not None else {}),
                                "note": "feat = myosem_rt.profile.features.classical_features(x, eps, set), "
                                        "computed by the runtime from each filtered window; with session: "
                                        "then standardised by myosem_rt.session_stats.SessionStats"}}
           if dims.n_features else {}),
        "output": {"z": ["N", dims.text_dim]},
        "classes": {"n": len(classes), "train_class_ids": sorted(trained),
                    "held_out_class_ids": [c["id"] for c in classes if not c["trained"]]},
        "text_dir": rt.TEXT_DIR,
        "onnx": {"opset": OPSET, "parity_max_abs_diff": parity, "parity_windows": len(parity_windows[0])},
        **dict(extra or {}),
        "metrics": {},
    }
    manifest["files"] = _file_entries(out_dir)
    write_manifest(out_dir, manifest)
    size = sum(e["bytes"] for e in manifest["files"].values())
    log.info("model directory %s: %.2f MB in %d files", out_dir, size / 1e6, len(manifest["files"]))
    if size > MAX_MODEL_BYTES:
        log.warning("model directory %s is %.1f MB, over the %.0f MB budget", out_dir, size / 1e6,
                    MAX_MODEL_BYTES / 1e6)
    return manifest


def write_manifest(out_dir: Path, manifest: Mapping[str, Any]) -> None:
    """(Re)write ``manifest.json`` atomically (the pipeline adds metrics after evaluating the export)."""
    path = Path(out_dir) / rtt.MANIFEST
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


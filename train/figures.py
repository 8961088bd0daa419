"""The report's figures (small PNGs, matplotlib Agg) from one trained MyoSem model and its test windows.

- ``text_views``: cosine similarity of every (class, view) text embedding T0-T3 of the model's vocabulary
  (the stage-1 space the prototypes live in): blocks on the diagonal = the views of a class agree.
- ``emg_vs_text``: cosine similarity of each class's EMG centre (normalised mean embedding of its test
  windows) with every class prototype: a bright diagonal = EMG lands on its own description.
- ``topology``: channel activation topology per class (appendix C.3): per-class, per-channel RMS of the
  test windows, each class normalised to its strongest channel.
- ``query_attention``: semantic-query attention over the window (appendix C.4): for a few classes, each
  query's attention weight per patch (lines) over the patch RMS averaged over channels (bars), class means
  over test windows. Needs the torch checkpoint in ``<model>/checkpoints``; skipped without one.
- ``projection``: the test embeddings and the prototypes in the plane of the first two principal axes of
  the prototypes and the EMG class centres together (the plane where the class structure of both sides
  shows), coloured by class, prototypes as stars.

Every function returns the PNG path; :func:`make_figures` draws all of them for one model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DPI = 80


def _plt():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    _plt().close(fig)
    return path


def _short(names: list[str], n: int = 14) -> list[str]:
    return [s if len(s) <= n else s[: n - 1] + "…" for s in names]


def text_views(model: Any, path: Path) -> Path:
    from myosem_rt.text_encoder import PROTOTYPES_FILE, TextPrototypes

    protos = TextPrototypes.load(model.text_dir / PROTOTYPES_FILE).select(model.vocabulary)
    ve = protos.view_embeddings  # (K, V, D)
    k, v = ve.shape[:2]
    e = ve.reshape(k * v, -1)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    im = ax.imshow(e @ e.T, cmap="viridis", vmin=-0.2, vmax=1.0)
    for i in range(1, k):
        ax.axhline(i * v - 0.5, color="white", lw=0.4)
        ax.axvline(i * v - 0.5, color="white", lw=0.4)
    ticks = np.arange(k) * v + (v - 1) / 2
    ax.set_xticks(ticks, _short(list(protos.label)), rotation=90, fontsize=7)
    ax.set_yticks(ticks, _short(list(protos.label)), fontsize=7)
    ax.set_title(f"Text views T0-T3 per class ({model.vocabulary}): cosine", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _save(fig, path)


def class_centres(z: np.ndarray, labels: np.ndarray, class_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids present, unit-norm mean embedding of each)."""
    present = np.array([c for c in class_ids if (labels == c).any()], dtype=np.int64)
    centres = np.stack([z[labels == c].mean(axis=0) for c in present])
    return present, centres / np.linalg.norm(centres, axis=1, keepdims=True)


def emg_vs_text(model: Any, z: np.ndarray, labels: np.ndarray, path: Path) -> Path:
    present, centres = class_centres(z, labels, model.class_ids)
    names = dict(zip(model.class_ids.tolist(), model.class_names, strict=True))
    sims = centres @ model.prototypes.T
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.8, 5.0))
    im = ax.imshow(sims, cmap="magma")
    ax.set_xticks(range(len(model.class_ids)), _short(model.class_names), rotation=90, fontsize=7)
    ax.set_yticks(range(len(present)), _short([names[int(c)] for c in present]), fontsize=7)
    ax.set_xlabel("class prototype (text)", fontsize=8)
    ax.set_ylabel("EMG class centre (test windows)", fontsize=8)
    ax.set_title("EMG class centre vs text prototype: cosine", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _save(fig, path)


def activation_topology(x: np.ndarray, labels: np.ndarray,
                        class_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids present, (K, C) per-class per-channel RMS normalised to each class's maximum)."""
    present = np.array([c for c in class_ids if (labels == c).any()], dtype=np.int64)
    rms = np.stack([np.sqrt((x[labels == c].astype(np.float64) ** 2).mean(axis=(0, 1))) for c in present])
    return present, rms / np.maximum(rms.max(axis=1, keepdims=True), 1e-12)


def topology(model: Any, x: np.ndarray, labels: np.ndarray, path: Path) -> Path:
    present, topo = activation_topology(x, labels, model.class_ids)
    names = dict(zip(model.class_ids.tolist(), model.class_names, strict=True))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(0.45 * topo.shape[1] + 2.2, 0.32 * len(present) + 1.2))
    im = ax.imshow(topo, cmap="inferno", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(topo.shape[1]), [f"ch{c + 1}" for c in range(topo.shape[1])], fontsize=7)
    ax.set_yticks(range(len(present)), _short([names[int(c)] for c in present], 18), fontsize=7)
    ax.set_title("Channel activation topology (RMS / class max)", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _save(fig, path)


def load_torch_net(model: Any):  # noqa: ANN201
    """The trained MyoSemNet of ``model`` from its last stage-3 checkpoint, or None without one."""
    import torch

    from train.emg.model import Dims, ModelConfig, MyoSemNet

    ckpt_dir = Path(model.directory) / "checkpoints"
    ckpt = next((p for p in (ckpt_dir / "stage3_unfrozen.pt", ckpt_dir / "stage3_frozen.pt") if p.is_file()),
                None)
    if ckpt is None:
        return None
    m = model.manifest
    n_features = int(m["inputs"].get("feat", [None, 0])[1])  # the encoder's window-level features, if any
    dims = Dims(model.n_channels, model.window, model.patch, len(m["classes"]["train_class_ids"]), model.dim,
                n_features)
    net = MyoSemNet(ModelConfig(**m["training"]["model"]), dims)
    net.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["model"])
    return net.eval()


def query_weights(net: Any, x: np.ndarray, desc: np.ndarray, feat: np.ndarray | None = None,
                  batch: int = 512) -> np.ndarray:
    """(N, M, P) attention of the M semantic queries over the P patch tokens (``feat``: the encoder's
    window-level features, for a model that takes them)."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            f = None if feat is None else torch.as_tensor(feat[i : i + batch], dtype=torch.float32)
            xb, db = torch.as_tensor(x[i : i + batch]), torch.as_tensor(desc[i : i + batch])
            tokens, _ = net.encoder(xb, db, f)
            head = net.head_tokens(tokens)
            q = net.align.queries.unsqueeze(0).expand(head.shape[0], -1, -1)
            _, w = net.align.attn(q, head, head, need_weights=True, average_attn_weights=True)
            out.append(w.numpy())
    return np.concatenate(out)


def query_attention(model: Any, x: np.ndarray, desc: np.ndarray, labels: np.ndarray, path: Path,
                    n_classes: int = 6) -> Path | None:
    net = load_torch_net(model)
    if net is None:
        log.info("figures: no torch checkpoint in %s; query attention skipped", model.directory)
        return None
    feat = None
    if model.feature_set is not None:  # the figure's windows taken as one stream, as the runtime would
        feat = model.window_features(x)
        if model.session_stats is not None:
            model.new_session()
            feat = model.session_stats.normalise(feat)
    w = query_weights(net, x, desc, feat)
    rms = desc[..., 0].mean(axis=2)  # (N, P) patch RMS averaged over channels
    names = dict(zip(model.class_ids.tolist(), model.class_names, strict=True))
    present = [c for c in model.class_ids.tolist() if (labels == c).any()][:n_classes]
    plt = _plt()
    cols = 3
    rows = int(np.ceil(len(present) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(8.4, 2.3 * rows), squeeze=False)
    for ax, c in zip(axes.ravel(), present, strict=False):
        sel = labels == c
        r = rms[sel].mean(axis=0)
        ax.bar(np.arange(len(r)), r / max(r.max(), 1e-12), color="0.82")
        ax.set_ylim(0, 1.05)
        twin = ax.twinx()
        for m in range(w.shape[1]):
            twin.plot(w[sel, m].mean(axis=0) * w.shape[2], marker=".", lw=1, label=f"query {m + 1}")
        twin.axhline(1.0, color="0.5", lw=0.5, ls=":")
        twin.set_ylim(0, max(2.0, float(w[sel].mean(axis=0).max() * w.shape[2]) * 1.1))
        ax.set_title(_short([names[c]], 22)[0], fontsize=8)
        ax.set_xticks(range(len(r)))
        ax.tick_params(labelsize=6)
        twin.tick_params(labelsize=6)
    for ax in axes.ravel()[len(present):]:
        ax.axis("off")
    fig.legend(*twin.get_legend_handles_labels(), fontsize=6, loc="lower right")
    peak = float(np.median(w.max(axis=2)))  # per window and query: the largest weight over the patches
    log.info("figures: query attention, median largest weight %.3f (uniform %.3f)", peak, 1 / w.shape[2])
    fig.suptitle("Semantic-query attention per patch (lines, right axis: x P, 1 = uniform) over the patch "
                 "RMS (bars, / max); class means of test windows\nper window: median largest weight "
                 f"{peak:.3f} (uniform {1 / w.shape[2]:.3f})", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def projection(model: Any, z: np.ndarray, labels: np.ndarray, path: Path, max_points: int = 1500,
               seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(len(z))[:max_points])
    zs, ls = z[pick].astype(np.float64), labels[pick]
    _, centres = class_centres(z, labels, model.class_ids)
    anchors = np.concatenate([model.prototypes, centres]).astype(np.float64)
    mean = anchors.mean(axis=0)
    _, _, vt = np.linalg.svd(anchors - mean, full_matrices=False)
    axes2 = vt[:2].T
    pz, pp = (zs - mean) @ axes2, (model.prototypes - mean) @ axes2
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 5.0))
    cmap = plt.get_cmap("tab20" if len(model.class_ids) > 10 else "tab10")
    for j, (c, name) in enumerate(zip(model.class_ids.tolist(), model.class_names, strict=True)):
        color = cmap(j % cmap.N)
        sel = ls == c
        if sel.any():
            ax.scatter(pz[sel, 0], pz[sel, 1], s=4, alpha=0.35, color=color)
        ax.scatter(pp[j, 0], pp[j, 1], s=160, marker="*", color=color, edgecolor="black", linewidth=0.7)
        ax.annotate(_short([name], 16)[0], pp[j], fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_title("EMG embeddings (dots) and text prototypes (stars), 2-D PCA", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, path)


def figure_windows(model: Any, data_dir: Path, runtime_config: Mapping[str, Any], max_files: int = 6,
                   per_file: int = 300, seed: int = 0) -> Any:
    """Test windows of the model's protocol (its first ``max_files`` test files, ``per_file`` each)."""
    from myosem_rt.model import trained_config
    from myosem_rt.protocols import split
    from myosem_rt.stream.windows import WindowSpec
    from myosem_rt.vocab import load_vocabulary
    from myosem_rt.windowing import load_windows

    data = model.manifest["data"]
    sp = split(data["protocol"], data_dir, **dict(data.get("options") or {}))
    spec = WindowSpec(int(model.window), int(model.hop), int(model.patch), float(model.fs))
    ws = load_windows(sp.test_files[:max_files], trained_config(model, runtime_config), spec=spec, seed=seed,
                      max_windows_per_file=per_file, vocabulary=load_vocabulary(model.vocabulary))
    return ws.subset(sp.test_mask(ws))


def make_figures(model_dir: str | Path, data_dir: str | Path, out_dir: str | Path,
                 runtime_config: Mapping[str, Any] | None = None, max_files: int = 6,
                 per_file: int = 300) -> dict[str, Path]:
    """All figures of one model into ``out_dir``; returns {caption: path}."""
    from myosem_rt.commands.eval import encode
    from myosem_rt.config import load_config
    from myosem_rt.model import MyoSemModel

    model = MyoSemModel.load(model_dir)
    protocol = model.manifest["data"]["protocol"]
    ws = figure_windows(model, Path(data_dir), dict(runtime_config or load_config()), max_files, per_file)
    z = encode(model, ws)
    out = Path(out_dir)
    figs: dict[str, Path | None] = {
        f"Multi-view text similarity ({model.vocabulary})":
            text_views(model, out / f"text-views-{protocol}.png"),
        f"EMG class centre vs text prototype ({protocol} test windows)":
            emg_vs_text(model, z, ws.label, out / f"emg-vs-text-{protocol}.png"),
        f"Channel activation topology per class ({protocol} test windows; appendix C.3)":
            topology(model, ws.x, ws.label, out / f"topology-{protocol}.png"),
        f"Semantic-query attention over RMS ({protocol}; appendix C.4)":
            query_attention(model, ws.x, ws.desc, ws.label, out / f"query-attention-{protocol}.png"),
        f"EMG embeddings in the text space, 2-D PCA ({protocol})":
            projection(model, z, ws.label, out / f"projection-{protocol}.png"),
    }
    return {k: v for k, v in figs.items() if v is not None}

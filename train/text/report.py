"""Before/after report of stage 1: view agreement, held-out paraphrase retrieval, Fig. 3a-style heatmaps.

Protocol (why it is fair): one T3 paraphrase per action is held out of training *and* out of the
prototypes; each class is then queried with its action's held-out paraphrase against the prototypes of its
own vocabulary. Rows compared: the frozen base model with T0-label prototypes (the naive zero-shot baseline),
the base model with multi-view prototypes, the stage-1 tower with multi-view prototypes, and (optionally) the
exported runtime artefact (int8/4-bit ONNX) to show that quantisation leaves the results unchanged. View
agreement is the mean same-class cross-view cosine vs the mean different-class cosine, per vocabulary, over
per-view embeddings.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt import text_encoder as rt
from train.text.stage1 import (
    Stage1Config,
    collect_training_texts,
    export_text_model,
    make_tower,
    nearest_prototype,
    prototype_classes,
    torch_encoder,
    train_stage1,
)

log = logging.getLogger(__name__)

Encode = Callable[[list[str]], np.ndarray]


def heldout_paraphrases(vocabularies: Sequence[Any], seed: int = 0) -> dict[str, str]:
    """One T3 paraphrase per action (seeded choice), for actions with at least two paraphrases.

    A paraphrase that is also some class's T0-T2 text (e.g. a dataset labels "rest" as "no movement") is
    never chosen: it would stay in training through the other view and the query would not be unseen.
    """
    rng = np.random.default_rng(seed)
    pools: dict[str, dict[str, None]] = {}
    other_views = {t for v in vocabularies for c in v.classes for t in (c.t0, c.t1, c.t2)}
    for vocab in vocabularies:
        for cls in vocab.classes:
            pools.setdefault(str(cls.action), {}).update(dict.fromkeys(cls.t3))
    out = {}
    for action, pool in pools.items():
        candidates = [t for t in pool if t not in other_views]
        if len(pool) >= 2 and candidates:
            out[action] = candidates[int(rng.integers(len(candidates)))]
    return out


def view_agreement(protos: rt.TextPrototypes) -> dict[str, float]:
    """Mean same-class cross-view cosine, mean different-class cosine (any views) and their gap."""
    c, v, _ = protos.view_embeddings.shape
    flat = protos.view_embeddings.reshape(c * v, -1)
    sim = flat @ flat.T
    cls = np.repeat(np.arange(c), v)
    act = np.repeat(protos.action, v)
    view = np.tile(np.arange(v), c)
    same = (cls[:, None] == cls[None, :]) & (view[:, None] != view[None, :])
    diff = act[:, None] != act[None, :]
    s = float(sim[same].mean())
    d = float(sim[diff].mean()) if diff.any() else float("nan")
    return {"same_class_cross_view": s, "different_class": d, "gap": s - d}


def evaluate(encode: Encode, vocabularies: Sequence[Any], heldout: dict[str, str]) -> dict[str, Any]:
    """Metrics of one encoder: per vocabulary and pooled (queries micro-averaged, cosines macro-averaged)."""
    classes = prototype_classes(vocabularies, heldout.values())
    all_texts = [t for *_, vs in classes for texts in vs for t in texts] + list(heldout.values())
    unique = list(dict.fromkeys(all_texts))
    table = dict(zip(unique, encode(unique), strict=True))

    def lookup(texts: list[str]) -> np.ndarray:
        return np.stack([table[t] for t in texts])

    protos = rt.build_prototypes(lookup, classes)
    t0_only = rt.TextPrototypes(
        protos.vocab, protos.class_id, protos.action, protos.label, protos.view_embeddings,
        rt.l2_normalize(protos.view_embeddings[:, 0]),
    )
    per_vocab: dict[str, Any] = {}
    hits: dict[str, list[bool]] = {"multiview": [], "t0": []}
    predictions: list[str] = []
    for vocab in vocabularies:
        sub = protos.select(vocab.name)
        queries = [(str(c.action), heldout[str(c.action)]) for c in vocab.classes if str(c.action) in heldout]
        q = lookup([t for _, t in queries]) if queries else np.zeros((0, protos.prototypes.shape[1]))
        names = [vocab.name] * len(queries)
        entry: dict[str, Any] = {**view_agreement(sub), "n_queries": len(queries)}
        for key, bank in (("multiview", protos), ("t0", t0_only)):
            pred = protos.action[nearest_prototype(q, bank, names)[0]] if queries else np.zeros(0, dtype=str)
            ok = [p == a for p, (a, _) in zip(pred, queries, strict=True)]
            hits[key] += ok
            if key == "multiview":
                predictions += [str(p) for p in pred]
            entry[f"retrieval_{key}"] = float(np.mean(ok)) if ok else float("nan")
        per_vocab[vocab.name] = entry
    pooled = {
        k: float(np.mean([e[k] for e in per_vocab.values()]))
        for k in ("same_class_cross_view", "different_class", "gap")
    }
    pooled.update({f"retrieval_{k}": float(np.mean(v)) for k, v in hits.items()})
    pooled["n_queries"] = len(hits["multiview"])
    return {"pooled": pooled, "per_vocab": per_vocab, "protos": protos, "predictions": predictions}


def plot_heatmaps(before: rt.TextPrototypes, after: rt.TextPrototypes, vocab: str, path: Path) -> None:
    """(classes x views)^2 cosine matrices before/after, class-major: each class is a 4x4 diagonal block."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b, a = before.select(vocab), after.select(vocab)
    c, v, _ = b.view_embeddings.shape
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.6), constrained_layout=True)
    for ax, protos, title in ((axes[0], b, "base MiniLM (before)"), (axes[1], a, "stage 1 (after)")):
        flat = protos.view_embeddings.reshape(c * v, -1)
        im = ax.imshow(flat @ flat.T, vmin=-0.2, vmax=1.0, cmap="viridis", interpolation="nearest")
        ax.set_title(f"{vocab}: {title}", fontsize=10)
        step = 1 if c <= 16 else 5
        ticks = (np.arange(c) * v + (v - 1) / 2)[::step]
        labels = [str(x) for x in protos.label] if c <= 16 else [f"id {i}" for i in protos.class_id]
        ax.set_xticks(ticks, labels[::step], rotation=90, fontsize=7)
        ax.set_yticks(ticks, labels[::step], fontsize=7)
        for k in range(1, c if c <= 16 else 0):
            ax.axhline(k * v - 0.5, color="white", lw=0.3)
            ax.axvline(k * v - 0.5, color="white", lw=0.3)
    fig.colorbar(im, ax=axes, shrink=0.8, label="cosine; each class = 4 rows/cols (T0, T1, T2, T3)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(x: float) -> str:
    return "  -  " if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def render_table(rows: list[tuple[str, dict[str, Any]]], with_cos: set[str]) -> str:
    """Markdown table: one row per encoder/prototype setting (pooled over vocabularies)."""
    head = ("| setting | same-class x-view cos | diff-class cos | gap | retrieval (held-out paraphrase) |\n"
            "|---|---|---|---|---|")
    lines = [head]
    for name, m in rows:
        cos = name in with_cos
        lines.append(
            f"| {name} | {_fmt(m['same_class_cross_view']) if cos else '  -  '} | "
            f"{_fmt(m['different_class']) if cos else '  -  '} | {_fmt(m['gap']) if cos else '  -  '} | "
            f"{_fmt(m['retrieval'])} |"
        )
    return "\n".join(lines)


def run_report(
    vocabularies: Sequence[Any], out_dir: Path, cfg: Stage1Config, runtime: bool = True
) -> dict[str, Any]:
    """Train with held-out paraphrases, measure before/after, write report.json/.md and heatmap PNGs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    heldout = heldout_paraphrases(vocabularies, cfg.seed)
    tower = make_tower(cfg)
    t = time.perf_counter()
    before = evaluate(torch_encoder(tower), vocabularies, heldout)
    texts = collect_training_texts(vocabularies, holdout_texts=heldout.values())
    t_train = time.perf_counter()
    history = train_stage1(tower, texts, cfg)
    train_s = time.perf_counter() - t_train
    after = evaluate(torch_encoder(tower), vocabularies, heldout)
    results: dict[str, Any] = {"before": before, "after": after}
    if runtime:
        text_dir = export_text_model(tower, out_dir / "heldout_model", vocabularies, cfg,
                                     {"heldout_paraphrases": sorted(heldout.values())})
        results["runtime"] = evaluate(rt.TextEncoder.load(text_dir).encode, vocabularies, heldout)
        same = np.equal(results["runtime"]["predictions"], after["predictions"])
        results["runtime"]["pooled"]["prediction_agreement_with_torch"] = float(same.mean())
    for vocab in vocabularies:
        plot_heatmaps(before["protos"], after["protos"], vocab.name, out_dir / f"heatmap_{vocab.name}.png")

    def row(m: dict[str, Any], key: str) -> dict[str, Any]:
        return {**m, "retrieval": m[f"retrieval_{key}"]}

    rows = [
        ("base MiniLM, T0-label prototypes", row(before["pooled"], "t0")),
        ("base MiniLM, multi-view prototypes", row(before["pooled"], "multiview")),
        ("stage 1 (torch), T0-label prototypes", row(after["pooled"], "t0")),
        ("stage 1 (torch), multi-view prototypes", row(after["pooled"], "multiview")),
    ]
    if runtime:
        runtime_row = row(results["runtime"]["pooled"], "multiview")
        rows.append(("stage 1 runtime ONNX (int8/4-bit), multi-view", runtime_row))
    with_cos = {r[0] for r in rows if "multi-view" in r[0]}
    table = render_table(rows, with_cos)
    per_vocab_lines = [
        "| vocabulary | queries | gap before | gap after | retr. T0 base | retr. before | retr. after |",
        "|---|---|---|---|---|---|---|",
    ]
    for vocab in vocabularies:
        b, a = before["per_vocab"][vocab.name], after["per_vocab"][vocab.name]
        per_vocab_lines.append(
            f"| {vocab.name} | {b['n_queries']} | {_fmt(b['gap'])} | {_fmt(a['gap'])} | "
            f"{_fmt(b['retrieval_t0'])} | {_fmt(b['retrieval_multiview'])} | "
            f"{_fmt(a['retrieval_multiview'])} |"
        )
    summary = {
        "vocabularies": [v.name for v in vocabularies],
        "config": cfg.to_dict(),
        "n_heldout_paraphrases": len(heldout),
        "n_training_texts": len(texts.all_texts()),
        "train_seconds": round(train_s, 1),
        "total_seconds": round(time.perf_counter() - t, 1),
        "loss_first": history[0]["loss"] if history else None,
        "loss_last": history[-1]["loss"] if history else None,
        **{k: {"pooled": v["pooled"], "per_vocab": v["per_vocab"]} for k, v in results.items()},
    }
    notes = []
    if runtime:
        check = json.loads((text_dir / rt.MANIFEST).read_text())["export_check"]
        summary["export_check"] = check
        notes.append(
            f"Runtime vs torch: held-out query predictions agree "
            f"{results['runtime']['pooled']['prediction_agreement_with_torch']:.1%}; cosine(runtime, torch) "
            f"on {check['n_vocab_texts']} vocabulary texts mean {check['cosine_vocab_mean']:.4f} / min "
            f"{check['cosine_vocab_min']:.4f}, on {check['n_novel']} novel sentences mean "
            f"{check['cosine_novel_mean']:.4f} / min {check['cosine_novel_min']:.4f}; nearest-prototype "
            f"agreement on all {check['n_retrieval_queries']} T3 paraphrases "
            f"{check['retrieval_agreement']:.1%} (flips only where torch's top-2 margin <= "
            f"{check['max_torch_margin_of_disagreements']:.3f})."
        )
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    loss = (f"; loss {summary['loss_first']:.3f} -> {summary['loss_last']:.3f}" if history else "")
    md = [
        f"# Stage-1 text report ({', '.join(summary['vocabularies'])})", "",
        f"{len(heldout)} held-out paraphrases (one per action), {summary['n_training_texts']} training "
        f"texts, {cfg.steps} steps in {summary['train_seconds']} s{loss}.", "",
        table, "", *notes, "", "Per vocabulary:", "", *per_vocab_lines, "",
        "Heatmaps: " + ", ".join(f"heatmap_{v.name}.png" for v in vocabularies),
    ]
    (out_dir / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    summary["table"] = "\n".join([table, *notes, "", *per_vocab_lines])
    return summary

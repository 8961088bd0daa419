"""``run_training``: stage 1 (text) -> stage 2 (EMG encoder) -> stage 3 (alignment) -> export -> activity
context (chosen on the training recordings, :mod:`train.context_choice`) -> eval.

One call trains a model for one evaluation protocol (:mod:`train.splits`) and writes a model directory that
the runtime loads (:class:`myosem_rt.model.MyoSemModel`), with the protocol's test figures in its manifest.
Everything that sees EMG sees the training side of the split only: the normalisation statistics, both
stages and the class list; for class-disjoint protocols the held-out classes' texts are also kept out of
stage 1 (their prototypes are embedded after training) and their EMG is never loaded for training.

Re-running with the same ``out_dir`` resumes: a finished stage 1 is reused (``checkpoints/stage1.json``),
stages 2 and 3 continue from their per-epoch checkpoints (see :mod:`train.emg.stages`). Under ``torchrun``
every rank trains on its shard; rank 0 alone runs stage 1, export and evaluation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from myosem_rt import text_encoder as rtt
from myosem_rt.config import load_config
from myosem_rt.errors import ConfigError
from myosem_rt.profile.enrol import enrol_settings
from myosem_rt.profile.features import classical_features, noise_threshold
from myosem_rt.session_stats import standardise_recordings
from myosem_rt.vocab import list_vocabularies, load_vocabulary
from train.data import WindowSet, load_windows
from train.emg.export import write_manifest, write_model_dir
from train.emg.model import Dims, ModelConfig, MyoSemNet, config_from_mapping
from train.emg.stages import (
    Stage2Config,
    Stage3Config,
    as_tensors,
    setup_distributed,
    teardown_distributed,
    train_stage2,
    train_stage3,
)
from train.splits import split
from train.text.stage1 import (
    Stage1Config,
    collect_training_texts,
    export_text_model,
    make_tower,
    train_stage1,
)

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = "myosem-small"
CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class TrainConfig:
    """A declarative training config (train/configs/*.yaml): every section optional, unknown keys refused."""

    name: str = DEFAULT_CONFIG
    seed: int = 0
    threads: int = 2  #: torch CPU threads (training on CPU)
    max_windows_per_file: int | None = None  #: class-stratified subset per file (None = all windows)
    norm_windows: int = 20000  #: windows the normalisation statistics are fitted on (random subset)
    parity_windows: int = 256  #: real windows the ONNX export is checked on
    vocabularies: str | tuple[str, ...] = "all"  #: stage-1 text vocabularies ("all" or names)
    #: text views whose embeddings make the class prototypes that stage 3 aligns to and the model ranks:
    #: "all" (T0-T3, the method) or a subset, e.g. [t0] = the dataset's labels alone (text-side baseline)
    prototype_views: str | tuple[str, ...] = "all"
    #: which windows of a gesture trial teach the gesture: "cue" (all of them) or "activity" (those whose
    #: muscle activity shows it, myosem_rt/profile/labels.py; the others are not trained on)
    labels: str = "cue"
    stage1: Stage1Config = field(default_factory=Stage1Config)
    model: ModelConfig = field(default_factory=ModelConfig)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    stage3: Stage3Config = field(default_factory=Stage3Config)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "training config") -> TrainConfig:
        values = dict(values)
        sections = {"stage1": lambda v: Stage1Config.from_mapping(v),
                    "model": lambda v: config_from_mapping(ModelConfig, v, f"{source}: model"),
                    "stage2": lambda v: config_from_mapping(Stage2Config, v, f"{source}: stage2"),
                    "stage3": lambda v: config_from_mapping(Stage3Config, v, f"{source}: stage3")}
        for key, build in sections.items():
            if key in values:
                values[key] = build(values[key])
        for key in ("vocabularies", "prototype_views"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        if values.get("labels", "cue") not in ("cue", "activity"):
            raise ConfigError(f"{source}: labels must be cue or activity, got {values['labels']!r}")
        views = values.get("prototype_views", "all")
        if views != "all" and (not views or set(views) - set(rtt.VIEWS)):
            raise ConfigError(f"{source}: prototype_views must be 'all' or a list of {', '.join(rtt.VIEWS)}, "
                              f"got {views!r}")
        return config_from_mapping(cls, values, source)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values. Settings added after the first release are left out while they hold their
        defaults (:data:`_ADDED_DEFAULTS`), so existing runs keep their fingerprints and still resume."""
        out = json.loads(json.dumps(dataclasses.asdict(self), default=list))
        for path, default in _ADDED_DEFAULTS.items():
            *parents, key = path
            section = out
            for name in parents:
                section = section[name]
            if section.get(key) == default:
                del section[key]
        return out


#: Settings added for the ablations (issue 6), with their defaults: omitted from TrainConfig.to_dict (the
#: checkpoint fingerprint, the manifest) while at the default, so a default config hashes as it always did.
_ADDED_DEFAULTS: dict[tuple[str, ...], Any] = {
    ("prototype_views",): "all",
    ("model", "descriptors"): True,
}


def load_train_config(name_or_path: str | Path = DEFAULT_CONFIG) -> TrainConfig:
    """A packaged config by name (``myosem-small``, ``tiny``) or any YAML file by path.

    A config may start from another with ``base: NAME|FILE``: its sections are the base's, updated key by
    key (the ablation configs are ``myosem-small`` plus one switch, so the two can never drift apart).
    """
    path, values = _read_train_config(name_or_path)
    return TrainConfig.from_mapping(values, str(path))


def _read_train_config(name_or_path: str | Path, depth: int = 0) -> tuple[Path, dict[str, Any]]:
    """The mapping of a config file with its ``base`` chain resolved."""
    path = Path(name_or_path)
    if not path.suffix and (CONFIG_DIR / f"{name_or_path}.yaml").is_file():
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"{path}: cannot read training config ({exc.strerror or exc}; packaged: {known})"
                          ) from None
    except yaml.YAMLError:
        raise ConfigError(f"{path}: not valid YAML") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of sections")
    base = values.pop("base", None)
    if base is None:
        return path, values
    if depth >= 4:
        raise ConfigError(f"{path}: 'base' chain too deep (a cycle?)")
    base = Path(str(base))
    if base.suffix and not base.is_absolute():  # a file path is relative to the config that names it
        base = path.parent / base
    _, merged = _read_train_config(base if base.suffix else str(base), depth + 1)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return path, merged


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _stage1_settings(cfg: TrainConfig, vocab: Any, held_out: frozenset[int],
                     text_vocabularies: Sequence[str] | None = None
                     ) -> tuple[list[str], list[tuple[str, int]], str]:
    """(vocabularies, held-out (vocabulary, class) pairs, key) of a run's stage 1.

    ``text_vocabularies`` (a protocol's, e.g. ``cross-device``) replaces the config's list, and the
    model's own vocabulary is then NOT added: its texts stay out of training."""
    if text_vocabularies is not None:
        names = list(text_vocabularies)
    else:
        names = list_vocabularies() if cfg.vocabularies == "all" else list(cfg.vocabularies)
        if vocab.name not in names:
            names.append(vocab.name)
    held = sorted((vocab.name, int(c)) for c in held_out)
    return names, held, _digest({"stage1": cfg.stage1.to_dict(), "vocabularies": names, "held_out": held})


def stage1_key(cfg: TrainConfig, vocabulary: str, held_out: frozenset[int],
               text_vocabularies: Sequence[str] | None = None) -> str:
    """The key a finished stage 1 records in ``checkpoints/stage1.json``: two runs with the same key and
    vocabulary export the same ``text/`` (a driver may copy it instead of training it again)."""
    return _stage1_settings(cfg, load_vocabulary(vocabulary), held_out, text_vocabularies)[2]


def _stage1(cfg: TrainConfig, vocab: Any, held_out: frozenset[int], out_dir: Path,
            text_vocabularies: Sequence[str] | None = None) -> None:
    """Train + export ``out_dir/text`` unless a finished run with the same settings is there."""
    names, held, key = _stage1_settings(cfg, vocab, held_out, text_vocabularies)
    marker = out_dir / CHECKPOINTS / "stage1.json"
    if marker.is_file() and json.loads(marker.read_text())["key"] == key and \
            (out_dir / "text" / rtt.MANIFEST).is_file():
        log.info("stage 1: reusing %s (same settings)", out_dir / "text")
        return
    log.info("stage 1: text space on vocabularies %s, held-out classes %s", ", ".join(names), held or "none")
    # train on every configured vocabulary, but export prototypes of the model's own vocabulary only: the
    # runtime ranks nothing else, and all vocabularies' view embeddings would cost ~1 MB of the size budget
    texts = collect_training_texts([load_vocabulary(n) for n in names], held)
    tower = make_tower(cfg.stage1)
    history = train_stage1(tower, texts, cfg.stage1)
    export_text_model(tower, out_dir, [vocab], cfg.stage1, {
        "trained_on": names, "held_out": held, "excluded_actions": sorted(texts.excluded_actions),
        "n_actions": len(texts.actions), "n_texts": len(texts.all_texts()),
        "loss_first": history[0]["loss"] if history else None,
        "loss_last": history[-1]["loss"] if history else None})
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"key": key, "vocabularies": names, "held_out": held}) + "\n")


def window_features_of(train: WindowSet, feature_set: str, fit: np.ndarray, chunk: int = 8192,
                       session_prior: float = 0.0) -> dict[str, Any] | None:
    """The encoder's window-level features of every training window (``ModelConfig.window_features``):
    ``{"set", "eps", "feat" (N, F), "session"}``, the noise threshold fitted on the ``fit`` windows; None
    when off. With ``session_prior`` > 0 each recording's features are standardised by its own running
    statistics in time order (:mod:`myosem_rt.session_stats`, ``session`` its population prior), as the
    runtime does per stream (:meth:`myosem_rt.model.MyoSemModel.encode`)."""
    if not feature_set:
        return None
    eps = noise_threshold(train.x[fit])
    feat = np.concatenate([classical_features(train.x[i:i + chunk], eps, feature_set)
                           for i in range(0, len(train.x), chunk)])
    log.info("window features %s: %d per window, %d windows", feature_set, feat.shape[1], len(feat))
    stats = None
    if session_prior > 0:
        feat, stats = standardise_recordings(train, feat, session_prior)
        log.info("window features: session statistics per recording (prior %g hops)", session_prior)
    return {"set": feature_set, "eps": eps, "feat": feat, "session": stats}


def _file_summary(files: list[Path]) -> list[dict[str, str]]:
    return [{"name": f"{p.parent.name}/{p.name}", "sha256": rtt.sha256_file(p)} for p in files]


def run_training(
    config: TrainConfig | str | Path,
    data_dir: str | Path,
    protocol: str,
    out_dir: str | Path,
    *,
    runtime_config: Mapping[str, Any] | None = None,
    protocol_options: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    device: str = "auto",
    command: str | None = None,
) -> dict[str, Any]:
    """Train, export and evaluate; returns the model manifest (with ``metrics``) on rank 0, else ``{}``.

    ``overrides``: ``stage1_steps``, ``epochs`` (stage 2), ``align_epochs`` ((frozen, unfrozen) of stage 3),
    ``max_windows_per_file``, ``seed``, ``threads`` (the command-line options of ``myosem train``).
    """
    started = time.monotonic()
    cfg = config if isinstance(config, TrainConfig) else load_train_config(config)
    cfg = _apply_overrides(cfg, dict(overrides or {}))
    runtime_config = dict(runtime_config or load_config())
    out_dir, data_dir = Path(out_dir), Path(data_dir)
    ctx = setup_distributed(device)
    try:
        sp = split(protocol, data_dir, **dict(protocol_options or {}))
        vocab = load_vocabulary(sp.vocabulary)
        if ctx.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            _stage1(cfg, vocab, sp.held_out_classes, out_dir, sp.text_vocabularies)
        ctx.barrier()
        if ctx.device.type == "cpu":
            torch.set_num_threads(cfg.threads)
            # subnormal floats (e.g. Adam's second moments of tiny gradients late in training) run 10-100x
            # slower on x86 CPUs: a 3DC run slowed from 20 s to > 10 min per epoch after epoch 18
            torch.set_flush_denormal(True)
        text_protos = prototypes_from_views(
            rtt.TextPrototypes.load(out_dir / "text" / rtt.PROTOTYPES_FILE), cfg.prototype_views)

        # the enrolment's activity rule and fraction (config enrol.activity_fraction)
        fraction = enrol_settings(runtime_config)["activity_fraction"] if cfg.labels == "activity" else None
        ws = load_windows(sp.train_files, runtime_config, max_windows_per_file=cfg.max_windows_per_file,
                          seed=cfg.seed, vocabulary=vocab, activity_fraction=fraction)
        train = ws.subset(sp.train_mask(ws))
        del ws  # the training side is a copy: do not hold the full load twice
        classes = sorted(train.class_counts())
        if not classes or set(classes) & set(sp.held_out_classes):
            raise ConfigError(f"protocol {protocol}: training windows have classes {classes} "
                              f"(held out: {sorted(sp.held_out_classes)})")
        protos = text_protos.select(vocab.name)
        rows = [int(np.flatnonzero(protos.class_id == c)[0]) for c in classes]
        fit = np.sort(np.random.default_rng(cfg.seed).permutation(len(train))[: cfg.norm_windows])
        wf = window_features_of(train, cfg.model.window_features, fit,
                                session_prior=cfg.model.window_session_prior)
        dims = Dims(train.n_channels, train.window, train.patch, len(classes), protos.prototypes.shape[1],
                    0 if wf is None else wf["feat"].shape[1])

        torch.manual_seed(cfg.seed)
        net = MyoSemNet(cfg.model, dims)
        net.encoder.norm.fit(train.x[fit], train.desc[fit], None if wf is None else wf["feat"][fit])
        net.to(ctx.device)
        y = np.searchsorted(np.asarray(classes), train.label)
        data = as_tensors(train.x, train.desc, y, None if wf is None else wf["feat"])
        data_key = {"protocol": protocol, "options": dict(protocol_options or {}),
                    "dims": dataclasses.asdict(dims), "classes": train.class_counts(),
                    "files": [str(p.name) for p in sp.train_files],
                    "x_sum": float(np.float64(train.x[:: max(1, len(train) // 64)].sum()))}
        fingerprint = _digest({"config": cfg.to_dict(), "data": data_key})
        ckpt = out_dir / CHECKPOINTS
        h2 = train_stage2(net, data, cfg.stage2, ctx, ckpt, fingerprint, cfg.seed)
        prototypes = torch.as_tensor(protos.prototypes[rows]).to(ctx.device)
        h3 = train_stage3(net, data, prototypes, cfg.stage3, ctx, ckpt, fingerprint, cfg.seed)
        manifest: dict[str, Any] = {}
        if ctx.is_main:
            manifest = _export_and_evaluate(net.cpu(), cfg, sp, vocab, text_protos, train, classes,
                                            runtime_config, out_dir, h2, h3, command, protocol_options,
                                            {"started": started, "device": str(ctx.device),
                                             "world_size": ctx.world}, wf)
        ctx.barrier()
        return manifest
    finally:
        if ctx.world > 1:
            teardown_distributed()


def prototypes_from_views(protos: rtt.TextPrototypes, views: str | tuple[str, ...]) -> rtt.TextPrototypes:
    """``protos`` with each class prototype rebuilt from the given views only (``"all"``: unchanged).

    The stage-1 view embeddings are kept per class, so a labels-only prototype is normalize(T0 embedding)
    and no text is embedded again; the model directory's ``prototypes.npz`` then holds these prototypes.
    """
    if views == "all":
        return protos
    rows = [protos.views.index(v) for v in views]
    mean = protos.view_embeddings[:, rows].mean(axis=1)
    return dataclasses.replace(protos, prototypes=rtt.l2_normalize(mean).astype(np.float32))


def _apply_overrides(cfg: TrainConfig, o: dict[str, Any]) -> TrainConfig:
    if o.get("stage1_steps") is not None:
        cfg = replace(cfg, stage1=replace(cfg.stage1, steps=int(o["stage1_steps"])))
    if o.get("epochs") is not None:
        cfg = replace(cfg, stage2=replace(cfg.stage2, epochs=int(o["epochs"])))
    if o.get("align_epochs") is not None:
        frozen, unfrozen = o["align_epochs"]
        stage3 = replace(cfg.stage3, epochs_frozen=int(frozen), epochs_unfrozen=int(unfrozen))
        cfg = replace(cfg, stage3=stage3)
    for key in ("max_windows_per_file", "seed", "threads"):
        if o.get(key) is not None:
            cfg = replace(cfg, **{key: int(o[key])})
    if o.get("labels") is not None:
        cfg = replace(cfg, labels=str(o["labels"]))
    return cfg


def _export_and_evaluate(net: MyoSemNet, cfg: TrainConfig, sp: Any, vocab: Any, text_protos: Any,
                         train: WindowSet, classes: list[int], runtime_config: Mapping[str, Any],
                         out_dir: Path, h2: list, h3: list, command: str | None,
                         protocol_options: Mapping[str, Any] | None,
                         run: Mapping[str, Any] | None = None,
                         wf: Mapping[str, Any] | None = None) -> dict[str, Any]:
    from myosem_rt.commands.eval import evaluate
    from myosem_rt.model import MyoSemModel
    from train import context_choice

    pick = np.sort(np.random.default_rng(cfg.seed).permutation(len(train))[: cfg.parity_windows])
    parity = (train.x[pick], train.desc[pick], *([] if wf is None else [wf["feat"][pick]]))
    extra = {
        "command": command if command is not None else " ".join(shlex.quote(a) for a in sys.argv),
        "training": {**cfg.to_dict(), "history": {"stage2": h2[-1:], "stage3": h3[-1:]}},
        "data": {
            "protocol": sp.name, "description": sp.description, "options": dict(protocol_options or {}),
            "train_files": _file_summary(sp.train_files), "test_files": _file_summary(sp.test_files),
            "windows": {"train": len(train), "train_per_class": train.class_counts()},
            "held_out_classes": sorted(sp.held_out_classes),
        },
    }
    manifest = write_model_dir(
        out_dir, net, vocabulary=vocab, text_prototypes=text_protos, train_class_ids=classes, fs=train.fs,
        hop=train.hop, dataset=train.dataset, runtime_config=runtime_config,
        parity_windows=parity, extra=extra, window_features=wf,
    )
    # the activity context (myosem_rt.context), chosen on the training recordings only (train/context_choice)
    manifest["context"] = context_choice.choose(MyoSemModel.load(out_dir), str(out_dir), sp, runtime_config,
                                                cfg.seed)
    write_manifest(out_dir, manifest)
    model = MyoSemModel.load(out_dir)
    result = evaluate(model, str(out_dir), sp.test_files, dict(runtime_config), mask=sp.test_mask,
                      held_out=sp.held_out_classes, max_windows_per_file=cfg.max_windows_per_file,
                      seed=cfg.seed)
    manifest["data"]["windows"]["test"] = result["n_windows"]
    manifest["metrics"] = json.loads(json.dumps({"protocol": sp.name, **result}, default=str))
    if run is not None:  # this invocation's wall-clock (stages 1-3, export, evaluation; a resume: its part)
        manifest["wall_clock"] = {"seconds": round(time.monotonic() - float(run["started"]), 1),
                                  "device": run["device"], "world_size": int(run["world_size"]),
                                  "threads": torch.get_num_threads()}
    write_manifest(out_dir, manifest)
    e2t = result["emg_to_text"]
    log.info("eval %s: EMG->text R@1 %.3f R@3 %.3f MRR %.3f (chance R@1 %.3f) on %d test windows",
             sp.name, e2t["R@1"], e2t["R@3"], e2t["MRR"], e2t["chance"]["R@1"], result["n_windows"])
    return manifest

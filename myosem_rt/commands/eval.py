"""``myosem eval --model DIR --data PATH [--protocol P]``: retrieval figures of an exported model (no torch).

The data are windowed with the *model's* window / hop / patch and filters (from its directory), so the
figures describe the windows the model was trained for. Without ``--protocol`` every window of the given
files is tested; with one, the protocol's test split (:mod:`myosem_rt.protocols`) of the recordings under
``--data``. Printed: R@1/3/5 and MRR for EMG -> text (± bootstrap std) and text -> EMG (± standard error
over episodes), with chance levels; ``--json`` writes the same figures.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from myosem_rt.output_files import check_new_file, write_json
from myosem_rt.recordings import xdf

HELP = "evaluate an exported model: EMG->text and text->EMG retrieval (R@K, MRR) on recordings"

log = logging.getLogger(__name__)

#: Windows encoded per call of the model.
ENCODE_BATCH = 2048


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR",
                   help="exported model directory (with --profile: default the profile's own model)")
    p.add_argument("--data", required=True, metavar="PATH",
                   help="recording file or folder (with --protocol: the folder holding 3dc/, myodisco/ ...)")
    p.add_argument("--protocol", metavar="NAME", help="test on this protocol's test split (e.g. 3dc-rand)")
    p.add_argument("--subjects", type=int, nargs="+", metavar="N", help="protocol: only these subjects")
    p.add_argument("--test-subjects", type=int, nargs="+", metavar="N",
                   help="subject-disjoint protocols: the tested subjects")
    p.add_argument("--held-out", type=int, nargs="+", metavar="CLASS",
                   help="class-disjoint protocols (3dc-class, myodisco-class): the held-out classes")
    p.add_argument("--max-files", type=int, metavar="N", help="protocol: at most N test files")
    p.add_argument("--max-windows-per-file", type=int, metavar="N",
                   help="class-stratified random subset of N windows per file (default: all)")
    p.add_argument("--episodes", type=int, default=100, help="text->EMG episodes (default 100)")
    p.add_argument("--bootstrap", type=int, default=200, help="EMG->text bootstrap resamples (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of subsampling, episodes and bootstrap")
    p.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")
    p.add_argument("--plot", metavar="FILE.png", help="draw the confusion matrix to this PNG (matplotlib)")
    p.add_argument("--force", action="store_true", help="overwrite the --json / --plot file if it exists")
    p.add_argument("--profile", metavar="PATH",
                   help="score the wearer's profile (myosem enrol) instead of the bare model; the "
                        "enrolment's own windows are never scored")
    p.add_argument("--repetitions", type=repetition_range, metavar="A-B",
                   help="only these repetitions of the recordings (e.g. 5-8)")
    p.add_argument("--labels", choices=("cue", "activity"), default="cue",
                   help="score every window by its cue (default), or only the windows whose muscle activity "
                        "shows the cued gesture (myosem_rt/profile/labels.py: late reactions, early "
                        "releases and fidgets during rest are not scored)")
    p.add_argument("--no-context", action="store_true",
                   help="do not add the row of the model's activity context (myosem_rt/context.py)")
    p.add_argument("--describe-novelty", type=float, metavar="BETA",
                   help="--held-out: also score the held-out classes typed back with the stream's novelty at "
                        "BETA, as live --describe-novelty (default config live.describe_novelty; 0 = not)")
    xdf.add_arguments(p)


def repetition_range(text: str) -> tuple[int, int]:
    """``"5-8"`` -> (5, 8); ``"3"`` -> (3, 3) (argparse type)."""
    a, _, b = text.partition("-")
    try:
        lo, hi = int(a), int(b or a)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected A-B or A (repetition numbers), got '{text}'") from None
    if lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError(f"expected 0 <= A <= B, got '{text}'")
    return lo, hi


def enrolment_mask(profile: Any, repetitions: tuple[int, int] | None):
    """A window mask: the ``repetitions`` range, and never the windows the profile was enrolled on (the
    same recording file, by sha256, and the repetitions its enrolment used)."""
    import numpy as np

    from myosem_rt.text_encoder import sha256_file

    rec = (profile.recording or {}) if profile is not None else {}
    used = set(rec.get("repetitions") or [])
    cache: dict[str, bool] = {}

    def mask(ws: Any) -> np.ndarray:
        keep = np.ones(len(ws), dtype=bool)
        if repetitions is not None:
            keep &= (ws.repetition >= repetitions[0]) & (ws.repetition <= repetitions[1])
        if rec.get("sha256") and ws.files:
            f = str(ws.files[0])
            if f not in cache:
                cache[f] = sha256_file(Path(f)) == rec["sha256"]
            if cache[f]:
                drop = np.isin(ws.repetition, list(used)) if used else np.ones(len(ws), dtype=bool)
                if (keep & drop).any():
                    log.warning("eval: %s is the profile's enrolment recording: its %d enrolment windows "
                                "(repetitions %s) are not scored", f, int((keep & drop).sum()),
                                sorted(used) or "all")
                keep &= ~drop
        return keep

    return mask


def _class_names(model: Any) -> dict[int, str]:
    """{class id: name} of the candidates a model (or a profile view) ranks."""
    names = getattr(model, "class_names", None) or [str(c) for c in model.class_ids]
    if isinstance(names, dict):
        return {int(c): str(names.get(c, c)) for c in model.class_ids}
    return {int(c): str(n) for c, n in zip(model.class_ids, names, strict=True)}


def _load_model(path: str) -> Any:
    from myosem_rt.model import MyoSemModel

    return MyoSemModel.load(path)


def _checked_loader(model: Any, model_dir: str):
    """load_session, refusing recordings whose channel count or rate differs from the model's."""
    from myosem_rt.errors import ConfigError
    from myosem_rt.recordings import load_session

    def load(path: Path):
        s = load_session(path)
        if s.n_channels != int(model.n_channels) or s.fs != float(model.fs):
            raise ConfigError(f"model {model_dir} expects {int(model.n_channels)} ch @ "
                              f"{float(model.fs):g} Hz but {path} has {s.n_channels} ch @ {s.fs:g} Hz")
        return s

    return load


def encode(model: Any, ws: Any, batch: int = ENCODE_BATCH):
    """(N, D) embeddings of every window of ``ws``, encoded in batches.

    An encoder with session statistics (:mod:`myosem_rt.session_stats`, also under a wearer profile) sees
    each recording of ``ws`` as its own stream: from a fresh session, in time order, each window weighted by
    the hops it stands for (a subsampled recording gets the statistics its full stream would have had;
    under a profile every window counts one hop)."""
    import numpy as np

    from myosem_rt.session_stats import recording_order, recording_weights

    out = np.empty((len(ws), model.prototypes.shape[1]), np.float32)
    base = model if getattr(model, "session_stats", None) is not None else getattr(model, "base_model", None)
    if getattr(base, "session_stats", None) is None:
        for i in range(0, len(ws), batch):
            out[i : i + batch] = model.encode(ws.x[i : i + batch], ws.desc[i : i + batch])
        return out
    for order in recording_order(ws):
        base.new_session()
        w = recording_weights(ws, order) if model is base else None
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            kw = {} if w is None else {"weights": w[i : i + batch]}
            out[idx] = model.encode(ws.x[idx], ws.desc[idx], **kw)
    base.new_session()
    return out


class Embedded(NamedTuple):
    """What :func:`embed_files` returns: the scored windows' embeddings and labels, and with a model that has
    an activity context (:mod:`myosem_rt.context`) their context-pooled scores (else None)."""

    z: Any  #: (N, D)
    labels: Any  #: (N,) class ids
    datasets: list[str]
    left_out: int  #: windows a profile could not score (classes it does not know)
    spec: Any  #: the WindowSpec
    context_scores: Any = None  #: (N, K) scores pooled over the model's context, or None
    #: with ``patterns=True``: (N, C) log MAV per channel (:func:`myosem_rt.groups.log_mav`; its level-free
    #: channel pattern groups one wearer's windows, its distance to the wearer's known gestures is their
    #: novelty, :mod:`myosem_rt.novelty`) and (N,) the index in ``files`` of each window's recording
    log_mav: Any = None
    recording: Any = None
    start: Any = None  #: with ``patterns=True``: (N,) each window's first sample in its recording


def recording_windows(model: Any, model_dir: str, files: Iterable[Path], config: dict[str, Any], *,
                      mask=None, max_windows_per_file: int | None = None, seed: int = 0,
                      mark_activity: float | None = None) -> Iterator[Any]:
    """Each file's WindowSet, windowed and filtered as the model was trained, labels in the model's class ids
    (translated by action for another dataset of the same device), ``mask``'s windows only; one file at a
    time, so a folder of recordings is never in memory at once (``myosem eval``, the context choice)."""
    from myosem_rt.model import trained_config
    from myosem_rt.stream.windows import WindowSpec
    from myosem_rt.vocab import load_vocabulary
    from myosem_rt.windowing import load_windows

    spec = WindowSpec(int(model.window), int(model.hop), int(model.patch), float(model.fs))
    cfg, loader = trained_config(model, config), _checked_loader(model, model_dir)
    vocabulary = load_vocabulary(model.vocabulary) if getattr(model, "vocabulary", None) else None
    for path in files:
        ws = load_windows([path], cfg, spec=spec, seed=seed, max_windows_per_file=max_windows_per_file,
                          loader=loader, vocabulary=vocabulary, mark_activity=mark_activity)
        yield ws if mask is None else ws.subset(mask(ws))


def scores_of(model: Any, z: Any):
    """(N, K) what the model ranks embeddings ``z`` by: a calibrated view's posteriors, else the cosine
    against the class prototypes (the scores the activity context pools)."""
    import numpy as np

    if getattr(model, "score_kind", "cosine") == "posterior":
        return model.rank(z)[0]
    return z @ np.asarray(model.prototypes, np.float32).T


def embed_files(model: Any, model_dir: str, files: Sequence[Path], config: dict[str, Any], *, mask=None,
                max_windows_per_file: int | None = None, seed: int = 0,
                activity_fraction: float | None = None, context: Any = "model", patterns: bool = False
                ) -> Embedded:
    """``files`` windowed as the model was trained, ``mask``'s windows only, encoded one file at a time (only
    embeddings are kept). With ``activity_fraction`` every window is encoded, so session statistics and the
    context see the whole stream as they do live, and those whose activity shows their cue are returned.
    ``context``: "model" (the model's own, if any), None (none) or a :class:`ContextSpec`; never with
    ``max_windows_per_file`` (a subsample is not a stream). ``patterns``: also each window's log MAV
    and recording (:class:`Embedded`)."""
    import numpy as np

    from myosem_rt.context import pool_recording
    from myosem_rt.errors import ConfigError
    from myosem_rt.profile.labels import window_activity
    from myosem_rt.stream.windows import WindowSpec

    spec = WindowSpec(int(model.window), int(model.hop), int(model.patch), float(model.fs))
    ids = np.asarray(model.class_ids, dtype=np.int64)
    posterior = getattr(model, "score_kind", "cosine") == "posterior"
    ctx = getattr(model, "context", None) if context == "model" else context
    # the context pools a stream: a subsample of each recording's windows is none (pooled partly, it would
    # give a figure of neither kind), so subsampled figures are per window only
    ctx = ctx if ctx is not None and ctx.active and max_windows_per_file is None else None
    left_out = 0
    z_parts, label_parts, pooled_parts, datasets = [], [], [], []
    pattern_parts, recording_parts, start_parts = [], [], []
    from tqdm import tqdm

    # a bar over the recordings on a terminal (a folder of 3DC files takes minutes), nothing in logs
    bar = tqdm(files, desc="eval", unit="file", disable=len(files) < 2 or not sys.stderr.isatty(),
               leave=False, mininterval=0)  # every file redraws (files take seconds; none is skipped)
    for ws in recording_windows(model, model_dir, bar, config, mask=mask,
                                max_windows_per_file=max_windows_per_file, seed=seed,
                                mark_activity=activity_fraction):
        if ws.dataset not in datasets:
            datasets.append(ws.dataset)
        unknown = sorted(set(np.unique(ws.label).tolist()) - set(ids.tolist()))
        if unknown and posterior:  # a profile ranks the wearer's classes only: score those
            known = np.isin(ws.label, ids)
            left_out += int((~known).sum())
            ws = ws.subset(known)
        elif unknown:
            raise ConfigError(f"data classes {unknown} are not in the vocabulary of model {model_dir} "
                              f"(ids {ids.tolist()})")
        if hasattr(model, "new_session"):  # a profile checks electrode polarity per recording
            model.new_session()
        z = encode(model, ws)
        scored = ws.shows_cue if activity_fraction is not None else np.ones(len(ws), dtype=bool)
        if ctx is not None:
            pooled = pool_recording(scores_of(model, z), window_activity(ws.x), ws.start, ws.hop, ctx)
            pooled_parts.append(pooled[scored])
        z_parts.append(z[scored])
        label_parts.append(ws.label[scored])
        if patterns:
            from myosem_rt.groups import log_mav

            pattern_parts.append(log_mav(ws.x[scored]))
            recording_parts.append(np.full(int(scored.sum()), len(recording_parts)))
            start_parts.append(ws.start[scored])
    z, labels = np.concatenate(z_parts), np.concatenate(label_parts)
    if labels.size == 0:
        raise ConfigError(f"no test windows in {len(files)} file(s) (all left out by the protocol, "
                          f"--repetitions or the profile's enrolment, or trials shorter than {spec.window} "
                          "samples)")
    return Embedded(z, labels, datasets, left_out, spec, np.concatenate(pooled_parts) if ctx else None,
                    *((np.concatenate(pattern_parts), np.concatenate(recording_parts),
                       np.concatenate(start_parts)) if patterns else ()))


def evaluate(model: Any, model_dir: str, files: Sequence[Path], config: dict[str, Any], *, mask=None,
             held_out: frozenset[int] = frozenset(), max_windows_per_file: int | None = None,
             episodes: int = 100, n_resamples: int = 200, seed: int = 0,
             activity_fraction: float | None = None, context: Any = "model") -> dict[str, Any]:
    """Window ``files`` as the model was trained, keep ``mask``'s windows (and with ``activity_fraction``
    score only those whose activity shows the cued gesture), and compute both directions; with an activity
    context (``context``, as :func:`embed_files`) also EMG -> text on the context-pooled scores. With
    ``held_out`` classes also the held-out-only figures after grouping each recording's held-out windows
    (``..._held_out_only_grouped``, :mod:`myosem_rt.groups`), where every action has a muscle entry with
    the held-out actions placed by their anatomy (``..._held_out_only_anatomy``, :mod:`myosem_rt.anatomy`),
    and grouped causally, named by the anatomy where it exists (``..._held_out_only_causal``)."""
    import numpy as np

    from myosem_rt.groups import causal_cuts, causal_grouped_scores, cut_groups, grouped_scores, level_free
    from myosem_rt.retrieval import (
        emg_to_text,
        emg_to_text_scores,
        generalised_curve,
        text_to_emg,
        text_to_emg_scores,
    )
    from myosem_rt.text_encoder import l2_normalize

    z, labels, datasets, left_out, spec, pooled, log_mav, recording, start = embed_files(
        model, model_dir, files, config, mask=mask, max_windows_per_file=max_windows_per_file, seed=seed,
        activity_fraction=activity_fraction, context=context, patterns=bool(held_out))
    ids = np.asarray(model.class_ids, dtype=np.int64)
    posterior = getattr(model, "score_kind", "cosine") == "posterior"
    protos = np.asarray(model.prototypes, dtype=np.float32)
    ids_, counts = np.unique(labels, return_counts=True)
    result: dict[str, Any] = {
        "dataset": " + ".join(datasets), "n_windows": int(labels.size), "n_files": len(files),
        "classes": {int(c): int(n) for c, n in zip(ids_, counts, strict=True)},
        "window": {"window": spec.window, "hop": spec.hop, "patch": spec.patch, "fs": spec.fs},
        "emg_to_text": (emg_to_text_scores(model.rank(z)[0], labels, ids, n_resamples=n_resamples, seed=seed)
                        if posterior else emg_to_text(z, labels, protos, ids, n_resamples=n_resamples,
                                                      seed=seed)),
        "left_out_windows": left_out,
        "context": None if pooled is None else {**model.context.to_dict(),
                                                "span": model.context.describe(float(model.hop_ms))},
        "text_to_emg": text_to_emg(z, labels, protos, ids, episodes=episodes, seed=seed),
    }
    if pooled is not None:  # what the live engine ranks: the scores pooled over the model's context
        result["emg_to_text_context"] = emg_to_text_scores(pooled, labels, ids, n_resamples=n_resamples,
                                                           seed=seed)
    if held_out:
        unseen = np.isin(labels, list(held_out))
        for key, sel in (("held_out", unseen), ("seen", ~unseen)):
            if sel.any():
                result[f"emg_to_text_{key}"] = emg_to_text(z[sel], labels[sel], protos, ids,
                                                           n_resamples=n_resamples, seed=seed)
        # the zero-shot setting proper: only the held-out classes' descriptions are candidates
        only = np.isin(ids, list(held_out))
        if unseen.any() and only.sum() > 1:
            result["emg_to_text_held_out_only"] = emg_to_text(
                z[unseen], labels[unseen], protos[only], ids[only], n_resamples=n_resamples, seed=seed)
            result["text_to_emg_held_out_only"] = text_to_emg(
                z[unseen], labels[unseen], protos[only], ids[only], episodes=episodes, seed=seed)
            if pooled is not None:  # the same candidates, ranked through the model's activity context
                result["emg_to_text_held_out_only_context"] = emg_to_text_scores(
                    pooled[unseen][:, only], labels[unseen], ids[only], n_resamples=n_resamples, seed=seed)
            # each recording's held-out windows grouped by channel pattern, each group named by its mean
            # cosine (myosem_rt/groups.py: transductive, uses the unlabelled windows, never a label)
            held_z = z[unseen]
            scores = model.rank(held_z)[0] if posterior else l2_normalize(held_z) @ l2_normalize(protos).T
            pattern = level_free(log_mav[unseen])
            group = cut_groups(pattern, int(only.sum()), recording[unseen], seed)
            grouped = grouped_scores(scores[:, only], group, recording[unseen])
            result["emg_to_text_held_out_only_grouped"] = emg_to_text_scores(
                grouped, labels[unseen], ids[only], n_resamples=n_resamples, seed=seed)
            result["text_to_emg_held_out_only_grouped"] = text_to_emg_scores(
                grouped, labels[unseen], ids[only], episodes=episodes, seed=seed)
            anatomy = None if posterior else _anatomical(model, protos, ~np.isin(ids, list(held_out)))
            if anatomy is not None:  # the held-out actions placed by their muscles (myosem_rt/anatomy.py)
                result["emg_to_text_held_out_only_anatomy"] = emg_to_text(
                    z[unseen], labels[unseen], anatomy[only], ids[only], n_resamples=n_resamples, seed=seed)
                result["text_to_emg_held_out_only_anatomy"] = text_to_emg(
                    z[unseen], labels[unseen], anatomy[only], ids[only], episodes=episodes, seed=seed)
            # grouped causally (each window named by the groups of its recording's held-out windows up to
            # it, as a stream allows), named by the anatomy where it exists
            cuts = causal_cuts(pattern, int(only.sum()), recording[unseen], start[unseen], seed)
            named = scores[:, only] if anatomy is None else l2_normalize(held_z) @ anatomy[only].T
            causal = causal_grouped_scores(named, cuts)
            result["held_out_only_causal_by"] = "cosine" if anatomy is None else "anatomy"
            result["emg_to_text_held_out_only_causal"] = emg_to_text_scores(
                causal, labels[unseen], ids[only], n_resamples=n_resamples, seed=seed)
            result["text_to_emg_held_out_only_causal"] = text_to_emg_scores(
                causal, labels[unseen], ids[only], episodes=episodes, seed=seed)
        if unseen.any() and (~unseen).any():  # seen and held-out compete: the curve over stacking offsets
            result["generalised"] = generalised_curve(z, labels, protos, ids, sorted(held_out))
            if not posterior and getattr(model, "text_dir", None) is not None:
                from myosem_rt.commands.eval_typed import typed_back_figures

                result.update(typed_back_figures(model, z, labels, sorted(held_out), config, log_mav,
                                                 recording, start))
    return result


def _anatomical(model: Any, protos: Any, known: Any) -> Any:
    """The prototypes with each action not ``known`` placed by its muscles too
    (:func:`myosem_rt.anatomy.anatomical_prototypes`, default weight), or None when an action of the model
    has no muscle entry."""
    from myosem_rt.anatomy import anatomical_prototypes
    from myosem_rt.vocab.muscles import load_muscles

    actions = list(getattr(model, "actions", None) or [])
    vectors = load_muscles().vectors(actions) if len(actions) == len(protos) else None
    if vectors is None:
        return None
    return anatomical_prototypes(protos, vectors, known)


def _row(name: str, figures: dict[str, Any], spread: str, keys: Sequence[str]) -> str:
    cells = [f"{figures[k]:.3f} ± {figures[spread][k]:.3f}" for k in keys]
    chance = [f"{figures['chance'][k]:.3f}" for k in keys]
    return (f"{name:<18s}" + "".join(f"{c:>16s}" for c in cells) + "\n"
            + f"{'  chance':<18s}" + "".join(f"{c:>16s}" for c in chance) + "\n")


def format_table(result: dict[str, Any]) -> str:
    """The printed report: one line per direction and its chance level."""
    keys = [k for k in result["emg_to_text"] if k.startswith("R@")] + ["MRR"]
    t2e = result["text_to_emg"]
    lines = (f"{result['dataset']}: {result['n_windows']} test windows from {result['n_files']} file(s), "
             f"{len(result['classes'])} classes"
             + (f", protocol {result['protocol']}" if result.get("protocol") else "")
             + (", activity labels" if result.get("labels") == "activity" else "") + "\n"
             + f"{'':<18s}" + "".join(f"{k:>16s}" for k in keys) + "\n"
             + _row("EMG->text (±std)", result["emg_to_text"], "std", keys)
             + _row("text->EMG (±se)", t2e, "se", keys))
    if "emg_to_text_context" in result:  # the model's activity context (myosem_rt.context), as live ranks
        lines += _row("EMG->text context", result["emg_to_text_context"], "std", keys)
    for key in ("held_out", "seen"):
        if f"emg_to_text_{key}" in result:
            lines += _row(f"EMG->text {key.replace('_', '-')}", result[f"emg_to_text_{key}"], "std", keys)
    if "emg_to_text_held_out_only" in result:  # candidates: the held-out classes alone
        lines += _row("EMG->text h-o only", result["emg_to_text_held_out_only"], "std", keys)
        lines += _row("text->EMG h-o only", result["text_to_emg_held_out_only"], "se", keys)
        if "emg_to_text_held_out_only_context" in result:
            lines += _row("EMG->text h-o ctx", result["emg_to_text_held_out_only_context"], "std", keys)
        if "emg_to_text_held_out_only_grouped" in result:  # older manifests lack it
            lines += _row("EMG->text h-o grp", result["emg_to_text_held_out_only_grouped"], "std", keys)
            lines += _row("text->EMG h-o grp", result["text_to_emg_held_out_only_grouped"], "se", keys)
        if "emg_to_text_held_out_only_anatomy" in result:
            lines += _row("EMG->text h-o anat", result["emg_to_text_held_out_only_anatomy"], "std", keys)
            lines += _row("text->EMG h-o anat", result["text_to_emg_held_out_only_anatomy"], "se", keys)
        if "emg_to_text_held_out_only_causal" in result:  # grouped causally (myosem_rt.groups)
            by = "anat" if result["held_out_only_causal_by"] == "anatomy" else "h-o"
            lines += _row(f"EMG->text {by} c-grp", result["emg_to_text_held_out_only_causal"], "std", keys)
            lines += _row(f"text->EMG {by} c-grp", result["text_to_emg_held_out_only_causal"], "se", keys)
    from myosem_rt.commands.eval_typed import format_typed

    lines += format_typed(result)
    if result.get("context"):
        lines += f"context: {result['context']['span']} (the model's; as the live engine ranks)\n"
    return lines + (f"text->EMG: {t2e['episodes']} episodes of {t2e['n_candidates']} candidates "
                    f"(one window per class)\n")


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.errors import ConfigError
    from myosem_rt.recordings import find_recordings

    if not args.model and not args.profile:
        raise ConfigError("eval: give --model DIR, or --profile PATH (its model is used)")
    if getattr(args, "describe_novelty", None) is not None:  # validated with the rest of live's settings
        live = {**dict(config.get("live") or {}), "describe_novelty": args.describe_novelty}
        config = {**config, "live": live}
        from myosem_rt.live.engine import LiveSettings

        LiveSettings.from_config(config)
    if args.json:
        check_new_file(args.json, "--json", force=args.force)
    if args.plot:
        from myosem_rt.confusion import check_plot_output

        check_plot_output(args.plot, force=args.force)
    model = _load_model(args.model) if args.model else None
    name = args.model
    profile = None
    if args.profile:
        from myosem_rt.profile import load_profile_view

        model = load_profile_view(args.profile, model, config)
        profile, name = model.profile, f"{args.model or 'profile'} + profile {args.profile}"
    mask, held_out = None, frozenset()
    if args.protocol:
        from myosem_rt.protocols import options_from_args, split

        options = options_from_args(args)
        sp = split(args.protocol, Path(args.data), **options)
        files, mask, held_out = sp.test_files, sp.test_mask, sp.held_out_classes
        trained = ((getattr(model, "manifest", None) or {}).get("classes") or {}).get("held_out_class_ids")
        if trained is not None and set(trained) != set(held_out):
            raise ConfigError(f"--protocol {args.protocol}: model {name} was trained holding out classes "
                              f"{sorted(trained)}, not {sorted(held_out)} (give --held-out "
                              f"{' '.join(map(str, sorted(trained))) or 'as trained'})")
    else:
        files = find_recordings(args.data)
    if profile is not None or args.repetitions is not None:
        extra, base_mask = enrolment_mask(profile, args.repetitions), mask
        mask = extra if base_mask is None else (lambda ws: base_mask(ws) & extra(ws))
    fraction = None
    if args.labels == "activity":
        from myosem_rt.profile.enrol import enrol_settings

        fraction = enrol_settings(config)["activity_fraction"]
    result = evaluate(model, str(name), files, config, mask=mask, held_out=held_out,
                      max_windows_per_file=args.max_windows_per_file, episodes=args.episodes,
                      n_resamples=args.bootstrap, seed=args.seed, activity_fraction=fraction,
                      context=None if args.no_context else "model")
    from myosem_rt.model import warn_trained_on

    seen = warn_trained_on(model, files, "eval")  # after the work: a failed run prints only its error
    result = {"model": str(name), "data": str(args.data), "protocol": args.protocol,
              "repetitions": args.repetitions, "labels": args.labels, "trained_on": seen, **result}
    if result.get("left_out_windows"):
        log.warning("eval: %d windows of classes the profile does not have were not scored",
                    result["left_out_windows"])
    sys.stdout.write(format_table(result))
    if seen:
        sys.stdout.write(f"WARNING: the model was trained on {len(seen)} of these recordings (see above); "
                         "these figures are not a test\n")
    from myosem_rt.confusion import format_confusion, plot_confusion

    names = _class_names(model)
    e2t = result["emg_to_text"]
    sys.stdout.write(format_confusion(e2t["confusion"], names, model.class_ids, e2t["per_class"]))
    if args.plot:
        plot_confusion(e2t["confusion"], names, model.class_ids, args.plot,
                       title=f"{name} on {args.data}: EMG->text R@1 {e2t['R@1']:.3f}")
        log.info("eval: confusion matrix drawn to %s", args.plot)
    if args.json:
        out = Path(args.json)
        write_json(out, result)
        log.info("eval: figures written to %s", out)
    return 0

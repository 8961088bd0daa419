"""``myosem bench stability --model NAME|DIR --data FILE [--profile PATH | --describe G ...]``: label flicker
against accuracy.

Why: a shown label that changes many times a second is unreadable even when most hops are right (a tester
saw 29 changes in 10 s on 3DC S18), while holding a label too long makes the display late. This measures
both sides for the settings of :class:`~myosem_rt.live.engine.LiveEngine` (rejection, hold, dwell) on a
labelled recording, without LSL but through the same windows the live runtime sees:

1. the session is fed in 20 ms chunks (sample-accurate timestamps ``i / fs``) through a
   :class:`~myosem_rt.stream.consumer.Pipeline` configured with :func:`myosem_rt.model.trained_config`, so
   windows cross label changes exactly as they do live; each window is embedded once with the model's
   ``encode`` (the call :meth:`LiveEngine.step` makes);
2. for every setting compared, every hop goes through :meth:`LiveEngine.step` of a fresh engine whose model
   returns the stored embedding instead of re-encoding (:class:`_Replayed`): ranking (the base model's
   cosines or a calibrated view's posteriors), smoothing, rejection and the gate are the live code;
3. the ground truth of a hop is the session's label (in the model's class ids) at the window's last sample.

Printed per setting (:func:`stability_figures`): hops; changes per minute of the *shown* label (every
change, to and from "uncertain" included) beside the ground truth's; accuracy (share of hops whose shown
label is the truth -- "uncertain" counts as wrong); the share of hops shown "uncertain"; the mean delay from
a ground-truth change to the first hop showing the new class (before the next change; changes never shown
are counted as missed).

With ``--describe`` (as ``myosem live --describe``: :func:`myosem_rt.typed.with_typed`) the recording is
ranked against the model's classes and the typed gestures, which it never shows: the share of hops showing
a typed gesture is the false-alarm rate a wearer sees who types a gesture and does not make it (column
``typed``), at the configured settings only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError

log = logging.getLogger(__name__)

#: Chunk length fed to the pipeline (a typical LSL pull at real time).
CHUNK_MS = 20.0
#: Before the rejection/dwell gate existed: the label followed the smoothed decision, "uncertain" at once.
OLD = {"dwell_ms": 0.0, "hold_ms": 0.0, "min_score": 0.0, "min_posterior": 0.0, "min_margin": 0.02}
#: The sweep: dwell x hold without score rejection, then the rejection thresholds of the model's score kind
#: at the longest hold (cosines of the shipped models already differ: the Myo model's top cosine is often
#: below 0.3; a calibrated view's posteriors are confident, its interesting range is above 0.5).
SWEEP_DWELL_MS = (0.0, 100.0, 200.0, 300.0, 500.0)
SWEEP_HOLD_MS = (0.0, 500.0, 1000.0)
SWEEP_REJECT = {"cosine": (0.2, 0.3), "posterior": (0.5, 0.7, 0.9)}
#: ``--quick``: this many seconds from the start of the recording.
QUICK_S = 120.0


@dataclass(frozen=True)
class Hops:
    """One recording run through the live pipeline once: per hop its window's embedding and the truth."""

    index: np.ndarray  #: (N,) window index
    segment: np.ndarray  #: (N,) stream segment
    timestamp: np.ndarray  #: (N,) time of the window's last sample (s from the recording start)
    z: np.ndarray  #: (N, D) embeddings
    truth: np.ndarray  #: (N,) class id of the session label at the window's last sample
    hop_ms: float
    mav: np.ndarray  #: (N, C) per-channel MAV of each window: all the engine's activity context reads

    def __len__(self) -> int:
        return int(self.index.shape[0])


def truth_ids(model: Any, session: Any, path: Any) -> np.ndarray:
    """The session's per-sample labels as class ids of ``model`` (translated by action, like myosem eval)."""
    from myosem_rt.vocab import load_vocabulary
    from myosem_rt.windowing import _labels_in

    vocabulary = load_vocabulary(model.vocabulary) if getattr(model, "vocabulary", None) else None
    labels = _labels_in(vocabulary, session, Path(str(path)), np.asarray(session.label, dtype=np.int64))
    unknown = sorted(set(np.unique(labels).tolist()) - {int(c) for c in model.class_ids})
    if unknown:
        raise ConfigError(f"{path}: classes {unknown} are not classes of model {model.directory}")
    return labels


def replay_hops(model: Any, config: Mapping[str, Any], session: Any, truth: np.ndarray, *,
                start_s: float = 0.0, duration_s: float | None = None) -> Hops:
    """Feed ``session`` (from ``start_s``, for ``duration_s``) through the model's live pipeline in
    :data:`CHUNK_MS` chunks and embed every window (module docstring, step 1)."""
    from myosem_rt.model import trained_config
    from myosem_rt.stream.consumer import Pipeline

    fs = float(session.fs)
    first = max(0, int(round(start_s * fs)))
    last = session.n_samples if duration_s is None else min(session.n_samples,
                                                           first + int(round(duration_s * fs)))
    pipe = Pipeline(fs, session.n_channels, trained_config(model, config))
    step = max(1, round(CHUNK_MS * 1e-3 * fs))
    rows: list[tuple[int, int, float, int]] = []
    zs: list[np.ndarray] = []
    mavs: list[np.ndarray] = []
    emg = session.emg
    for a in range(first, last, step):
        b = min(a + step, last)
        for w in pipe.process(emg[a:b], np.arange(a, b) / fs):
            end = int(round(w.timestamp * fs))
            rows.append((w.index, w.segment, w.timestamp, int(truth[end])))
            zs.append(np.asarray(model.encode(w.samples, w.descriptors), dtype=np.float32).reshape(-1))
            mavs.append(np.abs(np.asarray(w.samples, dtype=np.float64)).mean(axis=0))
    if not rows:
        raise ConfigError(f"{session.source_id}: no window in {(last - first) / fs:.3g} s of recording")
    index, segment, timestamp, labels = (np.asarray(c) for c in zip(*rows, strict=True))
    return Hops(index.astype(np.int64), segment.astype(np.int64), timestamp.astype(np.float64),
                np.stack(zs), labels.astype(np.int64), float(model.hop_ms), np.stack(mavs))


class _Replayed:
    """``model`` (or a calibrated view) whose ``encode`` returns the stored embedding a hop carries."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode(self, samples: np.ndarray, descriptors: Any) -> np.ndarray:
        return descriptors


@dataclass(frozen=True)
class _Hop:
    """The fields of a consumer Window that :meth:`LiveEngine.step` reads: ``descriptors`` carries the stored
    embedding, ``samples`` the window's per-channel MAV as one (1, C) row, whose activity (mean log |x|) is
    the window's (what the engine's activity context reads)."""

    index: int
    segment: int
    timestamp: float
    samples: np.ndarray
    descriptors: np.ndarray


def shown_ids(model: Any, hops: Hops, settings: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every hop through a fresh :class:`LiveEngine` with ``settings``: (shown class id or -1 when
    "uncertain", raw top-1 class id) per hop."""
    from myosem_rt.live.engine import LiveEngine

    engine = LiveEngine(_Replayed(model), settings)
    shown = np.empty(len(hops), dtype=np.int64)
    raw = np.empty(len(hops), dtype=np.int64)
    for i in range(len(hops)):
        r = engine.step(_Hop(int(hops.index[i]), int(hops.segment[i]), float(hops.timestamp[i]),
                             hops.mav[i][None], hops.z[i][None]))
        shown[i] = -1 if r.label_id is None else r.label_id
        raw[i] = r.topk[0]["id"]
    return shown, raw


def _changes(x: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Hops (index > 0) where ``x`` differs from the previous hop of the same segment."""
    return np.flatnonzero((x[1:] != x[:-1]) & (segment[1:] == segment[:-1])) + 1


def stability_figures(shown: np.ndarray, truth: np.ndarray, segment: np.ndarray,
                      hop_ms: float, typed: Sequence[int] = ()) -> dict[str, float]:
    """Flicker and accuracy of shown labels (-1 = "uncertain") against the truth (module docstring); with
    the ``typed`` gestures' ids, the share of hops showing one of them (``typed``)."""
    shown, truth, segment = (np.asarray(a) for a in (shown, truth, segment))
    n = int(shown.size)
    minutes = n * hop_ms / 60_000.0
    truth_changes = _changes(truth, segment)
    # a change is looked for until the next truth change or the end of its segment
    bounds = np.union1d(truth_changes, np.append(np.flatnonzero(segment[1:] != segment[:-1]) + 1, n))
    delays, missed = [], 0
    for i in truth_changes:
        stop = int(bounds[np.searchsorted(bounds, i, side="right")])
        hit = np.flatnonzero(shown[i:stop] == truth[i])
        if hit.size:
            delays.append(float(hit[0]) * hop_ms)
        else:
            missed += 1
    return {
        "hops": n,
        "minutes": minutes,
        "changes_per_min": _changes(shown, segment).size / minutes if minutes else math.nan,
        "truth_changes_per_min": truth_changes.size / minutes if minutes else math.nan,
        "accuracy": float(np.mean(shown == truth)) if n else math.nan,
        "uncertain": float(np.mean(shown < 0)) if n else math.nan,
        "delay_ms": float(np.mean(delays)) if delays else math.nan,
        "truth_changes": int(truth_changes.size),
        "missed": missed,
        **({"typed": float(np.mean(np.isin(shown, list(typed)))) if n else math.nan} if len(typed) else {}),
    }


def sweep(kind: str) -> list[tuple[str, dict[str, float]]]:
    """(row name, ``live`` overrides) of every setting compared: the old behaviour, the configured defaults,
    dwell x hold, then dwell x the rejection thresholds of score ``kind`` (:data:`SWEEP_REJECT`)."""
    key = "min_posterior" if kind == "posterior" else "min_score"
    rows: list[tuple[str, dict[str, float]]] = [("old (dwell 0, hold 0, no rejection)", dict(OLD)),
                                                ("configured defaults", {})]
    grid = [(0.0, hold) for hold in SWEEP_HOLD_MS] + [(r, SWEEP_HOLD_MS[-1]) for r in SWEEP_REJECT[kind]]
    for reject, hold in grid:
        for dwell in SWEEP_DWELL_MS:
            rows.append((f"dwell {dwell:3.0f}  hold {hold:4.0f}  {key} {reject:.1f}",
                         {"dwell_ms": dwell, "hold_ms": hold, key: reject}))
    return rows


def measure(model: Any, config: Mapping[str, Any], hops: Hops,
            rows: Sequence[tuple[str, Mapping[str, float]]]) -> list[tuple[str, dict[str, float]]]:
    """:func:`stability_figures` of each setting in ``rows`` (first: raw top-1, no smoothing)."""
    from myosem_rt.live.engine import LiveSettings

    is_typed = getattr(model, "is_typed", None)  # a view with typed gestures (myosem_rt/typed.py)
    typed = [] if is_typed is None else np.asarray(model.class_ids)[is_typed].tolist()
    out: list[tuple[str, dict[str, float]]] = []
    for i, (name, overrides) in enumerate(rows):
        shown, raw = shown_ids(model, hops, LiveSettings.from_config(config, **overrides))
        if i == 0:
            out.append(("raw top-1 (no smoothing)", stability_figures(raw, hops.truth, hops.segment,
                                                                      hops.hop_ms, typed)))
        out.append((name, stability_figures(shown, hops.truth, hops.segment, hops.hop_ms, typed)))
    return out


def load_view(model: Any, config: Mapping[str, Any], profile: str | None) -> Any:
    """``model``, or its calibrated view from ``profile`` (:func:`myosem_rt.profile.load_profile_view`)."""
    if not profile:
        return model
    from myosem_rt.profile import load_profile_view

    return load_profile_view(profile, model, config)


def format_table(results: Sequence[tuple[str, Mapping[str, float]]]) -> list[str]:
    typed = any("typed" in f for _, f in results)
    head = (f"  {'setting':<40s}{'changes/min':>12s}{'accuracy':>10s}{'uncertain':>10s}"
            f"{'delay ms':>10s}{'missed':>8s}" + (f"{'typed':>8s}" if typed else ""))
    lines = [head]
    for name, f in results:
        lines.append(f"  {name:<40s}{f['changes_per_min']:12.1f}{f['accuracy']:10.3f}{f['uncertain']:10.3f}"
                     f"{f['delay_ms']:10.0f}{f['missed']:>5d}/{f['truth_changes']}"
                     + (f"{f.get('typed', math.nan):8.3f}" if typed else ""))
    return lines


def bench_stability(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench stability``: flicker and accuracy of the shown label per setting (module docstring)."""
    from myosem_rt.live.engine import LiveSettings, score_kind
    from myosem_rt.model import MyoSemModel
    from myosem_rt.recordings import load_session

    model_dir, data = getattr(args, "model", None), getattr(args, "data", None)
    profile = getattr(args, "profile", None)
    if not (model_dir or profile) or not data:
        raise ConfigError("bench stability needs --model NAME|DIR (or --profile PATH) and --data FILE "
                          "(a labelled recording)")
    described = getattr(args, "describe", None)
    if described and profile:
        raise ConfigError("bench stability: --describe ranks by the model's cosine, not with --profile")
    base = MyoSemModel.load(model_dir, threads=1) if model_dir else None
    model = load_view(base, config, profile) if profile else base
    if described:  # as live --describe ranks them (myosem_rt/typed.py)
        from myosem_rt.typed import parse_typed, with_typed

        model = with_typed(model, parse_typed(described), LiveSettings.from_config(
            config, describe_novelty=getattr(args, "describe_novelty", None)))
    session = load_session(data)
    if session.n_channels != model.n_channels or session.fs != model.fs:
        raise ConfigError(f"{data} is {session.n_channels} ch @ {session.fs:g} Hz but {model.directory} "
                          f"expects {model.n_channels} ch @ {model.fs:g} Hz")
    kind = score_kind(model)
    duration = QUICK_S if getattr(args, "quick", False) else None
    hops = replay_hops(model, config, session, truth_ids(model, session, data), duration_s=duration)
    rows = [("configured defaults", {})] if described else sweep(kind)
    results = measure(model, config, hops, rows)
    live = LiveSettings.from_config(config)
    f0 = results[0][1]
    lines = [f"model  {model.directory}  ({kind} scores, hop {model.hop_ms:g} ms, K={len(model.class_ids)})"
             + (f"  profile {args.profile}" if getattr(args, "profile", None) else ""),
             f"data   {data}  ({len(hops)} hops = {f0['minutes']:.2f} min; ground truth "
             f"{f0['truth_changes_per_min']:.1f} changes/min, {f0['truth_changes']} changes)",
             f"configured: smoothing {live.smoothing} (alpha {live.ema_alpha:g}), min_margin "
             f"{live.min_margin:g}, {'min_posterior' if kind == 'posterior' else 'min_score'} "
             f"{live.reject_below(kind):g}, dwell {live.dwell_ms:g} ms, hold {live.hold_ms:g} ms",
             "accuracy: shown label == truth (uncertain = wrong); delay: truth change -> first correct shown "
             "label (mean; missed = never shown before the next change)"]
    if described:
        lines.append(f"typed: {', '.join(t.name for t in model.typed)} (never in the recording: the share of "
                     f"hops showing one is the false-alarm rate); stream novelty x {model.novelty:g}")
    print("\n".join(lines + format_table(results)))
    return 0

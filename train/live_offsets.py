"""``myosem bench describe``: the stream novelty's weight and offset that ``myosem live --describe`` uses,
chosen on the live path itself.

Why a bench of its own: ``myosem bench zeroshot`` chooses the novelty's weight and the stacking offset with
each window's novelty measured against its whole test recording (:func:`myosem_rt.novelty.
recording_stream_novelty`, the offline form), but live measures a window against the stream's past alone
(:class:`myosem_rt.novelty.StreamNovelty`), which is noisier: at the zero-shot bench's choice the live path
took 0.136 of the known gestures' windows for a new gesture instead of at most 0.10. Here every fold's
held-out MyoSem model (the runs of ``bench zeroshot``) ranks its held-out classes typed back exactly as
``myosem eval --held-out`` and ``live --describe`` do (:func:`myosem_rt.typed.typed_back`, the novelty of
:func:`myosem_rt.novelty.causal_stream_novelty`), over a grid of the novelty's weight (``live.
describe_novelty``) and the offset of the typed gestures placed by their anatomy (``live.
describe_novelty_offset_anatomy``); the other offsets stay as configured. The pair with the best harmonic
mean of new- and known-gesture R@1 within :data:`train.zeroshot.FALSE_ALARM_BUDGET` is chosen on the folds
by action id (:func:`train.zeroshot.operating_point`): over all folds, what the config holds, and, for an
honest figure, for each fold on the other folds alone.

Each point is measured twice: each hop's ranking alone, and what the wearer is *shown*: the ranked scores
in stream order through the live engine's activity context (where the model has one), smoothing,
rejection and label gate (:func:`myosem_rt.live.engine.shown_columns`, config ``live``), a hop shown
"uncertain" being neither right nor a false alarm. The choice is made on what is shown. (The context's
activity is taken from the windows' log MAV, whose floor is 1e-6 where the engine's is 1e-12: immaterial
on EMG.)
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError

log = logging.getLogger(__name__)

#: the grid: the novelty's weight, and the novelty offset of the typed gestures placed by their anatomy
BETAS = (0.1, 0.2, 0.3, 0.5, 0.75)
OFFSETS = tuple(float(o) for o in np.round(np.arange(-0.30, 0.105, 0.01), 2))
#: how the held-out classes are typed back: by action id (decides the choice), and in a wearer's words
VIEWS = (("id", False, "by action id"), ("words", True, "in the wearer's words"))
RESULT_FILE = "describe_sweep.json"
#: the cached sweep's version: a cached file of another version (or other fixed settings) is computed again
VERSION = 2
FIGURES = ("held_out", "seen", "harmonic", "false_alarm")
#: the two readings of each point: each hop's ranking, and the label the live engine shows (chosen on)
READINGS = (("ranked", "each hop ranked"), ("shown", "shown live"))


def sweep(view: Any, z: np.ndarray, novelty: np.ndarray, labels: np.ndarray, columns: np.ndarray,
          held_out: list[int], betas: tuple[float, ...] = BETAS, offsets: tuple[float, ...] = OFFSETS,
          shown: Callable[[list[np.ndarray]], np.ndarray] | None = None) -> list[dict[str, Any]]:
    """For each weight of ``betas``, the generalised figures over ``offsets`` (``{"gamma": offsets,
    "held_out", "seen", "harmonic", "false_alarm"}``, :func:`myosem_rt.retrieval.generalised_curve_scores`
    at no stacking) of ``view`` (a :class:`myosem_rt.typed.TypedCandidates` whose classes are ``columns``)
    ranking ``z`` with each window's ``novelty``, the typed gestures placed by their anatomy getting the
    offset: the view's own ranking (:meth:`~myosem_rt.typed.TypedCandidates.rank`), its other settings as
    they are. With ``shown`` (the offsets' ranked scores -> the column shown at each window for each, -1
    for none: :func:`live_shown`), each curve also has the figures of what is shown under ``"shown"``
    (:func:`myosem_rt.retrieval.generalised_from_columns`)."""
    from myosem_rt.retrieval import generalised_curve_scores, generalised_from_columns

    placed = np.isin(view.class_names, list(view.anatomical)) & view.is_typed
    saved = view.novelty, view.novelty_offsets
    grid = []
    try:
        for beta in betas:
            curve: dict[str, Any] = {"gamma": [], **{k: [] for k in FIGURES}}
            ranked = []
            for offset in offsets:
                view.novelty = float(beta)
                view.novelty_offsets = np.where(placed, np.float32(offset), saved[1]).astype(np.float32)
                ranked.append(view.rank(z, novelty)[0])
                point = generalised_curve_scores(ranked[-1], labels, columns, held_out, gammas=(0.0,))
                curve["gamma"].append(float(offset))
                for k in FIGURES:
                    curve[k].append(float(point[k][0]))
            if shown is not None:  # every offset's ranking at once, as the engine would show each
                on_screen = [generalised_from_columns(c, labels, columns, held_out) for c in shown(ranked)]
                curve["shown"] = {k: [float(p[k]) for p in on_screen] for k in FIGURES}
            grid.append(curve)
    finally:
        view.novelty, view.novelty_offsets = saved
    return grid


def _fixed(live: Any) -> dict[str, Any]:
    """The settings the sweep keeps as configured (a cached sweep made with others is computed again)."""
    return {"describe_offset": live.describe_offset, "describe_offset_anatomy": live.describe_offset_anatomy,
            "describe_novelty_offset": live.describe_novelty_offset,
            **{k: getattr(live, k) for k in ("context", "smoothing", "ema_alpha", "majority_hops",
                                             "min_score", "min_margin", "dwell_ms", "hold_ms")}}


def live_shown(model: Any, settings: Any, recording: np.ndarray, start: np.ndarray,
               log_mav: np.ndarray) -> Callable[[list[np.ndarray]], np.ndarray]:
    """Rankings (each (N, K) scores) of windows from recordings ``recording`` starting at samples ``start``
    -> (len, N) the column the live engine shows at each window under each ranking (-1: "uncertain"): each
    recording's windows in time order, a new stream segment wherever a recording starts or a window is more
    than a hop after the one before, the scores pooled by the model's activity context where it has one
    (config ``live.context``; per recording, as ``myosem eval`` pools them), then
    :func:`myosem_rt.live.engine.shown_columns`."""
    from myosem_rt.context import pool_recording
    from myosem_rt.live.engine import score_kind, shown_columns

    order = np.lexsort((start, recording))
    rec, first = np.asarray(recording)[order], np.asarray(start)[order]
    segment = np.cumsum(np.r_[True, (rec[1:] != rec[:-1]) | (np.diff(first) > int(model.hop))])
    spec = getattr(model, "context", None) if settings.context == "model" else None
    spec = spec if spec is not None and spec.active else None
    activity = np.asarray(log_mav, dtype=np.float64).mean(axis=1)[order]
    recordings = [np.flatnonzero(rec == r) for r in np.unique(rec)]
    kind, hop_ms = score_kind(model), float(model.hop_ms)

    def shown(rankings: list[np.ndarray]) -> np.ndarray:
        batch = np.stack([np.asarray(r)[order] for r in rankings])
        if spec is not None:  # the engine pools, then smooths float32 scores
            for rows in recordings:
                for i in range(len(batch)):
                    batch[i, rows] = pool_recording(batch[i, rows], activity[rows], first[rows],
                                                    int(model.hop), spec)
            batch = batch.astype(np.float32)
        out = np.empty((len(batch), len(order)), dtype=np.int64)
        out[:, order] = shown_columns(batch, segment, settings, hop_ms, kind)
        return out

    return shown


def fold_sweep(model_dir: Path, data: Path, config: dict[str, Any]) -> dict[str, Any]:
    """:func:`sweep` of one fold's held-out model for every view of :data:`VIEWS` on the windows
    ``myosem eval --held-out`` scores (every test window of the fold's split), cached in
    ``<model_dir>/describe_sweep.json``."""
    from dataclasses import replace

    from myosem_rt.commands.eval import embed_files
    from myosem_rt.live.engine import LiveSettings
    from myosem_rt.model import MyoSemModel
    from myosem_rt.novelty import causal_stream_novelty
    from myosem_rt.output_files import write_json
    from myosem_rt.protocols import split
    from myosem_rt.text_encoder import TextEncoder
    from myosem_rt.typed import typed_back

    live = LiveSettings.from_config(config)
    cached = model_dir / RESULT_FILE
    if cached.is_file():
        result = json.loads(cached.read_text(encoding="utf-8"))
        if (result.get("version"), result.get("fixed"), result.get("betas"), result.get("offsets")) == (
                VERSION, _fixed(live), list(BETAS), list(OFFSETS)):
            return result
    model = MyoSemModel.load(str(model_dir))
    options = dict(model.manifest["data"].get("options") or {})
    sp = split(model.manifest["data"]["protocol"], data, **options)
    held_out = sorted(sp.held_out_classes)
    windows = embed_files(model, str(model_dir), sp.test_files, config, mask=sp.test_mask, patterns=True)
    encoder = TextEncoder.load(model.text_dir)
    # every view ranks with the novelty on (its value is swept) beside the known gestures, as live
    # --describe does by default (never --describe-only, whatever the config says)
    settings = replace(live, describe_novelty=max(live.describe_novelty, BETAS[0]), describe_only=False)
    result: dict[str, Any] = {"version": VERSION, "fixed": _fixed(live), "betas": list(BETAS),
                              "offsets": list(OFFSETS), "held_out": held_out, "windows": len(windows.labels)}
    novelty = None  # the same for both views: their trained classes are the model's kept ones
    shown = live_shown(model, settings, windows.recording, windows.start, windows.log_mav)
    for key, free, _ in VIEWS:
        view, columns = typed_back(model, held_out, encoder, settings, free)
        if novelty is None:
            known = np.asarray(windows.z, dtype=np.float32) @ view.prototypes[~view.is_typed].T
            novelty = causal_stream_novelty(windows.log_mav, known, windows.recording)
        result[key] = {"grid": sweep(view, windows.z, novelty, windows.labels, columns, held_out,
                                     shown=shown), "anatomical": list(view.anatomical)}
        log.info("%s: %s swept (%d windows)", model_dir, key, len(windows.labels))
    write_json(cached, result)
    return result


def choose(grids: list[list[dict[str, list[float]]]]) -> dict[str, Any]:
    """The grid point (weight index ``b``, offset index ``o``) of the best mean harmonic mean over ``grids``
    (folds) within the false-alarm budget (:func:`train.zeroshot.operating_point`), over all folds, and
    for each fold the point chosen on the other folds (``folds``: [(b, o)])."""
    from train.zeroshot import FALSE_ALARM_BUDGET, operating_point

    b, o = operating_point(grids, FALSE_ALARM_BUDGET)
    folds = [operating_point([g for j, g in enumerate(grids) if j != k], FALSE_ALARM_BUDGET)
             for k in range(len(grids))]
    return {"b": b, "o": o, "folds": folds}


def _index(values: tuple[float, ...], value: float) -> int | None:
    """The grid index of ``value`` (None where it is off the grid)."""
    hits = [i for i, v in enumerate(values) if abs(v - value) < 1e-9]
    return hits[0] if hits else None


def rows(folds: list[dict[str, Any]], live: Any) -> tuple[list[dict[str, Any]], bool]:
    """The report's rows: for each view, the configured point (where it differs from the choice), the
    point chosen on every fold by action id, and each fold at the point the other folds chose (*out of
    fold*); each row with every fold's figures and their mean and sd. Also whether the config holds the
    choice."""
    from train.loso import mean_sd

    grids = {key: [f[key]["grid"] for f in folds] for key, _, _ in VIEWS}
    chosen = choose([_reading(g, "shown") for g in grids["id"]])  # on what the wearer is shown
    configured = (_index(BETAS, live.describe_novelty), _index(OFFSETS, live.describe_novelty_offset_anatomy))
    matches = configured == (chosen["b"], chosen["o"])
    points = [("chosen on every fold", [(chosen["b"], chosen["o"])] * len(folds)),
              ("out of fold", chosen["folds"])]
    if None not in configured and not matches:
        points.insert(0, ("configured", [configured] * len(folds)))
    out = []
    for key, _, how in VIEWS:
        for reading, said in READINGS:
            for name, at in points:
                per_fold = [{f: _reading(grids[key][k], reading)[b][f][o] for f in FIGURES}
                            for k, (b, o) in enumerate(at)]
                out.append({"view": how, "reading": said, "point": name, "betas": [BETAS[b] for b, _ in at],
                            "offsets": [OFFSETS[o] for _, o in at], "folds": per_fold,
                            **{f: list(mean_sd([p[f] for p in per_fold])) for f in FIGURES}})
    return out, matches


def _reading(grid: list[dict[str, Any]], reading: str) -> list[dict[str, Any]]:
    """One fold's grid as ``reading`` of :data:`READINGS` has it: each hop ranked, or what is shown."""
    return grid if reading == "ranked" else [{"gamma": c["gamma"], **c["shown"]} for c in grid]


def report(suite: str, folds: list[dict[str, Any]], live: Any, command: str) -> tuple[str, dict[str, Any]]:
    """The markdown report and its figures (:func:`rows`), mean ± sd over folds."""
    from train.zeroshot import FALSE_ALARM_BUDGET

    table, matches = rows(folds, live)
    smoothing = (f"{live.smoothing} alpha {live.ema_alpha:g}" if live.smoothing == "ema"
                 else f"{live.smoothing} over {live.majority_hops} hops")
    lines = [f"# Live --describe: the stream novelty's weight and offset, chosen on the live path ({suite}, "
             f"{len(folds)} folds)", "", f"Command: `{command}`", "",
             "Each fold's held-out MyoSem model ranks its held-out classes typed back as `myosem live "
             "--describe` and `myosem eval --held-out` do (the stream's novelty fitted on each recording's "
             "past windows alone), on every test window of the fold. The novelty's weight and the offset of "
             "the typed gestures placed by their anatomy are swept. Each point is read twice: *each hop "
             "ranked* (the top class of the hop's own scores) and *shown live* (the hops of each recording "
             "in order through the live engine's activity context, smoothing, rejection, hold and dwell, "
             f"config `live`: {smoothing}, margin {live.min_margin:g}, hold {live.hold_ms:g} ms, dwell "
             f"{live.dwell_ms:g} ms; a hop "
             "shown *uncertain* is neither right nor a false alarm). The pair with the best mean harmonic "
             f"mean of what is shown, with at most {FALSE_ALARM_BUDGET:.2f} of the known gestures' windows "
             "(rest included) taken for a new gesture (*false alarms*), is chosen by action id. *Out of "
             "fold*: each fold at the pair chosen on the other folds. Mean ± sd over folds (sample sd).", "",
             "| typed back | read | point | novelty weight | offset | held-out R@1 | seen R@1 | "
             "harmonic mean | false alarms |", "|---|---|---|---|---|---|---|---|---|"]
    for row in table:
        betas, offsets = f"{row['betas'][0]:g}", f"{row['offsets'][0]:+.2f}"
        if row["point"] == "out of fold":  # each fold its own pair
            betas = offsets = "per fold, below"
        lines.append(f"| {row['view']} | {row['reading']} | {row['point']} | {betas} | {offsets} | "
                     + " | ".join(f"{row[f][0]:.3f} ± {row[f][1]:.3f}" for f in FIGURES) + " |")
    lines += ["", "Out of fold, by action id, shown live, fold by fold:", "",
              "| fold | held out | novelty weight | offset | held-out R@1 | seen R@1 | harmonic mean | "
              "false alarms |", "|---|---|---|---|---|---|---|---|"]
    oof = next(row for row in table if row["point"] == "out of fold" and row["reading"] == READINGS[1][1])
    for k, (fold, figs) in enumerate(zip(folds, oof["folds"], strict=True)):
        lines.append(f"| {k + 1} | {', '.join(map(str, fold['held_out']))} | {oof['betas'][k]:g} | "
                     f"{oof['offsets'][k]:+.2f} | " + " | ".join(f"{figs[f]:.3f}" for f in FIGURES) + " |")
    chosen = next(row for row in table if row["point"] == "chosen on every fold")  # the same pair in all
    beta, offset = chosen["betas"][0], chosen["offsets"][0]
    lines += ["", f"Config: `live.describe_novelty` {live.describe_novelty:g}, `live.describe_novelty_offset_"
              f"anatomy` {live.describe_novelty_offset_anatomy:+.2f}: it "
              f"{'matches' if matches else 'differs from'} the choice on every fold ({beta:g}, "
              f"{offset:+.2f}).", ""]
    figures = {"suite": suite, "command": command, "chosen": {"beta": beta, "offset": offset},
               "configured_matches": matches, "held_out": [f["held_out"] for f in folds],
               "windows": [f["windows"] for f in folds], "rows": table}
    return "\n".join(lines), figures


def bench_describe(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench describe --suite 3dc|myodisco --data DIR [--runs DIR] [--results DIR]``: the sweep of
    every fold's MyoSem model of ``myosem bench zeroshot`` (it trains them), its choice, and whether the
    config holds it; with ``--results`` also ``DIR/describe-SUITE.{md,json}``."""
    from myosem_rt.live.engine import LiveSettings
    from train.loso import bench_command, bench_options, write_results
    from train.zeroshot import SUITES

    suite, data, _, results_dir, _, _ = bench_options("describe", SUITES, args, ())
    runs = Path(args.runs or f"runs/zeroshot/{suite}")  # the fold models bench zeroshot trained
    dirs = [runs / f"fold{i}" / "myosem" for i in range(1, len(SUITES[suite][1]) + 1)]
    missing = [str(d) for d in dirs if not (d / "manifest.json").is_file()]
    if missing:
        raise ConfigError(f"bench describe: no trained fold model in {', '.join(missing)} (train them with "
                          f"myosem bench zeroshot --suite {suite} --data {data})")
    folds = []
    for i, d in enumerate(dirs, 1):
        log.info("bench describe: fold %d/%d (%s)", i, len(dirs), d)
        folds.append(fold_sweep(d, data, config))
    command = bench_command("describe", suite, data)
    text, figures = report(suite, folds, LiveSettings.from_config(config), command)
    sys.stdout.write(text)
    if results_dir is not None:
        write_results(results_dir, "describe", suite, text, figures)
    return 0

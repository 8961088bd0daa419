"""Choose a model's activity context (:mod:`myosem_rt.context`) on its own training recordings.

Why here and so: the span and weight of the context are settings of the model, and a setting chosen on the
subjects a figure is reported for would make that figure a fit, not a test. So they are chosen on the
recordings the model was trained on (its protocol's training split, read from the manifest), by the mean of
EMG -> text R@1 by cue and R@1 on the windows whose activity shows the cue (the two ways issue 14 asks
for). The training recordings are not a test either: the encoder has fit their active windows, which
favours no context; the rest-like windows of a dynamic gesture's trial are not in an activity-trained
model's training set, so the need for context still shows. A model of static holds (3DC) keeps its
per-window ranking when pooling gains nothing; a tie goes to the shorter span.

``myosem train`` runs it after the export (the manifest's ``context``); for an existing model directory::

    python -m train.context_choice --model myosem_rt/models/myo-armband --data ../shared/data [--write]

prints the grid and, with ``--write``, records the choice in the model's manifest (atomically).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.context import ContextSpec, pool_recording

log = logging.getLogger(__name__)

#: Past hops pooled (at 50 ms hops: up to 2 s, a MyoDisCo trial) and activity weights tried.
HOPS = (0, 4, 8, 12, 16, 20, 30, 40)
BETAS = (0.0, 1.0, 2.0, 5.0, 10.0)


def recording_scores(model: Any, model_dir: str, files: Sequence[Path], config: Mapping[str, Any],
                     mask: Any = None, activity_fraction: float = 0.5, seed: int = 0
                     ) -> list[dict[str, np.ndarray]]:
    """Per recording, every window of it: the scores, activity, start, label and whether the activity shows
    the cue (the encoder sees each recording whole, in time order, as in ``myosem eval``)."""
    from myosem_rt.commands.eval import encode, recording_windows, scores_of
    from myosem_rt.profile.labels import window_activity

    out = []
    for ws in recording_windows(model, model_dir, files, dict(config), mask=mask, seed=seed,
                                mark_activity=activity_fraction):
        if len(ws):
            out.append({"scores": scores_of(model, encode(model, ws)), "activity": window_activity(ws.x),
                        "start": ws.start, "label": ws.label, "shows_cue": ws.shows_cue, "hop": ws.hop})
    return out


def grid(recordings: Sequence[Mapping[str, np.ndarray]], class_ids: np.ndarray,
         hops: Sequence[int] = HOPS, betas: Sequence[float] = BETAS) -> list[dict[str, float]]:
    """R@1 by cue and by activity of every (hops, beta) over ``recordings`` (hops 0: one row, per window)."""
    rows = []
    for h in hops:
        for b in (betas if h else betas[:1]):
            spec = ContextSpec(int(h), float(b))
            cue = act = n_cue = n_act = 0
            for r in recordings:
                pooled = pool_recording(r["scores"], r["activity"], r["start"], int(r["hop"]), spec)
                right = class_ids[np.argmax(pooled, axis=1)] == r["label"]
                cue, n_cue = cue + int(right.sum()), n_cue + right.size
                act, n_act = act + int(right[r["shows_cue"]].sum()), n_act + int(r["shows_cue"].sum())
            by_cue, by_act = cue / max(n_cue, 1), act / max(n_act, 1)
            rows.append({"hops": int(h), "beta": float(b), "cue": by_cue, "activity": by_act,
                         "objective": (by_cue + by_act) / 2})
    return rows


def best(rows: Sequence[Mapping[str, float]]) -> Mapping[str, float]:
    """The highest objective; ties (to 1e-4) go to the shorter span, then the smaller beta."""
    top = max(r["objective"] for r in rows)
    return min((r for r in rows if r["objective"] >= top - 1e-4), key=lambda r: (r["hops"], r["beta"]))


def choose(model: Any, model_dir: str, sp: Any, config: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """The manifest's ``context`` entry chosen on ``sp``'s training split (see the module docstring), on
    every window of its recordings even when the model trained on a subsample: a subsample is not a stream."""
    from myosem_rt.profile.enrol import enrol_settings

    fraction = enrol_settings(dict(config))["activity_fraction"]
    recs = recording_scores(model, model_dir, sp.train_files, config, sp.train_mask, fraction, seed)
    rows = grid(recs, np.asarray(model.class_ids))
    pick = best(rows)
    n = sum(len(r["label"]) for r in recs)
    log.info("context: hops %d beta %g chosen on %d training windows of %d recordings (by cue %.3f, by "
             "activity %.3f; per window %.3f / %.3f)", pick["hops"], pick["beta"], n, len(recs), pick["cue"],
             pick["activity"], rows[0]["cue"], rows[0]["activity"])
    return {"hops": int(pick["hops"]), "beta": float(pick["beta"]),
            "chosen_on": f"training split of {sp.name}: {len(recs)} recordings, {n} windows",
            "objective": "mean of EMG->text R@1 by cue and by activity",
            "grid": [[r["hops"], r["beta"], round(r["cue"], 4), round(r["activity"], 4)] for r in rows]}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train.context_choice --model DIR --data DATA [--write]``."""
    from myosem_rt.cli import setup_logging
    from myosem_rt.config import load_config
    from myosem_rt.errors import MyosemError
    from myosem_rt.model import MyoSemModel
    from myosem_rt.protocols import split
    from train.emg.export import write_manifest

    p = argparse.ArgumentParser(prog="python -m train.context_choice", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, metavar="DIR", help="a model directory written by myosem train")
    p.add_argument("--data", required=True, metavar="DIR", help="the folder of the shared recordings")
    p.add_argument("--write", action="store_true", help="record the choice in the model's manifest.json")
    args = p.parse_args(argv)
    setup_logging()
    try:
        model = MyoSemModel.load(args.model)
        data = model.manifest.get("data") or {}
        if "protocol" not in data:
            raise MyosemError(f"{args.model}: manifest names no protocol (not a `myosem train` model)")
        sp = split(data["protocol"], Path(args.data), **dict(data.get("options") or {}))
        training = model.manifest.get("training") or {}
        entry = choose(model, str(model.directory), sp, load_config(), int(training.get("seed", 0)))
    except MyosemError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(f"{'hops':>5s} {'beta':>5s} {'by cue':>7s} {'by activity':>12s}\n")
    for h, b, c, a in entry["grid"]:
        mark = "  <- chosen" if (h, b) == (entry["hops"], entry["beta"]) else ""
        sys.stdout.write(f"{h:5d} {b:5g} {c:7.3f} {a:12.3f}{mark}\n")
    if args.write:
        manifest = dict(model.manifest)
        manifest["context"] = entry
        write_manifest(model.directory, manifest)
        log.info("context: written to %s/manifest.json", model.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

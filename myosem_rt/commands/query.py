"""``myosem query "TEXT" --data FILE``: find the stretches of a recording that match a typed description.

The recording is windowed and encoded as the model was trained; the description is embedded by the
model's text encoder; every window is scored by cosine and runs of matching windows are listed, best first,
with the ground-truth classes they cover (:func:`myosem_rt.query.query_recording`). Without ``--model``
the shipped model for the recording's channel count and rate is used.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from myosem_rt.recordings import xdf

HELP = "search a recording for a typed gesture description (text -> EMG): matching segments, best first"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="the description, e.g. \"clench my fist tightly\" (placed by the muscles it "
                                "reads as, where it reads like catalogue actions), or an action id of the "
                                "catalogue (e.g. thumb_up: its description, placed by the muscles it drives)")
    p.add_argument("--data", required=True, metavar="FILE", help="recording file")
    p.add_argument("--model", metavar="NAME|DIR",
                   help="model name or directory (default: the shipped model for the file's channels/rate)")
    p.add_argument("--top", type=int, default=5, metavar="N", help="segments listed (default 5)")
    p.add_argument("--threshold", type=float, metavar="COS",
                   help="cosine a window must exceed (default: mean + 1 sd of the scores, at least 0.1)")
    p.add_argument("--repetitions", type=int, nargs="+", metavar="R",
                   help="only these repetitions of the recording (e.g. those the model was not trained on)")
    p.add_argument("--json", metavar="OUT", help="also write the result to this JSON file")
    p.add_argument("--force", action="store_true", help="overwrite the --json file if it exists")
    p.add_argument("--profile", metavar="PATH",
                   help="search with the wearer's profile (myosem enrol): their own gestures and head")
    xdf.add_arguments(p)


def format_result(r: dict[str, Any]) -> str:
    """The printed table: one line per segment, then the per-class mean score of the query."""
    lines = [f"query {r['query']!r} in {r['data']} ({r['n_windows']} windows, hop {r['hop_s'] * 1e3:.0f} ms, "
             f"threshold {r['threshold']:.3f})",
             f"{'#':>2}  {'start s':>8}  {'end s':>8}  {'max':>6}  {'mean':>6}  {'truth':<28}  described as"]
    for i, s in enumerate(r["segments"], 1):
        truth = ", ".join(f"{n} {v:.0%}" for n, v in list(s["truth_share"].items())[:2])
        lines.append(f"{i:>2}  {s['start_s']:8.2f}  {s['end_s']:8.2f}  {s['score']:6.3f}  "
                     f"{s['mean_score']:6.3f}"
                     f"  {truth:<28.28}  {s['described_as'][0]['name']}")
    if not r["segments"]:
        lines.append("    (no segment above the threshold)")
    ranked = sorted(r["class_scores"].items(), key=lambda kv: -kv[1])
    lines.append("mean score of the query per ground-truth class: "
                 + ", ".join(f"{n} {v:.3f}" for n, v in ranked))
    lines.append(f"best class: {r['best_class']}   "
                 f"(nearest class description to the text: {r['text_class']})")
    return "\n".join(lines) + "\n"


def _warn_enrolment(profile: Any, path: Path, repetitions: list[int] | None) -> None:
    """Say loudly when the searched recording holds the profile's own enrolment trials."""
    from myosem_rt.text_encoder import sha256_file

    rec = profile.recording or {}
    if rec.get("sha256") and sha256_file(path) == rec["sha256"]:
        used = set(rec.get("repetitions") or [])
        if repetitions is None or used & set(repetitions):
            log.warning("query: %s is the profile's enrolment recording (repetitions %s); pass --repetitions "
                        "without them to search only what the profile never saw", path, sorted(used))


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.model import MyoSemModel, model_for_stream
    from myosem_rt.query import QueryError, query_recording
    from myosem_rt.recordings import load_session
    from myosem_rt.text_encoder import TextEncoder

    if not args.text.strip():
        raise QueryError("query: the description is empty (type what the hand does)")
    if args.top < 1:
        raise QueryError(f"query: --top must be >= 1, got {args.top}")
    path = Path(args.data)
    if not path.is_file():
        raise QueryError(f"{path}: recording not found")
    if args.json:
        from myosem_rt.output_files import check_new_file

        check_new_file(args.json, "--json", force=args.force)
    if args.profile:
        from myosem_rt.profile import load_profile_view

        model: Any = load_profile_view(args.profile, MyoSemModel.load(args.model) if args.model else None,
                                       config)
        _warn_enrolment(model.profile, path, args.repetitions)
    else:
        if args.model:
            model_dir: Any = args.model
        else:
            s = load_session(path)
            model_dir = model_for_stream(s.n_channels, s.fs)
        model = MyoSemModel.load(model_dir)
    if model.text_dir is None:
        raise QueryError(f"{model.directory}: model has no text encoder (text/), cannot embed a query")
    from myosem_rt.typed import QueryText

    encoder = QueryText(model, TextEncoder.load(model.text_dir))  # any text: as live --describe ranks it
    result = query_recording(model, encoder, path, args.text, config, top=args.top, threshold=args.threshold,
                             repetitions=args.repetitions)
    from myosem_rt.model import warn_trained_on

    warn_trained_on(model, [path], "query")  # after the work: a failed query prints only its error
    sys.stdout.write(format_result(result))
    if args.json:
        from myosem_rt.output_files import write_json

        write_json(Path(args.json), result)
        log.info("query: result written to %s", args.json)
    return 0

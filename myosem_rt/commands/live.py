"""``myosem live [--model NAME|DIR]``: consume an EMG stream and describe it hop by hop, live.

Per hop the model ranks the class descriptions for the latest window (:mod:`myosem_rt.live.engine`); the
shown label (smoothed, low-confidence hops rejected, a change shown after a dwell), the top-K and the
per-hop latency go to the LSL streams ``myosem-results`` / ``myosem-results-labels`` and to ``--jsonl`` (or
a terminal view). When the source publishes a marker stream ``<name>-labels`` (a replay does), each
``--jsonl`` hop carries its ground truth (``truth``: id and name, :mod:`myosem_rt.live.truth`), so online
accuracy can be computed from the file. Runs until ``--duration`` or Ctrl-C;
a stream that stops is waited for (the consumer logs it lost and recovered) and hops resume.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from myosem_rt.errors import MyosemError

HELP = "describe a live EMG stream with a trained model: ranked descriptions per hop, LSL + JSONL output"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="NAME|DIR",
                   help="a shipped model (3dc-armband, myo-armband) or a model directory (myosem train); "
                        "default: the shipped model matching the stream's channel count and rate")
    p.add_argument("--name", help="EMG stream name (replaces config stream.* matching)")
    p.add_argument("--type", help="EMG stream type")
    p.add_argument("--source-id", help="EMG stream source_id")
    p.add_argument("--duration", type=float, metavar="S", help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--jsonl", metavar="PATH|-", help="write one JSON object per hop here ('-' = stdout)")
    p.add_argument("--force", action="store_true", help="overwrite the --jsonl file if it exists")
    p.add_argument("--describe", action="append", metavar="NAME=DESCRIPTION|ACTION",
                   help="rank this typed gesture beside the model's classes (no enrolment; repeatable); an "
                        "action id of the catalogue (e.g. thumb_up) also brings the muscles it drives")
    p.add_argument("--describe-offset", type=float, metavar="COS",
                   help="added to each typed gesture's cosine, so that it can win against its trained "
                        "siblings; larger finds more of it and takes more of the known gestures' windows "
                        "(default 0.13, 0.01 for one placed by its anatomy, 0.01 / -0.09 with the stream's "
                        "novelty: config live.describe_*offset*, chosen for at most 0.10 false alarms; "
                        "sets all four)")
    p.add_argument("--describe-novelty", type=float, metavar="BETA",
                   help="typed gestures lean ahead by BETA x the window's novelty against the gestures "
                        "of the last 2 min of the stream, labelled by the model (config "
                        "live.describe_novelty, default 0.3; 0 = off)")
    p.add_argument("--describe-only", action="store_true", default=None,
                   help="the wearer makes only the typed gestures (trying out new commands): they and the "
                        "model's rest class are the only candidates, and each window is named by its group "
                        "among the stream's typed-gesture windows (config live.describe_only)")
    p.add_argument("--top-k", type=int, metavar="K", help="descriptions ranked per hop (default 3)")
    p.add_argument("--smoothing", choices=("ema", "majority"), help="label smoothing (default ema)")
    p.add_argument("--alpha", type=float, dest="ema_alpha", metavar="A", help="EMA weight of a new hop (0.3)")
    p.add_argument("--majority-hops", type=int, metavar="N",
                   help="hops voted over with --smoothing majority (5)")
    p.add_argument("--min-score", type=float, metavar="S",
                   help="cosine models: smoothed top score below this rejects the hop (0.0)")
    p.add_argument("--min-posterior", type=float, metavar="P",
                   help="calibrated (posterior) models: smoothed top probability below this rejects the hop "
                        "(0.5)")
    p.add_argument("--min-margin", type=float, metavar="M",
                   help="top-1 minus top-2 smoothed score below this rejects the hop (0.02)")
    p.add_argument("--hold-ms", type=float, metavar="MS",
                   help="rejected hops keep the shown label this long, then 'uncertain' (1000)")
    p.add_argument("--dwell-ms", type=float, metavar="MS",
                   help="a new label is shown once it has been the accepted decision this long "
                        "(200; 0 = at once)")
    p.add_argument("--results-name", metavar="NAME", help="name of the output LSL streams (myosem-results)")
    p.add_argument("--profile", metavar="PATH",
                   help="the wearer's profile (myosem enrol): their gestures, ranked by their own head")


class NoModel(Exception):
    """No shipped model fits the stream and no profile was given (the caller explains how to enrol)."""

    def __init__(self, info: Any) -> None:
        super().__init__(info.name())
        self.info = info


def enrol_hint(n_channels: int, fs: float, name: str) -> str:
    """What a user with an armband no shipped model fits should run (one line)."""
    return (f"no shipped model fits {name!r} ({n_channels} ch @ {fs:g} Hz); enrol your gestures first: "
            f"myosem enrol --profile ~/me --name {name} --new 'rest=hand relaxed' 'fist=closing the hand "
            "into a fist' ... (or --recording FILE), then myosem live --profile ~/me")


def open_live(model_dir: str | None, config: dict[str, Any], selector: Any,
              profile: str | None = None) -> tuple[Any, Any]:
    """Load the model -- or the profile's view of its model (:mod:`myosem_rt.profile`), checked before any
    stream is opened -- and open the stream through a pipeline cut and filtered as the model (or the
    profile's enrolment) was, checked compatible. Raises :class:`NoModel` when nothing fits the stream."""
    from myosem_rt.live.engine import check_compatible
    from myosem_rt.model import ModelError, MyoSemModel, model_for_stream, trained_config
    from myosem_rt.stream.consumer import StreamConsumer
    from myosem_rt.stream.inlet import resolve_stream

    model: Any = None
    if profile:
        from myosem_rt.profile import load_profile_view

        base = MyoSemModel.load(model_dir, threads=1) if model_dir else None
        model = load_profile_view(profile, base, config)
    else:
        if model_dir is None:  # the stream decides: look at it first, then open it with the fitting model
            info = resolve_stream(selector, float(config["lsl"]["resolve_timeout_s"]))
            try:
                model_dir = str(model_for_stream(info.channel_count(), info.nominal_srate()))
            except ModelError:
                raise NoModel(info) from None
            log.info("live: %s fits the stream %r", model_dir, info.name())
        model = MyoSemModel.load(model_dir, threads=1)
    consumer = StreamConsumer(trained_config(model, config), selector)
    p = consumer.pipeline
    try:
        check_compatible(model, p.n_channels, p.fs, repr(consumer.inlet.name))
    except Exception:
        consumer.close()
        raise
    return model, consumer


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.live.engine import LiveEngine, LiveSettings, run_live
    from myosem_rt.live.outputs import JsonlWriter, ResultOutlet, TerminalView
    from myosem_rt.stream.inlet import StreamSelector

    settings = LiveSettings.from_config(
        config, top_k=args.top_k, smoothing=args.smoothing, ema_alpha=args.ema_alpha,
        majority_hops=args.majority_hops, min_score=args.min_score, min_margin=args.min_margin,
        results_name=args.results_name, min_posterior=args.min_posterior, hold_ms=args.hold_ms,
        dwell_ms=args.dwell_ms, describe_novelty=getattr(args, "describe_novelty", None),
        describe_only=getattr(args, "describe_only", None),
        **dict.fromkeys(("describe_offset", "describe_offset_anatomy", "describe_novelty_offset",
                         "describe_novelty_offset_anatomy"), getattr(args, "describe_offset", None)))
    selector = StreamSelector.from_config(config["stream"], name=args.name, type=args.type,
                                          source_id=args.source_id)
    if args.jsonl and args.jsonl != "-":
        from myosem_rt.output_files import check_new_file

        check_new_file(args.jsonl, "--jsonl", force=args.force)
    if settings.describe_only and not args.describe:
        raise MyosemError("--describe-only: type the gestures to tell apart with --describe")
    if settings.describe_only and getattr(args, "describe_novelty", None):
        raise MyosemError("--describe-only takes no --describe-novelty: with only the typed gestures made, "
                          "there are no known gestures to be novel against")
    typed = None
    if args.describe:
        from myosem_rt.typed import parse_typed, with_typed

        typed = parse_typed(args.describe)
        if getattr(args, "profile", None):
            raise MyosemError("--describe and --profile: a profile takes a new gesture by enrolling it with "
                              "its description (Enrol…, or myosem enrol --new NAME=DESCRIPTION)")
    try:
        model, consumer = open_live(args.model, config, selector, getattr(args, "profile", None))
    except NoModel as exc:  # signal only: say how to enrol, and keep showing that the stream is fine
        info = exc.info
        log.warning("live: %s", enrol_hint(info.channel_count(), info.nominal_srate(), info.name()))
        from myosem_rt.commands import monitor

        return monitor.run(argparse.Namespace(name=args.name, type=args.type, source_id=args.source_id,
                                              duration=args.duration), config)
    if typed:
        try:
            model = with_typed(model, typed, settings)
        except Exception:
            consumer.close()
            raise
    sinks: list[Any] = []
    truth = None
    try:
        sinks.append(ResultOutlet(model, settings.results_name, consumer.inlet.source_id,
                                  model.fs / model.hop))
        if args.jsonl:
            sinks.append(JsonlWriter(args.jsonl))
        if args.jsonl != "-":
            sinks.append(TerminalView(descriptions=dict(zip((int(i) for i in model.class_ids),
                                                            model.descriptions, strict=True))))
        engine = LiveEngine(model, settings)
        from myosem_rt.live.truth import MARKER_LOOKUP_S, MARKER_SUFFIX, GroundTruth, open_markers

        inlet = open_markers(consumer.inlet.name + MARKER_SUFFIX, MARKER_LOOKUP_S)  # a replay has one
        truth = None if inlet is None else GroundTruth(inlet, model)
        hops = run_live(consumer, engine, sinks, args.duration, truth=truth)
        log.info("live: %d hops; %d gap(s) in the stream (%d samples)", hops, consumer.n_gaps,
                 consumer.gap_samples)
    finally:
        failed = []
        for sink in reversed(sinks):  # a sink that fails to close must not keep the inlets open
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001  (reported below, after every resource is released)
                failed.append(exc)
        if truth is not None:  # inlets before the outlets they read: markers, then EMG
            truth.close()
        consumer.close()
    if failed:
        raise failed[0] if isinstance(failed[0], MyosemError) else MyosemError(
            f"live: closing an output failed ({type(failed[0]).__name__}: {failed[0]})")
    return 0

"""Guided enrolment session in the terminal: cue the wearer through each gesture, record, fit the profile.

``myosem enrol --profile ~/alice`` without ``--recording``: for every chosen gesture the terminal cues
"get ready" (countdown), "hold <name>: <description>" (countdown and progress bar) and "relax", for N
repetitions, records the raw stream and fits the profile from the file. This module is the orchestration;
its parts are shared with the window's ``Enrol…`` flow (:mod:`myosem_rt.profile.live_enrol`):

* :mod:`.cues`: gestures, the timed cue schedule (stream time drives the cue, so a replay at 4x is cued 4x
  faster and labelled identically), the ``--follow-markers`` cues and the class list;
* :mod:`.recorder`: the raw samples as received, labelled by the cue, and saved whatever happens: on
  Ctrl-C, on a source that stops (no sample for ``stream.stall_timeout_s`` while cues remain) or on a
  failed fit, what was received is written first and the message says where;
* :mod:`.enrol_view`: the terminal view (countdown, cue, progress bar).

``--follow-markers`` (tests, demos): the source's ``<name>-labels`` markers play the user: each sample gets
the marker label in force, repetitions are counted per class occurrence, and the session ends after N
occurrences of every chosen class (or when the source ends). The screen shows what is being performed.

The fit itself is :func:`myosem_rt.profile.enrol.enrol_from_session`, the same function ``--recording``
uses, called on the file as loaded back, so a live session and a refit from its file give one profile.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myosem_rt.errors import ConfigError, MyosemError, RecordingError, StreamError
from myosem_rt.profile.cues import (
    REST_ID,
    REST_NAME,
    REST_TEXT,
    Cue,
    CueSchedule,
    Gesture,
    MarkerCues,
    choose_classes,
    class_names,
    model_vocabulary,
    new_descriptions,
    parse_marker,
    source_vocabulary,
)
from myosem_rt.profile.enrol_view import REDRAW_HZ, EnrolView, Status
from myosem_rt.profile.recorder import (
    COMPLETE,
    DATASET,
    INTERRUPTED,
    PULL_TIMEOUT_S,
    STALLED,
    GuidedRecorder,
    Outcome,
    ending_line,
    save_outcome,
)
from myosem_rt.record.capture import deferred_interrupt, marker_header, stream_meta

__all__ = ["COMPLETE", "DATASET", "INTERRUPTED", "PULL_TIMEOUT_S", "REDRAW_HZ", "REST_ID", "REST_NAME",
           "REST_TEXT", "STALLED", "Cue", "CueSchedule", "EnrolError", "EnrolView", "Gesture",
           "GuidedRecorder", "GuidedResult", "MarkerCues", "Outcome", "Status", "add_guided_arguments",
           "choose_classes", "fit_profile", "parse_marker", "record_guided", "run_guided"]

log = logging.getLogger(__name__)


class EnrolError(MyosemError):
    """The guided enrolment cannot start, or its profile could not be fitted (the recording is kept)."""


# --- command line ------------------------------------------------------------------------------------------


def add_guided_arguments(p: argparse.ArgumentParser) -> None:
    """The options of a guided session (``myosem enrol`` without ``--recording``)."""
    p.add_argument("--profile", required=True, metavar="PATH",
                   help="the user's profile to write (PATH.json and its arrays file beside it)")
    p.add_argument("--user", metavar="NAME", help="the wearer's name, kept in the profile and the recording")
    p.add_argument("--name", help="EMG stream name (replaces config stream.* matching)")
    p.add_argument("--type", help="EMG stream type")
    p.add_argument("--source-id", help="EMG stream source_id")
    p.add_argument("--model", metavar="NAME|DIR",
                   help="a shipped model (3dc-armband, myo-armband) or a model directory; default: the "
                        "shipped model matching the stream, else none")
    p.add_argument("--classes", nargs="+", action="extend", metavar="ID|NAME",
                   help="gestures to cue, from the model's vocabulary (default: all but rest)")
    p.add_argument("--new", nargs="+", action="extend", metavar="NAME=DESCRIPTION",
                   help="new gestures, named and described in words (ids above the vocabulary's)")
    p.add_argument("--repetitions", type=int, metavar="N", help="repetitions of every gesture (config enrol)")
    p.add_argument("--ready-s", type=float, metavar="S", help="'get ready' seconds before each hold")
    p.add_argument("--hold-s", type=float, metavar="S", help="seconds each gesture is held")
    p.add_argument("--rest-s", type=float, metavar="S", help="'relax' seconds after each hold")
    p.add_argument("--out", metavar="FILE.mat",
                   help="where the recording goes (default PROFILE.recording.mat)")
    p.add_argument("--force", action="store_true", help="overwrite an existing recording / profile")
    p.add_argument("--follow-markers", action="store_true",
                   help="tests and demos: the source's <name>-labels markers play the user (labels, "
                        "repetitions and the end of the session follow them)")


@dataclass
class GuidedResult:
    """What :func:`record_guided` did: where the recording is and how the session ended."""

    path: Path
    outcome: Outcome
    profile: Path
    model: Any  #: the MyoSemModel the session was cued with, or None
    classes: tuple[Gesture, ...]
    n_cues: int | None  #: cues of the schedule (None with markers)


def run_guided(args: argparse.Namespace, config: Mapping[str, Any]) -> int:
    """Record a guided session (:func:`record_guided`) and fit the profile from its file. 130 on Ctrl-C."""
    result = record_guided(args, config)
    if result.outcome.status == INTERRUPTED:
        log.warning("%s", _ending(result, "interrupted"))
        return 130
    fit_profile(result, args, config)
    return 0


def fit_profile(result: GuidedResult, args: argparse.Namespace, config: Mapping[str, Any]) -> Any:
    """Load the recording back and fit the profile with the function ``--recording`` uses; save it."""
    from myosem_rt.recordings import load_session

    try:
        from myosem_rt.profile.enrol import enrol_from_session

        session = load_session(result.path)
        profile, report = enrol_from_session(session, config, model=result.model, user=args.user or "",
                                             weak="cue" if getattr(args, "keep_weak", False) else "error")
        profile.save(result.profile)
    except MyosemError as exc:
        raise EnrolError(f"profile not fitted ({exc}); the recording is kept: {result.path} (refit with "
                         f"myosem enrol --recording {result.path} --profile {result.profile})") from None
    except BaseException:
        log.error("profile not fitted; the recording is kept: %s", result.path)
        raise
    from myosem_rt.commands.enrol import write_report

    write_report(report)
    log.info("enrolment: profile %s fitted from %s", result.profile, result.path)
    return profile


def record_guided(args: argparse.Namespace, config: Mapping[str, Any], *, stop: threading.Event | None = None,
                  view: EnrolView | None = None) -> GuidedResult:
    """Run the session and write its recording. Returns on completion or interruption (``stop``, Ctrl-C);
    a source that stops while cues remain raises :class:`StreamError` after the recording is written."""
    from myosem_rt.stream.inlet import EmgInlet, StreamSelector, check_emg_stream, resolve_stream

    settings = _settings(args, config)
    profile, out = _paths(args)
    selector = StreamSelector.from_config(config["stream"], name=args.name, type=args.type,
                                          source_id=args.source_id)
    stream = config["stream"]
    timeout = float(config["lsl"]["resolve_timeout_s"])
    info = resolve_stream(selector, timeout)
    check_emg_stream(info)
    fs = float(info.nominal_srate())
    model = _model(args.model, info)
    vocab = model_vocabulary(model)
    follow = bool(args.follow_markers)
    closers: list[Any] = []
    try:
        meta: dict[str, str] = {}
        if follow:  # markers first: once the EMG inlet connects a replay starts, and no marker is missed
            markers, source_classes, meta = _open_markers(info, timeout)
            closers.append(markers.close_stream)
            vocab = source_vocabulary(source_classes, vocab)
        else:
            markers = None
        classes = choose_classes(vocab, args.classes, args.new, follow=follow, model=model)
        if follow:
            cues: CueSchedule | MarkerCues = MarkerCues(classes, settings["repetitions"],
                                                        {**vocab, **{g.class_id: g for g in classes}},
                                                        tolerance_s=0.5 / fs)
        else:
            cues = CueSchedule(classes, settings["repetitions"], settings["ready_s"], settings["hold_s"],
                               settings["rest_s"])
        # liblsl's buffer is in seconds of signal: a replay at 20x fills 10 s in half a second of wall time
        inlet = EmgInlet(info, buffer_s=max(float(stream["buffer_s"]), 120.0),
                         max_chunk=max(1, math.ceil(fs)), stall_timeout_s=float(stream["stall_timeout_s"]),
                         dejitter=bool(stream["dejitter"]))
        closers.append(inlet.close)
        inlet.open(timeout)
        meta.update(stream_meta(inlet))
        _announce(cues, info, out)
        recorder = GuidedRecorder(inlet, cues, markers=markers, view=view,
                                  first_sample_timeout_s=max(timeout, float(stream["stall_timeout_s"])))
        outcome = recorder.run(stop)
    except BaseException:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
        raise
    with deferred_interrupt() as pending:  # from here on the samples are only in memory: finish the write
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
        names = class_names(cues, vocab, classes, outcome.label)
        written = save_outcome(out, outcome, fs, user=args.user or "", force=bool(args.force), meta=meta,
                               names={i: g.name for i, g in names.items()},
                               descriptions=new_descriptions(classes, vocab))
    if pending and outcome.status == COMPLETE:
        outcome.status = INTERRUPTED
    result = GuidedResult(written, outcome, profile, model, classes, None if follow else cues.n_cues)
    if outcome.status == STALLED:
        raise StreamError(f"stream {info.name()!r} stopped: " + _ending(result, "cut"))
    if outcome.never_held and outcome.status == COMPLETE:
        log.warning("enrolment: never held: %s", ", ".join(outcome.never_held))
    log.info("enrolment: %d samples (%.1f s, %d gap(s)) recorded to %s", outcome.n_samples,
             outcome.n_samples / fs, outcome.gaps, written)
    return result


def _ending(result: GuidedResult, how: str) -> str:
    """One line: which cue was cut, where the recording is, which classes were never held."""
    return ending_line(result.outcome, result.path, result.n_cues, how)


# --- helpers -----------------------------------------------------------------------------------------


def _settings(args: argparse.Namespace, config: Mapping[str, Any]) -> dict[str, Any]:
    section = config.get("enrol", {})
    values = {}
    for key in ("repetitions", "ready_s", "hold_s", "rest_s"):
        given = getattr(args, key, None)
        values[key] = section[key] if given is None else given
    rep = values["repetitions"]
    if isinstance(rep, float) and rep.is_integer():
        values["repetitions"] = int(rep)
    for key in ("ready_s", "hold_s", "rest_s"):
        try:
            values[key] = float(values[key])
        except (TypeError, ValueError):
            raise ConfigError(f"--{key.replace('_', '-')} must be a number, got {values[key]!r}") from None
    CueSchedule((Gesture(1, "x"),), **values)  # validates (one-line ConfigError naming the option)
    return values


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The profile base path and the recording path, refused up front when they exist (unless --force), so
    nobody records for minutes to be refused at the end."""
    from myosem_rt.profile.profile import json_path, profile_base

    profile = profile_base(args.profile)
    out = Path(args.out).expanduser() if args.out else profile.with_name(profile.name + ".recording.mat")
    if out.suffix.lower() != ".mat":
        raise ConfigError(f"--out {out}: a recording file name must end in .mat")
    if not args.force:
        if out.exists():
            raise RecordingError(out, "already exists; not overwritten (use --force, or --out another file)")
        if json_path(profile).exists():
            raise EnrolError(f"{json_path(profile)}: profile already exists; not overwritten (use --force)")
    return profile, out


def _model(name: str | None, info: Any) -> Any:
    """``--model``, else the shipped model fitting the stream, else None (checked against the stream)."""
    from myosem_rt.model import fitting_model

    model = fitting_model(name, info.channel_count(), info.nominal_srate(), repr(info.name()),
                          "no model: the gestures come from --new / --classes")
    if model is not None:
        log.info("enrol: model %s (%d classes)", model.directory, len(model.class_ids))
    return model


def _open_markers(info: Any, timeout: float) -> tuple[Any, dict[int, str], dict[str, str]]:
    """Resolve and open ``<name>-labels`` (before the EMG inlet: no marker of the first sample is missed);
    returns the inlet, the source's class map and its metadata (dataset, subject, device ...)."""
    import pylsl

    name = info.name() + "-labels"
    found = pylsl.resolve_byprop("name", name, 1, max(timeout, 0.1))
    if not found:
        raise StreamError(f"--follow-markers: no marker stream {name!r} within {timeout:g} s "
                          "(the replay device and myosem simulate publish one)")
    inlet = pylsl.StreamInlet(found[0], max_buflen=360, processing_flags=pylsl.proc_clocksync)
    try:
        inlet.open_stream(timeout=timeout)
    except Exception as exc:
        inlet.close_stream()
        raise StreamError(f"--follow-markers: cannot open {name!r} ({exc})") from None
    classes, meta = marker_header(inlet, timeout)
    meta = {k: v for k, v in meta.items() if k != "session"}
    return inlet, classes, meta


def _announce(cues: CueSchedule | MarkerCues, info: Any, out: Path) -> None:
    names = ", ".join(g.name for g in cues.classes)
    if isinstance(cues, CueSchedule):
        log.info("enrolment: %d gesture(s) x %d repetition(s), %.0f s in all (ready %g s, hold %g s, relax "
                 "%g s): %s; recording to %s", len(cues.classes), cues.repetitions, cues.duration_s,
                 cues.ready_s, cues.hold_s, cues.rest_s, names, out)
    else:
        log.info("enrolment following the markers of %r: %d gesture(s) x %d repetition(s): %s; recording to "
                 "%s", info.name(), len(cues.classes), cues.repetitions, names, out)


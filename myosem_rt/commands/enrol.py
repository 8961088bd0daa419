"""``myosem enrol``: make a wearer's profile, from a guided live session or from a recording.

* ``myosem enrol --profile P [--model NAME|DIR] [--classes ...] [--new NAME=DESCRIPTION ...]``: the guided
  session (:mod:`myosem_rt.profile.guided`): cues every gesture on screen, records the stream to a file,
  then builds the profile from that file;
* ``myosem enrol --recording FILE --trials K --profile P [--model NAME|DIR | --no-model]``: the same
  profile from a recording you already have (its first K repetitions of every class), by exactly the code
  the guided session runs after recording (:func:`myosem_rt.profile.enrol.enrol_from_session`).

Without ``--model`` the shipped model fitting the recording's channel count and rate is used; when none
fits (any other armband) the profile is device-only (classical features; no trained encoder needed).
The profile path is checked before any work, and an existing profile is never replaced without
``--force``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from myosem_rt.recordings import xdf

HELP = "enrol a wearer: cue each gesture (or read a recording) and fit their profile"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--profile``, ``--model``, ``--user``, ``--force`` and the live-session options come from
    :func:`myosem_rt.profile.guided.add_guided_arguments`; these are the recording path's."""
    from myosem_rt.profile.guided import add_guided_arguments

    add_guided_arguments(p)
    p.add_argument("--recording", metavar="FILE", help="enrol from this recording instead of a live session")
    p.add_argument("--trials", type=int, metavar="K",
                   help="with --recording: the first K repetitions of every class (default: all)")
    p.add_argument("--no-model", action="store_true",
                   help="device-only profile (classical features) even when a shipped model fits")
    p.add_argument("--keep-weak", action="store_true",
                   help="a gesture with no activity above rest is labelled by its cue instead of refused")
    xdf.add_arguments(p)


def check_profile_target(profile: str, force: bool) -> Path:
    """The profile's .json path, refused (one line) when it exists without ``force`` or cannot be written."""
    from myosem_rt.profile.profile import ProfileError, json_path

    target = json_path(profile)
    if target.exists() and not force:
        raise ProfileError(f"{target}: a profile exists already (use --force to replace it)")
    folder = target.parent
    if folder.exists() and not folder.is_dir():
        raise ProfileError(f"{folder}: not a folder, cannot write the profile there")
    return target


def enrol_recording(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.profile.enrol import enrol_from_session
    from myosem_rt.recordings import load_session

    check_profile_target(args.profile, args.force)
    path = Path(args.recording)
    session = load_session(path)
    from myosem_rt.model import fitting_model

    model = None if args.no_model else fitting_model(getattr(args, "model", None), session.n_channels,
                                                     session.fs, str(path), "device-only profile")
    profile, report = enrol_from_session(session, config, model=model, trials=args.trials,
                                         user=args.user or "",
                                         weak="cue" if args.keep_weak else "error")
    write_report(report)
    profile.save(args.profile)
    return 0


def write_report(report: dict[str, Any]) -> None:
    """What the user sees after an enrolment: matches, labels per class, fit time, the summary."""
    out = sys.stdout
    for m in report.get("matches", []):
        got = f"-> {m['action']}: {m['description']}" if m["action"] else \
            f"no good match (best {m['candidate']} at {m['score']:.2f}); its name is its description"
        out.write(f"  class '{m['name']}' {got}\n")
    for line in report.get("activity", []):
        out.write(f"  {line}\n")
    out.write(f"  fitted in {report['fit_ms']:.0f} ms ({report['windows_kept']} of {report['windows_cued']} "
              "cued windows kept)\n")
    out.write(report["summary"] + "\n")


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.errors import ConfigError

    if args.recording:
        return enrol_recording(args, config)
    if args.trials is not None:
        raise ConfigError("enrol: --trials goes with --recording (a live session records --repetitions)")
    from myosem_rt.profile.guided import run_guided

    check_profile_target(args.profile, args.force)
    return int(run_guided(args, config) or 0)

"""Opening a live session for a view: the stream, the model that fits it, its marker stream, the profile.

Why one place: ``myosem gui`` and ``myosem demo`` (window or terminal) open a session the same way, in the
same order. The EMG stream is resolved first so that, without ``--model``, the shipped model matching its
channel count and rate is chosen (:func:`myosem_rt.model.model_for_stream`); the consumer is then built
from the *model's* windows and filters (:func:`myosem_rt.model.trained_config`). A stream no shipped model
fits is still shown (signal only, with a warning) unless ``--model`` was given, in which case a mismatch is
the one-line error of :func:`myosem_rt.live.engine.check_compatible`.

Ground truth: the ``<name>-labels`` marker stream of a replay or synthetic source. When the caller knows its
name (the demo starts the source itself) the marker inlet is opened *before* the EMG inlet, because the
source waits for its EMG consumer and then pushes its first marker at once; otherwise it is looked up
after the EMG stream, briefly, since a real armband has none.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myosem_rt.display.worker import LiveWorker
from myosem_rt.live.engine import LiveSettings
from myosem_rt.live.truth import MARKER_LOOKUP_S, MARKER_SUFFIX, open_markers
from myosem_rt.stream.consumer import StreamConsumer
from myosem_rt.stream.inlet import StreamSelector, resolve_stream

log = logging.getLogger(__name__)



@dataclass
class LiveSession:
    """What a view needs: the running worker, the base model (None: signal only) and the profile."""

    worker: LiveWorker
    model: Any | None
    profile: Any | None  #: the wearer's UserProfile (None before enrolment)
    profile_path: Path | None  #: where the profile is saved (None: kept in memory)
    title: str  #: the stream, one line

    def close(self) -> None:
        self.worker.stop()


def choose_model(model_arg: str | None, n_channels: int, fs: float, stream: str) -> Any | None:
    """``--model`` (checked against the stream), else the shipped model for this shape, else None."""
    from myosem_rt.model import fitting_model

    return fitting_model(model_arg, n_channels, fs, stream, "showing the signal only (Enrol... makes a "
                         "profile for it)", level=logging.WARNING)


def load_profile(path: str | None, chosen: Any | None, n_channels: int, fs: float, stream: str,
                 config: Mapping[str, Any] | None = None) -> tuple[Any | None, Any | None, Path | None]:
    """(profile, its view, where to save) for ``--profile PATH``: the wearer's profile when the file exists
    (checked against the stream), else none yet (the window's enrolment saves there); all None without a
    path."""
    from myosem_rt.profile import CalibratedModel, UserProfile, profile_base
    from myosem_rt.profile.adapt import AdaptSettings
    from myosem_rt.profile.enrol import check_stream
    from myosem_rt.profile.profile import json_path

    if path is None:
        return None, None, None
    base = profile_base(path)
    if not json_path(base).exists():
        log.info("profile %s: none yet (enrol in the window to make it)", base)
        return None, None, base
    profile = UserProfile.load(base)
    check_stream(profile, n_channels, fs, stream)
    model = chosen if profile.model is not None else None
    if profile.model is not None and model is None:
        from myosem_rt.model import MyoSemModel

        model = MyoSemModel.load(profile.model["name"], threads=1)
    view = CalibratedModel(profile, model, json_path(base), AdaptSettings.from_config(config))
    log.info("%s", profile.summary())
    return profile, view, base


def open_session(config: Mapping[str, Any], selector: StreamSelector, *, model: str | None = None,
                 markers: str | None = None, profile: str | None = None) -> LiveSession:
    """Resolve the stream, choose the model, open markers and consumer, start the worker (module doc)."""
    from myosem_rt.model import trained_config

    timeout = float(config["lsl"]["resolve_timeout_s"])
    gui = config["gui"]
    marker_inlet = open_markers(markers, timeout) if markers else None
    try:
        info = resolve_stream(selector, timeout)
        shape = f"{info.channel_count()} ch @ {info.nominal_srate():g} Hz"
        chosen = choose_model(model, int(info.channel_count()), float(info.nominal_srate()),
                              repr(info.name()))
        calibration, view, path = load_profile(profile, chosen, int(info.channel_count()),
                                               float(info.nominal_srate()), repr(info.name()), config)
        if view is not None:
            chosen = view.base_model
        active = view if view is not None else chosen
        cfg = trained_config(active, config) if active is not None else dict(config)
        consumer = StreamConsumer(cfg, selector)
    except BaseException:
        if marker_inlet is not None:
            marker_inlet.close_stream()
        raise
    try:
        if marker_inlet is None:
            marker_inlet = open_markers(consumer.inlet.name + MARKER_SUFFIX, min(MARKER_LOOKUP_S, timeout))
        settings = LiveSettings.from_config(config)
        worker = LiveWorker(consumer, active, settings, markers=marker_inlet, view_s=float(gui["view_s"]),
                            history_s=float(gui["history_s"]))
        worker.base_model = chosen
    except BaseException:
        if marker_inlet is not None:
            marker_inlet.close_stream()
        consumer.close()
        raise
    title = f"{info.source_id() or info.name()} ({shape})"
    return LiveSession(worker.start(), chosen, calibration, path, title)

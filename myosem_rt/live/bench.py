"""``myosem bench live --model DIR [--data RECORDING]``: what one hop of the live engine costs.

1. per-hop compute on one core: encode + rank + smooth (:meth:`LiveEngine.step`) over real windows of the
   recording built by the model's own pipeline (random windows at the model's input scale when no
   recording is given), onnxruntime on 1 thread and the process pinned to one CPU;
2. end-to-end at real time: the recording replayed over LSL at speed 1 for ~10 s into the consumer, the
   engine and the ``myosem-results`` outlet; latency = arrival of a window's last sample (local_clock at
   the pull that delivered it) -> its scores pushed to the outlet.

Printed: median and p99 of each. The recording is ``--data``, else the model's first test file under
$MYOSEM_DATA (when present).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError

log = logging.getLogger(__name__)


def _recording(args: Any, model: Any) -> Path | None:
    if getattr(args, "data", None):
        return Path(args.data)
    root = os.environ.get("MYOSEM_DATA")
    tests = model.manifest.get("data", {}).get("test_files") or []
    if root and tests and (Path(root) / tests[0]["name"]).is_file():
        return Path(root) / tests[0]["name"]
    return None


def _windows(model: Any, config: dict[str, Any], session: Any | None, n: int) -> list[tuple[Any, Any]]:
    """(samples, descriptors) of ``n`` windows made by the live pipeline (or random at input scale)."""
    from myosem_rt.descriptors import patch_descriptors
    from myosem_rt.model import trained_config
    from myosem_rt.stream.consumer import Pipeline

    if session is None:
        scale = np.asarray(model.manifest.get("normalisation", {}).get("x_std", 1.0), dtype=np.float64)
        x = np.random.default_rng(0).standard_normal((n, model.window, model.n_channels)) * scale
        return [(w, patch_descriptors(w[None], model.patch)[0]) for w in x]
    pipe = Pipeline(model.fs, model.n_channels, trained_config(model, config))
    out: list[tuple[Any, Any]] = []
    emg, step = session.emg, round(0.02 * model.fs)
    first = session.n_samples // 2
    for a in range(first, session.n_samples, step):
        ts = np.arange(a, a + step) / model.fs
        for w in pipe.process(emg[a : a + step], ts[: len(emg[a : a + step])]):
            out.append((w.samples.copy(), w.descriptors.copy()))
        if len(out) >= n:
            break
    return out


def _stats(ms: list[float]) -> str:
    a = np.asarray(ms)
    return f"median {np.median(a):7.3f} ms   p99 {np.percentile(a, 99):7.3f} ms   (n={a.size})"


def compute_figures(model: Any, config: dict[str, Any], session: Any | None,
                    n: int) -> dict[str, list[float]]:
    """Per-stage and total per-hop compute times (ms) on one pinned core."""
    from myosem_rt.live.engine import LiveEngine, LiveSettings

    engine = LiveEngine(model, LiveSettings.from_config(config))
    windows = _windows(model, config, session, n)
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if affinity:
        os.sched_setaffinity(0, {min(affinity)})
    times: dict[str, list[float]] = {"encode": [], "rank": [], "smooth": [], "total": []}
    try:
        for i in range(n + 20):
            x, d = windows[i % len(windows)]
            window = _HopWindow(i, x, d)
            t = time.perf_counter()
            result = engine.step(window)
            total = (time.perf_counter() - t) * 1e3
            if i >= 20:  # warm-up excluded
                for key in ("encode", "rank", "smooth"):
                    times[key].append(result.stages_ms[key])
                times["total"].append(total)
    finally:
        if affinity:
            os.sched_setaffinity(0, affinity)
    return times


class _HopWindow:
    """The fields of a consumer Window that :meth:`LiveEngine.step` reads."""

    def __init__(self, index: int, samples: Any, descriptors: Any) -> None:
        self.index, self.segment, self.timestamp = index, 0, float(index)
        self.samples, self.descriptors = samples, descriptors


class _Collect:
    def __init__(self) -> None:
        self.results: list[Any] = []

    def publish(self, result: Any) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


class _AllReceived:
    """A stop flag for :func:`run_live`: set once the consumer has every replayed sample."""

    def __init__(self, consumer: Any, n: int) -> None:
        self.consumer, self.n = consumer, n

    def is_set(self) -> bool:
        return self.consumer.pipeline.n_samples >= self.n


def replay_through_live(model: Any, config: dict[str, Any], replay: Any, sinks: list[Any], duration_s: float,
                        until_received: int | None = None) -> tuple[int, int, int]:
    """Start ``replay`` (a :class:`~devices.replay.ReplayDevice` waiting for its consumer) and run its
    stream through consumer, engine, a ``myosem-results`` outlet and ``sinks`` for ``duration_s`` (or until
    ``until_received`` samples arrived); everything is closed afterwards, inlets before outlets. Returns
    (samples received, gaps, samples lost). The one path of ``bench live``'s end-to-end figure and
    ``bench soak``."""
    from myosem_rt.live.engine import LiveEngine, LiveSettings, run_live
    from myosem_rt.live.outputs import ResultOutlet
    from myosem_rt.model import trained_config
    from myosem_rt.stream.consumer import StreamConsumer
    from myosem_rt.stream.inlet import StreamSelector

    replay.linger_s = 60.0  # outlets stay until stop(), after the inlet is closed
    replay.start()
    try:
        replay.ready.wait(10.0)
        consumer = StreamConsumer(trained_config(model, config), StreamSelector(name=replay.spec.name))
        outlet = ResultOutlet(model, f"{replay.spec.name}-results", consumer.inlet.source_id,
                              model.fs / model.hop)
        done = None if until_received is None else _AllReceived(consumer, until_received)
        try:
            run_live(consumer, LiveEngine(model, LiveSettings.from_config(config)), [outlet, *sinks],
                     duration_s=duration_s, stop=done)
            return consumer.pipeline.n_samples, consumer.n_gaps, consumer.gap_samples
        finally:
            outlet.close()
            consumer.close()
    finally:
        replay.stop()


def end_to_end(model: Any, config: dict[str, Any], session: Any, seconds: float) -> list[Any]:
    """Replay ``seconds`` of ``session`` at real time through consumer, engine and result outlet."""
    from devices.replay import ReplayDevice

    replay = ReplayDevice(session, name=f"bench-live-{uuid.uuid4().hex[:8]}", speed=1.0,
                          start_s=session.duration_s / 2, duration_s=seconds, wait_for_consumer=10.0)
    collect = _Collect()
    replay_through_live(model, config, replay, [collect], seconds + 5.0, until_received=replay.n_selected)
    return collect.results


def bench_live(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench live``: per-hop compute and end-to-end publish latency (module docstring)."""
    from myosem_rt.model import MyoSemModel
    from myosem_rt.recordings import load_session

    model_dir = getattr(args, "model", None)
    profile = getattr(args, "profile", None)
    if not model_dir and not profile:
        raise ConfigError("bench live needs a trained model directory: myosem bench live --model DIR "
                          "(make one with myosem train), or a wearer's profile: --profile PATH")
    model = MyoSemModel.load(model_dir, threads=1) if model_dir else None
    if profile:  # the wearer's profile as the model (its head + features per hop)
        from myosem_rt.profile import load_profile_view

        model = load_profile_view(profile, model, config)
        model_dir = f"{model.directory} + profile {profile}"
    path = _recording(args, model)
    session = load_session(path) if path is not None else None
    if session is not None and (session.n_channels != model.n_channels or session.fs != model.fs):
        raise ConfigError(f"{path} is {session.n_channels} ch @ {session.fs:g} Hz but model {model_dir} "
                          f"expects {model.n_channels} ch @ {model.fs:g} Hz")
    quick = bool(getattr(args, "quick", False))
    times = compute_figures(model, config, session, 200 if quick else 2000)
    lines = [f"model  {model.directory}  ({model.n_channels} ch @ {model.fs:g} Hz, window/hop "
             f"{model.window}/{model.hop} samples, K={len(model.class_ids)})",
             f"windows: {'real, from ' + str(path) if session is not None else 'random (no recording)'}",
             "per-hop compute, 1 core, onnxruntime 1 thread:"]
    lines += [f"  {key:<22s}{_stats(times[key])}" for key in ("encode", "rank", "smooth")]
    lines.append(f"  {'encode+rank+smooth':<22s}{_stats(times['total'])}")
    if session is None:
        lines.append("end-to-end: skipped (no recording: give --data FILE or set MYOSEM_DATA)")
    else:
        seconds = 5.0 if quick else 10.0
        results = end_to_end(model, config, session, seconds)
        latency = [r.latency_ms for r in results if r.latency_ms is not None]
        publish = [r.stages_ms["publish"] for r in results if "publish" in r.stages_ms]
        if not latency:
            lines.append("end-to-end: no hop was published (stream not received?)")
        else:
            lines += [f"end-to-end, {seconds:g} s replayed at real time over LSL ({len(results)} hops):",
                      f"  {'encode (in the loop)':<22s}{_stats([r.stages_ms['encode'] for r in results])}",
                      f"  {'publish (LSL push)':<22s}{_stats(publish)}",
                      f"  {'arrival -> published':<22s}{_stats(latency)}",
                      f"  hop period {model.hop_ms:g} ms; budget used at p99 "
                      f"{np.percentile(latency, 99) / model.hop_ms:.1%}"]
    print("\n".join(lines))
    return 0

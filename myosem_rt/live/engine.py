"""Per-hop inference: one window in, a ranked list of class descriptions and a smoothed label out.

The pipeline in front of the engine is configured from the *model*
(:func:`myosem_rt.model.trained_config`): window, hop and patch in milliseconds and the filters recorded in
its manifest, so the windows seen live are built exactly like the ones it was trained and evaluated on.
:func:`check_compatible` refuses a stream whose channel count or rate differs from the model's with one
line naming both.

Per hop (:meth:`LiveEngine.step`): ``model.encode`` (window + the consumer's incremental descriptors) ->
scores against the class prototypes (``model.rank``) -> the model's activity context, if it has one
(:mod:`myosem_rt.context`: the scores pooled over the last second, weighed by muscle activity, so a 0.5 s
snap is still described while the forearm rests after it) -> the raw top-K -> smoothing -> rejection -> the
shown label. Smoothing (config.yaml section ``live``, where the defaults are documented):

* ``ema``: exponential moving average of the score vector, ``s <- alpha * scores + (1 - alpha) * s``
  (alpha 0.3: a time constant of about 3 hops, 150 ms at a 50 ms hop -- enough to stop single-window
  flicker, short next to a gesture held for seconds);
* ``majority``: the most frequent raw top-1 over the last ``majority_hops`` hops (5), judged with the mean
  score vector over those hops.

The smoothed decision of a hop is *rejected* (LibEMG's rejection: too unsure to act on) when its score is
below the threshold of the model's score kind or its margin over the runner-up is below ``min_margin``.
Models rank with cosines (``score_kind`` absent or ``"cosine"``: threshold ``min_score``); a calibrated
view with ``score_kind = "posterior"`` returns class probabilities, judged against ``min_posterior``
instead, since a cosine of 0.3 and a probability of 0.3 say different things. A margin of 0.02 means two
classes are about equally close in either kind -- saying which one would be a guess.

What is *shown* (:class:`LabelGate`, ``Result.label``) is not the per-hop decision itself:

* a rejected hop changes nothing: the last accepted label stays shown for up to ``hold_ms`` of rejected
  hops in a row, and only after that does the label become ``"uncertain"`` (hold 0: the first rejected hop
  shows ``"uncertain"``, the behaviour before the gate existed);
* a new class is shown only once it has been the accepted decision for ``dwell_ms`` (converted to hops
  with the model's hop, rounded up, at least 1: dwell 0 switches at once). Rejected hops neither count
  toward nor break a dwell; an accepted hop of another class restarts it, one of the shown class cancels
  it. Leaving ``"uncertain"`` (also at a segment start) takes the dwell too.

``Result.decision`` keeps the per-hop decision (``"uncertain"`` when rejected) and ``Result.topk`` the raw
ranking (of the context-pooled scores when the model has a context), so the gate hides nothing from a
recording. The defaults are measured with ``myosem bench stability`` (:mod:`myosem_rt.live.stability`;
figures in config.yaml and the README).
Smoother and gate restart with every new stream segment (after a gap), so a label never carries over a
discontinuity.

Latency of a hop: from the arrival of its window's last sample (``local_clock`` at the pull that delivered
it) to the result being published; per-stage times (encode, rank, smooth, publish) are kept in
:class:`Result` for the benchmark.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from myosem_rt.config import default_config
from myosem_rt.context import ActivityContext
from myosem_rt.errors import ConfigError, StreamError
from myosem_rt.profile.labels import window_activity

log = logging.getLogger(__name__)

#: The label shown when no class is (any longer) shown.
UNCERTAIN = "uncertain"
#: What a model's ``rank`` scores are (its ``score_kind`` attribute; absent means cosine).
SCORE_KINDS = ("cosine", "posterior")


@dataclass(frozen=True)
class LiveSettings:
    """What the engine and outputs do per hop (see the module docstring for the meaning of each)."""

    top_k: int
    smoothing: str
    ema_alpha: float
    majority_hops: int
    min_score: float
    min_margin: float
    results_name: str
    min_posterior: float = 0.0
    dwell_ms: float = 0.0
    hold_ms: float = 0.0
    context: str = "model"  #: "model": the model's activity context (myosem_rt/context.py); "off": none
    #: added to the cosine of each gesture typed with ``--describe`` (myosem_rt/typed.py): a free description,
    #: and one placed by its anatomy (a catalogue action id)
    describe_offset: float = 0.0
    describe_offset_anatomy: float = 0.0
    #: beta of the typed gestures' novelty against the wearer's recent stream (0: off), and the two offsets
    #: that replace those above once it is fitted (myosem_rt/typed.py, myosem_rt/novelty.py)
    describe_novelty: float = 0.0
    describe_novelty_offset: float = 0.0
    describe_novelty_offset_anatomy: float = 0.0
    #: the wearer makes only the typed gestures: they and the rest class are the candidates, grouped
    describe_only: bool = False

    def reject_below(self, score_kind: str) -> float:
        """The rejection threshold on the smoothed top score for models whose scores are ``score_kind``."""
        return self.min_posterior if score_kind == "posterior" else self.min_score

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> LiveSettings:
        """config.yaml ``live`` (defaults: :func:`myosem_rt.config.default_config`), then every override that
        is not None."""
        values = {**default_config()["live"], **dict(config.get("live") or {})}
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"live: unknown setting(s) {', '.join(unknown)}")
        s = cls(top_k=int(values["top_k"]), smoothing=str(values["smoothing"]),
                ema_alpha=float(values["ema_alpha"]), majority_hops=int(values["majority_hops"]),
                min_score=float(values["min_score"]), min_margin=float(values["min_margin"]),
                results_name=str(values["results_name"]), min_posterior=float(values["min_posterior"]),
                dwell_ms=float(values["dwell_ms"]), hold_ms=float(values["hold_ms"]),
                context=str(values.get("context", "model")),
                describe_offset=float(values.get("describe_offset", 0.0)),
                describe_offset_anatomy=float(values.get("describe_offset_anatomy", 0.0)),
                describe_novelty=float(values.get("describe_novelty", 0.0)),
                describe_novelty_offset=float(values.get("describe_novelty_offset", 0.0)),
                describe_novelty_offset_anatomy=float(values.get("describe_novelty_offset_anatomy", 0.0)),
                describe_only=values.get("describe_only", False))
        if not isinstance(s.describe_only, bool):
            raise ConfigError(f"live.describe_only (--describe-only) must be true or false, got "
                              f"{s.describe_only!r}")
        if s.context not in ("model", "off"):
            raise ConfigError(f"live.context must be 'model' or 'off', got {s.context!r}")
        if s.smoothing not in ("ema", "majority"):
            raise ConfigError(f"live.smoothing must be 'ema' or 'majority', got {s.smoothing!r}")
        if not 0.0 < s.ema_alpha <= 1.0:
            raise ConfigError(f"live.ema_alpha must be in (0, 1], got {s.ema_alpha:g}")
        if s.majority_hops < 1 or s.top_k < 1:
            raise ConfigError(f"live.majority_hops and --top-k must be >= 1, got {s.majority_hops}, "
                              f"{s.top_k}")
        for key in ("describe_offset", "describe_offset_anatomy", "describe_novelty_offset",
                    "describe_novelty_offset_anatomy"):
            if not -1.0 < getattr(s, key) < 2.0:  # below 0: held back, ahead only on novel windows
                raise ConfigError(f"live.{key} (--describe-offset) must be in (-1, 2), got "
                                  f"{getattr(s, key):g}")
        if not 0.0 <= s.describe_novelty < 5.0:
            raise ConfigError(f"live.describe_novelty (--describe-novelty) must be in [0, 5), got "
                              f"{s.describe_novelty:g}")
        if not (s.dwell_ms >= 0.0 and s.hold_ms >= 0.0):
            raise ConfigError(f"live.dwell_ms and live.hold_ms must be >= 0, got {s.dwell_ms:g}, "
                              f"{s.hold_ms:g}")
        return s


def score_kind(model: Any) -> str:
    """``model.score_kind`` ("cosine" when absent); a :class:`ConfigError` for an unknown kind."""
    kind = str(getattr(model, "score_kind", "cosine"))
    if kind not in SCORE_KINDS:
        raise ConfigError(f"model {getattr(model, 'directory', model)}: score_kind {kind!r} is not one of "
                          f"{', '.join(SCORE_KINDS)}")
    return kind


def ms_to_hops(ms: float, hop_ms: float) -> int:
    """A duration as a whole number of hops: rounded up (a dwell is never shorter than asked), at least 1."""
    if ms == float("inf"):
        return 2**62
    return max(1, math.ceil(float(ms) / float(hop_ms) - 1e-9))


def check_compatible(model: Any, n_channels: int, fs: float, stream: str) -> None:
    """One-line :class:`StreamError` when the stream's layout is not the model's."""
    if int(n_channels) != model.n_channels or abs(float(fs) - model.fs) > 1e-6 * model.fs:
        raise StreamError(f"stream {stream} is {int(n_channels)} ch @ {float(fs):g} Hz but model "
                          f"{model.directory} expects {model.n_channels} ch @ {model.fs:g} Hz")


@dataclass
class Result:
    """One hop's output."""

    index: int  #: window index since the consumer started
    segment: int  #: stream segment (changes after a gap)
    t: float  #: LSL timestamp of the window's last sample
    scores: np.ndarray  #: (K,) raw cosine score per class, in the model's class order
    topk: list[dict[str, Any]]  #: raw ranking, best first: id, name, text (T2), score
    label: str  #: the SHOWN class name (after rejection, hold and dwell: :class:`LabelGate`), or "uncertain"
    label_id: int | None  #: class id of ``label`` (None when uncertain)
    smoothed_score: float  #: smoothed score of the best class (of ``decision`` unless rejected)
    arrival: float | None = None  #: local_clock at the pull that delivered the window's last sample
    stages_ms: dict[str, float] = field(default_factory=dict)  #: encode, rank, smooth, publish
    latency_ms: float | None = None  #: arrival -> published
    z: np.ndarray | None = None  #: (D,) the window's embedding (for text queries over the history)
    decision: str = UNCERTAIN  #: this hop's smoothed decision, "uncertain" when rejected
    decision_id: int | None = None  #: class id of ``decision`` (None when rejected)
    rejected: bool = False  #: the smoothed decision was below the score or margin threshold
    truth: tuple[int, str] | None = None  #: the source's ground truth (class id, name), when it has markers

    def record(self) -> dict[str, Any]:
        """The JSONL object of this hop (``label`` is the shown label, ``decision`` the per-hop one)."""
        return {"t": round(self.t, 6), "topk": self.topk, "label": self.label,
                "score": round(self.smoothed_score, 4),
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
                "segment": self.segment, "decision": self.decision, "rejected": self.rejected,
                "truth": None if self.truth is None else {"id": self.truth[0], "name": self.truth[1]}}


def ema_step(ema: np.ndarray | None, scores: np.ndarray, alpha: float) -> np.ndarray:
    """One hop of the score EMA (``ema`` None: the first hop of a segment), on (K,) or (P, K) scores."""
    return scores.copy() if ema is None else alpha * scores + (1 - alpha) * ema


def rejection(smooth: np.ndarray, best: np.ndarray, threshold: float,
              min_margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The rejection rule (module docstring) of decisions ``best`` (...) on smoothed scores ``smooth``
    (..., K): (whether each is rejected -- its score below ``threshold``, or its margin over the best other
    class below ``min_margin``, none other: no margin rule -- and its score), in double precision."""
    smooth = np.asarray(smooth, dtype=np.float64)
    best = np.asarray(best)
    score = np.take_along_axis(smooth, best[..., None], axis=-1)[..., 0]
    others = np.where(np.arange(smooth.shape[-1]) == best[..., None], -np.inf, smooth).max(axis=-1)
    return (score < threshold) | (score - others < min_margin), score


class Smoother:
    """Score EMA or majority vote over hops, plus the rejection rule of ``score_kind`` (module docstring)."""

    def __init__(self, settings: LiveSettings, n_classes: int, score_kind: str = "cosine") -> None:
        self.settings = settings
        self.n_classes = n_classes
        self.score_kind = score_kind
        self.reject_below = settings.reject_below(score_kind)
        self._ema: np.ndarray | None = None
        self._history: deque[np.ndarray] = deque(maxlen=settings.majority_hops)

    def reset(self) -> None:
        self._ema = None
        self._history.clear()

    def update(self, scores: np.ndarray) -> tuple[int | None, float]:
        """Feed one hop's raw scores; returns (class index or None when rejected, its smoothed score)."""
        s = self.settings
        if s.smoothing == "ema":
            self._ema = smooth = ema_step(self._ema, scores, s.ema_alpha)
            best = int(np.argmax(smooth))
        else:
            self._history.append(scores.copy())
            smooth = np.mean(self._history, axis=0)
            votes = Counter(int(np.argmax(h)) for h in self._history)
            top = max(votes.values())
            # ties go to the candidate with the higher mean score
            best = max((c for c, v in votes.items() if v == top), key=lambda c: smooth[c])
        rejected, score = rejection(smooth, np.asarray(best), self.reject_below, s.min_margin)
        return (None if rejected else best), float(score)


class LabelGate:
    """Per-hop decisions in, the shown label out: hold through rejected hops, dwell before a change."""

    def __init__(self, dwell_hops: int, hold_hops: int) -> None:
        if dwell_hops < 1 or hold_hops < 0:
            raise ValueError(f"dwell_hops must be >= 1 and hold_hops >= 0, got {dwell_hops}, {hold_hops}")
        self.dwell_hops = int(dwell_hops)
        self.hold_hops = int(hold_hops)
        self.reset()

    @classmethod
    def from_settings(cls, settings: LiveSettings, hop_ms: float) -> LabelGate:
        hold = 0 if settings.hold_ms == 0 else ms_to_hops(settings.hold_ms, hop_ms)
        return cls(ms_to_hops(settings.dwell_ms, hop_ms), hold)

    def reset(self) -> None:
        """Nothing shown, no candidate (a new stream segment)."""
        self.shown: int | None = None
        self.candidate: int | None = None
        self.run = 0  #: accepted hops of ``candidate`` so far
        self.rejected_run = 0  #: rejected hops in a row

    def update(self, decision: int | None) -> int | None:
        """Feed one hop's decision (None = rejected); returns the class index shown now (None = uncertain)."""
        if decision is None:
            self.rejected_run += 1
            if self.rejected_run > self.hold_hops:
                self.shown = None
            return self.shown
        self.rejected_run = 0
        if decision == self.shown:
            self.candidate, self.run = None, 0
        elif decision == self.candidate:
            self.run += 1
        else:
            self.candidate, self.run = decision, 1
        if self.candidate is not None and self.run >= self.dwell_hops:
            self.shown, self.candidate, self.run = self.candidate, None, 0
        return self.shown


def shown_columns(scores: np.ndarray, segment: np.ndarray, settings: LiveSettings, hop_ms: float,
                  kind: str = "cosine") -> np.ndarray:
    """The column of ``scores`` the live engine would show at each hop (-1: "uncertain"): ``scores`` (N, K)
    of hops in stream order, or (P, N, K) for P rankings of the same hops at once (-> (P, N)), ``segment``
    (N,) the stream segment of each hop. The steps :meth:`LiveEngine.step` runs after ranking (and after
    the activity context, which the caller applies): smoothing and rejection as :class:`Smoother` does them,
    then :class:`LabelGate`, all restarted with every new segment.

    Why: a bench that compares many settings of one ranking (``myosem bench describe``: 400 settings, tens
    of thousands of hops each) measures what the wearer is shown, not only each hop's ranking, without
    replaying the stream for each. The EMA runs hop by hop on all P rankings at once through the engine's
    own :func:`ema_step` and :func:`rejection`, so the result is the engine's to the bit
    (``tests/test_stability.py``); majority voting goes through :class:`Smoother` itself, one ranking at a
    time."""
    batch = np.asarray(scores)
    single = batch.ndim == 2
    batch = batch[None] if single else batch
    n_rank, n_hops, n_classes = batch.shape
    segment = np.asarray(segment)
    starts = np.r_[True, segment[1:] != segment[:-1]] if n_hops else np.zeros(0, dtype=bool)
    decision = np.full((n_rank, n_hops), -1, dtype=np.int64)
    if settings.smoothing == "ema":
        ema = None
        smooth = np.empty_like(batch)
        for t in range(n_hops):
            ema = smooth[:, t] = ema_step(None if starts[t] else ema, batch[:, t], settings.ema_alpha)
        best = smooth.argmax(axis=-1)
        rejected, _ = rejection(smooth, best, settings.reject_below(kind), settings.min_margin)
        decision = np.where(rejected, -1, best)
    else:
        smoother = Smoother(settings, n_classes, kind)
        for r in range(n_rank):
            for t in range(n_hops):
                if starts[t]:
                    smoother.reset()
                best_t, _ = smoother.update(batch[r, t])
                decision[r, t] = -1 if best_t is None else best_t
    out = np.full((n_rank, n_hops), -1, dtype=np.int64)
    gate = LabelGate.from_settings(settings, hop_ms)
    for r in range(n_rank):
        for t, (d, new) in enumerate(zip(decision[r].tolist(), starts.tolist(), strict=True)):
            if new:
                gate.reset()
            shown = gate.update(None if d < 0 else d)
            out[r, t] = -1 if shown is None else shown
    return out[0] if single else out


class LiveEngine:
    """Window -> :class:`Result`: encode, rank, smooth, gate (timed per stage; the gate counts as smooth)."""

    def __init__(self, model: Any, settings: LiveSettings) -> None:
        self.model = model
        self.settings = settings
        self.k = min(settings.top_k, len(model.class_ids))
        self.score_kind = score_kind(model)
        self.smoother = Smoother(settings, len(model.class_ids), self.score_kind)
        self.gate = LabelGate.from_settings(settings, float(model.hop_ms))
        spec = getattr(model, "context", None) if settings.context == "model" else None
        self.context = ActivityContext(spec) if spec is not None and spec.active else None
        self._segment: int | None = None
        #: a view that reads the window as well as its embedding (typed gestures with the stream's novelty);
        #: a new engine is a new stream
        self._rank_window = getattr(model, "rank_window", None)
        new_stream = getattr(model, "new_stream", None)
        if new_stream is not None:
            new_stream()

    def step(self, window: Any, arrival: float | None = None) -> Result:
        """One hop; ``window`` has ``samples`` (W, C), ``descriptors`` (P, C, 3), ``timestamp``, ``segment``
        (a consumer :class:`~myosem_rt.stream.consumer.Window`)."""
        model = self.model
        if window.segment != self._segment:
            if self._segment is not None:
                log.info("live: stream segment %d starts; smoothing restarts", window.segment)
            self.smoother.reset()
            self.gate.reset()
            if self.context is not None:
                self.context.reset()
            self._segment = window.segment
        clock = time.perf_counter
        t0 = clock()
        z = model.encode(window.samples, window.descriptors)
        t1 = clock()
        if self._rank_window is not None:
            scores, order = self._rank_window(z, window.samples)
        else:
            scores, order = model.rank(z)
        scores, order = scores[0], order[0, : self.k]
        if self.context is not None:  # what the hand did over the last hops, by activity
            activity = float(window_activity(np.asarray(window.samples)[None])[0])
            scores = self.context.push(scores, activity).astype(np.float32)
            order = np.argsort(-scores, kind="stable")[: self.k]
        topk = [{"id": int(model.class_ids[i]), "name": model.class_names[i], "text": model.descriptions[i],
                 "score": round(float(scores[i]), 4)} for i in order]
        t2 = clock()
        best, smoothed = self.smoother.update(scores)
        shown = self.gate.update(best)
        t3 = clock()
        label = UNCERTAIN if shown is None else model.class_names[shown]
        label_id = None if shown is None else int(model.class_ids[shown])
        stages = {"encode": (t1 - t0) * 1e3, "rank": (t2 - t1) * 1e3, "smooth": (t3 - t2) * 1e3}
        return Result(int(window.index), int(window.segment), float(window.timestamp), scores, topk, label,
                      label_id, smoothed, arrival, stages, z=np.asarray(z, dtype=np.float32).reshape(-1),
                      decision=UNCERTAIN if best is None else model.class_names[best],
                      decision_id=None if best is None else int(model.class_ids[best]),
                      rejected=best is None)


def run_live(consumer: Any, engine: LiveEngine, sinks: list[Any], duration_s: float | None = None,
             stop: Any = None, poll_s: float = 0.05, truth: Any = None) -> int:
    """Poll ``consumer`` and publish every hop to ``sinks`` until ``duration_s`` (wall), ``stop.is_set()``
    or Ctrl-C. A sink has ``publish(result)``; the first sink's publication ends the latency (sinks are
    ordered: the LSL outlet first, then files and views). ``truth``: the source's
    :class:`~myosem_rt.live.truth.GroundTruth`, which sets each hop's ``truth``. Returns the number of
    hops."""
    import pylsl  # after myosem_rt (LSLAPICFG)

    t_end = None if duration_s is None else time.monotonic() + float(duration_s)
    hops = 0
    state = consumer.state
    try:
        while (t_end is None or time.monotonic() < t_end) and not (stop is not None and stop.is_set()):
            windows = consumer.poll(poll_s)
            if consumer.state != state:
                state = consumer.state
                log.info("live: stream %s (%d hops so far)", state, hops)
            arrival = consumer.inlet.last_arrival if windows else None
            for window in windows:
                result = engine.step(window, arrival)
                if truth is not None:  # pulled after the step, just before use: a marker read by its own
                    truth.pull()      # inlet's thread can come a few ms after the samples it precedes
                    result.truth = truth.at(window.timestamp)
                for i, sink in enumerate(sinks):
                    t = time.perf_counter()
                    sink.publish(result)
                    if i == 0:
                        result.stages_ms["publish"] = (time.perf_counter() - t) * 1e3
                        result.latency_ms = (pylsl.local_clock() - arrival) * 1e3 if arrival else None
                if not sinks:
                    result.latency_ms = (pylsl.local_clock() - arrival) * 1e3 if arrival else None
                hops += 1
    except KeyboardInterrupt:
        log.info("live: stopped (Ctrl-C)")
    return hops

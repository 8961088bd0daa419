"""Gesture query by text: which stretches of recent (or recorded) EMG match a typed description? No torch.

Why: the model puts EMG windows and descriptions in one space, so the text -> EMG direction works for any
sentence a user types (the ONNX text encoder embeds it, :class:`~myosem_rt.text_encoder.TextEncoder`), not
only for the vocabulary's classes. This module holds that direction once, for the live GUI (over a
:class:`History` of the last seconds of hops) and for ``myosem query`` (over a whole recording,
:func:`query_recording`):

- :class:`History`: a preallocated ring of per-hop records (time, embedding, per-channel activation,
  optional ground truth), appended per hop without allocation beyond the copy;
- :func:`match`: cosine of every hop against the query embedding, contiguous runs above a threshold merged
  into :class:`Segment` s, best first;
- :func:`describe_segment`: the other direction for a found segment (its mean embedding ranked against the
  class prototypes), so a user sees what the model thinks the stretch is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import MyosemError
from myosem_rt.text_encoder import l2_normalize

log = logging.getLogger(__name__)

#: Lowest default threshold (cosine). Below it a hop is never called a match, whatever the score
#: distribution: unrelated unit vectors in D dimensions have cosines of sd 1 / sqrt(D) around 0 (0.05 at
#: the models' D = 384), so a cosine of 0.1 or less is no evidence of the described movement even when it
#: is the best in the history (a query for a gesture never made should return little, not noise). The
#: best-matching windows of the models trained here score 0.3-0.7 (``myosem query``), well above it.
MIN_THRESHOLD = 0.1
#: Relative part of the default threshold: mean + this many standard deviations of the scores.
THRESHOLD_SD = 1.0
#: Value of ``truth`` for hops without a ground-truth label.
NO_TRUTH = -1


class QueryError(MyosemError):
    """A query cannot be run (empty text, no windows, mismatching model and data)."""


class History:
    """Bounded ring of the last ``seconds`` of hops: (t, z, activation, truth), oldest overwritten first.

    ``t`` is the LSL time of the window's last sample, ``z`` the (D,) unit-norm embedding, ``activation``
    the (C,) per-channel RMS of the window, ``truth`` the ground-truth class id (:data:`NO_TRUTH` when
    unknown). The arrays are allocated once (capacity = ceil(seconds / hop_s) hops); :meth:`add` copies
    into them, :meth:`arrays` returns copies in time order.
    """

    def __init__(self, dim: int, n_channels: int, seconds: float, hop_s: float) -> None:
        if not (seconds > 0 and hop_s > 0):
            raise ValueError(f"History: seconds and hop_s must be positive, got {seconds}, {hop_s}")
        self.dim, self.n_channels = int(dim), int(n_channels)
        self.seconds, self.hop_s = float(seconds), float(hop_s)
        self.capacity = max(1, int(np.ceil(self.seconds / self.hop_s - 1e-9)))
        self._t = np.zeros(self.capacity, dtype=np.float64)
        self._z = np.zeros((self.capacity, self.dim), dtype=np.float32)
        self._act = np.zeros((self.capacity, self.n_channels), dtype=np.float32)
        self._truth = np.full(self.capacity, NO_TRUTH, dtype=np.int64)
        self._next = 0  # slot the next hop goes to
        self._n = 0

    def add(self, t: float, z: np.ndarray, activation: np.ndarray, truth: int | None = None) -> None:
        """Append one hop (``z`` may be (D,) or (1, D))."""
        i = self._next
        self._t[i] = t
        self._z[i] = np.reshape(z, self.dim)
        self._act[i] = np.reshape(activation, self.n_channels)
        self._truth[i] = NO_TRUTH if truth is None else int(truth)
        self._next = (i + 1) % self.capacity
        self._n = min(self._n + 1, self.capacity)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(t (N,), z (N, D), activation (N, C), truth (N,)), oldest first (copies)."""
        if self._n < self.capacity:
            sel = np.arange(self._n)
        else:
            sel = (np.arange(self.capacity) + self._next) % self.capacity
        return self._t[sel], self._z[sel], self._act[sel], self._truth[sel]

    def __len__(self) -> int:
        return self._n

    def clear(self) -> None:
        self._next = 0
        self._n = 0


@dataclass(frozen=True)
class Segment:
    """A run of hops matching a query: times of its first window's end and last window's end (the caller's
    clock: LSL time live, recording seconds offline), max and mean cosine, indices into the arrays."""

    start_t: float
    end_t: float
    score: float  #: max cosine of a hop in the segment
    mean_score: float  #: mean cosine over first..last (bridged hops included)
    first: int
    last: int


def default_threshold(scores: np.ndarray) -> float:
    """max(:data:`MIN_THRESHOLD`, mean + :data:`THRESHOLD_SD` sd) of the scores.

    Why relative: the cosine scale of matching hops differs between models and users, so a fixed value
    would be too strict for one and too loose for another. Why mean + 1 sd: a described gesture fills a
    minority p of any history (other gestures, rest between them); for a two-level score distribution with
    a share p of high hops, mean + 1 sd lies between the two levels for p up to about 0.3 (it is at
    m0 + (p + sqrt(p (1 - p))) (m1 - m0)), so the high hops pass and the low ones do not, and a longer
    stretch of the gesture than that still passes at its best-scoring hops. The floor keeps a history in
    which nothing matches from returning its noise.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return MIN_THRESHOLD
    return float(max(MIN_THRESHOLD, scores.mean() + THRESHOLD_SD * scores.std()))


def match(text_z: np.ndarray, t: np.ndarray, z: np.ndarray, hop_s: float, *, threshold: float | None = None,
          top: int = 5, min_hops: int = 2) -> list[Segment]:
    """Segments of the hops ``z`` (N, D) at times ``t`` (N,) that match the query embedding ``text_z`` (D,).

    Every hop is scored by cosine; hops above ``threshold`` (default :func:`default_threshold`) form runs.
    Two above-threshold hops belong to one segment when at most one hop lies between them (a single
    dipping hop is bridged) and their times are no further apart than their index distance plus one hop
    allows (a stream gap or a jump between recorded trials splits). Segments spanning fewer than
    ``min_hops`` hops are dropped; the rest are ranked by their max score and the best ``top`` returned.
    """
    z = np.asarray(z, dtype=np.float32)
    t = np.asarray(t, dtype=np.float64)
    if z.ndim != 2 or t.shape != (z.shape[0],):
        raise ValueError(f"match: z must be (N, D) and t (N,), got {z.shape} and {t.shape}")
    if z.shape[0] == 0:
        return []
    scores = l2_normalize(z) @ l2_normalize(np.reshape(text_z, -1))
    thr = default_threshold(scores) if threshold is None else float(threshold)
    above = np.flatnonzero(scores > thr)
    if above.size == 0:
        return []
    runs: list[tuple[int, int]] = []
    first = last = int(above[0])
    for i in above[1:]:
        i = int(i)
        if i - last <= 2 and t[i] - t[last] <= (i - last + 1) * hop_s + 1e-9:
            last = i
        else:
            runs.append((first, last))
            first = last = i
    runs.append((first, last))
    segments = [Segment(float(t[a]), float(t[b]), float(scores[a : b + 1].max()),
                        float(scores[a : b + 1].mean()), a, b)
                for a, b in runs if b - a + 1 >= min_hops]
    segments.sort(key=lambda s: (-s.score, s.first))
    return segments[: max(0, int(top))]


def describe_segment(model: Any, z_slice: np.ndarray) -> list[tuple[str, str, float]]:
    """EMG -> text for a stretch: (class name, T2 description, cosine) of every class, best first, for the
    re-normalised mean embedding of ``z_slice`` (n, D)."""
    z = np.asarray(z_slice, dtype=np.float32).reshape(-1, model.prototypes.shape[1])
    if z.shape[0] == 0:
        return []
    mean = l2_normalize(l2_normalize(z).mean(axis=0))
    scores, order = model.rank(mean[None])
    return [(model.class_names[i], model.descriptions[i], float(scores[0, i])) for i in order[0]]


def query_recording(model: Any, encoder: Any, path: str | Path, text: str, config: Mapping[str, Any], *,
                    top: int = 5, threshold: float | None = None,
                    repetitions: Sequence[int] | None = None) -> dict[str, Any]:
    """Search one recording for ``text``: windowed and encoded as the model was trained (as
    :func:`myosem_rt.commands.eval.evaluate` does), matched with :func:`match`. Returns a JSON-able dict:
    the query, model, data, hop_s, threshold, ``segments`` (recording seconds, scores, ground-truth classes
    covered with their share, the model's description of the stretch), ``class_scores`` (mean cosine of the
    query over each ground-truth class's windows), ``best_class`` and ``text_class`` (the class prototype
    nearest to the typed text). ``repetitions`` keeps only those repetitions' windows (e.g. the ones a model
    was not trained on)."""
    from myosem_rt.commands.eval import _checked_loader, encode
    from myosem_rt.model import trained_config
    from myosem_rt.stream.windows import WindowSpec
    from myosem_rt.vocab import load_vocabulary
    from myosem_rt.windowing import load_windows

    text = (text or "").strip()
    if not text:
        raise QueryError("query: the description is empty (type what the hand does)")
    path = Path(path)
    if not path.is_file():
        raise QueryError(f"{path}: recording not found")
    spec = WindowSpec(int(model.window), int(model.hop), int(model.patch), float(model.fs))
    ws = load_windows([path], trained_config(model, config), spec=spec,
                      loader=_checked_loader(model, str(model.directory)),
                      vocabulary=load_vocabulary(model.vocabulary) if getattr(model, "vocabulary", None)
                      else None)
    if repetitions is not None:
        ws = ws.subset(np.isin(ws.repetition, list(repetitions)))
    if len(ws) == 0:
        which = (f"in repetitions {list(repetitions)}" if repetitions is not None
                 else f"(trials shorter than {spec.window} samples?)")
        raise QueryError(f"{path}: no windows {which}")
    z = encode(model, ws)
    text_z = encoder.encode([text])[0]
    if text_z.shape[0] != z.shape[1]:
        raise QueryError(f"text encoder of {model.directory} gives {text_z.shape[0]}-d embeddings but the "
                         f"EMG encoder {z.shape[1]}-d")
    fs, hop_s = float(ws.fs), float(ws.hop) / float(ws.fs)
    starts = np.asarray(ws.start, dtype=np.int64)
    t_end = (starts + ws.window) / fs
    scores = z @ text_z
    thr = default_threshold(scores) if threshold is None else float(threshold)
    names = {int(c): str(n) for c, n in ws.class_names.items()}
    names.update({int(c): n for c, n in zip(model.class_ids, model.class_names, strict=True)})
    segments = []
    for s in match(text_z, t_end, z, hop_s, threshold=thr, top=top):
        labels = ws.label[s.first : s.last + 1]
        ids, counts = np.unique(labels, return_counts=True)
        cover = {names.get(int(c), str(int(c))): round(float(n) / labels.size, 3)
                 for c, n in sorted(zip(ids, counts, strict=True), key=lambda x: -x[1])}
        described = describe_segment(model, z[s.first : s.last + 1])[:3]
        segments.append({
            "start_s": round(float(starts[s.first]) / fs, 3), "end_s": round(float(t_end[s.last]), 3),
            "score": round(s.score, 4), "mean_score": round(s.mean_score, 4), "hops": s.last - s.first + 1,
            "truth": next(iter(cover)), "truth_share": cover,
            "described_as": [{"name": n, "text": d, "score": round(v, 4)} for n, d, v in described],
        })
    class_scores = {names.get(int(c), str(int(c))): round(float(scores[ws.label == c].mean()), 4)
                    for c in np.unique(ws.label)}
    proto_scores = model.prototypes @ text_z
    return {
        "query": text, "model": str(model.directory), "data": str(path), "hop_s": hop_s,
        "repetitions": None if repetitions is None else [int(r) for r in repetitions],
        "n_windows": int(len(ws)), "threshold": round(thr, 4), "segments": segments,
        "class_scores": class_scores, "best_class": max(class_scores, key=class_scores.__getitem__),
        "text_class": model.class_names[int(np.argmax(proto_scores))],
    }

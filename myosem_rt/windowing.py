"""Windowed datasets from recordings: THE one definition shared by training and ``myosem eval`` (no torch).

Why here and not in ``train/``: ``myosem eval`` runs from a runtime install without torch, and training must
see exactly the windows that evaluation sees, so the windowing lives once, in the runtime package
(``train/data.py`` re-exports it and adds the torch wrapper).

How a file becomes windows (:func:`load_windows`):

1. The whole session is filtered with the runtime's :class:`~myosem_rt.stream.filters.StreamingFilter`
   (config ``filters``), i.e. one causal pass from the steady state of the first sample, exactly as a live
   stream of that recording would be filtered.
2. Window / hop / patch come from config ``datasets[<Session.dataset>]`` (milliseconds, converted by
   :class:`~myosem_rt.stream.windows.WindowSpec`); a dataset without an entry uses config ``windows``.
   A caller (``myosem eval``) may pass ``spec`` to impose a model's own lengths instead.
3. Windows hop through each trial (run of constant label and repetition, :meth:`Session.trials`): window
   ``k`` of a trial starting at sample ``s`` covers ``[s + k * hop, s + k * hop + window)``. A window never
   crosses a label or repetition change; trials shorter than a window give none.
4. ``desc`` is :func:`~myosem_rt.descriptors.patch_descriptors` of each window (the runtime's descriptors).

Repetition 0 (NinaPro marks rest between movements with it) is replaced by the repetition of the preceding
movement trial (the first one for leading rest), so rest windows split with their repetition in the
repetition-based protocols. The shared recordings give rest its own repetitions and are unaffected.

Several datasets in one set (``vocabulary``): files of different datasets recorded by the same device (equal
rate, channel count and window lengths, e.g. MyoDisCo and CIIL on the Myo Armband) load together when a
target vocabulary is given; each file's class ids are translated to the vocabulary's by shared action
(:func:`myosem_rt.vocab.class_map`), and the set is named after the vocabulary's dataset. Files of the
vocabulary's own dataset keep their ids.

``max_windows_per_file`` keeps a deterministic, class-stratified random subset of each file's windows
(proportional allocation, largest remainder; seeded by ``seed`` and the file's folder/name, so a file gives
the same windows wherever the data lives), in time order. Everything is float32: a full 3DC load is
18 files x ~8 400 windows x 200 x 10 samples = 1.2 GB, so subsample for anything but final evaluation.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.descriptors import patch_descriptors
from myosem_rt.errors import ConfigError
from myosem_rt.stream.filters import StreamingFilter, design_filters
from myosem_rt.stream.windows import WindowSpec
from myosem_rt.vocab import Vocabulary, class_map, describes, vocabulary_for_dataset

log = logging.getLogger(__name__)

#: Windows whose descriptors are computed in one batch (bounds the float64 temporaries to ~100 MB).
_DESC_BATCH = 2048

#: Per-window arrays of a :class:`WindowSet` (everything :meth:`WindowSet.subset` indexes).
_PER_WINDOW = ("x", "desc", "label", "subject", "session", "repetition", "start", "file_index", "shows_cue")


@dataclass(eq=False)
class WindowSet:
    """Windows of one or more recordings of one dataset, with their labels and provenance."""

    x: np.ndarray  #: (N, W, C) float32 filtered windows, not normalised
    desc: np.ndarray  #: (N, P, C, 3) float32 = patch_descriptors(x, patch)
    label: np.ndarray  #: (N,) int64 dataset class id
    subject: np.ndarray  #: (N,) int64
    session: np.ndarray  #: (N,) str
    repetition: np.ndarray  #: (N,) int64 (NinaPro rest: the preceding movement's repetition)
    fs: float
    window: int  #: samples
    hop: int  #: samples
    patch: int  #: samples
    dataset: str
    class_names: dict[int, str]
    start: np.ndarray | None = None  #: (N,) int64 first sample of the window in its session
    file_index: np.ndarray | None = None  #: (N,) int64 index into ``files``
    #: (N,) bool: the window's muscle activity shows its cued gesture (``load_windows(mark_activity=...)``)
    shows_cue: np.ndarray | None = None
    files: tuple[Path, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.label.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.x.shape[2])

    def subset(self, mask_or_index: np.ndarray | Sequence[int]) -> WindowSet:
        """The windows selected by a boolean mask (length N) or an index array, as a new WindowSet."""
        sel = np.asarray(mask_or_index)
        if sel.dtype == bool and sel.shape != (len(self),):
            raise ValueError(f"mask has shape {sel.shape}, expected ({len(self)},)")
        changes = {name: getattr(self, name)[sel] for name in _PER_WINDOW if getattr(self, name) is not None}
        return replace(self, **changes)

    def class_counts(self) -> dict[int, int]:
        """Windows per class id, ascending."""
        ids, counts = np.unique(self.label, return_counts=True)
        return {int(i): int(n) for i, n in zip(ids, counts, strict=True)}


def dataset_spec(config: Mapping[str, Any], dataset: str, fs: float) -> WindowSpec:
    """Window / hop / patch in samples for ``dataset`` at ``fs``: config ``datasets`` or else ``windows``."""
    entry = config.get("datasets", {}).get(dataset)
    if entry is None:
        log.info("windows: no config 'datasets.%s' entry; using the 'windows' section", dataset)
        entry = config["windows"]
    return WindowSpec.from_config(entry, fs)


def trial_windows(trials: Sequence[tuple[int, int]], window: int, hop: int) -> np.ndarray:
    """Start samples of every window inside each ``(start, stop)`` trial, hopping from the trial start."""
    starts = [np.arange(a, b - window + 1, hop, dtype=np.int64) for a, b in trials if b - a >= window]
    return np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)


def fill_repetition(repetition: np.ndarray) -> np.ndarray:
    """Repetition 0 replaced by the preceding non-zero repetition (leading zeros: the first one)."""
    rep = np.asarray(repetition, dtype=np.int64)
    nonzero = np.flatnonzero(rep)
    if nonzero.size == 0 or nonzero.size == rep.size:
        return rep.copy()
    idx = np.where(rep != 0, np.arange(rep.size), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = rep[idx]
    filled[: nonzero[0]] = rep[nonzero[0]]
    return filled


def stratified_subsample(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n`` of ``labels``, each class keeping its share (largest remainder, >= 0)."""
    if n >= labels.size:
        return np.arange(labels.size)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n / labels.size
    take = np.floor(quota).astype(np.int64)
    extra = n - int(take.sum())
    take[np.argsort(-(quota - take), kind="stable")[:extra]] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
              for c, k in zip(classes, take, strict=True) if k]
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.int64)


def _file_rng(path: Path, seed: int) -> np.random.Generator:
    key = f"{path.parent.name}/{path.name}".encode()
    return np.random.default_rng([int(seed), zlib.crc32(key)])


def _describe(x: np.ndarray, patch: int) -> np.ndarray:
    out = np.empty((x.shape[0], x.shape[1] // patch, x.shape[2], 3), dtype=np.float32)
    for i in range(0, x.shape[0], _DESC_BATCH):
        out[i : i + _DESC_BATCH] = patch_descriptors(x[i : i + _DESC_BATCH], patch)
    return out


def load_windows(
    files: Sequence[Path],
    config: Mapping[str, Any],
    *,
    max_windows_per_file: int | None = None,
    seed: int = 0,
    spec: WindowSpec | None = None,
    loader: Callable[[Path], Any] | None = None,
    vocabulary: Vocabulary | None = None,
    activity_fraction: float | None = None,
    mark_activity: float | None = None,
) -> WindowSet:
    """Windows of every file (see the module docstring). Files must share rate and channel count, and the
    dataset unless ``vocabulary`` translates their labels into one class space.

    ``activity_fraction``: keep only the windows whose muscle activity shows their cued gesture, by the
    enrolment's rule (:mod:`myosem_rt.profile.labels`), judged on each file's own rest level and every
    trial's windows before any subsampling (``train --labels activity``). ``mark_activity``: the same rule
    at this fraction, but every window is kept and the verdict is ``WindowSet.shows_cue`` (``eval --labels
    activity``: the encoder and the context see the whole stream, as live, and the marked windows are
    scored).

    ``spec`` imposes window/hop/patch in samples (its ``fs`` must equal the files' rate); ``loader`` replaces
    :func:`myosem_rt.recordings.load_session` (tests pass in-memory sessions). Raises :class:`ConfigError`.
    """
    imposed = spec
    if loader is None:
        from myosem_rt.recordings import load_session as loader
    files = [Path(f) for f in files]
    if not files:
        raise ConfigError("load_windows: no recording files given")
    if max_windows_per_file is not None and max_windows_per_file < 1:
        raise ConfigError(f"max_windows_per_file must be >= 1, got {max_windows_per_file}")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _PER_WINDOW}
    first = None
    datasets: list[str] = []
    for index, path in enumerate(files):
        s = loader(path)
        if first is None:
            first = (path, s)
            if spec is None:
                spec = dataset_spec(config, s.dataset, s.fs)
            elif spec.fs != s.fs:
                raise ConfigError(f"{path}: recorded at {s.fs:g} Hz but the windows are for {spec.fs:g} Hz")
            design = design_filters(s.fs, config["filters"])
            log.info("windows: %s @ %g Hz: %d/%d/%d samples (window/hop/patch), %s",
                     s.dataset, s.fs, spec.window, spec.hop, spec.patch, design.description)
        else:
            _check_compatible(path, s, *first, vocabulary is not None)
            if imposed is None and s.dataset != first[1].dataset and \
                    dataset_spec(config, s.dataset, s.fs) != spec:
                raise ConfigError(f"{path}: config 'datasets' windows of {s.dataset} differ from those of "
                                  f"{first[1].dataset}; they cannot train one model")
        if s.dataset not in datasets:
            datasets.append(s.dataset)
        filtered = StreamingFilter(design, s.n_channels).process(s.emg).astype(np.float32)
        starts = trial_windows([(t.start, t.stop) for t in s.trials()], spec.window, spec.hop)
        labels = _labels_in(vocabulary, s, path, s.label[starts].astype(np.int64))
        held = None
        fraction = activity_fraction if activity_fraction is not None else mark_activity
        if fraction is not None:
            from myosem_rt.profile.labels import recording_mask

            repetition = fill_repetition(s.repetition)[starts]
            held = recording_mask(filtered, starts, spec.window, labels, repetition, fraction)
            log.debug("windows: %s: activity shows the cue in %d of %d", path, int(held.sum()), held.size)
            if activity_fraction is not None:
                starts, labels, held = starts[held], labels[held], None
        if max_windows_per_file is not None:
            keep = stratified_subsample(labels, max_windows_per_file, _file_rng(path, seed))
            starts, labels = starts[keep], labels[keep]
            held = None if held is None else held[keep]
        if held is not None:
            parts["shows_cue"].append(held)
        x = filtered[starts[:, None] + np.arange(spec.window)[None, :]]
        n = starts.size
        parts["x"].append(x)
        parts["desc"].append(_describe(x, spec.patch))
        parts["label"].append(labels)
        parts["subject"].append(np.full(n, s.subject, dtype=np.int64))
        parts["session"].append(np.full(n, s.session, dtype=object))
        parts["repetition"].append(fill_repetition(s.repetition)[starts])
        parts["start"].append(starts)
        parts["file_index"].append(np.full(n, index, dtype=np.int64))
        log.debug("windows: %s: %d windows", path, n)
    _, f = first
    arrays = {name: np.concatenate(chunks) for name, chunks in parts.items() if chunks}
    arrays["session"] = arrays["session"].astype(str)
    dataset, class_names = f.dataset, dict(f.class_names)
    if vocabulary is not None and not all(describes(vocabulary, d) for d in datasets):
        if len(datasets) > 1:
            dataset = vocabulary.dataset
        class_names = {c.class_id: c.t0 for c in vocabulary.classes}
    ws = WindowSet(**arrays, fs=f.fs, window=spec.window, hop=spec.hop, patch=spec.patch, dataset=dataset,
                   class_names=class_names, files=tuple(files))
    log.info("windows: %d from %d file(s), %d classes", len(ws), len(files), len(ws.class_counts()))
    return ws


def _check_compatible(path: Path, s: Any, f_path: Path, f: Any, several_datasets: bool) -> None:
    if (s.fs, s.n_channels) != (f.fs, f.n_channels) or (s.dataset != f.dataset and not several_datasets):
        raise ConfigError(
            f"{path}: {s.dataset} {s.n_channels} ch @ {s.fs:g} Hz does not match {f_path.name}: "
            f"{f.dataset} {f.n_channels} ch @ {f.fs:g} Hz (one rate and channel count, and one dataset "
            "unless a vocabulary translates the labels)")


def _labels_in(vocabulary: Vocabulary | None, session: Any, path: Path, labels: np.ndarray) -> np.ndarray:
    """``labels`` of ``session`` as class ids of ``vocabulary`` (unchanged for its own dataset)."""
    if vocabulary is None or describes(vocabulary, session.dataset):
        return labels
    mapping = class_map(vocabulary_for_dataset(session.dataset), vocabulary)
    unknown = sorted(set(np.unique(labels).tolist()) - set(mapping))
    if unknown:
        raise ConfigError(f"{path}: class ids {unknown} are not in the {session.dataset} vocabulary")
    lut = np.full(max(mapping) + 1, -1, dtype=np.int64)
    lut[list(mapping)] = list(mapping.values())
    return lut[labels]


def bench_windows(args: Any, config: Mapping[str, Any]) -> int:
    """``myosem bench windows --data FILE``: time :func:`load_windows` on one recording (median of runs).

    Prints, for all windows and for a 200-window subsample: seconds per file (median, max), windows per
    second and the memory of the arrays. The first (untimed) run warms the file cache.
    """
    import sys
    import time

    from myosem_rt.recordings import find_recordings

    if not getattr(args, "data", None):
        raise ConfigError("bench windows: give a recording with --data FILE")
    path = find_recordings(args.data)[0]
    runs = 3 if getattr(args, "quick", False) else 7
    out = sys.stdout
    out.write(f"load_windows on {path} ({runs} runs after one warm-up)\n")
    for limit in (None, 200):
        times = []
        for i in range(runs + 1):
            t0 = time.perf_counter()
            ws = load_windows([path], config, max_windows_per_file=limit)
            if i:
                times.append(time.perf_counter() - t0)
        med = float(np.median(times))
        mb = (ws.x.nbytes + ws.desc.nbytes) / 2**20
        out.write(f"  max_windows_per_file={limit}: {len(ws)} windows of {ws.window}x{ws.n_channels} | "
                  f"median {med:.3f} s, max {max(times):.3f} s | {len(ws) / med:,.0f} windows/s | "
                  f"{mb:.1f} MiB\n")
    return 0

"""A synthetic armband: seeded band-limited noise shaped by a per-class channel activation topology.

The signal model follows the MyoSem view of a gesture as a pattern of channel activations a[c, k] (class c,
channel k, 0..1): during gesture c, channel k is band-limited noise with RMS
``noise_floor + amplitude * a[c, k]``; between gestures the level ramps (raised cosine, ~100 ms) from where
it was to the next class's pattern, and rest is the rest class's pattern (zeros in the built-in topology:
only the noise floor). Noise is white Gaussian noise through a 20 .. min(450, 0.45 fs) Hz Butterworth
band-pass whose state carries across chunks, normalised to unit RMS.

A topology is ``(class_ids, names, a)`` with ``a`` a float array [n_classes, n_channels] in 0..1: the built-in
wrist/hand one (:func:`default_topology`), one estimated from a recording (:func:`estimate_topology`), or
later one derived from a model in the same format. Everything is a function of ``seed``: noise and the
random gesture order come from separate seeded generators, so the samples do not depend on the chunk size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import signal

from devices.outlet import Chunk, PacedSource, StreamSpec, check_positive
from myosem_rt.errors import ConfigError
from myosem_rt.recordings import Session, load_session

log = logging.getLogger(__name__)

Topology = tuple[tuple[int, ...], tuple[str, ...], np.ndarray]

MANUFACTURER = "MyoSem-RT simulate"
REST_ID = 0
RAMP_S = 0.1
BAND_HZ = (20.0, 450.0)

#: Built-in gestures: id, name, and muscle groups as (angle around the forearm in turns, peak activation).
#: Angle 0 = channel 1; flexors sit around 0.25 turn (palm side), extensors around 0.75 (back of the forearm).
_GESTURES: tuple[tuple[int, str, tuple[tuple[float, float], ...]], ...] = (
    (0, "rest", ()),
    (1, "wrist flexion", ((0.25, 1.0),)),
    (2, "wrist extension", ((0.75, 0.9),)),
    (3, "hand close", ((0.32, 1.0), (0.68, 0.55))),
    (4, "hand open", ((0.82, 1.0), (0.2, 0.2))),
    (5, "pronation", ((0.12, 0.75),)),
    (6, "supination", ((0.55, 0.7),)),
)
_GROUP_WIDTH = 0.1  # turns (Gaussian sigma of a muscle group's footprint)


def default_topology(n_channels: int = 8) -> Topology:
    """Built-in wrist/hand activation pattern for ``n_channels`` electrodes evenly spaced around the arm."""
    if n_channels < 1:
        raise ConfigError(f"--channels must be >= 1, got {n_channels}")
    angles = np.arange(n_channels) / n_channels
    a = np.zeros((len(_GESTURES), n_channels))
    for row, (_, _, groups) in enumerate(_GESTURES):
        for centre, peak in groups:
            d = np.abs((angles - centre + 0.5) % 1.0 - 0.5)  # circular distance in turns
            a[row] += peak * np.exp(-0.5 * (d / _GROUP_WIDTH) ** 2)
    a = np.clip(a, 0.0, 1.0)
    return tuple(g[0] for g in _GESTURES), tuple(g[1] for g in _GESTURES), a


def estimate_topology(session: Session) -> Topology:
    """Per-class, per-channel RMS of ``session`` (channel means removed), divided by the global maximum.

    Returns ``(class_ids, names, a)`` for the classes present in the session, ids ascending, names from the
    session's class map; ``a`` [n_classes, n_channels] peaks at exactly 1.
    """
    x = session.emg.astype(np.float64)
    x -= x.mean(axis=0)
    ids = session.classes
    a = np.stack([np.sqrt(np.mean(x[session.label == c] ** 2, axis=0)) for c in ids])
    peak = a.max()
    if not peak > 0:
        raise ConfigError(f"{session.source_id}: the recording is flat, no topology can be estimated from it")
    return tuple(ids), tuple(session.class_name(c) for c in ids), a / peak


def parse_sequence(value: object) -> str | tuple[int, ...]:
    """``"random"``, or class ids from a list or a comma-separated string ("1,2,3")."""
    if isinstance(value, str):
        if value.strip().lower() == "random":
            return "random"
        value = [v for v in value.replace(" ", "").split(",") if v]
    try:
        ids = tuple(int(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"--sequence must be 'random' or class ids like 1,2,3, got {value!r}") from None
    if not ids:
        raise ConfigError("--sequence is empty")
    return ids


class SyntheticArmband(PacedSource):
    """The synthetic armband as an LSL source; :meth:`generate` gives the same samples without LSL.

    ``topology`` None = :func:`default_topology` for ``n_channels``; with a topology, ``n_channels`` None
    takes its channel count. ``sequence`` "random" (seeded, no gesture twice in a row) or class ids to cycle
    through. Rest (class 0, ``rest_s``; skipped when 0) comes first and between gestures.
    ``duration_s`` None = endless (until :meth:`stop` / Ctrl-C).
    """

    def __init__(
        self,
        *,
        name: str = "myosem-sim",
        n_channels: int | None = 8,
        fs: float = 1000.0,
        chunk_ms: float = 20.0,
        topology: Topology | None = None,
        topology_source: str = "built-in",
        sequence: str | Sequence[int] = "random",
        gesture_s: float = 3.0,
        rest_s: float = 2.0,
        seed: int = 0,
        amplitude: float = 1.0,
        noise_floor: float = 0.05,
        speed: float = 1.0,
        duration_s: float | None = None,
        wait_for_consumer: float = 0.0,
    ) -> None:
        fs = check_positive("--fs", fs)
        if fs <= 2.5 * BAND_HZ[0]:
            raise ConfigError(
                f"--fs must be > {2.5 * BAND_HZ[0]:g} Hz for a {BAND_HZ[0]:g} Hz band-pass, got {fs:g}"
            )
        if topology is None:
            topology = default_topology(8 if n_channels is None else int(n_channels))
        ids, names, a = topology
        a = np.asarray(a, dtype=np.float64)
        if n_channels is not None and int(n_channels) != a.shape[1]:
            raise ConfigError(f"--channels {n_channels} does not match the topology's {a.shape[1]} channels")
        self.class_ids, self.names, self.levels = tuple(int(c) for c in ids), tuple(names), a
        self.sequence = parse_sequence(sequence)
        self.gesture_ids = tuple(c for c in self.class_ids if c != REST_ID)
        if self.sequence == "random" and not self.gesture_ids:
            raise ConfigError(f"topology ({topology_source}) has no class besides rest to simulate")
        unknown = sorted(set(self.sequence) - set(self.class_ids)) if self.sequence != "random" else []
        if unknown:
            raise ConfigError(
                f"--sequence: class ids {unknown} not in the topology (ids {list(self.class_ids)})"
            )
        self.gesture_n = round(check_positive("--gesture-s", gesture_s) * fs)
        self.rest_n = round(check_positive("--rest-s", rest_s, allow_zero=True) * fs)
        if self.gesture_n < 1:
            raise ConfigError(f"--gesture-s {gesture_s:g} is shorter than one sample")
        self.amplitude = check_positive("--amplitude", amplitude)
        self.noise_floor = check_positive("--noise-floor", noise_floor, allow_zero=True)
        self.seed = int(seed)
        self.total_n = (
            None if duration_s is None else max(1, round(check_positive("--duration", duration_s) * fs))
        )
        class_names = dict(zip(self.class_ids, self.names, strict=True))
        class_names.setdefault(REST_ID, "rest")
        spec = StreamSpec(
            name=name,
            source_id=f"synthetic/{name}/seed{self.seed}",
            fs=fs,
            channel_names=tuple(f"ch{k + 1}" for k in range(a.shape[1])),
            unit="a.u.",
            class_names=class_names,
            manufacturer=MANUFACTURER,
            metadata={
                "model": "synthetic armband",
                "dataset": "synthetic",
                "topology": topology_source,
                "seed": str(self.seed),
            },
        )
        super().__init__(spec, speed=speed, chunk_ms=chunk_ms, wait_for_consumer=wait_for_consumer)
        self.sos = signal.butter(
            4, [BAND_HZ[0], min(BAND_HZ[1], 0.45 * fs)], btype="band", fs=fs, output="sos"
        )
        impulse = np.zeros(int(4 * fs))
        impulse[0] = 1.0
        self._gain = 1.0 / np.sqrt(np.sum(signal.sosfilt(self.sos, impulse) ** 2))  # unit-RMS noise

    def level(self, class_id: int) -> np.ndarray:
        """Activation pattern of one class (zeros for a rest class the topology does not list)."""
        if class_id in self.class_ids:
            return self.levels[self.class_ids.index(class_id)]
        return np.zeros(self.levels.shape[1])

    def segments(self) -> Iterator[tuple[int, int]]:
        """(class id, samples) in order, endless: rest, gesture, rest, gesture ..."""
        rng = np.random.default_rng([self.seed, 1])
        previous, k = None, 0
        while True:
            if self.rest_n:
                yield REST_ID, self.rest_n
            if self.sequence == "random":
                choices = [c for c in self.gesture_ids if c != previous] or list(self.gesture_ids)
                previous = choices[int(rng.integers(len(choices)))]
            else:
                previous = self.sequence[k % len(self.sequence)]
                k += 1
            yield previous, self.gesture_n

    def chunks(self) -> Iterator[Chunk]:
        n_ch, step = self.levels.shape[1], self.chunk_samples
        ramp_n = max(1, round(RAMP_S * self.spec.fs))
        noise_rng = np.random.default_rng([self.seed, 0])
        # Run the filter on 1 s of noise first so the stream starts in its steady state, not with a transient.
        zi = np.zeros((self.sos.shape[0], 2, n_ch))
        _, zi = signal.sosfilt(self.sos, noise_rng.standard_normal((int(self.spec.fs), n_ch)), axis=0, zi=zi)
        segments = self.segments()
        cls, seg_n, pos = REST_ID, 0, 0
        level_from = level_to = current = self.level(REST_ID)  # current: level of the last sample made
        produced = 0
        while self.total_n is None or produced < self.total_n:
            n = step if self.total_n is None else min(step, self.total_n - produced)
            levels = np.empty((n, n_ch))
            labels = np.empty(n, dtype=np.int16)
            filled = 0
            while filled < n:
                if pos == seg_n:
                    level_from = levels[filled - 1] if filled else current  # ramp from where it is
                    cls, seg_n = next(segments)
                    pos, level_to = 0, self.level(cls)
                take = min(n - filled, seg_n - pos)
                w = 0.5 - 0.5 * np.cos(np.pi * np.minimum(pos + np.arange(1, take + 1), ramp_n) / ramp_n)
                levels[filled : filled + take] = level_from + (level_to - level_from) * w[:, None]
                labels[filled : filled + take] = cls
                pos += take
                filled += take
            current = levels[-1]
            noise, zi = signal.sosfilt(self.sos, noise_rng.standard_normal((n, n_ch)), axis=0, zi=zi)
            emg = noise * self._gain * (self.noise_floor + self.amplitude * levels)
            produced += n
            yield Chunk(emg.astype(np.float32), labels)

    def generate(self, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n_samples`` (all, if the duration is shorter): (emg [n, C] float32, labels [n])."""
        emg, labels, got = [], [], 0
        for chunk in self.chunks():
            emg.append(chunk.emg)
            labels.append(chunk.labels)
            got += len(chunk.labels)
            if got >= n_samples:
                break
        return np.concatenate(emg)[:n_samples], np.concatenate(labels)[:n_samples]

    def describe(self) -> str:
        order = "random order" if self.sequence == "random" else f"sequence {list(self.sequence)}"
        length = "endless" if self.total_n is None else f"{self.total_n / self.spec.fs:.3f} s"
        return f"{super().describe()}, {length}, {len(self.class_ids)} classes, {order}, seed {self.seed}"


def armband_from_config(cfg: Mapping[str, Any], **overrides: Any) -> SyntheticArmband:
    """The armband config.yaml's ``simulate`` section describes; non-None keyword arguments override it.

    Keywords are :class:`SyntheticArmband` arguments. ``topology`` is the path of a recording (or None for
    the built-in one); the recording is read completely first and its channel count and rate are used
    unless ``n_channels`` / ``fs`` are given explicitly.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    options = {**cfg, **given}
    topology_file = options.pop("topology", None)
    if topology_file is not None:
        session = load_session(topology_file)
        options["topology"] = estimate_topology(session)
        options["topology_source"] = f"estimated from {session.source_id}"
        options["n_channels"] = given.get("n_channels")
        options["fs"] = given.get("fs", session.fs)
    return SyntheticArmband(**options)

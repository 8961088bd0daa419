"""The read-only recording session that every consumer of recordings (replay, training, eval) receives."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True)
class Trial:
    """One contiguous run of samples with a single label and repetition: ``emg[start:stop]``."""

    start: int
    stop: int
    label: int
    repetition: int

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True, eq=False)
class Session:
    """One subject's recording session, scaled to float32 and frozen.

    Arrays are read-only views: a consumer that wants to modify them must copy. ``label`` holds dataset-
    global class ids (NinaPro numbering for NinaPro files, the folder's ``labels.json`` ids for the shared
    recordings); 0 is rest. ``repetition`` is 0 where the source marks no repetition (NinaPro rest).
    """

    emg: np.ndarray  #: (T, C) float32, in ``unit``
    label: np.ndarray  #: (T,) int16 class id per sample
    repetition: np.ndarray  #: (T,) int16 repetition per sample
    fs: float  #: sampling rate in Hz
    class_names: Mapping[int, str]  #: class id -> name, for every id the dataset defines
    dataset: str  #: e.g. "3DC", "MyoDisCo", "NinaPro-DB2"
    subject: int
    session: str  #: e.g. "day1", "E1"
    path: Path | None = None
    unit: str = ""  #: "adc_counts", "myo_int8", "V" ...
    device: str = ""
    exercise: int = 1
    glove: np.ndarray | None = None  #: (T, 22) float32 CyberGlove angles when present
    channel_names: tuple[str, ...] = field(default=())
    #: per-channel content type when the source states it (XDF ``desc/channels/channel/type``: EMG, ACC ...)
    channel_types: tuple[str, ...] = field(default=())
    #: class id -> description in words, when the file carries them (guided enrolment, ``labels_json``)
    class_descriptions: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        emg = np.asarray(self.emg, dtype=np.float32)
        if emg.ndim != 2:
            raise ValueError(f"emg must be T x C, got shape {emg.shape}")
        n = emg.shape[0]
        arrays = {"emg": emg}
        for name in ("label", "repetition"):
            arr = np.asarray(getattr(self, name)).reshape(-1).astype(np.int16, copy=False)
            if arr.shape[0] != n:
                raise ValueError(f"{name} has {arr.shape[0]} samples, emg has {n}")
            arrays[name] = arr
        if self.glove is not None:
            glove = np.asarray(self.glove, dtype=np.float32)
            if glove.shape[0] != n:
                raise ValueError(f"glove has {glove.shape[0]} samples, emg has {n}")
            arrays["glove"] = glove
        for name, arr in arrays.items():
            arr = arr.view()
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "class_names", MappingProxyType(dict(self.class_names)))
        object.__setattr__(self, "class_descriptions", MappingProxyType(dict(self.class_descriptions)))
        if not self.channel_names:
            object.__setattr__(self, "channel_names", tuple(f"ch{i + 1}" for i in range(emg.shape[1])))
        if len(self.channel_names) != emg.shape[1]:
            raise ValueError(f"{len(self.channel_names)} channel names for {emg.shape[1]} channels")
        if self.channel_types and len(self.channel_types) != emg.shape[1]:
            raise ValueError(f"{len(self.channel_types)} channel types for {emg.shape[1]} channels")
        if not self.fs > 0:
            raise ValueError(f"sampling rate must be positive, got {self.fs}")

    @property
    def n_samples(self) -> int:
        return int(self.emg.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.emg.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    @property
    def classes(self) -> tuple[int, ...]:
        """Class ids that occur in this session, ascending."""
        return tuple(int(c) for c in np.unique(self.label))

    @property
    def source_id(self) -> str:
        """Stable identity used as the LSL ``source_id``: ``dataset/S<subject>/<session>``."""
        return f"{self.dataset}/S{self.subject}/{self.session}"

    def trials(self) -> Iterator[Trial]:
        """Runs of constant (label, repetition), in time order."""
        if self.n_samples == 0:
            return
        change = np.flatnonzero((np.diff(self.label) != 0) | (np.diff(self.repetition) != 0)) + 1
        bounds = np.concatenate(([0], change, [self.n_samples]))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            yield Trial(int(a), int(b), int(self.label[a]), int(self.repetition[a]))

    def class_name(self, class_id: int) -> str:
        return self.class_names.get(int(class_id), f"class {int(class_id)}")

"""Evaluation protocols: which recordings and which windows are trained on and tested on (no torch).

Why in the runtime package: ``myosem eval --protocol`` must run without torch and must test on exactly the
windows that training held out, so both sides use this one definition (``train/splits.py`` re-exports it).

Every protocol is fixed and deterministic. A :class:`Split` names the train and test files and two masks
(:class:`Selection`) that pick windows of a :class:`~myosem_rt.windowing.WindowSet`; a mask checks every
criterion itself (dataset, subject, session, repetition, class), so it is also correct on windows loaded
from more files than the split names.

Shared recordings (``<data>/3dc``, ``<data>/myodisco``, ``<data>/ciil_shift``):

- ``3dc-rand``: all subjects, repetitions 1-4 -> 5-8 (the recording's own train / test cycles).
- ``3dc-user``: subject-disjoint, all repetitions: S1-S14 -> S15-S18 (S13 and S14, which share trials, are
  on the same side).
- ``3dc-class``: held-out gestures 3 Ulnar Deviation, 6 Pronation, 10 Pinch Grip (each has a trained
  sibling: radial deviation, supination, chuck grip); train on reps 1-4 of the other classes, test on reps
  5-8 of all classes. Their EMG is never trained on. Class-disjoint protocols take option ``held_out``
  (``--held-out``) to hold out other classes (``myosem bench zeroshot``'s folds).
- ``myodisco-rand``: day1, repetitions 1-14 -> 15-20, all subjects.
- ``myodisco-user``: day1 + day2, S1-S8 -> S9-S11.
- ``myodisco-class``: day1, held-out gestures 1 double tap, 4 wrist flexion, 7 point; reps 1-14 of the
  other classes -> reps 15-20 of all.
- ``myodisco-session``: day1 -> day2, all subjects.
- ``myodisco-position``: day1 + day2 -> position1-4, all subjects.
- ``ciil-shift``: train -> shift1-4, all subjects.
- ``myo-user``: the Myo Armband model (vocabulary ``myo``): MyoDisCo and CIIL together, every session,
  subject-disjoint: MyoDisCo S9-S11 and CIIL S17-S21 are tested (``test_subjects`` replaces both lists;
  the two datasets number different people independently). CIIL labels are translated to the ``myo``
  class ids by action (:func:`myosem_rt.windowing.load_windows`); windows are selected by file.
- ``cross-device``: the ``myo-user`` split, but the text space (stage 1) is trained on the 3DC vocabulary's
  descriptions alone (:attr:`Split.text_vocabularies`): does a text space learnt for one armband serve
  another? The Myo encoder is aligned to that space's prototypes of the Myo descriptions. The EMG encoder
  itself cannot cross devices (10 ch @ 1 kHz vs 8 ch @ 200 Hz), so the text side is what transfers. Myo
  actions the 3DC vocabulary also has (rest, hand close / open, wrist flexion / extension) share their T1
  and T2 texts with it; the others' texts are new to the text space.

NinaPro (``DB2_s<n>/S<n>_E<e>_A1.mat`` and ``DB3_s<n>/...`` anywhere under the data folder):

- ``db2-rand``: DB2, repetitions 1, 3, 4, 6 -> 2, 5 (rest windows go with the preceding movement's
  repetition, see :mod:`myosem_rt.windowing`).
- ``db2-user``: DB2, subject-disjoint: the last quarter of the subjects present by number (S31-S40 of the
  complete DB2) are tested.
- ``db2-class``: DB2, held-out movements 3, 11, 16, 27, 35, 46 (one or two per exercise, each with a trained
  sibling); reps 1, 3, 4, 6 of the others -> reps 2, 5 of all.
- ``db2-db3``: all of DB2 -> all of DB3 (intact -> amputee subjects). DB3 files whose channel count differs
  from DB2's (subjects 6 and 7 have 10 electrodes) are left out with a log line.

Known duplicated trials are excluded from every selection (:data:`DUPLICATES`): 3DC S14 repetition 5 and
repetition 6 classes 0-1 (byte copies of S13's), and MyoDisCo S7 day2 repetition 10 class 6 (a copy of day1).

Options of every protocol: ``subjects`` (only these subject numbers, on both sides) and ``max_files`` (the
first N files of each side, for smoke tests); subject-disjoint protocols also take ``test_subjects``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from myosem_rt.errors import ConfigError
from myosem_rt.windowing import WindowSet

log = logging.getLogger(__name__)

#: (dataset, subject, session, repetition, classes or None = all): trials that copy another recording.
DUPLICATES: tuple[tuple[str, int, str, int, frozenset[int] | None], ...] = (
    ("3DC", 14, "day1", 5, None),
    ("3DC", 14, "day1", 6, frozenset({0, 1})),
    ("MyoDisCo", 7, "day2", 10, frozenset({6})),
)
THREEDC_TEST_SUBJECTS = frozenset({15, 16, 17, 18})
THREEDC_HELD_OUT = frozenset({3, 6, 10})
MYODISCO_TEST_SUBJECTS = frozenset({9, 10, 11})
MYODISCO_HELD_OUT = frozenset({1, 4, 7})  # double tap, wrist flexion, point
CIIL_TEST_SUBJECTS = frozenset(range(17, 22))
DB2_HELD_OUT = frozenset({3, 11, 16, 27, 35, 46})
DB2_TRAIN_REPS = frozenset({1, 3, 4, 6})
DB2_TEST_REPS = frozenset({2, 5})


@dataclass(frozen=True)
class Selection:
    """A window mask: every given criterion must hold (None = any); known duplicates never pass."""

    dataset: str
    subjects: frozenset[int] | None = None
    sessions: frozenset[str] | None = None
    repetitions: frozenset[int] | None = None
    exclude_classes: frozenset[int] = frozenset()

    def __call__(self, ws: WindowSet) -> np.ndarray:
        n = len(ws)
        if ws.dataset != self.dataset:
            return np.zeros(n, dtype=bool)
        mask = np.ones(n, dtype=bool)
        if self.subjects is not None:
            mask &= np.isin(ws.subject, list(self.subjects))
        if self.sessions is not None:
            mask &= np.isin(ws.session, list(self.sessions))
        if self.repetitions is not None:
            mask &= np.isin(ws.repetition, list(self.repetitions))
        if self.exclude_classes:
            mask &= ~np.isin(ws.label, list(self.exclude_classes))
        return mask & ~duplicate_mask(ws)


def duplicate_mask(ws: WindowSet) -> np.ndarray:
    """True for windows of the known duplicated trials (:data:`DUPLICATES`)."""
    dup = np.zeros(len(ws), dtype=bool)
    for dataset, subject, session, rep, classes in DUPLICATES:
        if ws.dataset != dataset:
            continue
        hit = (ws.subject == subject) & (ws.session == session) & (ws.repetition == rep)
        if classes is not None:
            hit &= np.isin(ws.label, list(classes))
        dup |= hit
    return dup


@dataclass(frozen=True)
class Split:
    """One protocol instance: files and window masks of each side."""

    name: str
    description: str
    train_files: list[Path]
    test_files: list[Path]
    train_mask: Callable[[WindowSet], np.ndarray]
    test_mask: Callable[[WindowSet], np.ndarray]
    held_out_classes: frozenset[int]  #: empty unless class-disjoint
    vocabulary: str  #: vocabulary name for the dataset (myosem_rt.vocab)
    #: stage 1 trains on these vocabularies' texts only (None: the training config's, plus ``vocabulary``)
    text_vocabularies: tuple[str, ...] | None = None


@dataclass(frozen=True)
class _Source:
    """A shared-recordings folder: file name pattern (subject, file tag) and tag -> Session.session."""

    folder: str
    dataset: str
    vocabulary: str
    pattern: re.Pattern[str]
    sessions: dict[str, str]


_SOURCES = {
    "3dc": _Source("3dc", "3DC", "3dc", re.compile(r"^S(\d+)_(E1)_A1\.(?:mat|xdf)$"), {"E1": "day1"}),
    "myodisco": _Source("myodisco", "MyoDisCo", "myodisco",
                        re.compile(r"^S(\d+)_(day[12]|pos[1-4])\.(?:mat|xdf)$"),
                        {"day1": "day1", "day2": "day2", **{f"pos{i}": f"position{i}" for i in range(1, 5)}}),
    "ciil": _Source("ciil_shift", "CIIL_ElectrodeShift", "ciil",
                    re.compile(r"^S(\d+)_(train|shift[1-4])\.(?:mat|xdf)$"),
                    {"train": "train", **{f"shift{i}": f"shift{i}" for i in range(1, 5)}}),
}
_NINAPRO_FOLDER = re.compile(r"^DB(?P<db>[23])_s(?P<subject>\d+)$", re.IGNORECASE)
_NINAPRO_FILE = re.compile(r"^S\d+_E[123]_A1\.mat$", re.IGNORECASE)

# file records: (subject, session, path)
_File = tuple[int, str, Path]


def _shared_files(data_dir: Path, source: _Source) -> list[_File]:
    data_dir = Path(data_dir)
    folder = data_dir if data_dir.name == source.folder else data_dir / source.folder
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no {source.dataset} recordings folder "
                          f"(expected <data>/{source.folder})")
    found = []
    for path in sorted(folder.glob("*")):  # .mat, or LabRecorder .xdf of the same name
        m = source.pattern.match(path.name)
        if m:
            if path.suffix == ".xdf" and path.with_suffix(".mat").exists():
                raise ConfigError(f"{path}: both {path.name} and {path.with_suffix('.mat').name} exist "
                                  "(the same recording twice?); keep one")
            found.append((int(m[1]), source.sessions[m[2]], path))
    return sorted(found)


def _ninapro_files(data_dir: Path, db: str) -> list[_File]:
    found = []
    for folder in Path(data_dir).rglob(f"DB{db}_s*"):
        m = _NINAPRO_FOLDER.match(folder.name)
        if not (m and folder.is_dir()):
            continue
        for path in folder.iterdir():
            if _NINAPRO_FILE.match(path.name):
                found.append((int(m["subject"]), path.name.split("_")[1].upper(), path))
    if not found:
        raise ConfigError(f"{data_dir}: no NinaPro DB{db} recordings (DB{db}_s<n>/S<n>_E<e>_A1.mat folders)")
    return sorted(found)


def _emg_channels(path: Path) -> int | None:
    import scipy.io

    shapes = {name: shape for name, shape, _ in scipy.io.whosmat(str(path))}
    return shapes["emg"][1] if "emg" in shapes and len(shapes["emg"]) == 2 else None


def _pick(files: list[_File], side: str, name: str, *, subjects: frozenset[int] | None = None,
          sessions: Iterable[str] | None = None, max_files: int | None = None) -> list[Path]:
    chosen = [p for s, sess, p in files
              if (subjects is None or s in subjects) and (sessions is None or sess in sessions)]
    if max_files is not None:
        chosen = chosen[:max_files]
    if not chosen:
        raise ConfigError(f"protocol {name}: no {side} files left (check the data folder and the options)")
    return chosen


def _options(options: dict, allowed: set[str], name: str) -> tuple[frozenset[int] | None, int | None]:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(f"protocol {name}: unknown option(s) {', '.join(unknown)} "
                          f"(expected {', '.join(sorted(allowed))})")
    subjects = options.get("subjects")
    max_files = options.get("max_files")
    if max_files is not None and int(max_files) < 1:
        raise ConfigError(f"protocol {name}: max_files must be >= 1, got {max_files}")
    return (frozenset(int(s) for s in subjects) if subjects is not None else None,
            int(max_files) if max_files is not None else None)


def _within(name: str, key: str, description: str, train_sessions: frozenset[str] | None,
            test_sessions: frozenset[str] | None, train_reps: frozenset[int] | None,
            test_reps: frozenset[int] | None, default_held_out: frozenset[int], data_dir: Path,
            **options) -> Split:
    """Protocols whose sides differ by session, repetition and/or class (same subjects on both sides).
    Class-disjoint ones take option ``held_out`` (class ids), replacing their default held-out classes: the
    folds of ``myosem bench zeroshot``."""
    allowed = {"subjects", "max_files"} | ({"held_out"} if default_held_out else set())
    subjects, max_files = _options(options, allowed, name)
    held_out = default_held_out
    if options.get("held_out") is not None:
        held_out = _held_out(name, key, options["held_out"])
    if key in _SOURCES:
        source = _SOURCES[key]
        files, dataset, vocabulary = _shared_files(data_dir, source), source.dataset, source.vocabulary
    else:
        files, dataset, vocabulary = _ninapro_files(data_dir, "2"), "NinaPro-DB2", "ninapro_db2"
    pick = partial(_pick, files, name=name, subjects=subjects, max_files=max_files)
    return Split(
        name, description,
        pick("train", sessions=train_sessions), pick("test", sessions=test_sessions),
        Selection(dataset, subjects, train_sessions, train_reps, held_out),
        Selection(dataset, subjects, test_sessions, test_reps),
        held_out, vocabulary)


def _held_out(name: str, key: str, classes: Iterable[int]) -> frozenset[int]:
    """The given held-out class ids, checked: known gesture classes of the dataset, rest never (a model must
    know rest), and at least two (the held-out-only ranking needs two candidates)."""
    from myosem_rt.vocab import load_vocabulary

    vocabulary = _SOURCES[key].vocabulary if key in _SOURCES else "ninapro_db2"
    known = set(load_vocabulary(vocabulary).class_ids)
    held = frozenset(int(c) for c in classes)
    bad = sorted(held - known)
    if bad:
        raise ConfigError(f"protocol {name}: held-out class(es) {bad} are not classes of {vocabulary} "
                          f"({min(known)}-{max(known)})")
    if 0 in held:
        raise ConfigError(f"protocol {name}: rest (class 0) cannot be held out")
    if len(held) < 2:
        raise ConfigError(f"protocol {name}: hold out at least 2 classes (got {sorted(held)})")
    return held


def _user(name: str, key: str, description: str, sessions: frozenset[str] | None,
          default_test: frozenset[int] | None, data_dir: Path, **options) -> Split:
    """Subject-disjoint protocols: option ``test_subjects`` (else ``default_test``, else the last quarter of
    the subjects present) are tested, every other subject is trained on."""
    subjects, max_files = _options(options, {"subjects", "max_files", "test_subjects"}, name)
    if key in _SOURCES:
        source = _SOURCES[key]
        files, dataset, vocabulary = _shared_files(data_dir, source), source.dataset, source.vocabulary
    else:
        files, dataset, vocabulary = _ninapro_files(data_dir, "2"), "NinaPro-DB2", "ninapro_db2"
    present = sorted({s for s, _, _ in files if subjects is None or s in subjects})
    if options.get("test_subjects") is not None:
        test_subjects = frozenset(int(s) for s in options["test_subjects"])
    elif default_test is not None:
        test_subjects = default_test
    else:  # NinaPro: the last quarter of the subjects present
        test_subjects = frozenset(present[len(present) - max(1, math.ceil(len(present) / 4)):])
    test = frozenset(s for s in present if s in test_subjects)
    train = frozenset(s for s in present if s not in test_subjects)
    pick = partial(_pick, files, name=name, sessions=sessions, max_files=max_files)
    return Split(
        name, f"{description}; test subjects {sorted(test)}",
        pick("train", subjects=train), pick("test", subjects=test),
        Selection(dataset, train, sessions), Selection(dataset, test, sessions),
        frozenset(), vocabulary)


@dataclass(frozen=True)
class FileSelection:
    """A window mask by recording: windows of these files (by folder/name) pass.

    For sets that mix datasets (their :attr:`WindowSet.dataset` is a vocabulary's, so :class:`Selection`'s
    dataset test does not apply); the split that uses it names each side's files exactly.
    """

    files: frozenset[str]

    def __call__(self, ws: WindowSet) -> np.ndarray:
        names = np.array([f"{Path(p).parent.name}/{Path(p).name}" in self.files for p in ws.files] + [False])
        index = ws.file_index if ws.file_index is not None else np.full(len(ws), -1)
        return names[index]


def _myo_user(data_dir: Path, name: str = "myo-user", **options) -> Split:
    subjects, max_files = _options(options, {"subjects", "max_files", "test_subjects"}, name)
    given = options.get("test_subjects")
    sides: dict[str, list[Path]] = {"train": [], "test": []}
    for key, default in (("myodisco", MYODISCO_TEST_SUBJECTS), ("ciil", CIIL_TEST_SUBJECTS)):
        files = [f for f in _shared_files(data_dir, _SOURCES[key]) if subjects is None or f[0] in subjects]
        tested = frozenset(int(x) for x in given) if given is not None else default
        sides["test"] += [p for s, _, p in files if s in tested]
        sides["train"] += [p for s, _, p in files if s not in tested]
    for side, chosen in sides.items():
        sides[side] = chosen[:max_files] if max_files is not None else chosen
        if not sides[side]:
            raise ConfigError(f"protocol {name}: no {side} files left (check the data folder and options)")
    label = "given" if given is not None else "MyoDisCo S9-S11, CIIL S17-S21"
    return Split(name, f"Myo Armband: MyoDisCo + CIIL, every session, subject-disjoint (tested: {label})",
                 sides["train"], sides["test"],
                 FileSelection(frozenset(f"{p.parent.name}/{p.name}" for p in sides["train"])),
                 FileSelection(frozenset(f"{p.parent.name}/{p.name}" for p in sides["test"])),
                 frozenset(), "myo")


def _cross_device(data_dir: Path, **options) -> Split:
    sp = _myo_user(data_dir, "cross-device", **options)
    return replace(sp, description=f"3DC-trained text space, Myo data: {sp.description}",
                   text_vocabularies=("3dc",))


def _db2_db3(data_dir: Path, **options) -> Split:
    name = "db2-db3"
    subjects, max_files = _options(options, {"subjects", "max_files"}, name)
    train = _pick(_ninapro_files(data_dir, "2"), "train", name, subjects=subjects, max_files=max_files)
    channels = _emg_channels(train[0])
    all_db3 = _ninapro_files(data_dir, "3")
    db3 = [f for f in all_db3 if _emg_channels(f[2]) == channels]
    if len(db3) < len(all_db3):
        log.info("protocol %s: %d DB3 file(s) without DB2's %s channels left out",
                 name, len(all_db3) - len(db3), channels)
    test = _pick(db3, "test", name, subjects=subjects, max_files=max_files)
    return Split(name, "NinaPro DB2 (intact subjects) -> DB3 (amputee subjects), all repetitions",
                 train, test, Selection("NinaPro-DB2", subjects), Selection("NinaPro-DB3", subjects),
                 frozenset(), "ninapro_db2")


_R = frozenset
PROTOCOLS: dict[str, Callable[..., Split]] = {
    "3dc-rand": partial(_within, "3dc-rand", "3dc", "3DC, all subjects, repetitions 1-4 -> 5-8",
                        None, None, _R(range(1, 5)), _R(range(5, 9)), _R()),
    "3dc-user": partial(_user, "3dc-user", "3dc", "3DC, subject-disjoint, all repetitions",
                        None, THREEDC_TEST_SUBJECTS),
    "3dc-class": partial(_within, "3dc-class", "3dc",
                         "3DC, held-out gestures 3, 6, 10: reps 1-4 of the others -> reps 5-8 of all",
                         None, None, _R(range(1, 5)), _R(range(5, 9)), THREEDC_HELD_OUT),
    "myodisco-rand": partial(_within, "myodisco-rand", "myodisco", "MyoDisCo day1, repetitions 1-14 -> 15-20",
                             _R({"day1"}), _R({"day1"}), _R(range(1, 15)), _R(range(15, 21)), _R()),
    "myodisco-user": partial(_user, "myodisco-user", "myodisco", "MyoDisCo day1 + day2, subject-disjoint",
                             _R({"day1", "day2"}), MYODISCO_TEST_SUBJECTS),
    "myodisco-class": partial(_within, "myodisco-class", "myodisco",
                              "MyoDisCo day1, held-out gestures 1, 4, 7: reps 1-14 of the others -> reps "
                              "15-20 of all", _R({"day1"}), _R({"day1"}), _R(range(1, 15)), _R(range(15, 21)),
                              MYODISCO_HELD_OUT),
    "myodisco-session": partial(_within, "myodisco-session", "myodisco", "MyoDisCo day1 -> day2",
                                _R({"day1"}), _R({"day2"}), None, None, _R()),
    "myodisco-position": partial(_within, "myodisco-position", "myodisco",
                                 "MyoDisCo day1 + day2 -> position1-4", _R({"day1", "day2"}),
                                 _R({f"position{i}" for i in range(1, 5)}), None, None, _R()),
    "ciil-shift": partial(_within, "ciil-shift", "ciil", "CIIL ElectrodeShift train -> shift1-4",
                          _R({"train"}), _R({f"shift{i}" for i in range(1, 5)}), None, None, _R()),
    "myo-user": _myo_user,
    "cross-device": _cross_device,
    "db2-rand": partial(_within, "db2-rand", "db2", "NinaPro DB2, repetitions 1, 3, 4, 6 -> 2, 5",
                        None, None, DB2_TRAIN_REPS, DB2_TEST_REPS, _R()),
    "db2-user": partial(_user, "db2-user", "db2", "NinaPro DB2, subject-disjoint (last quarter tested)",
                        None, None),
    "db2-class": partial(_within, "db2-class", "db2",
                         "NinaPro DB2, held-out movements 3, 11, 16, 27, 35, 46: reps 1, 3, 4, 6 of the "
                         "others -> reps 2, 5 of all",
                         None, None, DB2_TRAIN_REPS, DB2_TEST_REPS, DB2_HELD_OUT),
    "db2-db3": _db2_db3,
}


#: The protocol options a command line may set (``--subjects``, ``--test-subjects``, ``--max-files``,
#: ``--held-out``).
OPTION_NAMES = ("subjects", "test_subjects", "max_files", "held_out")


def options_from_args(args: object) -> dict:
    """The protocol options given on a command line (argparse attributes named as in
    :data:`OPTION_NAMES`; absent or None ones are left out, so the protocol's defaults apply)."""
    return {k: v for k in OPTION_NAMES if (v := getattr(args, k, None)) is not None}


def split(protocol: str, data_dir: Path, **options) -> Split:
    """The named protocol on the recordings under ``data_dir``; :class:`ConfigError` for unknown names."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol '{protocol}' (expected one of {', '.join(PROTOCOLS)})")
    return PROTOCOLS[protocol](data_dir=Path(data_dir), **options)

"""The one reader of recording files: NinaPro DB1/DB2/DB3 and the NinaPro-layout files of ../shared/data.

Every consumer (replay device, training, evaluation) goes through :func:`load_session`, so layout quirks are
handled once. The reader is tolerant of what real copies of NinaPro differ in (``restimulus`` missing, the
exercise-3 stimulus coding, 10-electrode DB3 subjects) and strict about what would corrupt data silently
(length mismatches, NaN/inf, labels with no name): those raise :class:`RecordingError` with one line naming
the file and the problem.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import RecordingError
from myosem_rt.recordings import ninapro
from myosem_rt.recordings.session import Session

log = logging.getLogger(__name__)

#: Fields read from a file; everything else (acc, inclin, force ...) is skipped without being decompressed.
_FIELDS = (
    "emg", "stimulus", "restimulus", "repetition", "rerepetition", "glove", "subject", "exercise",
    "frequency", "emg_scale", "emg_unit", "dataset", "session", "device", "labels_json", "timestamps",
)  # fmt: skip
LAYOUTS = ("myosem", "db1", "db2", "db3")


def load_session(path: str | Path, layout: str | None = None) -> Session:
    """Load one recording file (.mat, or LabRecorder .xdf) as a read-only :class:`Session`.

    ``layout`` is detected when not given: files with ``dataset`` and ``frequency`` fields are the shared
    NinaPro-layout recordings ("myosem"); ``S{n}_A1_E{e}.mat`` is DB1; ``S{n}_E{e}_A1.mat`` is DB2, or DB3
    when it sits in a ``DB3_s{n}`` folder. Raises :class:`RecordingError` for any bad input.
    """
    path = Path(path)
    from myosem_rt.recordings import xdf

    if xdf.is_xdf(path):  # LabRecorder XDF: the EMG stream and its markers (myosem_rt/recordings/xdf.py)
        if layout is not None:
            raise RecordingError(path, "--layout applies to .mat files, not XDF")
        return xdf.load_xdf_session(path)
    if layout is not None and layout not in LAYOUTS:
        raise RecordingError(path, f"unknown layout '{layout}' (expected one of {', '.join(LAYOUTS)})")
    fields = _read_mat(path)
    layout = layout or _detect_layout(path, fields)
    emg = _emg(path, fields)
    n = emg.shape[0]
    if layout == "myosem":
        return _shared_session(path, fields, emg, n)
    return _ninapro_session(path, fields, emg, n, layout)


def find_recordings(root: str | Path) -> list[Path]:
    """``root`` itself if it is a file, else every ``*.mat`` and ``*.xdf`` below it, sorted; errors when there
    is none."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.exists():
        raise RecordingError(root, "file not found")
    suffixes = (".mat", ".xdf", ".xdfz")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise RecordingError(root, "no .mat or .xdf recordings in this folder")
    return files


# --- file access -------------------------------------------------------------------------------------


def _read_mat(path: Path) -> dict[str, Any]:
    import scipy.io

    if not path.exists():
        raise RecordingError(path, "file not found")
    if not path.is_file():
        raise RecordingError(path, "not a file")
    try:
        declared = {name: (shape, cls) for name, shape, cls in scipy.io.whosmat(str(path))}
        _check_declared_size(path, declared)
        present = set(declared)
        wanted = [f for f in _FIELDS if f in present]
        return scipy.io.loadmat(str(path), variable_names=wanted) if wanted else {}
    except NotImplementedError:
        raise RecordingError(path, "MATLAB v7.3 (HDF5) files are not supported; save with -v7") from None
    except Exception as exc:  # scipy raises ValueError/TypeError/MatReadError/OSError for non-MAT input
        with path.open("rb") as f:
            header = f.read(128)
        if not header.startswith(b"MATLAB"):
            reason = "no 'MATLAB 5.0 MAT-file' header"
        else:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RecordingError(path, f"not a readable MATLAB .mat file ({reason})") from None


#: Bytes per value of the MAT classes ``whosmat`` reports (what loading one value costs, before the float32
#: copy every reader makes).
_MAT_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "int64": 8,
              "uint64": 8, "single": 4, "double": 8, "logical": 1}
#: At most this share of the machine's memory may go to loading one recording.
MEMORY_SHARE = 0.5


def _check_declared_size(path: Path, declared: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Refuse a file whose header declares arrays too large to load, before loading any (a small file can
    declare a huge compressed array: 200 M x 10 int16 was 13.7 GB of memory)."""
    total = 0
    for name in _FIELDS:
        if name not in declared:
            continue
        shape, cls = declared[name]
        values = int(np.prod(shape, dtype=np.float64)) if shape else 0
        total += values * (_MAT_BYTES.get(cls, 8) + (4 if name == "emg" else 8))  # + the float32/int64 copy
    memory = _physical_memory()
    if total > MEMORY_SHARE * memory:
        emg = declared.get("emg", ((), ""))[0]
        raise RecordingError(path, f"declares arrays of {total / 2**30:.1f} GiB to load ('emg' "
                                   f"{' x '.join(map(str, emg)) or '?'}), more than {MEMORY_SHARE:.0%} of "
                                   f"this machine's {memory / 2**30:.0f} GiB; refused before "
                                   "loading")


def _physical_memory() -> float:
    import os

    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 16.0 * 2**30  # not POSIX: assume a 16 GiB machine


def _detect_layout(path: Path, fields: dict[str, Any]) -> str:
    if "dataset" in fields and "frequency" in fields:
        return "myosem"
    if ninapro.DB1_NAME.match(path.name):
        return "db1"
    if ninapro.DB23_NAME.match(path.name):
        folder = ninapro.DB_FOLDER.match(path.parent.name)
        return "db3" if folder and folder["db"] == "3" else "db2"
    raise RecordingError(
        path,
        "unknown layout: expected NinaPro names S{n}_A1_E{e}.mat (DB1) / S{n}_E{e}_A1.mat (DB2, DB3) "
        "or the fields 'dataset' and 'frequency' of the MyoSem recordings",
    )


def _number(path: Path, fields: dict[str, Any], name: str, kind: type = float) -> Any:
    """The scalar field ``name`` as a ``kind`` (float or int), or a one-line error: stored as text, empty
    or not a whole number (these used to be tracebacks)."""
    value = np.asarray(fields[name])
    if value.size != 1:
        raise RecordingError(path, f"'{name}' must be one number, got {value.size} values")
    item = value.reshape(-1)[0]
    if not isinstance(item, (np.number, int, float)) or isinstance(item, (bool, np.bool_)):
        raise RecordingError(path, f"'{name}' must be a number, got {str(item)!r}")
    number = float(item)
    if kind is int:
        if not number.is_integer():
            raise RecordingError(path, f"'{name}' must be a whole number, got {number:g}")
        return int(number)
    return number


def _text(fields: dict[str, Any], name: str, default: str = "") -> str:
    if name not in fields:
        return default
    value = fields[name]
    if isinstance(value, np.ndarray):  # an empty MAT string loads as an empty array
        return str(value[0]) if value.size else default
    return str(value or default)


def _emg(path: Path, fields: dict[str, Any]) -> np.ndarray:
    if "emg" not in fields:
        raise RecordingError(path, "no 'emg' field")
    raw = np.asarray(fields["emg"])
    if raw.ndim != 2 or raw.size == 0:
        raise RecordingError(path, f"'emg' must be a non-empty T x C matrix, got shape {raw.shape}")
    if not (np.issubdtype(raw.dtype, np.number) or raw.dtype == bool):
        raise RecordingError(path, f"'emg' is not numeric (dtype {raw.dtype})")
    if np.iscomplexobj(raw):
        raise RecordingError(path, f"'emg' is complex-valued (dtype {raw.dtype}); EMG samples are real")
    emg = raw.astype(np.float32)
    if "emg_scale" in fields:
        scale = _number(path, fields, "emg_scale")
        if not np.isfinite(scale) or scale <= 0:
            raise RecordingError(path, f"'emg_scale' must be a positive number, got {scale}")
        if scale != 1.0:
            emg *= np.float32(scale)
    bad = ~np.isfinite(emg)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise RecordingError(
            path, f"'emg' contains {int(bad.sum())} NaN/inf values (first at sample {t}, channel {c + 1})"
        )
    return emg


def _vector(path: Path, fields: dict[str, Any], names: tuple[str, ...], n: int) -> np.ndarray | None:
    """The first present field of ``names`` as an int64 vector of length n (None if none is present)."""
    for name in names:
        if name not in fields:
            continue
        values = np.asarray(fields[name], dtype=np.float64).reshape(-1)
        if values.shape[0] != n:
            raise RecordingError(path, f"'{name}' has {values.shape[0]} samples but 'emg' has {n}")
        if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values != np.round(values)):
            raise RecordingError(path, f"'{name}' must hold non-negative integers")
        return values.astype(np.int64)
    return None


def _repetition(path: Path, fields: dict[str, Any], n: int) -> np.ndarray:
    rep = _vector(path, fields, ("rerepetition", "repetition"), n)
    if rep is None:
        log.warning("%s: no 'repetition' field; repetitions set to 0", path)
        rep = np.zeros(n, dtype=np.int64)
    return rep


def _glove(path: Path, fields: dict[str, Any], n: int) -> np.ndarray | None:
    if "glove" not in fields:
        return None
    glove = np.asarray(fields["glove"], dtype=np.float32)
    if glove.ndim != 2 or glove.shape[0] != n:
        raise RecordingError(path, f"'glove' has shape {glove.shape} but 'emg' has {n} samples")
    return glove


def _check_names(path: Path, label: np.ndarray, names: dict[int, str], source: str) -> None:
    unknown = sorted(set(np.unique(label).tolist()) - set(names))
    if unknown:
        raise RecordingError(path, f"label ids {unknown} have no name in {source}")


# --- the shared NinaPro-layout recordings -------------------------------------------------------------


@lru_cache(maxsize=32)
def _labels_json(folder: Path) -> dict[str, Any]:
    file = folder / "labels.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        classes = {int(k): str(v) for k, v in data["classes"].items()}
    except FileNotFoundError:
        raise RecordingError(
            file, "labels.json not found beside the recording (it names the classes)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RecordingError(file, f"unreadable labels.json ({type(exc).__name__}: {exc})") from None
    return {**data, "classes": classes}


def _embedded_labels(path: Path, fields: dict[str, Any]) -> dict[str, Any]:
    """The ``labels_json`` field of a self-describing file (myosem_rt.recordings.writer): classes and
    descriptions, so no labels.json is needed beside it."""
    try:
        data = json.loads(_text(fields, "labels_json"))
        classes = {int(k): str(v) for k, v in data["classes"].items()}
        descriptions = {int(k): str(v) for k, v in (data.get("descriptions") or {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise RecordingError(path, f"unreadable 'labels_json' field ({type(exc).__name__}: {reason})"
                             ) from None
    return {"classes": classes, "descriptions": descriptions}


def _shared_session(path: Path, fields: dict[str, Any], emg: np.ndarray, n: int) -> Session:
    label = _vector(path, fields, ("restimulus", "stimulus"), n)
    if label is None:
        raise RecordingError(path, "no 'stimulus' or 'restimulus' field")
    if "labels_json" in fields:
        meta = _embedded_labels(path, fields)
        _check_names(path, label, meta["classes"], "its 'labels_json' field")
        descriptions = meta["descriptions"]
    else:
        meta, descriptions = _labels_json(path.resolve().parent), {}
        _check_names(path, label, meta["classes"], "labels.json")
    fs = _number(path, fields, "frequency")
    if not np.isfinite(fs) or fs <= 0:
        raise RecordingError(path, f"'frequency' must be a positive number, got {fs}")
    return Session(
        emg=emg,
        label=label,
        repetition=_repetition(path, fields, n),
        fs=fs,
        class_names=meta["classes"],
        dataset=_text(fields, "dataset", meta.get("dataset", "unknown")),
        subject=_number(path, fields, "subject", int) if "subject" in fields else 0,
        session=_text(fields, "session", path.stem),
        path=path,
        unit=_text(fields, "emg_unit", meta.get("emg_unit", "")),
        device=_text(fields, "device", meta.get("device", "")),
        exercise=_number(path, fields, "exercise", int) if "exercise" in fields else 1,
        glove=_glove(path, fields, n),
        class_descriptions=descriptions,
    )


# --- original NinaPro files -----------------------------------------------------------------------------


def _ninapro_labels(path: Path, fields: dict[str, Any], n: int, db: str, exercise: int) -> np.ndarray:
    """Global NinaPro movement ids from a file's own labels (see ninapro.py for the numbering)."""
    label = _vector(path, fields, ("restimulus", "stimulus"), n)
    if label is None:
        raise RecordingError(path, "no 'stimulus' or 'restimulus' field")
    moving = label[label > 0]
    if moving.size == 0:
        return label
    if db == "DB1":
        offset = ninapro.LABEL_OFFSET[("DB1", exercise)]
        size = (12, 17, 23)[exercise - 1]
        if moving.max() <= size:  # labels restart at 1 in every DB1 exercise file
            label = np.where(label > 0, label + offset, 0)
        return label
    if exercise == 3:
        if moving.max() > 9:  # the {1,2,4,6,8,9,16,32,40} coding of movements 41..49
            codes = set(np.unique(moving).tolist())
            if not codes <= set(ninapro.E3_CODES):
                bad = sorted(codes - set(ninapro.E3_CODES))
                raise RecordingError(
                    path, f"exercise-3 'stimulus' has values {bad} outside the NinaPro coding"
                )
            lut = np.zeros(max(ninapro.E3_CODES) + 1, dtype=np.int64)
            for code, gid in ninapro.E3_CODES.items():
                lut[code] = gid
            return lut[label]
        if moving.max() <= 9:  # plain 1..9 numbering
            return np.where(label > 0, label + 40, 0)
        return label
    if exercise == 2 and moving.max() <= 23 and moving.min() < 18:  # copies that restart at 1
        return np.where(label > 0, label + 17, 0)
    return label


def _ninapro_session(path: Path, fields: dict[str, Any], emg: np.ndarray, n: int, layout: str) -> Session:
    db = layout.upper()
    pattern = ninapro.DB1_NAME if db == "DB1" else ninapro.DB23_NAME
    match = pattern.match(path.name)
    named = (int(match["exercise"]), int(match["subject"])) if match else (1, 0)
    exercise = _number(path, fields, "exercise", int) if "exercise" in fields else named[0]
    if exercise not in (1, 2, 3):
        raise RecordingError(path, f"NinaPro exercise must be 1, 2 or 3, got {exercise}")
    subject = _number(path, fields, "subject", int) if "subject" in fields else named[1]
    facts = ninapro.DB_FACTS[db]
    if emg.shape[1] not in facts["channels"]:
        log.warning("%s: %d EMG channels; %s documents %s", path, emg.shape[1], db, facts["channels"])
    label = _ninapro_labels(path, fields, n, db, exercise)
    names = ninapro.DB1_MOVEMENTS if db == "DB1" else ninapro.DB2_MOVEMENTS
    _check_names(path, label, names, f"the NinaPro {db} movement list")
    fs = _number(path, fields, "frequency") if "frequency" in fields else facts["fs"]
    return Session(
        emg=emg,
        label=label,
        repetition=_repetition(path, fields, n),
        fs=fs,
        class_names=names,
        dataset=f"NinaPro-{db}",
        subject=subject,
        session=f"E{exercise}",
        path=path,
        unit=facts["unit"],
        device="Otto Bock MyoBock 13E200" if db == "DB1" else "Delsys Trigno",
        exercise=exercise,
        glove=_glove(path, fields, n),
    )

"""Write a recording in the shared NinaPro-style layout, self-describing, atomically, never overwriting.

Why a writer: a guided enrolment records the user's own EMG, and that recording must be as good an input as
the shared data (``load_session``, ``myosem replay``, training) and must never be lost or half-written. So:

* the fields are the ones of ``../shared/data`` (README "Fields of every file"): ``emg`` is stored as the
  float32 samples exactly as received (``emg_scale`` 1.0), labels and repetitions as T x 1 uint8 (uint16
  when an id exceeds 255);
* ``labels_json`` (a char field, JSON ``{"classes": {id: name}, "descriptions": {id: text}}``) names the
  classes inside the file, so it needs no ``labels.json`` beside it (new gestures have no dataset folder);
* optional ``timestamps`` (T x 1 float64): the LSL time of every sample, for checking gaps afterwards;
* the file is written to a temporary file in the target folder, fsync'ed and renamed: a crash leaves the
  old file or none, never a truncated one; an existing file is refused unless ``force`` (and without
  ``force`` the rename itself refuses, so a file created meanwhile is not replaced either).

Every bad input is a one-line :class:`~myosem_rt.errors.RecordingError` naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from myosem_rt.errors import RecordingError

log = logging.getLogger(__name__)

#: Largest class id / repetition a file can hold (uint16).
MAX_ID = int(np.iinfo(np.uint16).max)


def write_recording(
    path: str | Path,
    emg: np.ndarray,
    label: np.ndarray,
    repetition: np.ndarray,
    fs: float,
    *,
    dataset: str,
    subject: int,
    session: str,
    device: str = "",
    unit: str = "",
    class_names: Mapping[int, str],
    descriptions: Mapping[int, str] | None = None,
    timestamps: np.ndarray | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    force: bool = False,
) -> Path:
    """Write one recording (T x C ``emg`` with per-sample ``label`` / ``repetition``) to ``path``.

    ``class_names`` must name every id in ``label``; ``descriptions`` (id -> text) are optional. Returns the
    path written. ``extra``: more named arrays stored beside the recording (``myosem record``: the results
    stream); the reader ignores them. Raises :class:`RecordingError` (one line) for bad input or an existing
    file without ``force``; nothing is written then.
    """
    import scipy.io

    path = Path(path).expanduser()
    if path.suffix.lower() != ".mat":
        raise RecordingError(path, "a recording file name must end in .mat")
    fields = _fields(path, emg, label, repetition, fs, dataset=dataset, subject=subject, session=session,
                     device=device, unit=unit, class_names=class_names, descriptions=descriptions,
                     timestamps=timestamps)
    for key, value in (extra or {}).items():  # more arrays beside the recording (a results stream ...)
        if key in fields or not key.isidentifier():
            raise RecordingError(path, f"extra field {key!r} is not a free MATLAB field name")
        fields[key] = np.asarray(value)
    if path.exists() and not force:
        raise RecordingError(path, "already exists; not overwritten (use --force to replace it)")
    if path.exists() and not path.is_file():
        raise RecordingError(path, "exists and is not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise RecordingError(path, f"cannot write here ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            scipy.io.savemat(fh, fields, do_compression=True, oned_as="column")
            fh.flush()
            os.fsync(fh.fileno())
        _publish(Path(tmp), path, force)
    except RecordingError:
        raise
    except OSError as exc:
        raise RecordingError(path, f"cannot write the recording ({exc.strerror or exc})") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    _fsync_dir(path.parent)
    log.info("recording written to %s (%d samples x %d ch @ %g Hz)", path, fields["emg"].shape[0],
             fields["emg"].shape[1], float(fs))
    return path


def _publish(tmp: Path, path: Path, force: bool) -> None:
    """Move the finished temporary file to ``path``; without ``force`` never replace a file that exists."""
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and fails if path exists (created since the check above)
    except FileExistsError:
        raise RecordingError(path, "already exists; not overwritten (use --force to replace it)") from None
    except OSError:  # a file system without hard links: the existence check above has to do
        if path.exists():
            raise RecordingError(path, "already exists; not overwritten (use --force to replace it)"
                                 ) from None
        os.replace(tmp, path)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); harmless where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _ids(path: Path, name: str, values: np.ndarray, n: int) -> np.ndarray:
    """``values`` as a T x 1 uint8 / uint16 column, or a one-line error naming the field."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n:
        raise RecordingError(path, f"'{name}' must hold one value per sample ({n}), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise RecordingError(path, f"'{name}' must hold integers, got dtype {arr.dtype}")
    as_float = arr.astype(np.float64)
    if n and (not np.isfinite(as_float).all() or (as_float != np.round(as_float)).any()):
        raise RecordingError(path, f"'{name}' must hold integers")
    if n and as_float.min() < 0:
        raise RecordingError(path, f"'{name}' must be non-negative, got {as_float.min():g}")
    if n and as_float.max() > MAX_ID:
        raise RecordingError(path, f"'{name}' values must be at most {MAX_ID}, got {as_float.max():g}")
    dtype = np.uint8 if not n or as_float.max() <= np.iinfo(np.uint8).max else np.uint16
    return arr.astype(dtype).reshape(n, 1)


def _id_map(path: Path, name: str, mapping: Mapping[int, str] | None) -> dict[int, str]:
    out: dict[int, str] = {}
    for key, value in (mapping or {}).items():
        try:
            ident = int(key)
        except (TypeError, ValueError):
            raise RecordingError(path, f"{name}: class id {key!r} is not an integer") from None
        if (isinstance(key, float) and ident != key) or not 0 <= ident <= MAX_ID:
            raise RecordingError(path, f"{name}: class id {key!r} must be an integer in 0..{MAX_ID}")
        if not isinstance(value, str):
            raise RecordingError(path, f"{name}: the entry of class {ident} must be text, got "
                                       f"{type(value).__name__}")
        out[ident] = value
    return out


def _fields(path: Path, emg: np.ndarray, label: np.ndarray, repetition: np.ndarray, fs: float, *,
            dataset: str, subject: int, session: str, device: str, unit: str,
            class_names: Mapping[int, str], descriptions: Mapping[int, str] | None,
            timestamps: np.ndarray | None) -> dict[str, object]:
    """The validated MAT fields (see module docstring)."""
    x = np.asarray(emg)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise RecordingError(path, f"'emg' must be a non-empty T x C matrix, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise RecordingError(path, f"'emg' must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise RecordingError(path, f"'emg' contains {int(bad.sum())} NaN/inf values (first at sample {t}, "
                                   f"channel {c + 1})")
    n = x.shape[0]
    try:
        rate = float(fs)
    except (TypeError, ValueError):
        raise RecordingError(path, f"sampling rate must be a number, got {fs!r}") from None
    if not (np.isfinite(rate) and rate > 0):
        raise RecordingError(path, f"sampling rate must be a positive number, got {fs!r}")
    stim = _ids(path, "label", label, n)
    rep = _ids(path, "repetition", repetition, n)
    names = _id_map(path, "class_names", class_names)
    texts = _id_map(path, "descriptions", descriptions)
    if any(not v.strip() for v in names.values()):
        raise RecordingError(path, "class_names: every class needs a non-empty name")
    unnamed = sorted(set(np.unique(stim).tolist()) - set(names))
    if unnamed:
        raise RecordingError(path, f"label ids {unnamed} have no name in class_names")
    try:
        subject_id = int(subject)
    except (TypeError, ValueError):
        raise RecordingError(path, f"subject must be an integer, got {subject!r}") from None
    for key, value in (("dataset", dataset), ("session", session), ("device", device), ("unit", unit)):
        if not isinstance(value, str):
            raise RecordingError(path, f"{key} must be text, got {type(value).__name__}")
    if not dataset.strip():
        raise RecordingError(path, "dataset must be a non-empty name")
    meta = {"classes": {str(k): names[k] for k in sorted(names)},
            "descriptions": {str(k): texts[k] for k in sorted(texts)}}
    fields: dict[str, object] = {
        "emg": x,
        "stimulus": stim,
        "restimulus": stim.copy(),
        "repetition": rep,
        "rerepetition": rep.copy(),
        "subject": np.array([[subject_id]], dtype=np.int32),
        "exercise": np.array([[1]], dtype=np.int32),
        "frequency": np.array([[rate]], dtype=np.float64),
        "emg_scale": np.array([[1.0]], dtype=np.float64),
        "emg_unit": unit,
        "dataset": dataset,
        "session": session,
        "device": device,
        "labels_json": json.dumps(meta, ensure_ascii=True, separators=(",", ":")),
    }
    if timestamps is not None:
        ts = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        if ts.shape[0] != n:
            raise RecordingError(path, f"'timestamps' has {ts.shape[0]} values but 'emg' has {n} samples")
        if not np.isfinite(ts).all():
            raise RecordingError(path, "'timestamps' contains NaN/inf values")
        fields["timestamps"] = ts.reshape(n, 1)
    return fields

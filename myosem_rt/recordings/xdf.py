"""LabRecorder XDF files as recordings: the EMG stream and its labels, read by pyxdf, as a :class:`Session`.

Why pyxdf and not our own parser: it is the ecosystem's reader (LabRecorder's own format), and it does the
two things a recording made on several computers needs, clock synchronisation (the ClockOffset chunks) and
dejitter of regularly sampled streams, the way every other XDF user gets them.

What is taken from the file (every choice is a one-line :class:`RecordingError` when it cannot be made):

* **the EMG stream**: the stream named ``--stream NAME``, else the one stream of type ``EMG``; numeric, with
  a nominal rate (> 0). Channel labels, units and types come from ``desc/channels/channel``; channels in a
  voltage unit (V, mV, uV/µV/microvolts, nV) are converted to microvolts, any other unit is kept as stated
  (``adc_counts``, ``myo_int8`` ...). Dataset, subject, session and device come from the stream's ``desc``
  when it has them (the replay and simulate outlets write them), else from the file name.
* **the labels**: the marker stream ``--labels-stream NAME``, else ``<EMG name>-labels`` (this project's
  outlets), else the one stream of type ``Markers``; none at all gives an unlabelled recording (every
  sample class 0). A marker is ``"<id>:<name>"`` (this project's form), a key of ``--label-map FILE`` (a
  JSON object: marker text -> class id), or a plain class name matched to a packaged vocabulary (case,
  ``_`` and ``-`` ignored); samples are labelled by the rule of :mod:`myosem_rt.recordings.markers`.
* **timing**: the gaps in the EMG timestamps as recorded (steps over 1.5 sample periods) are counted and
  logged with their sizes, and so is an effective rate off the nominal by more than 1 %; samples are never
  resampled or padded: a recording with gaps is read as the samples it has. pyxdf's dejitter restarts at
  every step over 50 ms, so a gap stays in the timestamps the markers are placed by.
* **integrity**: a chunk pyxdf finds corrupt, or a stream without its footer (a file cut short), is an
  error, not a silently shorter recording.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import RecordingError
from myosem_rt.recordings.markers import label_samples, project_marker, trial_repetitions
from myosem_rt.recordings.session import Session

log = logging.getLogger(__name__)

SUFFIXES = (".xdf", ".xdfz")
#: Unit spellings of voltage -> factor to microvolts.
_VOLTS = {"v": 1e6, "volt": 1e6, "volts": 1e6, "mv": 1e3, "millivolt": 1e3, "millivolts": 1e3,
          "uv": 1.0, "µv": 1.0, "μv": 1.0, "microvolt": 1.0, "microvolts": 1.0,
          "nv": 1e-3, "nanovolt": 1e-3, "nanovolts": 1e-3}
MICROVOLTS = "microvolts"
#: A timestamp step over this many sample periods is a gap.
GAP_PERIODS = 1.5
#: Dejitter (a line fitted through the timestamps) restarts at any step longer than this (s).
BREAK_S = 0.05


@dataclass(frozen=True)
class XdfChoice:
    """Which streams of an XDF file make the recording (the ``--stream`` / ``--labels-stream`` /
    ``--label-map`` options of the commands that read recordings)."""

    stream: str | None = None
    labels_stream: str | None = None
    label_map: str | None = None


_choice = XdfChoice()


def set_choice(choice: XdfChoice) -> None:
    """The streams the XDF files of this process are read with (set once by the command line)."""
    global _choice
    _choice = choice


def add_arguments(p: Any) -> None:
    """``--stream``, ``--labels-stream`` and ``--label-map`` for a command that reads recordings."""
    g = p.add_argument_group("XDF recordings (LabRecorder .xdf)")
    g.add_argument("--stream", metavar="NAME", help="the EMG stream (default: the one stream of type EMG)")
    g.add_argument("--labels-stream", metavar="NAME",
                   help="the marker stream with the labels (default: <EMG name>-labels, else the one "
                        "stream of type Markers)")
    g.add_argument("--label-map", metavar="FILE", help="JSON object: marker text -> class id")


def apply_arguments(args: Any) -> None:
    """Take the XDF options of parsed ``args`` (if the command has them) for this process."""
    if hasattr(args, "labels_stream"):
        set_choice(XdfChoice(getattr(args, "stream", None), args.labels_stream,
                             getattr(args, "label_map", None)))


def is_xdf(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def load_xdf_session(path: str | Path, choice: XdfChoice | None = None) -> Session:
    """One XDF file as a read-only :class:`Session` (module docstring); :class:`RecordingError` for bad
    input."""
    path = Path(path)
    choice = choice or _choice
    streams = _read(path)
    emg_stream = _pick_emg(path, streams, choice.stream)
    emg, ts, fs = _samples(path, emg_stream)
    info = emg_stream["info"]
    name = _first(info, "name")
    channels = _channels(info, emg.shape[1])
    emg, unit = _convert_units(path, emg, [c.get("unit", "") for c in channels])
    _report_timing(path, name, emg_stream["raw_stamps"], fs, emg_stream)
    markers = _pick_markers(path, streams, choice.labels_stream, name)
    desc = _desc(info)
    names = _desc_classes(desc)
    if markers is None:
        log.info("%s: no marker stream; every sample is class 0 (unlabelled)", path)
        label = np.zeros(len(ts), dtype=np.int64)
        names = names or {0: "unlabelled"}
    else:
        ids, marker_names = _marker_ids(path, markers, choice.label_map)
        names = {**marker_names, **names}
        label = label_samples(ts, np.asarray(markers["time_stamps"], dtype=np.float64), ids, fs)
        names.setdefault(0, "rest")
    labels = [c.get("label", "") for c in channels]
    return Session(
        emg=emg, label=label, repetition=trial_repetitions(label), fs=fs, class_names=names,
        dataset=str(desc.get("dataset") or "XDF"), subject=_int(desc.get("subject"), 0),
        session=str(desc.get("session") or path.stem), path=path, unit=unit,
        device=str(desc.get("model") or desc.get("manufacturer") or name),
        exercise=_int(desc.get("exercise"), 1),
        channel_names=tuple(lab or f"ch{i + 1}" for i, lab in enumerate(labels)),
        channel_types=_types(path, [c.get("type", "") for c in channels]),
    )


# --- reading -------------------------------------------------------------------------------------------


def _read(path: Path) -> list[dict[str, Any]]:
    """Every stream of the file, clock-synchronised and dejittered by pyxdf; each also gets ``raw_stamps``,
    its timestamps as recorded (the gap figures are counted on those: dejitter fits a line through them).
    Dejitter breaks at any step over :data:`BREAK_S` (pyxdf's default, 1 s and 500 samples, would smooth
    a shorter gap away and shift every label after it)."""
    if not path.exists():
        raise RecordingError(path, "file not found")
    if not path.is_file():
        raise RecordingError(path, "not a file")
    with path.open("rb") as f:
        magic = f.read(4)
    if path.suffix.lower() == ".xdf" and magic != b"XDF:":
        raise RecordingError(path, "not an XDF file (no 'XDF:' magic at its start)")
    try:
        import pyxdf
    except ImportError:
        raise RecordingError(path, "reading XDF needs pyxdf (pip install pyxdf)") from None
    raw: dict[int, list[np.ndarray]] = {}

    def keep_raw(values: Any, stamps: Any, info: Any, stream_id: int) -> tuple[Any, Any, Any]:
        raw.setdefault(int(stream_id), []).append(np.array(stamps, dtype=np.float64))
        return values, stamps, info

    problems = _Problems()
    pyxdf_log = logging.getLogger("pyxdf")
    pyxdf_log.addHandler(problems)
    propagate, pyxdf_log.propagate = pyxdf_log.propagate, False  # its messages become ours (one line)
    try:
        streams, _header = pyxdf.load_xdf(str(path), on_chunk=keep_raw, synchronize_clocks=True,
                                          dejitter_timestamps=True, jitter_break_threshold_seconds=BREAK_S,
                                          jitter_break_threshold_samples=2)
    except Exception as exc:  # pyxdf raises struct.error, EOFError, ValueError, XML errors ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecordingError(path, f"unreadable XDF ({reason}; truncated or not XDF?)") from None
    finally:
        pyxdf_log.removeHandler(problems)
        pyxdf_log.propagate = propagate
    if problems.messages:
        raise RecordingError(path, f"corrupt or truncated XDF ({problems.messages[0]})")
    if not streams:
        raise RecordingError(path, "the XDF file holds no stream")
    for s in streams:
        if "footer" not in s:
            raise RecordingError(path, f"truncated XDF: stream {_first(s['info'], 'name')!r} has no footer "
                                       "(the recording did not end cleanly)")
        parts = raw.get(int(_first(s["info"], "stream_id", "0")), [])
        s["raw_stamps"] = np.concatenate(parts) if parts else np.zeros(0)
    return streams


class _Problems(logging.Handler):
    """pyxdf reports a corrupt chunk by logging an error and reading on: collect those."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0])


def _first(info: dict[str, Any], key: str, default: str = "") -> str:
    value = info.get(key)
    if isinstance(value, list):
        value = value[0] if value else default
    return default if value is None else str(value)


def _describe(streams: list[dict[str, Any]]) -> str:
    return ", ".join(f"{_first(s['info'], 'name')!r} (type {_first(s['info'], 'type') or '?'})"
                     for s in streams)


def _pick_emg(path: Path, streams: list[dict[str, Any]], wanted: str | None) -> dict[str, Any]:
    if wanted:
        found = [s for s in streams if _first(s["info"], "name") == wanted]
        if not found:
            raise RecordingError(path, f"no stream named {wanted!r} (streams: {_describe(streams)})")
    else:
        found = [s for s in streams if _first(s["info"], "type").upper() == "EMG"]
        if not found:
            raise RecordingError(path, f"no EMG stream (streams: {_describe(streams)}); choose one with "
                                       "--stream NAME")
    if len(found) > 1:
        raise RecordingError(path, f"{len(found)} candidate EMG streams {_describe(found)}; choose one "
                                   "with --stream NAME")
    return found[0]


def _samples(path: Path, stream: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    info = stream["info"]
    name = _first(info, "name")
    fmt = _first(info, "channel_format")
    if fmt == "string":
        raise RecordingError(path, f"stream {name!r} holds strings, not EMG samples")
    try:
        fs = float(_first(info, "nominal_srate", "0"))
    except ValueError:
        fs = 0.0
    if not fs > 0:
        raise RecordingError(path, f"stream {name!r} has no nominal sampling rate (irregular stream)")
    x = np.asarray(stream["time_series"])
    ts = np.asarray(stream["time_stamps"], dtype=np.float64).reshape(-1)
    if x.ndim != 2 or x.shape[0] == 0:
        raise RecordingError(path, f"stream {name!r} holds no samples")
    if x.shape[0] != ts.shape[0]:
        raise RecordingError(path, f"stream {name!r}: {x.shape[0]} samples but {ts.shape[0]} timestamps")
    emg = x.astype(np.float32)
    bad = ~np.isfinite(emg)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise RecordingError(path, f"stream {name!r} contains {int(bad.sum())} NaN/inf values (first at "
                                   f"sample {t}, channel {c + 1})")
    return emg, ts, fs


def _desc(info: dict[str, Any]) -> dict[str, Any]:
    """The stream's ``desc`` as pyxdf gives it (a dict of lists), its text children flattened."""
    desc = info.get("desc")
    desc = desc[0] if isinstance(desc, list) and desc else desc
    if not isinstance(desc, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in desc.items():
        item = value[0] if isinstance(value, list) and value else value
        out[key] = item
    return out


def _desc_classes(desc: dict[str, Any]) -> dict[int, str]:
    """``desc/classes/class/{id,name}`` (this project's outlets publish the class map there)."""
    node = desc.get("classes")
    if not isinstance(node, dict):
        return {}
    out: dict[int, str] = {}
    for c in node.get("class") or []:
        try:
            out[int(_first(c, "id"))] = _first(c, "name")
        except (TypeError, ValueError, AttributeError):
            continue
    return out


def _channels(info: dict[str, Any], n: int) -> list[dict[str, str]]:
    node = _desc(info).get("channels")
    listed = (node.get("channel") or []) if isinstance(node, dict) else []
    channels = [{k: _first(c, k) for k in ("label", "unit", "type")} for c in listed if isinstance(c, dict)]
    if channels and len(channels) != n:
        log.warning("stream describes %d channels but holds %d; channel descriptions ignored",
                    len(channels), n)
        channels = []
    return channels or [{} for _ in range(n)]


def _types(path: Path, types: list[str]) -> tuple[str, ...]:
    """The channels' stated types (empty when none is stated); channels typed other than EMG are kept and
    reported, since every channel of the stream is windowed alike."""
    if not any(types):
        return ()
    other = sorted({t for t in types if t and t.upper() != "EMG"})
    if other:
        log.warning("%s: channels of type %s are read as EMG channels too (%d of %d)", path, ", ".join(other),
                    sum(1 for t in types if t and t.upper() != "EMG"), len(types))
    return tuple(t or "EMG" for t in types)


def _convert_units(path: Path, emg: np.ndarray, units: list[str]) -> tuple[np.ndarray, str]:
    """Voltage channels to microvolts; other units kept (all channels must then share one)."""
    keys = [u.strip().lower() for u in units]
    if keys and all(k in _VOLTS for k in keys):
        factors = np.asarray([_VOLTS[k] for k in keys], dtype=np.float32)
        if np.any(factors != 1.0):
            log.info("%s: channels in %s converted to microvolts", path, ", ".join(sorted(set(units))))
            emg = emg * factors
        return emg, MICROVOLTS
    stated = sorted({u for u in units if u and u.lower() != "none"})
    if len(stated) > 1:
        raise RecordingError(path, f"channels in different units {stated} that are not all voltages")
    return emg, stated[0] if stated else ""


def _report_timing(path: Path, name: str, ts: np.ndarray, fs: float, stream: dict[str, Any]) -> None:
    if len(ts) < 2:
        return
    d = np.diff(ts)
    gaps = d > GAP_PERIODS / fs
    if gaps.any():
        missing = int(np.round((d[gaps] - 1.0 / fs) * fs).sum())
        log.warning("%s: stream %r has %d gap(s) in its timestamps, largest %.3f s, about %d samples missing "
                    "in all (%.2f s); the samples are read as they are (not resampled)", path, name,
                    int(gaps.sum()), float(d[gaps].max()), missing, missing / fs)
    if (d < 0).any():
        log.warning("%s: stream %r has %d timestamp(s) going backwards", path, name, int((d < 0).sum()))
    effective = float(stream["info"].get("effective_srate") or 0.0)
    if effective > 0 and abs(effective - fs) > 0.01 * fs:
        log.warning("%s: stream %r: effective rate %.2f Hz, nominal %g Hz", path, name, effective, fs)


# --- labels ----------------------------------------------------------------------------------------------


def _pick_markers(path: Path, streams: list[dict[str, Any]], wanted: str | None,
                  emg_name: str) -> dict[str, Any] | None:
    names = {_first(s["info"], "name"): s for s in streams}
    if wanted:
        if wanted not in names:
            raise RecordingError(path, f"no marker stream named {wanted!r} (streams: {_describe(streams)})")
        return names[wanted]
    if f"{emg_name}-labels" in names:
        return names[f"{emg_name}-labels"]
    found = [s for s in streams if _first(s["info"], "type").lower() == "markers"]
    if len(found) > 1:
        raise RecordingError(path, f"{len(found)} candidate marker streams {_describe(found)}; choose one "
                                   "with --labels-stream NAME")
    return found[0] if found else None


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", str(text)).strip().lower()


def _marker_ids(path: Path, stream: dict[str, Any],
                label_map: str | None) -> tuple[np.ndarray, dict[int, str]]:
    """Class id of every marker and the names they give (module docstring: three marker forms)."""
    texts = [str(v[0]) if isinstance(v, (list, tuple, np.ndarray)) else str(v) for v in stream["time_series"]]
    mapping = _read_label_map(path, label_map) if label_map else None
    if mapping is not None:
        unknown = sorted({t for t in texts if t not in mapping})
        if unknown:
            raise RecordingError(path, f"markers {unknown[:5]} are not in the label map {label_map}")
        names: dict[int, str] = {}
        for t in texts:
            names.setdefault(mapping[t], t)
        return np.asarray([mapping[t] for t in texts], dtype=np.int64), names
    ours = [project_marker(t) for t in texts]
    if texts and all(ours):
        names = {m[0]: m[1] for m in ours if m}
        return np.asarray([m[0] for m in ours if m], dtype=np.int64), names
    return _vocabulary_ids(path, texts)


def _read_label_map(path: Path, label_map: str) -> dict[str, int]:
    file = Path(label_map)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return {str(k): int(v) for k, v in data.items()}
    except FileNotFoundError:
        raise RecordingError(file, "label map not found") from None
    except (OSError, ValueError, TypeError) as exc:
        raise RecordingError(file, f"not a label map (JSON object marker text -> class id: {exc})") from None


def _vocabulary_ids(path: Path, texts: list[str]) -> tuple[np.ndarray, dict[int, str]]:
    """Plain class names: the first packaged vocabulary that names every one of them."""
    from myosem_rt.vocab import list_vocabularies, load_vocabulary

    wanted = {_norm(t) for t in texts}
    for vocab_name in list_vocabularies():
        by_name = {_norm(c.t0): (int(c.class_id), c.t0) for c in load_vocabulary(vocab_name).classes}
        if wanted <= set(by_name):
            log.info("%s: marker names matched to vocabulary %s", path, vocab_name)
            ids = np.asarray([by_name[_norm(t)][0] for t in texts], dtype=np.int64)
            return ids, {by_name[w][0]: by_name[w][1] for w in wanted}
    sample = sorted({t for t in texts})[:5]
    raise RecordingError(path, f"markers {sample} match no class (not '<id>:<name>', not the class names of "
                               "one vocabulary); give --label-map FILE")


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default

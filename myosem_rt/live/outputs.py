"""Where live results go: an LSL score stream + label-change markers, a JSONL file, a terminal view.

* ``myosem-results`` (type ``Scores``): one float32 channel per class of the model, labelled with the class
  names, one sample per hop carrying the *raw* cosine scores of that hop, stamped with the LSL time of the
  window's last sample (so it lines up with the EMG). Nominal rate = 1 / hop. source_id =
  ``<input source_id>/myosem-results``, so a restarted runtime on the same armband is the same stream.
* ``myosem-results-labels`` (type ``Markers``): one ``"<id>:<name>"`` string (or ``"uncertain"``) each time
  the *smoothed* label changes, same stamps.
* JSONL: one object per hop (:meth:`myosem_rt.live.engine.Result.record`), to a file or ``-`` (stdout).
* Terminal: a line per label change and a status line a second, when stdout is not taken by JSONL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from myosem_rt.errors import ConfigError, OutputClosed
from myosem_rt.live.engine import UNCERTAIN, Result

# isort: split
import pylsl  # after myosem_rt (LSLAPICFG)

log = logging.getLogger(__name__)

SCORES_TYPE = "Scores"
MARKER_TYPE = "Markers"
LABELS_SUFFIX = "-labels"


def label_text(result: Result) -> str:
    """The marker string of a smoothed label (the ``"<id>:<name>"`` form of devices.outlet)."""
    return UNCERTAIN if result.label_id is None else f"{result.label_id}:{result.label}"


class ResultOutlet:
    """The ``myosem-results`` score stream and its ``-labels`` marker stream (module docstring)."""

    def __init__(self, model: Any, name: str, input_source_id: str, hop_rate_hz: float) -> None:
        source_id = f"{input_source_id or 'unknown'}/{name}"
        info = pylsl.StreamInfo(name, SCORES_TYPE, len(model.class_names), float(hop_rate_hz),
                                pylsl.cf_float32, source_id)
        info.set_channel_labels(list(model.class_names))
        desc = info.desc()
        desc.append_child_value("model", str(model.directory))
        classes = desc.append_child("classes")
        for cid, cname, text in zip(model.class_ids, model.class_names, model.descriptions, strict=True):
            node = classes.append_child("class")
            node.append_child_value("id", str(int(cid)))
            node.append_child_value("name", cname)
            node.append_child_value("description", text)
        markers = pylsl.StreamInfo(name + LABELS_SUFFIX, MARKER_TYPE, 1, pylsl.IRREGULAR_RATE,
                                   pylsl.cf_string, source_id + LABELS_SUFFIX)
        self.scores = pylsl.StreamOutlet(info)
        self.labels = pylsl.StreamOutlet(markers)
        self.name = name
        self._last: str | None = None
        log.info("publishing %s (%d class scores @ %.3g Hz, source_id %s) and %s", name,
                 len(model.class_names), hop_rate_hz, source_id, name + LABELS_SUFFIX)

    def publish(self, result: Result) -> None:
        self.scores.push_sample(result.scores.astype("float32", copy=False), result.t)
        text = label_text(result)
        if text != self._last:
            self.labels.push_sample([text], result.t)
            self._last = text

    def close(self) -> None:
        self.scores = self.labels = None  # type: ignore[assignment]


class JsonlWriter:
    """One JSON object per hop to ``path`` (``-`` = stdout), flushed per line so a reader can tail it."""

    def __init__(self, path: str) -> None:
        self.path = path
        if path == "-":
            self._out: TextIO = sys.stdout
        else:
            try:
                self._out = Path(path).open("w", encoding="utf-8")  # noqa: SIM115  (closed in close())
            except OSError as exc:
                raise ConfigError(f"--jsonl {path}: cannot write ({exc.strerror or exc})") from None

    def publish(self, result: Result) -> None:
        try:
            self._out.write(json.dumps(result.record()) + "\n")
            self._out.flush()
        except BrokenPipeError:  # `--jsonl - | head -1`: the reader is gone
            self._drop_stdout()
            raise OutputClosed(f"--jsonl {self.path}: the reader closed the pipe; live stops") from None
        except OSError as exc:  # a full disk, /dev/full ...
            raise ConfigError(f"--jsonl {self.path}: cannot write ({exc.strerror or exc})") from None

    def _drop_stdout(self) -> None:
        """Point stdout at /dev/null so the interpreter's final flush does not raise on the dead pipe."""
        import os

        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def close(self) -> None:
        if self._out is sys.stdout:
            return
        try:
            self._out.close()
        except OSError as exc:
            raise ConfigError(f"--jsonl {self.path}: cannot write ({exc.strerror or exc})") from None


class TerminalView:
    """A line per smoothed-label change and a status line every ``period_s``."""

    def __init__(self, out: TextIO | None = None, period_s: float = 1.0,
                 descriptions: dict[int, str] | None = None) -> None:
        self.out = out or sys.stdout
        self.period_s = period_s
        #: class id -> description: every label line says what the shown label means (not only when it
        #: happens to be this hop's raw top-1)
        self.descriptions = dict(descriptions or {})
        self._label: str | None = None
        self._next = time.monotonic() + period_s
        self._t0 = time.monotonic()

    def publish(self, result: Result) -> None:
        now = time.monotonic()
        lines = []
        if result.label != self._label:
            self._label = result.label
            known = {e["id"]: e["text"] for e in result.topk}
            meaning = None if result.label_id is None else (self.descriptions.get(result.label_id)
                                                            or known.get(result.label_id))
            text = f"  -- {meaning}" if meaning else ""
            lines.append(f"{now - self._t0:7.2f} s  -> {result.label} ({result.smoothed_score:.2f}){text}")
        if now >= self._next:
            self._next = now + self.period_s
            top = "  ".join(f"{e['name']} {e['score']:.2f}" for e in result.topk)
            latency = "-" if result.latency_ms is None else f"{result.latency_ms:.1f} ms"
            lines.append(f"{now - self._t0:7.2f} s  hop {result.index}  label {result.label}  top: {top}  "
                         f"latency {latency}")
        if lines:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()

    def close(self) -> None:
        pass

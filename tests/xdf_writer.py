"""A small XDF writer for test fixtures, after the XDF 1.0 specification (github.com/sccn/xdf, its wiki's
"Specifications" page).

Tests only: the package reads XDF with pyxdf and never writes it. Writing our own files lets a test make an
XDF of a real shared recording (and broken variants of one) and check that pyxdf, the independent reader,
gives the recording back.

Layout: the magic ``XDF:``, then chunks ``[NumLengthBytes][Length][Tag uint16][content]`` (Length counts the
tag and the content, all integers little-endian): FileHeader (1), StreamHeader (2), Samples (3),
ClockOffset (4), Boundary (5), StreamFooter (6). A sample is ``[TimeStampBytes][timestamp][values]``;
string values are ``[NumLengthBytes][Length][utf-8]``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

BOUNDARY = bytes.fromhex("43A5467DC85B4F74B2A79E20FF86AA2F")
_FORMATS = {"float32": "<f4", "double64": "<f8", "int8": "<i1", "int16": "<i2", "int32": "<i4",
            "int64": "<i8"}


@dataclass
class XdfStream:
    """One stream to write: ``values`` (T, C) numeric or a list of strings (one channel), ``stamps`` (T,)."""

    name: str
    type: str
    values: np.ndarray | list[str]
    stamps: np.ndarray
    srate: float = 0.0
    channel_format: str = "float32"
    source_id: str = ""
    channels: list[dict[str, str]] = field(default_factory=list)  #: desc/channels/channel children
    desc: dict[str, str] = field(default_factory=dict)  #: extra desc text children
    classes: dict[int, str] = field(default_factory=dict)  #: desc/classes/class/{id,name}
    #: the whole StreamHeader XML instead (LabRecorder writes the outlet's own ``StreamInfo.as_xml()``)
    header_xml: str | None = None

    @property
    def n_channels(self) -> int:
        return 1 if self.channel_format == "string" else int(np.asarray(self.values).shape[1])


def _varlen(n: int) -> bytes:
    if n < 256:
        return struct.pack("<BB", 1, n)
    if n < 2**32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


def _header_xml(sid: int, s: XdfStream) -> bytes:
    if s.header_xml is not None:
        return s.header_xml.encode()
    parts = [f"<name>{escape(s.name)}</name>", f"<type>{escape(s.type)}</type>",
             f"<channel_count>{s.n_channels}</channel_count>", f"<nominal_srate>{s.srate:g}</nominal_srate>",
             f"<channel_format>{s.channel_format}</channel_format>",
             f"<source_id>{escape(s.source_id)}</source_id>", "<version>1.1</version>",
             "<created_at>100.0</created_at>", f"<uid>stream-{sid}</uid>", "<desc>"]
    if s.channels:
        parts.append("<channels>" + "".join(
            "<channel>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in c.items()) + "</channel>"
            for c in s.channels) + "</channels>")
    parts += [f"<{k}>{escape(str(v))}</{k}>" for k, v in s.desc.items()]
    if s.classes:
        parts.append("<classes>" + "".join(f"<class><id>{i}</id><name>{escape(n)}</name></class>"
                                           for i, n in sorted(s.classes.items())) + "</classes>")
    parts.append("</desc>")
    return ('<?xml version="1.0"?><info>' + "".join(parts) + "</info>").encode()


def _samples(sid: int, s: XdfStream, a: int, b: int) -> bytes:
    out = [struct.pack("<I", sid), _varlen(b - a)]
    if s.channel_format == "string":
        for i in range(a, b):
            text = str(s.values[i]).encode()
            out.append(b"\x08" + struct.pack("<d", float(s.stamps[i])) + _varlen(len(text)) + text)
    else:
        values = np.ascontiguousarray(np.asarray(s.values)[a:b], dtype=_FORMATS[s.channel_format])
        for i in range(b - a):
            out.append(b"\x08" + struct.pack("<d", float(s.stamps[a + i])) + values[i].tobytes())
    return b"".join(out)


def write_xdf(path: Path, streams: list[XdfStream], chunk: int = 512, clock_offset: float = 0.0) -> Path:
    """Write ``streams`` to ``path``: headers, interleaved sample chunks of ``chunk`` samples, clock offsets
    (``clock_offset`` s for every stream, at the start and the end) and footers."""
    body = [b"XDF:", _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')]
    for sid, s in enumerate(streams, start=1):
        body.append(_chunk(2, struct.pack("<I", sid) + _header_xml(sid, s)))
    for sid, s in enumerate(streams, start=1):
        if len(s.stamps):
            body.append(_chunk(4, struct.pack("<Idd", sid, float(s.stamps[0]), clock_offset)))
    longest = max(len(s.stamps) for s in streams)
    for a in range(0, longest, chunk):
        for sid, s in enumerate(streams, start=1):
            b = min(a + chunk, len(s.stamps))
            if a < b:
                body.append(_chunk(3, _samples(sid, s, a, b)))
        body.append(_chunk(5, BOUNDARY))
    for sid, s in enumerate(streams, start=1):
        if len(s.stamps):
            body.append(_chunk(4, struct.pack("<Idd", sid, float(s.stamps[-1]), clock_offset)))
        first, last = (float(s.stamps[0]), float(s.stamps[-1])) if len(s.stamps) else (0.0, 0.0)
        footer = (f'<?xml version="1.0"?><info><first_timestamp>{first!r}</first_timestamp><last_timestamp>'
                  f"{last!r}</last_timestamp><sample_count>{len(s.stamps)}</sample_count></info>")
        body.append(_chunk(6, struct.pack("<I", sid) + footer.encode()))
    path.write_bytes(b"".join(body))
    return path


def session_streams(session, name: str = "rec", t0: float = 1000.0, unit: str | None = None,
                    scale: float = 1.0, channel_format: str = "float32",
                    marker_text=None) -> list[XdfStream]:
    """The EMG stream of a :class:`~myosem_rt.recordings.Session` and its label markers at every label
    change (``marker_text(id, name)``, default this project's ``"<id>:<name>"``), as a LabRecorder file of
    a replay would hold them."""
    fs = float(session.fs)
    stamps = t0 + np.arange(session.n_samples) / fs
    label = np.asarray(session.label)
    changes = np.concatenate(([0], np.flatnonzero(np.diff(label) != 0) + 1))
    text = marker_text or (lambda i, n: f"{i}:{n}")
    markers = [text(int(label[i]), session.class_name(int(label[i]))) for i in changes]
    u = session.unit if unit is None else unit
    emg = XdfStream(name, "EMG", np.asarray(session.emg) * scale, stamps, srate=fs,
                    channel_format=channel_format,
                    source_id=session.source_id,
                    channels=[{"label": c, "unit": u, "type": "EMG"} for c in session.channel_names],
                    desc={"dataset": session.dataset, "subject": str(session.subject),
                          "session": session.session, "manufacturer": "test", "model": session.device},
                    classes=dict(session.class_names))
    marks = XdfStream(f"{name}-labels", "Markers", markers, stamps[changes], channel_format="string",
                      source_id=session.source_id + "-labels")
    return [emg, marks]

"""The cross-device section of the comparative report: does a text space learnt for one armband serve another?

``cross-device`` is the ``myo-user`` split with stage 1 trained on the 3DC descriptions alone
(:mod:`myosem_rt.protocols`). Three MyoSem-RT runs on the same Myo windows differ only in their text space:

- ``myo-user`` -- stage 1 on every packaged vocabulary, the Myo descriptions included;
- ``cross-device`` -- stage 1 on the 3DC vocabulary only;
- ``myo-user`` without stage 1 -- the base MiniLM, trained on no vocabulary.

Besides the overall figures, EMG -> text R@1 is split by Myo class: classes whose *action* the cross-device
text space was trained on (their T1/T2 texts are the 3DC ones) and classes whose action it never saw. The
group figure is the mean of the classes' R@1 (each class counts once). Everything is read from the runs'
``manifest.json``; nothing is trained here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.vocab import load_vocabulary
from train.report import MAIN, Cell, _pm

ROWS = (("myo-user", MAIN, "every vocabulary, Myo included (myo-user)"),
        ("cross-device", MAIN, "3DC descriptions only (cross-device)"),
        ("myo-user", "ablate-stage1", "none: base MiniLM (myo-user without stage 1)"))


def _text_space(cell: Cell) -> tuple[str, list[str]] | None:
    """(the model's vocabulary, the vocabularies its stage 1 was trained on) from its model directory."""
    if not cell.source:
        return None
    model_dir = Path(cell.source).parent
    try:
        vocabulary = json.loads((model_dir / "manifest.json").read_text())["vocabulary"]
        text = json.loads((model_dir / "text" / "manifest.json").read_text())
        return vocabulary, list(text["training"]["trained_on"])
    except (OSError, ValueError, KeyError):
        return None


def _group_r1(metrics: dict[str, Any], classes: list[int]) -> str:
    per = metrics.get("emg_to_text", {}).get("per_class")
    if not per:
        return "--"
    values = [per[str(c)] for c in classes if str(c) in per]  # JSON keys: class ids as strings
    return f"{np.mean(values):.3f}" if values else "--"


def cross_device_section(cells: dict[str, dict[str, Cell]]) -> list[str]:
    """Markdown lines, or [] unless the cross-device MyoSem-RT run is there."""
    cross = cells.get("cross-device", {}).get(MAIN)
    space = _text_space(cross) if cross is not None and cross.metrics else None
    if space is None:
        return []
    vocab = load_vocabulary(space[0])
    seen_actions = {c.action for name in space[1] for c in load_vocabulary(name).classes}
    shared = [c.class_id for c in vocab.classes if c.action in seen_actions]
    new = [c.class_id for c in vocab.classes if c.action not in seen_actions]
    names = {c.class_id: c.t0 for c in vocab.classes}
    lines = ["## Cross-device: a 3DC text space for the Myo armband", "",
             "The same Myo windows (the myo-user split) and the same encoder recipe; only the text space "
             "differs. The EMG encoder cannot cross devices (10 ch @ 1 kHz vs 8 ch @ 200 Hz), so the text "
             "side is what transfers. Per-class columns: mean over the classes of each class's EMG → text "
             f"R@1; classes whose action the 3DC vocabulary also has ({', '.join(names[c] for c in shared)}) "
             f"and those it does not ({', '.join(names[c] for c in new)}).", "",
             "| text space | EMG→text R@1 | EMG→text MRR | text→EMG R@1 | shared actions: per-class R@1 | "
             "new actions: per-class R@1 |", "|---|---|---|---|---|---|"]
    for protocol, method, title in ROWS:
        cell = cells.get(protocol, {}).get(method)
        m = cell.metrics if cell is not None else None
        if not m:
            lines.append(f"| {title} | -- | -- | -- | -- | -- |")
            continue
        e2t, t2e = m["emg_to_text"], m["text_to_emg"]
        lines.append(f"| {title} | {_pm(e2t, 'R@1', 'std')} | {_pm(e2t, 'MRR', 'std')} | "
                     f"{_pm(t2e, 'R@1', 'se')} | {_group_r1(m, shared)} | {_group_r1(m, new)} |")
    chance = cross.metrics["emg_to_text"]["chance"]
    return lines + [f"| *chance* | {chance['R@1']:.3f} | {chance['MRR']:.3f} | "
                    f"{cross.metrics['text_to_emg']['chance']['R@1']:.3f} | | |", ""]

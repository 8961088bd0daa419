"""The confusion matrix of an evaluation, as ``myosem eval`` prints it and as ``eval --plot`` draws it.

Rows are the true classes of the scored windows, columns every candidate description the model ranked
(``emg_to_text``'s ``confusion``: :func:`myosem_rt.retrieval.confusion`); a row's share on the diagonal is
that class's R@1. The text table prints row percentages so that classes with few windows read like the
others; the PNG colours the same shares and writes the counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError


def shares(counts: Sequence[Sequence[int]]) -> np.ndarray:
    """Row-normalised (n_true, K) shares of a confusion count matrix (a row without windows stays 0)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=1, keepdims=True)
    return np.divide(c, total, out=np.zeros_like(c), where=total > 0)


def _short(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "."


def format_confusion(conf: Mapping[str, Any], names: Mapping[int, str], candidate_ids: Sequence[int],
                     per_class: Mapping[int, float]) -> str:
    """Per-class R@1 and the row-percentage confusion matrix as text (columns numbered, named below)."""
    rows, cols = list(conf["class_ids"]), list(candidate_ids)
    s = shares(conf["counts"])
    lines = ["per class (EMG->text R@1; row: true class, columns: the description ranked first, % of the "
             "row's windows)"]
    numbers = "".join(f"{j + 1:>5d}" for j in range(len(cols)))
    lines.append(f"{'':>4s} {'class':<24s} {'R@1':>6s} {'n':>6s} {numbers}")
    for i, c in enumerate(rows):
        n = int(np.sum(conf["counts"][i]))
        cells = "".join(f"{100 * v:>5.0f}" if v > 0 else f"{'.':>5s}" for v in s[i])
        lines.append(f"{cols.index(c) + 1 if c in cols else '-':>4} {_short(names.get(c, str(c)), 24):<24s} "
                     f"{per_class.get(c, float('nan')):>6.3f} {n:>6d} {cells}")
    lines.append("columns: " + ", ".join(f"{j + 1} {names.get(c, str(c))}" for j, c in enumerate(cols)))
    return "\n".join(lines) + "\n"


def check_plot_output(path: str | Path, force: bool = False) -> Path:
    """``eval --plot`` target, checked before the work: a .png in an existing folder, new unless ``force``,
    matplotlib present."""
    from myosem_rt.output_files import check_new_file

    out = check_new_file(path, "--plot", force=force, suffixes=(".png",))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("--plot needs matplotlib (pip install matplotlib, or the train extra)") from None
    return out


def plot_confusion(conf: Mapping[str, Any], names: Mapping[int, str], candidate_ids: Sequence[int],
                   path: str | Path, title: str = "") -> Path:
    """Draw the row-share matrix with its counts to ``path`` (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from myosem_rt.output_files import write_bytes

    rows, cols = list(conf["class_ids"]), list(candidate_ids)
    s, counts = shares(conf["counts"]), np.asarray(conf["counts"])
    size = 1.2 + 0.42 * max(len(cols), 4)
    fig, ax = plt.subplots(figsize=(size + 1.5, 0.42 * max(len(rows), 4) + 1.8), dpi=110)
    im = ax.imshow(s, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if s[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(cols)), [_short(names.get(c, str(c)), 18) for c in cols], rotation=60,
                  ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), [_short(names.get(c, str(c)), 22) for c in rows], fontsize=7)
    ax.set_xlabel("description ranked first", fontsize=8)
    ax.set_ylabel("true class", fontsize=8)
    if title:
        ax.set_title(title, fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.04, label="share of the row's windows")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    out = Path(path)
    write_bytes(out, buf.getvalue())
    out.chmod(0o644)
    return out

"""``myosem eval --held-out``'s figures of the run-time path: the held-out classes of a held-out model typed
back as ``myosem live --describe`` ranks them (by action id, as free descriptions, with the stream's novelty,
and with ``--describe-only``), scored on the evaluated windows.

Why a module of its own: these figures run the live code path (:mod:`myosem_rt.typed`) over recorded windows,
which is neither the retrieval figures of :mod:`myosem_rt.commands.eval` nor the live engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def typed_back_figures(model: Any, z: Any, labels: Any, held_out: list[int], config: dict[str, Any],
                       log_mav: Any, recording: Any, start: Any) -> dict[str, Any]:
    """Generalised R@1 of the run-time path: the held-out classes typed back by their action ids
    (``generalised_typed``) and as free descriptions in a wearer's words, each action's first paraphrase
    with the muscles it reads as (``generalised_typed_free``, :mod:`myosem_rt.muscle_match`), as ``myosem
    live --describe`` ranks them with the configured offsets (:func:`myosem_rt.typed.typed_back`); with
    ``live.describe_novelty`` on, each also with the stream's novelty (``novelty``) as live computes it:
    :class:`myosem_rt.novelty.StreamNovelty` fed each recording's windows (``log_mav``, ``recording``) in
    order (:func:`myosem_rt.novelty.causal_stream_novelty`; a subsampled stream is a thinned one). Also
    ``typed_only``: the held-out classes typed back with ``--describe-only`` (:func:`typed_only_figures`)."""
    from myosem_rt.live.engine import LiveSettings
    from myosem_rt.novelty import causal_stream_novelty
    from myosem_rt.retrieval import generalised_curve_scores
    from myosem_rt.text_encoder import TextEncoder
    from myosem_rt.typed import typed_back

    live = LiveSettings.from_config(config)
    encoder = TextEncoder.load(model.text_dir)
    novelty = None  # the same for both views: their trained classes are the model's kept ones

    def point(scores: Any, columns: Any) -> dict[str, float]:  # scores with offsets: no stacking
        curve = generalised_curve_scores(scores, labels, columns, held_out, gammas=(0.0,))
        return {k: curve[k][0] for k in ("held_out", "seen", "harmonic", "false_alarm")}

    out: dict[str, Any] = {}
    for key, free in (("generalised_typed", False), ("generalised_typed_free", True)):
        view, columns = typed_back(model, held_out, encoder, live, free)
        out[key] = {**point(view.rank(z)[0], columns), "offset": live.describe_offset,
                    "anatomy_offset": live.describe_offset_anatomy, "anatomical": list(view.anatomical)}
        if view.novelty > 0:
            if novelty is None:
                known = np.asarray(z, dtype=np.float32) @ view.prototypes[~view.is_typed].T
                novelty = causal_stream_novelty(log_mav, known, recording)
            out[key]["novelty"] = {**point(view.rank(z, novelty)[0], columns), "beta": view.novelty,
                                   "offsets": [float(o) for o in (live.describe_novelty_offset,
                                                                  live.describe_novelty_offset_anatomy)]}
    only = typed_only_figures(model, z, labels, held_out, encoder, live, log_mav, recording, start)
    return {**out, **({"typed_only": only} if only else {})}


def typed_only_figures(model: Any, z: Any, labels: Any, held_out: list[int], encoder: Any, live: Any,
                       log_mav: Any, recording: Any, start: Any) -> dict[str, float] | None:
    """The held-out classes typed back by action id with ``--describe-only``, as a wearer who makes only
    the new gestures meets them: each recording's rest and held-out windows fed in time order through the
    view (:meth:`myosem_rt.typed.TypedCandidates.rank_features`, its groups restarted per recording).
    R@1 of the held-out windows and of the rest windows among those candidates, with the grouping and
    without it (the offsets alone). None where the model has no rest class."""
    from myosem_rt.errors import ConfigError
    from myosem_rt.typed import typed_back

    try:
        view, columns = typed_back(model, held_out, encoder, live, only=True)
    except ConfigError:
        return None
    rest = np.isin(labels, columns[~view.is_typed])
    shown, held = rest | np.isin(labels, held_out), np.isin(labels, held_out)
    plain = np.full(len(labels), -1)
    plain[shown] = columns[view.rank(z[shown])[1][:, 0]]
    grouped = plain.copy()
    for r in np.unique(recording):
        rows = np.flatnonzero((recording == r) & shown)
        view.new_stream()
        for i in rows[np.argsort(start[rows], kind="stable")]:
            grouped[i] = columns[view.rank_features(z[i : i + 1], log_mav[i])[1][0, 0]]
    return {"held_out": float(np.mean(grouped[held] == labels[held])),
            "rest": float(np.mean(grouped[rest] == labels[rest])),
            "held_out_without_groups": float(np.mean(plain[held] == labels[held])),
            "rest_without_groups": float(np.mean(plain[rest] == labels[rest]))}


def format_typed(result: dict[str, Any]) -> str:
    """The printed lines of :func:`typed_back_figures`' figures in ``result`` (empty where none)."""
    lines = ""
    for key, how in (("generalised_typed", "by action id, with anatomy"),
                     ("generalised_typed_free", "as free descriptions (paraphrases)")):
        if key not in result:  # the held-out classes typed back as live --describe ranks them
            continue
        g = result[key]
        offset = g["anatomy_offset"] if g["anatomical"] else g["offset"]
        lines += (f"held-out classes typed back {how} (live --describe, offset {offset:g}): held-out R@1 "
                  f"{g['held_out']:.3f}, seen R@1 {g['seen']:.3f}, harmonic mean {g['harmonic']:.3f}"
                  f"{_false_alarms(g)}\n")
        if "novelty" in g:
            n = g["novelty"]
            offset = n["offsets"][1] if g["anatomical"] else n["offsets"][0]
            lines += (f"  + the stream's novelty (x {n['beta']:g}, offset {offset:g}): held-out R@1 "
                      f"{n['held_out']:.3f}, seen R@1 {n['seen']:.3f}, harmonic mean {n['harmonic']:.3f}"
                      f"{_false_alarms(n)}\n")
    if "typed_only" in result:  # the held-out classes typed back with --describe-only
        g = result["typed_only"]
        lines += (f"held-out classes typed back, new gestures only (live --describe-only): held-out R@1 "
                  f"{g['held_out']:.3f}, rest R@1 {g['rest']:.3f} (without the grouping "
                  f"{g['held_out_without_groups']:.3f}, {g['rest_without_groups']:.3f})\n")
    return lines


def _false_alarms(figures: dict[str, Any]) -> str:
    """", false alarms F" (the trained classes' windows taken for a typed gesture), where measured."""
    return f", false alarms {figures['false_alarm']:.3f}" if "false_alarm" in figures else ""

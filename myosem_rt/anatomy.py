"""A prototype for an action no one trained on, built from the prototypes of the trained actions that
drive the same forearm muscles (``myosem_rt/vocab/muscles.yaml``).

Why: a new action's description embeds where its wording puts it -- ulnar deviation beside radial
deviation -- while the EMG it makes is where its muscles put it: flexor and extensor carpi ulnaris, one
prime mover shared with wrist flexion and one with wrist extension, both trained. The trained actions'
prototypes are where the encoder maps their EMG, so the non-negative combination of trained actions whose
muscle-group vectors best rebuild the new action's vector (non-negative least squares: an action is made of
the muscles it drives, never of their absence) points to where the new action's EMG should land.
:func:`anatomical_prototypes` mixes that point with the new action's own text prototype, ``weight`` of the
anatomy. On the eight held-out 3DC folds of ``myosem bench zeroshot`` it lifts MyoSem-RT's held-out-only
R@1 from 0.504 to 0.610 per window and the generalised harmonic mean from 0.369 to 0.457.

Unlike a head fitted on EMG windows (:mod:`train.muscle_head`) it needs no data: only the model's
prototypes and the catalogue's muscle table, so it serves typed gestures at run time too
(:mod:`myosem_rt.typed`). An action none of whose muscle groups a trained action drives (the pronators,
when only supination is trained, drive only pronation) keeps its text prototype.
"""

from __future__ import annotations

import numpy as np

from myosem_rt.text_encoder import l2_normalize

#: the anatomy's share of a new action's prototype at run time. The zero-shot bench chooses the full
#: anatomy (1.0) on every 3DC fold; 0.75 is level with it (held-out-only R@1 0.608 vs 0.610, README
#: "Held-out gestures") and keeps some of what a user typed
DEFAULT_WEIGHT = 0.75


def anatomy_points(prototypes: np.ndarray, vectors: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(K, D): for each action not ``known`` (K,) bool, the unit combination of the known actions'
    ``prototypes`` (K, D) with the non-negative weights that best rebuild its muscle ``vectors`` (K, G) from
    theirs; its own prototype where no known action shares a muscle group with it; known rows unchanged."""
    from scipy.optimize import nnls

    protos = l2_normalize(np.asarray(prototypes, dtype=np.float64))
    vectors = np.asarray(vectors, dtype=np.float64)
    known = np.asarray(known, dtype=bool)
    out = protos.copy()
    if not known.any():
        return out
    for i in np.flatnonzero(~known):
        coef, _ = nnls(vectors[known].T, vectors[i])
        if coef.any():
            out[i] = l2_normalize(coef @ protos[known])
    return out


def anatomical_prototypes(prototypes: np.ndarray, vectors: np.ndarray, known: np.ndarray,
                          weight: float = DEFAULT_WEIGHT) -> np.ndarray:
    """(K, D) unit prototypes: each new action's ``(1 - weight) * text prototype + weight *`` its
    :func:`anatomy_points` point, renormalised; the known actions' prototypes as they are."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"anatomical_prototypes: weight must be in [0, 1], got {weight}")
    protos = l2_normalize(np.asarray(prototypes, dtype=np.float64))
    mixed = (1.0 - weight) * protos + weight * anatomy_points(protos, vectors, known)
    return l2_normalize(mixed).astype(np.float32)

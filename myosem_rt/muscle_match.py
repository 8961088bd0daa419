"""Which forearm muscles a free description drives, read through the action catalogue in the model's text
space: so that a gesture the wearer types in their own words is placed by its anatomy too.

Why: a new gesture is found far more often when its prototype is placed by the muscles it drives
(:mod:`myosem_rt.anatomy`) than by its wording alone, but only a catalogue action id has a row in the muscle
table (``myosem_rt/vocab/muscles.yaml``). A wearer types "tilt your hand toward your little finger", not
``wrist_ulnar_deviation``. The short names (the id in words and every vocabulary's label, T0:
:func:`myosem_rt.vocab.action_labels`), process (T1) and canonical (T2) descriptions of every action with a
muscle entry are embedded by the model's own text encoder; a free description takes the muscle vectors of the
actions it reads closest to, each weighted by the softmax of that action's best cosine at
:data:`MATCH_TEMPERATURE` -- a description between two actions ("make a fist and bend the wrist") takes
some of both. Below :data:`MIN_MATCH` it reads like no action and nothing is read. The short names matter:
with T1/T2 alone a fold's text space read 0.717 of the held-out paraphrases as their own action, with them
0.812 (``myosem bench zeroshot``, 3DC).

This is where the text side decides: on the eight held-out 3DC folds the everyday paraphrases (T3) of each
fold's held-out actions -- texts no encoder trained on -- read as their own action more often in the fold's
MyoSem-RT text space than in the base MiniLM's (the label-only text baseline), and the held-out gestures
typed so are found more often (``myosem bench zeroshot``, rows "typed in the wearer's words").
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from myosem_rt.text_encoder import l2_normalize

#: softmax temperature over the actions' best cosines (fixed, not tuned on the folds: 0.02 / 0.05 / 0.10
#: read paraphrases about equally well on the 3DC folds)
MATCH_TEMPERATURE = 0.05
#: the best cosine a description needs to be read at all. Sentences about no hand movement ("the weather
#: is nice today", "hello world", "type on a keyboard") reach 0.22-0.39 in a 3DC fold's MyoSem-RT text
#: space, the catalogue's paraphrases 0.59 or more in 19 of 20 cases; on the held-out folds 0.4 reads
#: about as well as no floor (0.587 vs 0.589 held-out-only R@1), 0.5 a little worse (0.582)
MIN_MATCH = 0.4


class Reading(NamedTuple):
    """What a description was read as: the closest action, its cosine and the (G,) muscle vector read."""

    action: str
    cosine: float
    vector: np.ndarray


class MuscleReader:
    """The catalogue's descriptions of every action with a muscle entry, embedded by ``encoder`` (module
    docstring); :meth:`read` turns descriptions into muscle vectors."""

    def __init__(self, encoder: Any, temperature: float = MATCH_TEMPERATURE,
                 floor: float = MIN_MATCH) -> None:
        from myosem_rt.vocab import action_labels, load_actions
        from myosem_rt.vocab.muscles import load_muscles

        if temperature <= 0:
            raise ValueError(f"MuscleReader: temperature must be > 0, got {temperature}")
        catalogue, table, labels = load_actions(), load_muscles(), action_labels()
        self.actions = [a for a in table.actions if a in catalogue]
        self.vectors = np.stack([table.actions[a] for a in self.actions])
        texts = [(i, t) for i, a in enumerate(self.actions)
                 for t in (*labels[a], catalogue[a].t1, catalogue[a].t2)]
        self._owner = np.array([i for i, _ in texts])
        self._texts = l2_normalize(np.asarray(encoder.encode([t for _, t in texts]), dtype=np.float64))
        self.encoder, self.temperature, self.floor = encoder, float(temperature), float(floor)

    def read(self, texts: Sequence[str]) -> list[Reading | None]:
        """Each description's :class:`Reading`, or None where it reads like no action (below the floor)."""
        return self.read_embedded(np.asarray(self.encoder.encode(list(texts))))

    def read_embedded(self, z: np.ndarray) -> list[Reading | None]:
        """:meth:`read` of descriptions already embedded by the same encoder, ``z`` (N, D)."""
        cos = l2_normalize(np.atleast_2d(np.asarray(z, dtype=np.float64))) @ self._texts.T
        best = np.full((len(cos), len(self.actions)), -np.inf)
        for i in range(len(self.actions)):  # each action's best-matching description
            best[:, i] = cos[:, self._owner == i].max(axis=1)
        out: list[Reading | None] = []
        for row in best:
            top = int(row.argmax())
            if row[top] < self.floor:
                out.append(None)
                continue
            w = np.exp((row - row[top]) / self.temperature)
            out.append(Reading(self.actions[top], float(row[top]), (w / w.sum()) @ self.vectors))
        return out


_READERS: weakref.WeakKeyDictionary[Any, MuscleReader] = weakref.WeakKeyDictionary()


def reader_for(encoder: Any) -> MuscleReader:
    """The :class:`MuscleReader` of ``encoder`` with the default settings, built once per encoder: building
    one embeds the catalogue (about half a second here), which the live window's query box would otherwise
    pay on every query."""
    try:
        return _READERS[encoder]
    except KeyError:
        reader = _READERS[encoder] = MuscleReader(encoder)
        return reader
    except TypeError:  # an encoder that cannot be weakly referenced: no cache
        return MuscleReader(encoder)

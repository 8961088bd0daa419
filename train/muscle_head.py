"""A muscle-group head for held-out-class retrieval: EMG embedding -> the forearm muscle groups an action
drives (``myosem_rt/vocab/muscles.yaml``), fitted on the trained classes only.

Why: on the 3DC folds the encoder keeps a held-out gesture apart from the others (nearest class mean in its
own embedding space: 0.80 of held-out windows right on fold 1), yet its text prototype sits where the
wording puts it -- ulnar deviation beside radial deviation, whose EMG is its opposite -- so the cosine ranks
it wrong. Anatomy transfers where wording does not: ulnar deviation shares flexor carpi ulnaris with wrist
flexion and extensor carpi ulnaris with wrist extension, both trained. A ridge map from the unit embedding
to the muscle-group vectors of the training windows' classes predicts every test window's groups; an
action's muscle score is the cosine of its vector with that prediction. The ranking score is
``(1 - w) * text cosine + w * muscle score``; every ``w`` of :data:`WEIGHTS` is evaluated and the suite
chooses it on the other folds (:mod:`train.zeroshot`), never on the fold itself.

With each window's channel pattern, :func:`figures` also names groups of each test recording's held-out
windows by the mixed score (:mod:`myosem_rt.groups`): the head is what names the groups right (3DC folds,
``myosem bench zeroshot``); with each window's start too, also in the causal form (each window named by the
groups of the windows up to it).

Typed in the wearer's words (``paraphrase``): each held-out action is given as one of its everyday
paraphrases (T3, round by round) instead of its catalogue entry, embedded by the method's text encoder, and
placed by the muscles it reads as through the catalogue (:mod:`myosem_rt.muscle_match`): what a wearer's
free description gets at run time, and where the text side decides (the label-only baseline reads with the
base MiniLM).

A held-out action whose prime mover no trained action uses (pronation, when supination alone is trained,
is the only user of the pronators) cannot be found by its muscles: the ridge never saw that group active.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: weights of the windows' novelty added to the held-out classes' scores (:mod:`myosem_rt.novelty`); each
#: with the whole stacking curve, the pair chosen on other folds (:mod:`train.zeroshot`)
NOVELTY_BETAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
RIDGE = 1.0
TRAIN_WINDOWS_PER_FILE = 200
RESULT_FILE = "muscle_head.json"
#: the figures' version in RESULT_FILE: a cached file of another version is computed again (4: the
#: causal grouping, ``causal_groups``; 5: the held-out actions typed in the wearer's words, ``paraphrase``;
#: 6: those words also read against every action's short names, :class:`myosem_rt.muscle_match.MuscleReader`;
#: 7: the generalised curves' false alarms, negative offsets and novelty weights up to 1 for a false-alarm
#: budget, :mod:`train.zeroshot`)
VERSION = 7


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def fit(z: np.ndarray, targets: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """Ridge weights (D + 1, G) from unit embeddings (with a bias column) to muscle-group vectors."""
    x = np.c_[_unit(z), np.ones(len(z))]
    return np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ targets)


def muscle_scores(z: np.ndarray, weights: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(N, K) cosine of each window's predicted groups with each candidate action's vector."""
    predicted = np.c_[_unit(z), np.ones(len(z))] @ weights
    return _unit(predicted) @ _unit(vectors).T


def figures(z_train: np.ndarray, y_train: np.ndarray, z: np.ndarray, y: np.ndarray, prototypes: np.ndarray,
            ids: np.ndarray, vectors: np.ndarray, held_out: list[int], pattern: np.ndarray | None = None,
            recording: np.ndarray | None = None, seed: int = 0,
            novelty: np.ndarray | None = None, stream_novelty: np.ndarray | None = None,
            start: np.ndarray | None = None, paraphrases: list[Any] | None = None
            ) -> dict[str, Any]:
    """For each weight of the head: held-out-only EMG->text R@1 / MRR / text->EMG R@1 and the generalised
    curve (all candidates); with the windows' channel ``pattern`` and ``recording``, also the held-out-only
    figures after naming each recording's groups of held-out windows (:mod:`myosem_rt.groups`), both
    directions; with each window's ``novelty`` (:mod:`myosem_rt.novelty`), the generalised curve for every
    beta of :data:`NOVELTY_BETAS` (``novelty_generalised``: per weight, per beta), and likewise with the
    novelty against the wearer's unlabelled stream (``stream_novelty``, :func:`myosem_rt.novelty.
    recording_stream_novelty`: ``stream_generalised``); with each window's ``start`` as well as its
    pattern, the grouped figures in the causal form (``causal_groups``, :func:`myosem_rt.groups.
    causal_cuts`). The same figures for the
    held-out actions' anatomical prototypes (:mod:`myosem_rt.anatomy`, no fitted head) under ``anatomy``,
    per anatomy weight; with ``paraphrases`` (:func:`paraphrase_rounds`), those of the held-out actions typed
    in the wearer's words under ``paraphrase`` (:func:`_paraphrase_family`)."""
    from myosem_rt.anatomy import anatomical_prototypes
    from myosem_rt.groups import causal_cuts, cut_groups, group_purity

    col = {int(c): i for i, c in enumerate(ids)}
    head = fit(z_train, vectors[[col[int(c)] for c in y_train]])
    text = _unit(z) @ _unit(prototypes).T
    muscle = muscle_scores(z, head, vectors)
    only, unseen = np.isin(ids, held_out), np.isin(y, held_out)
    group, cuts, extra = None, None, {}
    if pattern is not None:  # one cut of each recording's held-out windows, named under every score mix
        held_rec = None if recording is None else recording[unseen]
        group = cut_groups(pattern[unseen], int(only.sum()), held_rec, seed)
        extra["group_purity"] = group_purity(group, y[unseen], held_rec)
        if start is not None:  # and the causal form's cuts, one per window
            cuts = causal_cuts(pattern[unseen], int(only.sum()), held_rec, start[unseen], seed)
    mixes = [(1.0 - w) * text + w * muscle for w in WEIGHTS]
    novelties = {"novelty_generalised": novelty, "stream_generalised": stream_novelty}
    out = _family(mixes, y, ids, held_out, group, recording, novelties, seed, cuts)
    anatomy = [_unit(z) @ _unit(anatomical_prototypes(prototypes, vectors, ~only, w)).T for w in WEIGHTS]
    if paraphrases:
        extra["paraphrase"] = _paraphrase_family(z, y, prototypes, ids, vectors, held_out, paraphrases, cuts,
                                                 seed)
    return {**out, **extra, "version": VERSION,
            "anatomy": _family(anatomy, y, ids, held_out, group, recording, novelties, seed, cuts)}


def paraphrase_rounds(encoder: Any, actions: list[str]) -> list[tuple[np.ndarray, list[Any], list[bool]]]:
    """Per round r: the r-th everyday paraphrase (T3) of each of ``actions`` (cycling where one has fewer),
    embedded by ``encoder``, (H, D); what each reads as through the catalogue
    (:meth:`myosem_rt.muscle_match.MuscleReader.read_embedded`: a Reading or None); whether that is its own
    action."""
    from myosem_rt.muscle_match import MuscleReader
    from myosem_rt.vocab import load_actions

    reader, phrases = MuscleReader(encoder), [load_actions()[a].t3 for a in actions]
    rounds = []
    for r in range(max(len(p) for p in phrases)):
        z = _unit(np.asarray(encoder.encode([p[r % len(p)] for p in phrases])))
        readings = reader.read_embedded(z)
        own = [read is not None and read.action == a for read, a in zip(readings, actions, strict=True)]
        rounds.append((z, readings, own))
    return rounds


def _paraphrase_family(z: np.ndarray, y: np.ndarray, prototypes: np.ndarray, ids: np.ndarray,
                       vectors: np.ndarray, held_out: list[int], rounds: list[Any],
                       cuts: list[Any] | None, seed: int) -> dict[str, Any]:
    """Held-out-only figures (and, with ``cuts``, grouped causally) per anatomy weight of :data:`WEIGHTS`,
    with each held-out action's prototype its paraphrase of the round, placed by the muscles it reads as
    (an unread one keeps its text), averaged over the ``rounds``; ``read_as_own``: the share of the
    paraphrases read as their own action (the text side's part)."""
    from myosem_rt.anatomy import anatomical_prototypes
    from myosem_rt.groups import causal_grouped_scores

    only, unseen = np.isin(ids, held_out), np.isin(y, held_out)
    cols = [int(np.flatnonzero(ids == c)[0]) for c in held_out]
    per: dict[str, list[list[dict[str, float]]]] = {"held_out_only": [], "causal_groups": []}
    own = []
    for text, readings, right in rounds:
        protos, vec = _unit(prototypes).copy(), np.asarray(vectors, dtype=np.float64).copy()
        protos[cols] = text
        read = np.zeros(len(ids), dtype=bool)
        for col, reading in zip(cols, readings, strict=True):
            if reading is not None:
                vec[col], read[col] = reading.vector, True
        own += right
        for key in per:
            per[key].append([])
        for w in WEIGHTS:
            placed = np.where(read[:, None], anatomical_prototypes(protos, vec, ~only, w), protos)
            held = (_unit(z) @ _unit(placed).T)[unseen][:, only]
            named = {"held_out_only": held,
                     "causal_groups": None if cuts is None else causal_grouped_scores(held, cuts)}
            for key, scores in named.items():
                if scores is not None:
                    per[key][-1].append(_held_out_figures(scores, y[unseen], ids[only], seed))
    out: dict[str, Any] = {"weights": list(WEIGHTS), "rounds": len(rounds),
                           "read_as_own": float(np.mean(own))}
    for key, runs in per.items():
        if runs and runs[0]:
            out[key] = [{k: float(np.mean([run[i][k] for run in runs])) for k in runs[0][i]}
                        for i in range(len(WEIGHTS))]
    return out


def _held_out_figures(scores: np.ndarray, labels: np.ndarray, candidates: np.ndarray,
                      seed: int) -> dict[str, float]:
    """Held-out-only EMG->text R@1 and MRR and text->EMG R@1 of ``scores`` (held-out windows x held-out
    candidates): one record of every family's figures."""
    from myosem_rt.retrieval import emg_to_text_scores, text_to_emg_scores

    e2t = emg_to_text_scores(scores, labels, candidates, n_resamples=0)
    t2e = text_to_emg_scores(scores, labels, candidates, seed=seed)
    return {"R@1": float(e2t["R@1"]), "MRR": float(e2t["MRR"]), "text_to_emg R@1": float(t2e["R@1"])}


def _family(mixes: list[np.ndarray], y: np.ndarray, ids: np.ndarray, held_out: list[int],
            group: np.ndarray | None, recording: np.ndarray | None,
            novelties: dict[str, np.ndarray | None], seed: int, cuts: list[Any] | None = None
            ) -> dict[str, Any]:
    """:func:`figures` of one family of (N, K) score matrices, one per weight of :data:`WEIGHTS`;
    ``novelties``: result key -> each window's novelty (None: not measured); ``cuts``: the held-out
    windows' causal cuts (None: not measured)."""
    from myosem_rt.groups import causal_grouped_scores, grouped_scores
    from myosem_rt.retrieval import generalised_curve_scores

    only, unseen = np.isin(ids, held_out), np.isin(y, held_out)
    out: dict[str, Any] = {"weights": list(WEIGHTS), "held_out_only": [], "generalised": []}
    if group is not None:
        out["groups"] = []
    if cuts is not None:
        out["causal_groups"] = []
    novelties = {key: n for key, n in novelties.items() if n is not None}
    if novelties:
        out["novelty_betas"] = list(NOVELTY_BETAS)
    for key in novelties:
        out[key] = []
    held_rec = None if recording is None else recording[unseen]
    for scores in mixes:
        held = scores[unseen][:, only]
        out["held_out_only"].append(_held_out_figures(held, y[unseen], ids[only], seed))
        out["generalised"].append(generalised_curve_scores(scores, y, ids, held_out))
        for key, novelty in novelties.items():
            out[key].append([generalised_curve_scores(scores, y, ids, held_out, novelty=novelty, beta=b)
                             for b in NOVELTY_BETAS])
        named = {"groups": None if group is None else grouped_scores(held, group, held_rec),
                 "causal_groups": None if cuts is None else causal_grouped_scores(held, cuts)}
        for key, grouped in named.items():
            if grouped is not None:
                out[key].append(_held_out_figures(grouped, y[unseen], ids[only], seed))
    return out


def evaluate_model(model: Any, model_dir: str, sp: Any, config: dict[str, Any],
                   test_windows_per_file: int | None, seed: int = 0) -> dict[str, Any] | None:
    """The head's figures for any model that ranks by cosine (MyoSem-RT, or a baseline projected into its
    text space) on class-disjoint split ``sp``: fitted on the training windows, scored on the test windows
    the model's own evaluation used. None when an action of the vocabulary has no muscle entry."""
    from myosem_rt.commands.eval import embed_files
    from myosem_rt.groups import level_free
    from myosem_rt.novelty import recording_novelty, recording_stream_novelty
    from myosem_rt.vocab import load_vocabulary
    from myosem_rt.vocab.muscles import load_muscles

    ids = np.asarray(model.class_ids, dtype=np.int64)
    actions = {c.class_id: c.action for c in load_vocabulary(model.vocabulary).classes}
    vectors = load_muscles().vectors([actions[int(c)] for c in ids])
    if vectors is None:
        log.warning("%s: an action of %s has no entry in muscles.yaml; no muscle head", model_dir,
                    model.vocabulary)
        return None
    train = embed_files(model, model_dir, sp.train_files, config, mask=sp.train_mask,
                        max_windows_per_file=TRAIN_WINDOWS_PER_FILE, seed=0, patterns=True)
    test = embed_files(model, model_dir, sp.test_files, config, mask=sp.test_mask,
                       max_windows_per_file=test_windows_per_file, seed=seed, patterns=True)
    # each test window's novelty against the same wearer's training windows (one recording, both sides)
    test_index = {Path(f): i for i, f in enumerate(sp.test_files)}
    train_rec = np.array([test_index.get(Path(sp.train_files[int(r)]), -1) for r in train.recording])
    novelty = recording_novelty(train.log_mav, train.labels, train_rec, test.log_mav, test.recording)
    # and against the wearer's unlabelled stream: each test recording's windows labelled by the model's
    # best known class (what live --describe can do without enrolment)
    held_out = sorted(sp.held_out_classes)
    known_scores = (_unit(test.z) @ _unit(np.asarray(model.prototypes)).T)[:, ~np.isin(ids, held_out)]
    stream = recording_stream_novelty(test.log_mav, known_scores, test.recording)
    rounds = None
    if getattr(model, "text_dir", None) is not None:  # the held-out actions in the wearer's words
        from myosem_rt.text_encoder import TextEncoder

        rounds = paraphrase_rounds(TextEncoder.load(model.text_dir), [actions[int(c)] for c in held_out])
    return figures(train.z, train.labels, test.z, test.labels, np.asarray(model.prototypes), ids, vectors,
                   held_out, level_free(test.log_mav), test.recording, seed, novelty, stream, test.start,
                   rounds)


def evaluate_run(model_dir: Path, data: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`evaluate_model` for one trained MyoSem run, cached in ``<model_dir>/muscle_head.json``."""
    from myosem_rt.model import MyoSemModel
    from myosem_rt.output_files import write_json
    from myosem_rt.protocols import split

    cached = model_dir / RESULT_FILE
    if cached.is_file():
        result = json.loads(cached.read_text(encoding="utf-8"))
        if result.get("version") == VERSION:  # an older file's figures are computed again
            return result
    model = MyoSemModel.load(str(model_dir))
    manifest = model.manifest
    sp = split(manifest["data"]["protocol"], data, **dict(manifest["data"].get("options") or {}))
    training = manifest["training"]
    result = evaluate_model(model, str(model_dir), sp, config, training.get("max_windows_per_file"),
                            int(training.get("seed", 0)))
    if result is not None:
        write_json(cached, result)
    return result

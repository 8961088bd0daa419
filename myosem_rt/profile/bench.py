"""``myosem bench enrol``: the wearer's-own-gestures benchmark, MyoSem-RT's profile beside the anchor.

Every figure is EMG -> text R@1 on windows the enrolment never saw, all methods scored on the very same
windows in the same run (per-window decisions, no smoothing):

* **anchor**: a per-user Hudgins TD + shrinkage LDA fitted on the same enrolment trials, windows labelled by
  the cue (what LibEMG users run), and the same with this project's activity labels;
* **MyoSem-RT**: the profile exactly as ``myosem enrol`` builds it (:func:`~myosem_rt.profile.enrol.
  enrol_from_session`) and ``myosem live`` ranks with it (:class:`~myosem_rt.profile.view.CalibratedModel`);
* **options** side by side (same enrolment, same head): feature sets TD / TD + covariance / + the trained
  encoder's embedding / the embedding alone, cue vs activity labels, the uncalibrated encoder and the v1
  profile (prototypes blended toward the user's mean embedding); the profile without its session
  adaptation (:mod:`~myosem_rt.profile.adapt`) and the anchor with it (what the adaptation alone gives);
  with a model, the **pooled anchor** (TD + LDA on every window of the files the encoder trained on: what
  a new wearer gets without enrolling, beside the uncalibrated encoder).

Suites (``--suite``, default all that the data and ``--models`` allow):

* ``3dc``: every 3DC subject as an unseen wearer, enrolled on repetition 1 (and 1-2, ``--trials``), scored
  on repetitions 5-8 (recorded after a break). Each subject is run with a model from ``--models`` whose
  manifest does not list that subject's file among its training files (subject folds), never otherwise;
  typed paraphrases (:data:`PARAPHRASES_3DC`, checked to appear in no vocabulary) are matched against the
  subject's scored windows before and after enrolment (best-class share), and a gesture left out of the
  enrolment is added back as a *new* gesture from its typed description and its one trial.
* ``ciil-shift``: enrol on the training session, score the four electrode-shifted sessions;
  ``myodisco-session``: enrol on day 1, score day 2. Models: one trained on the enrolment side only.
* ``multiday``: the 4 ch @ 2048 Hz amplifier no model fits (device-only profiles): enrol on day 1, score
  every later day (accuracy by horizon); re-enrolled on the previous day; day 1 updated with the previous
  day's first 2 s per class (a short re-enrolment), or with 20 of its confirmed hops per class.
* ``sim-3dc``: a simulated device from 3DC (channels 1-8 resampled to 500 Hz), device-only.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.errors import ConfigError
from myosem_rt.profile.adapt import AdaptSettings, SessionAdaptation
from myosem_rt.profile.features import classical_features, noise_threshold
from myosem_rt.profile.head import UserHead
from myosem_rt.profile.labels import DEFAULT_FRACTION, window_set_mask

log = logging.getLogger(__name__)

#: Typed descriptions of 3DC gestures that appear in no vocabulary (checked at run time).
PARAPHRASES_3DC = {
    "clench my fist tightly": "Power Grip",
    "curl all my fingers into a tight ball": "Power Grip",
    "let my arm go limp": "Neutral",
    "keep my hand completely still and loose": "Neutral",
    "straighten and spread out all my fingers": "Open Hand",
    "stretch my fingers apart as far as they go": "Open Hand",
    "point my fingertips down toward the floor": "Wrist Flexion",
    "cock my hand back like a stop sign": "Wrist Extension",
    "turn my hand over so the palm faces the ceiling": "Supination",
    "rotate my palm to face the floor": "Pronation",
    "press thumb and index fingertip together like an OK sign": "Pinch Grip",
    "tilt my hand sideways, thumb first": "Radial Deviation",
}
#: The 3DC gesture enrolled as a *new* gesture (from this typed description) in the new-gesture test.
NEW_GESTURE = (10, "pinch", "pressing the tips of my thumb and index finger together")
ANCHOR = "anchor: TD + LDA, cue labels"
OURS = "MyoSem-RT profile (TD + cov + d, + z with a model, + dd without; activity labels, session adaptation)"
NO_ADAPT = "MyoSem-RT profile without session adaptation"
POOLED = "pooled anchor: TD + LDA on the encoder's training users, no calibration"
ANCHOR_ADAPT = "anchor + the same session adaptation"


def _r1(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y))) if len(y) else float("nan")


def _fit_predict(f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray) -> np.ndarray:
    head = UserHead().fit(f_train, y_train)
    return head.class_ids[head.posterior(f_test).argmax(axis=1)]


def _fit_predict_adapted(f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray, parts: Sequence[int],
                         settings: AdaptSettings, hop_s: float) -> np.ndarray:
    """:func:`_fit_predict` with the profile's session adaptation, restarted for each recording in
    ``parts``."""
    head = UserHead().fit(f_train, y_train)
    adapt = SessionAdaptation(head, settings, hop_s)
    post, at = [], 0
    for n in parts:
        adapt.reset()
        post.append(adapt.posterior(f_test[at : at + n]))
        at += n
    return head.class_ids[np.concatenate(post).argmax(axis=1)]


def _top1(view: Any, x: np.ndarray, desc: np.ndarray | None = None) -> np.ndarray:
    """The class id a view ranks first for each window of ``x``."""
    return view.class_ids[view.rank(view.encode(x, desc))[1][:, 0]]


def _activity_keep(ws: Any, fraction: float) -> np.ndarray:
    return window_set_mask(ws, fraction, weak="cue")[0]


def options(enrol: Any, test: Any, model: Any | None, fraction: float, config: dict[str, Any],
            parts: Sequence[int] | None = None, data: Path | None = None) -> dict[str, float]:
    """R@1 on ``test`` of every option fitted on ``enrol`` windows (the module docstring's list);
    ``parts``: lengths of the recordings concatenated in ``test`` (each a new session); with a model and
    ``data``, also the pooled anchor trained on the model's own training files."""
    from myosem_rt.commands.eval import encode

    eps = noise_threshold(enrol.x)
    keep = _activity_keep(enrol, fraction)
    y, yt = enrol.label, test.label
    # one computation of every classical part; its columns are td, cov, then both on the first and on the
    # second difference
    every, everyt = (classical_features(ws.x, eps, "td+cov+d+dd") for ws in (enrol, test))
    n_td = 4 * enrol.n_channels
    n_tdcov = every.shape[1] // 3
    full, fullt = every[:, : 2 * n_tdcov], everyt[:, : 2 * n_tdcov]
    td, tdt = full[:, :n_td], fullt[:, :n_td]
    tdcov, tdcovt = full[:, :n_tdcov], fullt[:, :n_tdcov]
    out = {ANCHOR: _r1(_fit_predict(td, y, tdt), yt),
           "anchor: TD + LDA, activity labels": _r1(_fit_predict(td[keep], y[keep], tdt), yt),
           "TD + cov, cue labels": _r1(_fit_predict(tdcov, y, tdcovt), yt),
           "TD + cov, activity labels": _r1(_fit_predict(tdcov[keep], y[keep], tdcovt), yt),
           "TD + cov + d, cue labels": _r1(_fit_predict(full, y, fullt), yt),
           "TD + cov + d + dd, activity labels": _r1(_fit_predict(every[keep], y[keep], everyt), yt),
           "TD + cov + d, activity labels": _r1(_fit_predict(full[keep], y[keep], fullt), yt),
           ANCHOR_ADAPT: _r1(_fit_predict_adapted(td, y, tdt, parts or [len(test)],
                                                  AdaptSettings.from_config(config), test.hop / test.fs), yt)}
    if model is not None and data is not None:
        eps_pooled, pooled = _pooled_anchor(model, data, config)
        out[POOLED] = _r1(pooled.class_ids[pooled.posterior(
            classical_features(test.x, eps_pooled, "td")).argmax(axis=1)], yt)
    if model is not None:
        from myosem_rt.calibration import PrototypeBlend

        z, zt = encode(model, enrol), encode(model, test)
        ids = np.asarray(model.class_ids)
        out["encoder, no calibration"] = _r1(ids[(zt @ model.prototypes.T).argmax(axis=1)], yt)
        blend = PrototypeBlend.new(model, "bench")
        for c in np.unique(y):
            blend.add_examples(int(c), z[y == c])
        out["v1 profile: prototypes blended toward the user's mean z"] = _r1(
            ids[(zt @ blend.prototypes.T).argmax(axis=1)], yt)
        out["encoder z + LDA, activity labels"] = _r1(_fit_predict(z[keep], y[keep], zt), yt)
        out["TD + cov + d + z, activity labels"] = _r1(_fit_predict(np.hstack([full, z])[keep], y[keep],
                                                                    np.hstack([fullt, zt])), yt)
    return out


_POOLED: dict[str, tuple[np.ndarray, UserHead]] = {}


def _pooled_anchor(model: Any, data: Path, config: dict[str, Any]) -> tuple[np.ndarray, UserHead]:
    """(eps, head): Hudgins TD + shrinkage LDA on every window of the files ``model`` trained on (cue
    labels; eps the median of the files' own noise thresholds), the classical model a new wearer gets
    before enrolling. Cached per model directory."""
    from myosem_rt.recordings import load_session

    key = str(model.directory)
    if key not in _POOLED:
        names = [f["name"] for f in (model.manifest.get("data") or {}).get("train_files", [])]
        sets = [_windows(load_session(data / name), config, model) for name in names]
        eps = np.median(np.stack([noise_threshold(ws.x) for ws in sets]), axis=0)
        f = np.concatenate([classical_features(ws.x, eps, "td") for ws in sets])
        y = np.concatenate([ws.label for ws in sets])
        _POOLED[key] = eps, UserHead().fit(f, y)
        log.info("bench enrol: pooled anchor of %s: %d windows of %d files", Path(key).name, len(y),
                 len(names))
    return _POOLED[key]


def _ours(session: Any, test: Any, model: Any | None, config: dict[str, Any], trials: int,
          parts: Sequence[int] | None = None) -> tuple[dict[str, float], Any]:
    """The shipped code path: enrol_from_session -> CalibratedModel -> rank; R@1, text->EMG R@1, fit ms.
    ``parts``: lengths of the recordings concatenated in ``test`` (each is a new session for the view)."""
    from myosem_rt.profile.enrol import enrol_from_session
    from myosem_rt.retrieval import text_to_emg

    profile, report = enrol_from_session(session, config, model=model, trials=trials, user="bench",
                                         weak="cue")
    view = _view(profile, model, config)
    t0 = time.perf_counter()
    z, plain = _session_scores(view, test, parts)
    per_window_ms = (time.perf_counter() - t0) * 1e3 / max(1, len(test))
    scores, order = view.rank(z)
    t2e = text_to_emg(z, test.label, view.prototypes, view.class_ids, episodes=100, seed=0)
    return {NO_ADAPT: _r1(view.class_ids[plain.argmax(axis=1)], test.label),
            OURS: _r1(view.class_ids[order[:, 0]], test.label),
            "text->EMG R@1 (ours)": t2e["R@1"],
            "fit_ms": report["fit_ms"], "features_ms_per_window": per_window_ms}, view


def _view(profile: Any, model: Any | None, config: dict[str, Any]) -> Any:
    from myosem_rt.profile.view import CalibratedModel

    return CalibratedModel(profile, model, adapt=AdaptSettings.from_config(config))


def _session_scores(view: Any, test: Any, parts: Sequence[int] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(z_hat as live ranks it (N, D), the head's posterior without session adaptation (N, K)): each
    recording of ``parts`` a new session, windows in stream order, in blocks as ``myosem eval`` encodes."""
    z, plain, at = [], [], 0
    for n in parts or [len(test)]:
        view.new_session()
        for i in range(at, at + n, 256):
            j = min(i + 256, at + n)
            f = view.features(test.x[i:j], test.desc[i:j])
            z.append(view.embed_features(f))
            plain.append(view.head.posterior(f))
        at += n
    return np.concatenate(z), np.concatenate(plain)


def _windows(session: Any, config: dict[str, Any], model: Any | None) -> Any:
    from myosem_rt.profile.enrol import _windows as cut

    return cut(session, config, model)


def _first(ws: Any, trials: int) -> Any:
    from myosem_rt.profile.enrol import first_trials

    return ws.subset(first_trials(ws, trials))


def _model_for(models: Sequence[Any], enrol: Path, scored: Sequence[Path], session: Any) -> Any | None:
    """A model of this device and dataset that never trained on the scored files (for 3DC: on the subject)."""
    from myosem_rt.vocab import describes, load_vocabulary

    for m in models:
        if int(m.n_channels) != session.n_channels or float(m.fs) != session.fs:
            continue
        if not describes(load_vocabulary(m.vocabulary), session.dataset):
            continue
        trained = {f.get("name") for f in (m.manifest.get("data") or {}).get("train_files", [])}
        if not trained or any(f"{p.parent.name}/{p.name}" in trained for p in scored):
            continue
        return m
    return None


def _query_share(view: Any, base: Any | None, test: Any, encoder: Any, names: dict[int, str]
                 ) -> tuple[float | None, float]:
    """Best-class share of :data:`PARAPHRASES_3DC` over ``test`` before (``base``) and after (``view``)."""
    from myosem_rt.commands.eval import encode

    texts = list(PARAPHRASES_3DC)
    t = encoder.encode(texts)
    want = [PARAPHRASES_3DC[x] for x in texts]
    classes = np.unique(test.label)

    def share(z: np.ndarray) -> float:
        means = np.stack([(z[test.label == c] @ t.T).mean(axis=0) for c in classes])  # (K, Q)
        best = [names[int(classes[i])] for i in means.argmax(axis=0)]
        return float(np.mean([b == w for b, w in zip(best, want, strict=True)]))

    before = share(encode(base, test)) if base is not None else None
    return before, share(encode(view, test))


def _new_gesture(session: Any, test: Any, model: Any | None, config: dict[str, Any], encoder: Any
                 ) -> dict[str, float]:
    """Enrol every class but one; add that one as a new gesture (typed description + its trial). The
    profile uses the classical features only (no encoder), so no trained EMG of the gesture is involved:
    it reaches the profile through its one trial and its description alone."""
    from myosem_rt.profile.enrol import enrol_from_session, window_features

    config = {**config, "enrol": {**dict(config.get("enrol") or {}), "features": "td+cov+d"}}
    cid, name, text = NEW_GESTURE
    others = [int(c) for c in np.unique(test.label) if int(c) != cid]
    profile, _ = enrol_from_session(session, config, model=model, trials=1, user="bench", classes=others,
                                    weak="cue")
    view = _view(profile, model, config)
    rest = test.label != cid
    view.new_session()
    before = _r1(_top1(view, test.x[rest], test.desc[rest]), test.label[rest])
    ws = _first(_windows(session, config, model), 1)
    mine = ws.subset(ws.label == cid)
    keep = _activity_keep(ws, profile.activity_fraction)[ws.label == cid]
    f = window_features(mine.x[keep], profile.eps, profile.feature_set, model, mine.desc[keep])
    query = encoder.encode([text])[0]
    new_id = profile.add_class(name, text, query, f)
    view.refresh()
    view.new_session()
    z = view.encode(test.x, test.desc)
    pred = view.class_ids[view.rank(z)[1][:, 0]]
    truth = np.where(test.label == cid, new_id, test.label)
    by_class = {int(c): float((z[truth == c] @ query).mean()) for c in np.unique(truth)}
    return {"new gesture R@1": _r1(pred[truth == new_id], truth[truth == new_id]),
            "other classes R@1 without it": before, "other classes R@1 with it": _r1(pred[rest], truth[rest]),
            "its description finds it first (text->EMG)": float(max(by_class, key=by_class.get) == new_id)}


def suite_3dc(data: Path, models: Sequence[Any], config: dict[str, Any], trials: Sequence[int],
              quick: bool = False) -> dict[str, Any]:
    from myosem_rt.protocols import duplicate_mask
    from myosem_rt.recordings import load_session
    from myosem_rt.text_encoder import TextEncoder
    from myosem_rt.vocab import list_vocabularies, load_vocabulary

    vocab_texts = {t.lower() for n in list_vocabularies() for c in load_vocabulary(n).classes
                   for t in (c.t0, c.t2, c.t1, *c.t3)}
    seen = [p for p in PARAPHRASES_3DC if p.lower() in vocab_texts]
    if seen:
        raise ConfigError(f"bench enrol: paraphrases {seen} appear in a vocabulary")
    files = sorted((data / "3dc").glob("S*_E1_A1.mat"), key=lambda p: int(p.name[1:].split("_")[0]))
    if quick:
        files = files[:2]
    rows: dict[str, Any] = {}
    for path in files:
        session = load_session(path)
        model = _model_for(models, path, [path], session)
        if model is None:
            log.warning("bench enrol: no model in --models that never trained on %s; skipped", path.name)
            continue
        ws = _windows(session, config, model)
        test = ws.subset((ws.repetition >= 5) & ~duplicate_mask(ws))  # S14's copies of S13 trials: out
        row: dict[str, Any] = {"model": str(model.directory), "n_test": len(test)}
        for k in trials:
            enrol = _first(ws.subset(ws.repetition <= 4), k)
            fig = options(enrol, test, model, DEFAULT_FRACTION, config, data=data)
            ours, view = _ours(session, test, model, config, k)
            row[str(k)] = {**fig, **ours}
            if k == trials[0]:
                encoder = TextEncoder.load(model.text_dir)
                names = dict(zip(view.class_ids.tolist(), view.class_names, strict=True))
                before, after = _query_share(view, model, test, encoder, names)
                row["query best-class share before"], row["query best-class share after"] = before, after
                row["new gesture"] = _new_gesture(session, test, model, config, encoder)
        rows[f"S{session.subject}"] = row
        log.info("bench enrol 3dc: S%d (%s): %s", session.subject, Path(model.directory).name,
                 {k: round(v, 3) for k, v in row[str(trials[0])].items()
                  if "R@1" in k or k in (ANCHOR, OURS)})
    return {"units": rows, "unit": "subject", "trials": list(trials),
            "note": "3DC, enrol repetition 1 (or 1-K), score repetitions 5-8 (S14's copies of S13 trials "
                    "left out); each subject's model never trained on it"}


def _pair_suite(name: str, data: Path, models: Sequence[Any], config: dict[str, Any], trials: Sequence[int],
                pairs: Callable[[Path], list[tuple[Path, list[Path]]]], quick: bool) -> dict[str, Any]:
    from myosem_rt.recordings import load_session

    rows: dict[str, Any] = {}
    units = pairs(data)[: 2 if quick else None]
    for enrol_path, scored in units:
        session = load_session(enrol_path)
        model = _model_for(models, enrol_path, scored, session)
        tests = [_windows(load_session(p), config, model) for p in scored]
        test = tests[0] if len(tests) == 1 else _concat(tests)
        ws = _windows(session, config, model)
        row: dict[str, Any] = {"model": str(model.directory) if model else None, "n_test": len(test)}
        for k in trials:
            fig = options(_first(ws, k), test, model, DEFAULT_FRACTION, config, [len(t) for t in tests],
                          data)
            ours, _ = _ours(session, test, model, config, k, [len(t) for t in tests])
            row[str(k)] = {**fig, **ours}
        rows[enrol_path.stem] = row
        log.info("bench enrol %s: %s: anchor %.3f, ours %.3f", name, enrol_path.stem,
                 row[str(trials[0])][ANCHOR], row[str(trials[0])][OURS])
    return {"units": rows, "unit": "subject", "trials": list(trials)}


def _concat(parts: Sequence[Any]) -> Any:
    first = parts[0]
    fields = {k: np.concatenate([getattr(p, k) for p in parts]) for k in
              ("x", "desc", "label", "subject", "session", "repetition", "start", "file_index")}
    return replace(first, **fields)


def _ciil_pairs(data: Path) -> list[tuple[Path, list[Path]]]:
    out = []
    for p in sorted((data / "ciil_shift").glob("S*_train.mat"), key=lambda p: int(p.name[1:].split("_")[0])):
        shifts = sorted(p.parent.glob(p.name.replace("_train", "_shift*")))
        if shifts:
            out.append((p, shifts))
    return out


def _myodisco_pairs(data: Path) -> list[tuple[Path, list[Path]]]:
    out = []
    for p in sorted((data / "myodisco").glob("S*_day1.mat"), key=lambda p: int(p.name[1:].split("_")[0])):
        day2 = p.with_name(p.name.replace("day1", "day2"))
        if day2.is_file():
            out.append((p, [day2]))
    return out


def suite_multiday(data: Path, config: dict[str, Any], quick: bool = False) -> dict[str, Any]:
    """Day-1 enrolment scored on every later day; re-enrolment and updates (module docstring)."""
    from myosem_rt.profile.enrol import enrol_from_session
    from myosem_rt.recordings import load_session

    files = sorted((data / "multiday").glob("S1_D*.mat"), key=lambda p: int(p.stem.split("_D")[1]))
    if quick:
        files = files[:3]
    sessions = [load_session(p) for p in files]
    wss = [_windows(s, config, None) for s in sessions]
    day = [int(p.stem.split("_D")[1]) for p in files]
    profile1, report = enrol_from_session(sessions[0], config, trials=1, user="multiday", weak="cue")
    view1 = _view(profile1, None, config)
    rows: dict[str, Any] = {}
    for i in range(1, len(files)):
        test = wss[i]
        fig = options(wss[0], test, None, DEFAULT_FRACTION, config)
        ours = _score(view1, test)
        prev = wss[i - 1]
        re_anchor = options(prev, test, None, DEFAULT_FRACTION, config)
        p_prev, _ = enrol_from_session(sessions[i - 1], config, trials=1, user="multiday", weak="cue")
        v_prev = _view(p_prev, None, config)
        re_ours = _score(v_prev, test)[OURS]
        # day 1 + a short re-enrolment: the first 2 s of every class's trial on the previous day
        short = np.zeros(len(prev), dtype=bool)
        for c in np.unique(prev.label):
            idx = np.flatnonzero(prev.label == c)
            short[idx[prev.start[idx] < prev.start[idx].min() + 2.0 * prev.fs]] = True
        upd = _updated(profile1, prev.subset(short), None, config)
        # day 1 + 20 confirmed hops per class of the previous day (hops the day-1 profile got right)
        view1.new_session()
        pred_prev = _top1(view1, prev.x, prev.desc)
        conf = np.zeros(len(prev), dtype=bool)
        for c in np.unique(prev.label):
            conf[np.flatnonzero((prev.label == c) & (pred_prev == c))[:20]] = True
        upd_conf = _updated(profile1, prev.subset(conf), None, config)
        rows[f"D{day[i]}"] = {"days_since_enrolment": day[i] - day[0], "n_test": len(test),
                              "1": {**fig, **ours},
                              "re-enrolled on the previous day": {ANCHOR: re_anchor[ANCHOR], OURS: re_ours},
                              "day 1 + previous day's first 2 s per class": _score(upd, test),
                              "day 1 + 20 confirmed hops per class of the previous day":
                                  _score(upd_conf, test)}
        log.info("bench enrol multiday: D%d: anchor %.3f, ours %.3f", day[i], fig[ANCHOR], ours[OURS])
    return {"units": rows, "unit": "day", "trials": [1], "fit_ms": report["fit_ms"]}


def _updated(profile: Any, ws: Any, model: Any | None, config: dict[str, Any]) -> Any:
    import copy

    from myosem_rt.profile.enrol import window_features

    p = copy.copy(profile)  # examples are appended as new arrays: the original keeps its own
    f = window_features(ws.x, p.eps, p.feature_set, model, ws.desc)
    for c in np.unique(ws.label):
        p.add_examples(int(c), f[ws.label == c])
    return _view(p, model, config)


def _score(view: Any, test: Any) -> dict[str, float]:
    z, plain = _session_scores(view, test)
    return {NO_ADAPT: _r1(view.class_ids[plain.argmax(axis=1)], test.label),
            OURS: _r1(view.class_ids[view.rank(z)[1][:, 0]], test.label)}


def _simulated(s: Any) -> Any:
    """3DC session ``s``'s channels 1-8 resampled 1 kHz -> 500 Hz, as a device no model fits."""
    from scipy.signal import resample_poly

    from myosem_rt.recordings.session import Session

    emg = resample_poly(np.asarray(s.emg[:, :8], dtype=np.float64), 1, 2, axis=0).astype(np.float32)
    n = emg.shape[0]
    return Session(emg=emg, label=s.label[::2][:n], repetition=s.repetition[::2][:n], fs=500.0,
                   class_names=dict(s.class_names), dataset="simulated-8ch-500Hz", subject=s.subject,
                   session=s.session, path=None, unit=s.unit, device="3DC channels 1-8 at 500 Hz")


def _across_devices(session: Any, model: Any, config: dict[str, Any], k: int) -> float:
    """R@1 of a trained 3DC encoder made to take the simulated device: the stream resampled back to the
    model's rate, missing channels zero, then z + LDA on the first ``k`` trials (activity labels), scored on
    repetitions 5-8 of that stream (the same trials as every other option; its own 200 ms windows)."""
    from scipy.signal import resample_poly

    from myosem_rt.commands.eval import encode
    from myosem_rt.recordings.session import Session

    up = resample_poly(np.asarray(session.emg, np.float64), int(model.fs), int(session.fs), axis=0)
    emg = np.zeros((up.shape[0], int(model.n_channels)), np.float32)
    emg[:, : min(up.shape[1], emg.shape[1])] = up[:, : emg.shape[1]]
    n = emg.shape[0]
    idx = np.minimum((np.arange(n) * session.fs / model.fs).astype(np.int64), session.n_samples - 1)
    s = Session(emg=emg, label=session.label[idx], repetition=session.repetition[idx], fs=float(model.fs),
                class_names=dict(session.class_names), dataset="3DC", subject=session.subject,
                session=session.session)
    ws = _windows(s, config, model)
    enrol, test = _first(ws.subset(ws.repetition <= 4), k), ws.subset(ws.repetition >= 5)
    keep = _activity_keep(enrol, DEFAULT_FRACTION)
    return _r1(_fit_predict(encode(model, enrol)[keep], enrol.label[keep], encode(model, test)), test.label)


def suite_sim(data: Path, config: dict[str, Any], trials: Sequence[int], quick: bool = False,
              models: Sequence[Any] = ()) -> dict[str, Any]:
    from myosem_rt.recordings import load_session

    files = sorted((data / "3dc").glob("S*_E1_A1.mat"), key=lambda p: int(p.name[1:].split("_")[0]))
    rows: dict[str, Any] = {}
    for path in files[: 2 if quick else None]:
        original = load_session(path)
        session = _simulated(original)
        ws = _windows(session, config, None)
        test = ws.subset(ws.repetition >= 5)
        encoder = _model_for(models, path, [path], original)
        row: dict[str, Any] = {"n_test": len(test)}
        for k in trials:
            fig = options(_first(ws.subset(ws.repetition <= 4), k), test, None, DEFAULT_FRACTION, config)
            if encoder is not None:
                fig["3DC encoder across devices (resampled, zero-padded): z + LDA"] = _across_devices(
                    session, encoder, config, k)
            ours, _ = _ours(session, test, None, config, k)
            row[str(k)] = {**fig, **ours}
        rows[f"S{session.subject}"] = row
        first = row[str(trials[0])]
        log.info("bench enrol sim-3dc: S%d: anchor %.3f, ours %.3f", session.subject, first[ANCHOR],
                 first[OURS])
    return {"units": rows, "unit": "subject", "trials": list(trials)}


SUITES = ("3dc", "ciil-shift", "myodisco-session", "multiday", "sim-3dc")


def run_suites(data: Path, models: Sequence[Any], config: dict[str, Any], suites: Sequence[str],
               trials: Sequence[int], quick: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in suites:
        t0 = time.perf_counter()
        if name == "3dc":
            r = suite_3dc(data, models, config, trials, quick)
        elif name == "ciil-shift":
            r = _pair_suite(name, data, models, config, trials, _ciil_pairs, quick)
        elif name == "myodisco-session":
            r = _pair_suite(name, data, models, config, trials, _myodisco_pairs, quick)
        elif name == "multiday":
            r = suite_multiday(data, config, quick)
        elif name == "sim-3dc":
            r = suite_sim(data, config, trials, quick, models)
        else:
            raise ConfigError(f"bench enrol: unknown suite {name!r} (expected {', '.join(SUITES)})")
        r["seconds"] = round(time.perf_counter() - t0, 1)
        out[name] = r
    return out


def bench_enrol(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench enrol --data DIR --models DIR... [--suite S...] [--trials K...] [--results DIR]``."""
    import shlex

    from myosem_rt.model import MyoSemModel
    from myosem_rt.profile.report import markdown, summary_lines
    from myosem_rt.recordings.reader import RecordingError

    data = Path(getattr(args, "data", None) or "../shared/data")
    if not (data / "3dc").is_dir() and not (data / "multiday").is_dir():
        raise RecordingError(data, "not a folder of recordings (expected 3dc/, ciil_shift/, multiday/ ...)")
    trials = sorted(set(getattr(args, "trials", None) or [1, 2]))
    suites = getattr(args, "suite", None) or list(SUITES)
    out_json = getattr(args, "json", None)
    results_dir = getattr(args, "results", None)
    if out_json:  # outputs are checked before the long work
        from myosem_rt.output_files import check_new_file

        check_new_file(out_json, "--json", force=bool(getattr(args, "force", False)))
    if results_dir and not Path(results_dir).is_dir():
        raise ConfigError(f"bench enrol: --results folder {results_dir} does not exist")
    models = [MyoSemModel.load(m, threads=1) for m in (getattr(args, "models", None) or [])]
    results = run_suites(data, models, config, suites, trials, bool(getattr(args, "quick", False)))
    rest = sys.argv[sys.argv.index("enrol") + 1:] if "enrol" in sys.argv else []
    command = " ".join(["myosem bench enrol", *(shlex.quote(a) for a in rest)])
    sys.stdout.write("\n".join(summary_lines(results)) + "\n")
    text = markdown(results, command)
    from myosem_rt.output_files import write_bytes

    payload = (json.dumps(results, indent=1, default=float) + "\n").encode("utf-8")
    if out_json:
        write_bytes(Path(out_json), payload)
    if results_dir:
        write_bytes(Path(results_dir) / "enrolment.md", text.encode("utf-8"))
        write_bytes(Path(results_dir) / "enrolment.json", payload)
        for name in ("enrolment.md", "enrolment.json"):  # documents: readable by all (mkstemp makes 0600)
            (Path(results_dir) / name).chmod(0o644)
        log.info("bench enrol: %s/enrolment.md and .json written", results_dir)
    else:
        sys.stdout.write(text)
    return 0

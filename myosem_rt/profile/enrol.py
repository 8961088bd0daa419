"""Enrolment: a recording of the wearer's cued gestures -> their :class:`~myosem_rt.profile.UserProfile`.

The one code path behind ``myosem enrol --recording FILE`` and the guided live session (which writes its
recording to a file first, then calls :func:`enrol_from_session` on it), so both build the same profile
from the same samples:

1. the recording is cut and filtered as the stream will be live: with a model, as the model was trained
   (:func:`myosem_rt.model.trained_config`; channels and rate must match it); without one (any armband),
   with config ``windows`` and ``filters`` at the recording's own rate;
2. the first ``trials`` repetitions of every class are the enrolment (all of them when None);
3. windows are labelled by the cue *and* by muscle activity (:mod:`myosem_rt.profile.labels`);
4. each class gets a description: the model's vocabulary text for its classes; for any other class, the
   description stored in the recording (a gesture the user named and described), else its name matched to
   the action catalogue through the text encoder (:func:`match_to_catalogue`; a name with no good match
   keeps itself as its description); the description's embedding is the class's text prototype;
5. features (:func:`window_features`) of the kept windows and the TD noise threshold are stored, and the
   head is fitted once to check the profile is usable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.descriptors import patch_descriptors
from myosem_rt.errors import ConfigError
from myosem_rt.profile.features import (
    FEATURE_SETS,
    classical_features,
    classical_features_for,
    noise_threshold,
)
from myosem_rt.profile.labels import DEFAULT_FRACTION, window_set_mask
from myosem_rt.profile.polarity import mean_correlation
from myosem_rt.profile.profile import SOURCE_ENROL, ProfileError, UserProfile

log = logging.getLogger(__name__)

#: Feature set of new profiles: "auto" = td+cov+d+dd without a model (any armband), td+cov+d plus the
#: trained encoder's embedding z with one. Why z: for a wearer the encoder never saw (3DC subject folds) z
#: adds nothing (0.849 vs 0.852 R@1), but where the encoder knows the wearer's other sessions (ciil-shift,
#: myodisco-session) it carries what survives the drift (+6 points); docs/results/enrolment.md compares
#: every set. Why dd only without a model: chosen on device-only 3DC and the simulated device (+0.3 / +0.2
#: points, see features.FEATURE_SETS); with a model it would add per-hop cost on top of the encoder's.
DEFAULT_FEATURES = "auto"
AUTO_FEATURES = ("td+cov+d+dd", "td+cov+d+z")  #: without, with a model
#: Text artefact used to embed descriptions when the profile has no model (any armband).
DEFAULT_TEXT_MODEL = "3dc-armband"
#: A class name is matched to a catalogue action when their cosine is at least this and the runner-up
#: is at least MATCH_MARGIN lower (else the name stays its own description).
MATCH_MIN, MATCH_MARGIN = 0.5, 0.02


def enrol_settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Config ``enrol`` values that shape a profile, validated (defaults when the section is absent)."""
    section = dict((config or {}).get("enrol") or {})
    out = {"feature_set": str(section.get("features", DEFAULT_FEATURES)),
           "shrinkage": section.get("shrinkage", "auto"),
           "activity_fraction": section.get("activity_fraction", DEFAULT_FRACTION),
           "text_model": str(section.get("text_model", DEFAULT_TEXT_MODEL))}
    if out["feature_set"] not in (*FEATURE_SETS, "auto"):
        raise ConfigError(f"enrol.features must be auto or one of {', '.join(FEATURE_SETS)}, "
                          f"got {out['feature_set']!r}")
    try:
        frac = float(out["activity_fraction"])
    except (TypeError, ValueError):
        raise ConfigError(f"enrol.activity_fraction must be a number, "
                          f"got {out['activity_fraction']!r}") from None
    if not 0.0 <= frac < 1.0:
        raise ConfigError(f"enrol.activity_fraction must be in [0, 1), got {frac:g}")
    out["activity_fraction"] = frac
    g = out["shrinkage"]
    if g != "auto" and not (isinstance(g, (int, float)) and 0.0 <= float(g) <= 1.0):
        raise ConfigError(f"enrol.shrinkage must be 'auto' or in [0, 1], got {g!r}")
    return out


def window_features(x: np.ndarray, eps: np.ndarray, feature_set: str, model: Any | None,
                    desc: np.ndarray | None = None) -> np.ndarray:
    """(N, F) float32 features of filtered windows ``x`` (N, W, C): classical parts, then the trained
    encoder's embedding when the set has ``z`` (``desc``: the windows' patch descriptors, computed here
    when None)."""
    if "z" not in feature_set.split("+"):
        return classical_features(x, eps, feature_set)
    if model is None:
        raise ProfileError(f"feature set {feature_set!r} needs a trained model (encoder embedding)")
    if desc is None:
        desc = patch_descriptors(np.asarray(x, dtype=np.float32), model.patch).astype(np.float32)
    model_set = getattr(model, "feature_set", None)
    if model_set:  # the encoder takes window-level features too: one pass computes both (live per-hop cost)
        mine, theirs = classical_features_for(x, [(eps, feature_set), (model.feature_eps, model_set)])
        z = model.encode(x, desc, feat=theirs)
    else:
        mine, z = classical_features(x, eps, feature_set), model.encode(x, desc)
    parts = [mine, np.asarray(z, dtype=np.float32)]
    return np.concatenate(parts, axis=1).astype(np.float32)


def check_profile_model(profile: UserProfile, model: Any | None) -> None:
    """:class:`ProfileError` unless ``model`` is exactly the one the profile was made with (or both none)."""
    from myosem_rt.model import model_sha

    want = profile.model
    if want is None:
        if model is not None:
            raise ProfileError(f"profile of {profile.user or 'user'} was made without a model (device only); "
                               f"leave out --model {model.directory}")
        return
    if model is None:
        raise ProfileError(f"profile of {profile.user or 'user'} needs model {want['name']}")
    have = model_sha(model)
    if have != want["sha256"]:
        raise ProfileError(f"profile of {profile.user or 'user'} was made for another model (manifest sha256 "
                           f"{want['sha256'][:12]}..., {model.directory} has {have[:12]}...)")


def check_stream(profile: UserProfile, n_channels: int, fs: float, stream: str) -> None:
    """One-line :class:`ProfileError` when a stream's shape is not the one the profile was enrolled on."""
    lay = profile.layout
    if int(n_channels) != int(lay["n_channels"]) or abs(float(fs) - float(lay["fs"])) > 1e-6 * float(fs):
        raise ProfileError(f"stream {stream} is {int(n_channels)} ch @ {float(fs):g} Hz but the profile of "
                           f"{profile.user or 'user'} was enrolled on {lay['n_channels']} ch @ "
                           f"{float(lay['fs']):g} Hz")


# --- descriptions ---------------------------------------------------------------------------------------


def _catalogue_texts() -> tuple[list[str], list[list[str]]]:
    """Action ids and, per action, every text that names it: its id in words, every packaged vocabulary's
    label for it (T0), its canonical description (T2) and paraphrases (T3)."""
    from myosem_rt.vocab import action_labels, load_actions

    actions, labels = load_actions(), action_labels()
    ids = sorted(actions)
    return ids, [[*labels[a], actions[a].t2, *actions[a].t3] for a in ids]


def match_to_catalogue(names: Sequence[str], encoder: Any) -> list[dict[str, Any]]:
    """Each class name -> its best catalogue action: ``{name, action|None, description, score, runner_up}``.

    A name's similarity to an action is its best cosine to any text naming the action
    (:func:`_catalogue_texts`); it is matched when that is at least :data:`MATCH_MIN` and beats the
    runner-up action by :data:`MATCH_MARGIN`. The description is then the action's canonical text (T2),
    else the name itself.
    """
    from myosem_rt.vocab import load_actions

    if not names:
        return []
    ids, texts = _catalogue_texts()
    flat = encoder.encode([t for ts in texts for t in ts])
    owner = np.repeat(np.arange(len(ids)), [len(ts) for ts in texts])
    actions = load_actions()
    emb = encoder.encode([n.replace("_", " ") for n in names])
    out = []
    for name, cos in zip(names, emb @ flat.T, strict=True):
        sims = np.full(len(ids), -1.0)
        np.maximum.at(sims, owner, cos)
        order = np.argsort(-sims)
        best, second = float(sims[order[0]]), float(sims[order[1]]) if sims.size > 1 else -1.0
        ok = best >= MATCH_MIN and best - second >= MATCH_MARGIN
        action = ids[order[0]]
        out.append({"name": name, "action": action if ok else None, "candidate": action,
                    "description": actions[action].t2 if ok else name, "score": round(best, 3),
                    "runner_up": ids[order[1]] if sims.size > 1 else None,
                    "margin": round(best - second, 3)})
    return out


# --- enrolment ------------------------------------------------------------------------------------------


def _windows(session: Any, config: Mapping[str, Any], model: Any | None) -> Any:
    from myosem_rt.model import trained_config
    from myosem_rt.stream.windows import WindowSpec
    from myosem_rt.vocab import describes, load_vocabulary, vocabulary_for_dataset
    from myosem_rt.windowing import load_windows

    path = Path(session.path) if session.path is not None else Path(f"{session.source_id}.mat")
    if model is not None:
        if session.n_channels != int(model.n_channels) or session.fs != float(model.fs):
            raise ProfileError(f"{path}: {session.n_channels} ch @ {session.fs:g} Hz but model "
                               f"{model.directory} expects {model.n_channels} ch @ {model.fs:g} Hz")
        cfg = trained_config(model, config)
        spec = WindowSpec(int(model.window), int(model.hop), int(model.patch), float(model.fs))
        vocabulary = load_vocabulary(model.vocabulary)
        if not describes(vocabulary, session.dataset):
            try:  # another dataset of the same device: translate its labels by shared action
                vocabulary_for_dataset(session.dataset)
            except ConfigError:
                vocabulary = None  # the recording's own class ids (a user's guided session)
    else:
        cfg, vocabulary = dict(config), None
        spec = WindowSpec.from_config(config["windows"], session.fs)
    return load_windows([path], cfg, spec=spec, loader=lambda _p: session, vocabulary=vocabulary)


def first_trials(ws: Any, trials: int | None) -> np.ndarray:
    """Mask of the windows of the first ``trials`` repetitions (by number) of every class (None: all)."""
    if trials is None:
        return np.ones(len(ws), dtype=bool)
    if trials < 1:
        raise ConfigError(f"enrol: --trials must be >= 1, got {trials}")
    mask = np.zeros(len(ws), dtype=bool)
    for c in np.unique(ws.label):
        sel = ws.label == c
        reps = np.unique(ws.repetition[sel])[:trials]
        mask |= sel & np.isin(ws.repetition, reps)
    return mask


def _class_texts(ids: Sequence[int], session: Any, ws: Any, model: Any | None, encoder_dir: Path,
                 ) -> tuple[list[dict[str, Any]], np.ndarray, list[dict[str, Any]]]:
    """(classes, text prototypes (K, D), catalogue matches) for the enrolled class ids."""
    from myosem_rt.text_encoder import TextEncoder

    model_rows = {int(c): i for i, c in enumerate(getattr(model, "class_ids", []))}
    own = dict(getattr(session, "class_descriptions", {}) or {})
    names = {int(k): str(v) for k, v in ws.class_names.items()}
    classes: list[dict[str, Any]] = [{} for _ in ids]
    protos: list[np.ndarray | None] = [None] * len(ids)
    to_embed, to_match = [], []
    for i, c in enumerate(ids):
        if c in model_rows and c not in own:
            r = model_rows[c]
            classes[i] = {"id": c, "name": model.class_names[r], "description": model.descriptions[r],
                          "origin": "vocabulary"}
            protos[i] = np.asarray(model.prototypes[r], dtype=np.float32)
        elif c in own:
            classes[i] = {"id": c, "name": names.get(c, f"class {c}"), "description": own[c], "origin": "new"}
            to_embed.append(i)
        else:
            classes[i] = {"id": c, "name": names.get(c, f"class {c}"), "origin": "name"}
            to_match.append(i)
            to_embed.append(i)
    matches: list[dict[str, Any]] = []
    if to_embed:
        encoder = TextEncoder.load(encoder_dir)
        matches = match_to_catalogue([classes[i]["name"] for i in to_match], encoder)
        for i, m in zip(to_match, matches, strict=True):
            classes[i]["description"] = m["description"]
            if m["action"]:
                classes[i]["origin"] = f"matched:{m['action']}"
        emb = encoder.encode([classes[i]["description"] for i in to_embed])
        for i, e in zip(to_embed, emb, strict=True):
            protos[i] = e
    return classes, np.vstack(protos).astype(np.float32), matches


#: A channel whose enrolment RMS is below this share of the median channel's is flat (a dead electrode).
FLAT_CHANNEL = 1e-4


def _check_channels(session: Any, ws: Any) -> None:
    """One-line :class:`ProfileError` naming every flat channel of the enrolment windows."""
    rms = np.sqrt(np.mean(np.square(ws.x, dtype=np.float64), axis=(0, 1)))
    ref = float(np.median(rms))
    flat = [i + 1 for i, r in enumerate(rms) if not r > FLAT_CHANNEL * ref] if ref > 0 else \
        list(range(1, rms.size + 1))
    if flat:
        names = ", ".join(str(session.channel_names[i - 1]) for i in flat)
        raise ProfileError(f"{session.path}: channel(s) {names} carry no signal during the enrolment (flat): "
                           "check the electrodes and enrol again")


def _model_ref(model: Any) -> dict[str, str]:
    from myosem_rt.model import SHIPPED, model_sha

    d = Path(model.directory).resolve()
    name = next((n for n, p in SHIPPED.items() if p.resolve() == d), str(d))
    return {"name": name, "sha256": model_sha(model)}


def enrol_from_session(session: Any, config: Mapping[str, Any], *, model: Any | None = None,
                       trials: int | None = None, user: str = "", classes: Sequence[int] | None = None,
                       weak: str = "error") -> tuple[UserProfile, dict[str, Any]]:
    """A profile from ``session`` (module docstring); returns it with a report (``summary``, ``activity``
    lines, catalogue ``matches``, ``fit_ms``). Raises a one-line :class:`~myosem_rt.errors.MyosemError`;
    a gesture with no activity above rest is an error unless ``weak="cue"`` (labelled by its cue)."""
    from myosem_rt.model import resolve_model

    settings = enrol_settings(config)
    ws = _windows(session, config, model)
    enrol = first_trials(ws, trials)
    if classes is not None:
        enrol &= np.isin(ws.label, list(classes))
    ws = ws.subset(enrol)
    ids = sorted(int(c) for c in np.unique(ws.label))
    if classes is not None:
        lost = sorted(set(int(c) for c in classes) - set(ids))
        if lost:
            raise ProfileError(f"{session.path}: no windows of class(es) {lost} in the recording")
    if len(ids) < 2:
        raise ProfileError(f"{session.path}: enrolment needs at least two classes, found {ids}")
    _check_channels(session, ws)
    names = {int(k): str(v) for k, v in ws.class_names.items()}
    if model is not None:
        names.update({int(c): n for c, n in zip(model.class_ids, model.class_names, strict=True)})
    keep, activity = window_set_mask(ws, settings["activity_fraction"], names, weak)
    eps = noise_threshold(ws.x)
    t0 = time.perf_counter()
    feature_set = settings["feature_set"]
    if feature_set == "auto":
        feature_set = AUTO_FEATURES[model is not None]
    if model is not None and hasattr(model, "new_session"):
        model.new_session()  # an encoder with session statistics: the enrolment is a stream of its own
    features = window_features(ws.x[keep], eps, feature_set, model, ws.desc[keep])
    t_features = time.perf_counter() - t0
    text_dir = Path(model.text_dir) if model is not None and model.text_dir is not None else \
        resolve_model(settings["text_model"]) / "text"
    class_list, protos, matches = _class_texts(ids, session, ws, model, text_dir)
    lay = {"n_channels": int(session.n_channels), "fs": float(session.fs),
           "window_ms": float(ws.window * 1000.0 / ws.fs), "hop_ms": float(ws.hop * 1000.0 / ws.fs),
           "patch_ms": float(ws.patch * 1000.0 / ws.fs),
           "filters": dict((model.manifest.get("filters") if model is not None else None)
                           or config["filters"])}
    if model is not None:  # keep the model's own millisecond values (they convert back exactly)
        lay.update(window_ms=model.window_ms, hop_ms=model.hop_ms, patch_ms=model.patch_ms)
    model_ref = _model_ref(model) if model is not None else None
    rec = None
    if session.path is not None:
        from myosem_rt.text_encoder import sha256_file

        rec = {"path": str(Path(session.path).resolve()), "sha256": sha256_file(Path(session.path)),
               "repetitions": sorted(int(r) for r in np.unique(ws.repetition))}
    profile = UserProfile(
        user=user, layout=lay, model=model_ref,
        text={"model": model_ref["name"] if model_ref else settings["text_model"]}, classes=class_list,
        text_prototypes=protos, features=features,
        labels=ws.label[keep].astype(np.int64), source=np.full(int(keep.sum()), SOURCE_ENROL, np.int8),
        eps=np.asarray(eps, dtype=np.float64), feature_set=feature_set,
        shrinkage=settings["shrinkage"], activity_fraction=settings["activity_fraction"], recording=rec,
        corr=mean_correlation(ws.x))
    t1 = time.perf_counter()
    profile.head()
    fit_ms = (time.perf_counter() - t1) * 1e3
    report = {"summary": profile.summary(), "activity": activity.lines(names), "matches": matches,
              "fit_ms": fit_ms, "features_ms": t_features * 1e3, "windows_kept": int(keep.sum()),
              "windows_cued": int(keep.size)}
    return profile, report

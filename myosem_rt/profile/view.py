"""A profile seen as a model: what ``live``, ``gui``, ``query`` and ``eval`` use in place of the shipped one.

Why a view and not new code paths in every command: the engine, the outputs, the window and the metrics
already work with "something that has ``encode`` / ``rank`` and class lists". The view keeps that
contract, so a calibrated session is the same code as an uncalibrated one.

How it keeps the retrieval semantics (descriptions are still what gets ranked, typed text still finds
EMG): per window, the user's head gives class posteriors ``pi`` (K,); the window's embedding is

    z_hat = normalize(P^T pi)        P = the (K, D) text prototypes of the user's classes

a point in the text space: near a class's description when the head is sure, between descriptions when it
hesitates. Any typed text ``t`` scores a window by ``cos(t, z_hat)`` (text -> EMG: ``myosem query``, the
window's gesture query), and the view's :meth:`CalibratedModel.rank` ranks the class descriptions by the
posterior itself, recovered exactly from ``z_hat`` (``pi`` is proportional to ``z_hat P^T (P P^T)^-1``;
``P`` has full row rank for distinct descriptions), so EMG -> text is the head's own ranking. Its scores
are posteriors in [0, 1] (``score_kind = "posterior"``); the live engine's rejection reads that.

A new gesture enrolled by its description is one more row of ``P`` and one more LDA class; a class name
typed as a query that the user never enrolled still lands near the enrolled gestures whose descriptions
resemble it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from myosem_rt.descriptors import patch_descriptors
from myosem_rt.errors import MyosemError
from myosem_rt.profile.adapt import AdaptSettings, SessionAdaptation
from myosem_rt.profile.profile import ProfileError, UserProfile
from myosem_rt.stream.windows import WindowSpec
from myosem_rt.text_encoder import l2_normalize

log = logging.getLogger(__name__)


class CalibratedModel:
    """``profile`` (+ the trained ``base`` model it was made with, or None) as a model (module docstring)."""

    score_kind = "posterior"

    def __init__(self, profile: UserProfile, base: Any | None, source: Path | None = None,
                 adapt: AdaptSettings | None = None) -> None:
        from myosem_rt.profile.enrol import check_profile_model

        check_profile_model(profile, base)
        self.profile = profile
        self.adapt_settings = adapt if adapt is not None else AdaptSettings()
        self._adapt: SessionAdaptation | None = None
        self.base_model = base
        self.source = source
        lay = profile.layout
        self.n_channels, self.fs = int(lay["n_channels"]), float(lay["fs"])
        spec = WindowSpec.from_ms(float(lay["window_ms"]), float(lay["hop_ms"]), float(lay["patch_ms"]),
                                  self.fs)
        self.window, self.hop, self.patch = spec.window, spec.hop, spec.patch
        self.n_patches = self.window // self.patch
        self.window_ms, self.hop_ms, self.patch_ms = (float(lay[k]) for k in ("window_ms", "hop_ms",
                                                                              "patch_ms"))
        self.manifest = {"filters": dict(lay["filters"]), "profile": profile.user}
        self.new_session()
        self.directory = base.directory if base is not None else (source or Path("profile"))
        self.vocabulary = getattr(base, "vocabulary", None)
        self.text_dir = _text_dir(profile, base)
        self.refresh()

    def refresh(self) -> None:
        """Re-read classes and refit the head (after the profile changed)."""
        p = self.profile
        self.head = p.head()
        order = [p.class_row(c) for c in self.head.class_ids]
        self.class_ids = self.head.class_ids.copy()
        rows = [p.classes[i] for i in order]
        self.class_names = [str(c["name"]) for c in rows]
        self.descriptions = [str(c["description"]) for c in rows]
        self.actions = [str(c.get("origin", "")) for c in rows]
        self.classes = [{"id": int(c["id"]), "name": c["name"], "t2": c["description"],
                         "action": c.get("origin", "")} for c in rows]
        self.prototypes = l2_normalize(p.text_prototypes[order].astype(np.float32))
        old, self._adapt = self._adapt, None
        if self.adapt_settings.enabled:
            self._adapt = SessionAdaptation(self.head, self.adapt_settings, self.hop_ms / 1000.0)
            if old is not None:
                self._adapt.carry_history(old)
        gram = self.prototypes.astype(np.float64) @ self.prototypes.T.astype(np.float64)
        self._coef = self.prototypes.T.astype(np.float64) @ np.linalg.pinv(gram, rcond=1e-8)  # (D, K)

    def refitted(self) -> CalibratedModel:
        """A new view of this view's profile after it changed (a confirm, a correction, a new gesture),
        keeping the session's polarity decision and its adaptation history; this view stays as it was for
        the thread still using it."""
        view = CalibratedModel(self.profile, self.base_model, self.source, self.adapt_settings)
        view.signs, view._pending, view._decided = self.signs.copy(), list(self._pending), self._decided
        if view._adapt is not None and self._adapt is not None:
            view._adapt.carry_history(self._adapt)
        return view

    # --- electrode polarity (myosem_rt/profile/polarity.py) ---------------------------------------------

    def new_session(self) -> None:
        """A new session: the next :data:`ALIGN_S` seconds of windows decide the electrode polarity again,
        and the session adaptation (:mod:`~myosem_rt.profile.adapt`) starts from the enrolment."""
        if self._adapt is not None:
            self._adapt.reset()
        if self.base_model is not None and hasattr(self.base_model, "new_session"):
            self.base_model.new_session()  # the encoder's running feature statistics start over too
        self.signs = np.ones(self.n_channels, dtype=np.float32)
        self._pending: list[np.ndarray] = []
        self._decided = self.profile.corr is None or self.n_channels < 2

    def _polarity(self, x: np.ndarray) -> np.ndarray:
        """``x`` with the session's channel signs; the first ALIGN_S seconds of windows set them."""
        from myosem_rt.profile.polarity import ALIGN_S, channel_signs, mean_correlation

        if not self._decided:
            need = max(1, int(round(ALIGN_S * self.fs / self.hop)))
            self._pending.append(np.asarray(x[:need], dtype=np.float32))
            have = sum(len(p) for p in self._pending)
            if have >= need:
                current = mean_correlation(np.concatenate(self._pending)[:need])
                self.signs = channel_signs(self.profile.corr, current).astype(np.float32)
                self._decided, self._pending = True, []
                if (self.signs < 0).any():
                    log.warning("profile of %s: channel(s) %s inverted since enrolment (leads swapped?); "
                                "their sign is corrected", self.profile.user or "user",
                                [int(i) + 1 for i in np.flatnonzero(self.signs < 0)])
        return x if (self.signs > 0).all() else x * self.signs

    # --- the model contract --------------------------------------------------------------------------

    def features(self, x: np.ndarray, desc: np.ndarray | None = None) -> np.ndarray:
        """(N, F) the profile's features of filtered windows ``x`` (N, W, C) (descriptors for the encoder)."""
        from myosem_rt.profile.enrol import window_features

        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        x = self._polarity(x)
        if desc is not None:
            desc = np.asarray(desc, dtype=np.float32)
            desc = desc[None] if desc.ndim == 3 else desc
        return window_features(x, self.profile.eps, self.profile.feature_set, self.base_model, desc)

    def embed(self, x: np.ndarray, desc: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(z_hat (N, D), features (N, F)) of windows ``x``."""
        f = self.features(x, desc)
        return self.embed_features(f), f

    def embed_features(self, f: np.ndarray) -> np.ndarray:
        """z_hat of features ``f`` (N, F) in stream order: with session adaptation on, each window's
        posterior comes from the means adapted to the windows before it, and the window joins the history."""
        post = self._adapt.posterior(f) if self._adapt is not None else self.head.posterior(f)
        return l2_normalize((post @ self.prototypes.astype(np.float64)).astype(np.float32))

    def encode(self, x: np.ndarray, desc: np.ndarray | None = None) -> np.ndarray:
        """(N, D) z_hat of windows ``x`` (N, W, C) or one window (W, C)."""
        return self.embed(x, desc)[0]

    def encode_windows(self, x: np.ndarray) -> np.ndarray:
        return self.encode(x, patch_descriptors(np.asarray(x, np.float32), self.patch).astype(np.float32))

    def rank(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(posterior (N, K), class order best first (N, K)) recovered from embeddings ``z`` (N, D)."""
        c = np.atleast_2d(np.asarray(z, dtype=np.float64)) @ self._coef
        np.maximum(c, 0.0, out=c)
        total = c.sum(axis=1, keepdims=True)
        scores = np.where(total > 0, c / np.where(total > 0, total, 1.0), 1.0 / c.shape[1]).astype(np.float32)
        return scores, np.argsort(-scores, axis=1, kind="stable")


def _text_dir(profile: UserProfile, base: Any | None) -> Path | None:
    if base is not None and getattr(base, "text_dir", None) is not None:
        return base.text_dir
    if profile.text:
        from myosem_rt.model import resolve_model

        d = resolve_model(profile.text.get("model", ""))
        return d / "text" if (d / "text").is_dir() else None
    return None


def load_profile_view(path: str | Path, model: Any | None, config: Any = None) -> CalibratedModel:
    """The view of the profile at ``path``; ``model`` None loads the model the profile names (if any)."""
    from myosem_rt.model import MyoSemModel
    from myosem_rt.profile.profile import json_path

    profile = UserProfile.load(path)
    if model is None and profile.model is not None:
        try:
            model = MyoSemModel.load(profile.model["name"], threads=1)
        except MyosemError as exc:
            raise ProfileError(f"{json_path(path)}: its model {profile.model['name']} cannot be loaded "
                               f"({exc})") from None
    view = CalibratedModel(profile, model, json_path(path), AdaptSettings.from_config(config))
    log.info("%s", profile.summary())
    return view


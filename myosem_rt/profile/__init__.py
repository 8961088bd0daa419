"""The wearer's own gestures: enrolment, the per-user profile and its head, and the profile as a model.

One room for everything per-user (issue 13): :mod:`.features` (classical, device-agnostic window
features), :mod:`.lda` (shrinkage LDA), :mod:`.labels` (cue + activity labels of enrolment windows),
:mod:`.head` (the per-user classifier), :mod:`.profile` (what is stored, crash-safe on disk),
:mod:`.enrol` (recording -> profile, the one path for ``myosem enrol`` and the guided session),
:mod:`.view` (the profile as a model for ``live``, ``gui``, ``query`` and ``eval``), :mod:`.guided` (the
cued live session) and :mod:`.bench` (``myosem bench enrol``). No torch anywhere here.
"""

from myosem_rt.profile.profile import ProfileError, UserProfile, profile_base
from myosem_rt.profile.view import CalibratedModel, load_profile_view

__all__ = ["CalibratedModel", "ProfileError", "UserProfile", "load_profile_view", "profile_base"]

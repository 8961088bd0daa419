"""The wearer's own gestures: enrolment, the per-user profile and its head, and the profile as a model.

One room for everything per-user (issue 13), no torch anywhere:

* the representation and the fit: :mod:`.features` (classical, device-agnostic window features, also the
  baselines' TD features), :mod:`.lda` (shrinkage LDA), :mod:`.labels` (cue + activity labels of
  enrolment windows), :mod:`.head` (the per-user classifier), :mod:`.polarity` (electrode leads swapped
  since enrolment), :mod:`.adapt` (the head's class means following the wearer through a session,
  unsupervised);
* the profile: :mod:`.profile` (what is stored, crash-safe on disk), :mod:`.view` (the profile as a model
  for ``live``, ``gui``, ``query`` and ``eval``), :mod:`.enrol` (recording -> profile: the one path behind
  ``myosem enrol --recording``, the guided session and the window);
* the guided session: :mod:`.cues` (what is cued when), :mod:`.recorder` (stream + cues -> recording
  file), :mod:`.enrol_view` (terminal), :mod:`.guided` (``myosem enrol``), :mod:`.live_enrol` (the same
  flow inside the window, fed by the worker's raw-sample tap);
* the measurement: :mod:`.bench` and :mod:`.report` (``myosem bench enrol``).
"""

from myosem_rt.profile.profile import ProfileError, UserProfile, profile_base
from myosem_rt.profile.view import CalibratedModel, load_profile_view

__all__ = ["CalibratedModel", "ProfileError", "UserProfile", "load_profile_view", "profile_base"]

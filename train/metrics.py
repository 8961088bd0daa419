"""Retrieval metrics for training reports: re-exported from :mod:`myosem_rt.retrieval` (the one definition,
shared with ``myosem eval``, which runs without torch). See that module for tie handling and uncertainty."""

from myosem_rt.retrieval import (
    bootstrap_std,
    chance,
    emg_to_text,
    ranks_of_true,
    sample_episodes,
    text_to_emg,
)

__all__ = ["bootstrap_std", "chance", "emg_to_text", "ranks_of_true", "sample_episodes", "text_to_emg"]

"""Evaluation protocols for training: re-exported from :mod:`myosem_rt.protocols` (the one definition,
shared with ``myosem eval``, which runs without torch). See that module's docstring for every protocol."""

from myosem_rt.protocols import DUPLICATES, PROTOCOLS, Selection, Split, duplicate_mask, split

__all__ = ["DUPLICATES", "PROTOCOLS", "Selection", "Split", "duplicate_mask", "split"]

"""Recordings: the one reader of NinaPro-layout .mat files, shared by replay, training and evaluation."""

from myosem_rt.recordings.session import Session, Trial

__all__ = ["Session", "Trial", "load_session", "find_recordings"]


def __getattr__(name: str):  # lazy: scipy.io is only imported when a file is read
    if name in ("load_session", "find_recordings"):
        from myosem_rt.recordings import reader

        return getattr(reader, name)
    raise AttributeError(name)

"""Errors that reach the user as one line (and exit code 2 on the command line).

Every problem a user can cause (a bad file, a bad option, a stream that is not there) is raised as a
:class:`MyosemError` whose message names the thing and the problem; the CLI prints it without a traceback.
"""

from __future__ import annotations


class MyosemError(Exception):
    """A user-facing error: ``str(err)`` is one line naming the thing and the problem."""

    exit_code = 2


class RecordingError(MyosemError):
    """A recording file cannot be read or fails validation."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class ConfigError(MyosemError):
    """config.yaml or a command-line option has an invalid value."""


class StreamError(MyosemError):
    """An LSL stream cannot be found, opened or used."""


class OutputClosed(MyosemError):
    """The reader of an output went away (a closed pipe): the command stops, saying so in one line."""

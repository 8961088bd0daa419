"""Subcommands of the ``myosem`` CLI (see :mod:`myosem_rt.cli`)."""

from __future__ import annotations

import importlib

from myosem_rt.errors import ConfigError


def require_train_extra(what: str, module: str = "torch") -> None:
    """One line, exit 2, instead of a traceback when a command that trains or plots runs in a venv made
    without the ``train`` extra (``./myosem`` installs only ``gui`` unless told)."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{what} needs the train extra ({module} is not installed): run it as "
                          f"MYOSEM_EXTRAS=gui,train ./myosem ..., or pip install -e '.[train]'") from None

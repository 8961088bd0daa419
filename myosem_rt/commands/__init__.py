"""Subcommands of the ``myosem`` CLI (see :mod:`myosem_rt.cli`)."""

"""config.yaml: packaged defaults overlaid with a user file, with unknown keys rejected."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from myosem_rt.errors import ConfigError

#: The documented defaults (the repository's top-level config.yaml, shipped inside the package).
DEFAULT_CONFIG_PATH = Path(__file__).with_name("config.yaml")

Config = dict[str, Any]


def _read_yaml(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


#: Sections whose keys are names rather than settings: a user file may add new ones.
OPEN_SECTIONS = {"datasets."}


def _overlay(base: Config, user: Config, source: Path, prefix: str = "") -> None:
    for key, value in user.items():
        dotted = f"{prefix}{key}"
        if key not in base and prefix in OPEN_SECTIONS:
            base[key] = value
            continue
        if key not in base:
            raise ConfigError(f"{source}: unknown config key '{dotted}'")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{dotted}' must be a section (mapping)")
            _overlay(base[key], value, source, dotted + ".")
        else:
            _check_type(base[key], value, source, dotted)
            base[key] = value


def _check_type(default: Any, value: Any, source: Path, dotted: str) -> None:
    """A value of another kind than the default's is a one-line error naming the config key (``gui.fps:
    thirty`` used to surface as a traceback far from the file). Numbers take numbers (an int default also
    takes a float), booleans booleans, text text; ``null`` defaults and ``null`` values are free."""
    if default is None or value is None:
        return
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "text"
    elif isinstance(default, list):
        ok, kind = isinstance(value, list), "a list"
    else:
        return
    if not ok:
        raise ConfigError(f"{source}: config key '{dotted}' must be {kind}, got {value!r}")


_defaults_cache: Config | None = None


def default_config() -> Config:
    """A fresh copy of the packaged defaults."""
    global _defaults_cache
    if _defaults_cache is None:
        _defaults_cache = _read_yaml(DEFAULT_CONFIG_PATH)
    return copy.deepcopy(_defaults_cache)


def load_config(path: str | Path | None = None) -> Config:
    """Defaults overlaid with ``path`` (if given). Raises :class:`ConfigError` naming the bad key."""
    config = default_config()
    if path is not None:
        path = Path(path)
        _overlay(config, _read_yaml(path), path)
    return config

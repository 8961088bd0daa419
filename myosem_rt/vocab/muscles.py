"""The muscle-group table of the action catalogue (``muscles.yaml``): an action as a vector of the forearm
muscle groups it drives, for held-out-class retrieval by anatomy as well as by wording (the file says why).
Every schema violation is a one-line :class:`~myosem_rt.errors.ConfigError` naming the file."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from myosem_rt.errors import ConfigError
from myosem_rt.vocab import MUSCLES_PATH, load_actions


@dataclass(frozen=True)
class MuscleTable:
    groups: tuple[str, ...]  #: the vector's axes, in file order
    actions: dict[str, np.ndarray]  #: action id -> (len(groups),) activations in [0, 1]

    def vectors(self, actions: list[str]) -> np.ndarray | None:
        """(len(actions), G) for these actions, or None when one of them has no entry."""
        if any(a not in self.actions for a in actions):
            return None
        return np.stack([self.actions[a] for a in actions])


@lru_cache(maxsize=4)
def load_muscles(path: Path = MUSCLES_PATH) -> MuscleTable:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the muscle table ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("groups"), dict) or not isinstance(
            raw.get("actions"), dict):
        raise ConfigError(f"{path}: needs mappings 'groups' (name: description) and 'actions'")
    groups = tuple(str(g) for g in raw["groups"])
    known = set(load_actions())
    table: dict[str, np.ndarray] = {}
    for action, entry in raw["actions"].items():
        if action not in known:
            raise ConfigError(f"{path}: action {action!r} is not in the action catalogue")
        if not isinstance(entry, dict) or not entry:
            raise ConfigError(f"{path}: action {action!r} needs a mapping group: activation")
        bad = sorted(set(map(str, entry)) - set(groups))
        if bad:
            raise ConfigError(f"{path}: action {action!r} names unknown group(s) {', '.join(bad)}")
        values = {str(g): v for g, v in entry.items()}
        numbers = [v for v in values.values() if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) != len(values) or any(not 0 <= v <= 1 for v in numbers):
            raise ConfigError(f"{path}: action {action!r}: activations must be numbers in [0, 1]")
        table[str(action)] = np.array([float(values.get(g, 0.0)) for g in groups])
    return MuscleTable(groups, table)

"""Class descriptions as data: the action catalogue and the per-dataset vocabularies (runtime, no torch).

Why data, not code: the text views of a class (T0 label, T1 process, T2 canonical, T3 paraphrases) are what
the text encoder is trained on and what the runtime ranks against, so they must be reviewable and editable
without touching Python, and the same meaning must never be written twice.

Layout (all in this package directory):

- ``actions.yaml`` — the catalogue of meanings: each shared action id (``hand_close``) with its ``t1``,
  ``t2`` and ``t3`` (>= 3 everyday paraphrases).
- ``muscles.yaml`` — which forearm muscle groups each action uses (:mod:`myosem_rt.vocab.muscles`).
- ``<name>.yaml`` — one vocabulary per dataset: ``name``, ``dataset``, optional ``aliases`` (other
  spellings of the dataset name, for :func:`vocabulary_for_dataset`) and ``classes``, a mapping ``class id
  -> {action, label[, t3]}`` where ``label`` is the T0 as the dataset names it and the optional ``t3`` adds
  dataset-specific paraphrases after the action's own. A vocabulary file may name another catalogue with
  ``actions_file`` (relative to itself); the packaged ``actions.yaml`` is the default.

Every schema violation raises :class:`~myosem_rt.errors.ConfigError`: one line naming the file and problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from myosem_rt.errors import ConfigError

VOCAB_DIR = Path(__file__).resolve().parent
ACTIONS_PATH = VOCAB_DIR / "actions.yaml"
MUSCLES_PATH = VOCAB_DIR / "muscles.yaml"  #: muscle groups per action (myosem_rt.vocab.muscles)
MIN_PARAPHRASES = 3
VIEWS = ("t0", "t1", "t2", "t3")

_ACTION_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_ACTION_KEYS = {"t1", "t2", "t3"}
_VOCAB_KEYS = {"name", "dataset", "aliases", "actions_file", "classes"}
_CLASS_KEYS = {"action", "label", "t3"}


@dataclass(frozen=True)
class Action:
    """One shared meaning from ``actions.yaml``."""

    action: str
    t1: str
    t2: str
    t3: tuple[str, ...]


@dataclass(frozen=True)
class ClassText:
    """All text views of one dataset class."""

    class_id: int  #: the dataset's class id (as in the recordings' labels / NinaPro global id)
    action: str  #: shared action id; the same action in two datasets has the same id
    t0: str  #: short label as the dataset names it
    t1: str  #: process description: how the action unfolds
    t2: str  #: canonical description
    t3: tuple[str, ...]  #: >= 3 everyday paraphrases


@dataclass(frozen=True)
class Vocabulary:
    """The classes of one dataset with their texts, sorted by class id."""

    name: str
    dataset: str
    classes: tuple[ClassText, ...]
    aliases: tuple[str, ...] = ()
    path: Path | None = None

    def by_id(self, class_id: int) -> ClassText:
        """The class with this id; ``KeyError`` naming the vocabulary if there is none."""
        for cls in self.classes:
            if cls.class_id == int(class_id):
                return cls
        raise KeyError(f"vocabulary '{self.name}' has no class id {class_id}")

    @property
    def class_ids(self) -> tuple[int, ...]:
        return tuple(c.class_id for c in self.classes)

    def views(self) -> dict[str, list[str]]:
        """One list per view, aligned with :attr:`classes`.

        ``t3`` holds each class's first (primary) paraphrase so that every list has one entry per class; use
        :attr:`ClassText.t3` for all paraphrases.
        """
        return {
            "t0": [c.t0 for c in self.classes],
            "t1": [c.t1 for c in self.classes],
            "t2": [c.t2 for c in self.classes],
            "t3": [c.t3[0] for c in self.classes],
        }

    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self) -> Iterator[ClassText]:
        return iter(self.classes)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (plain PyYAML keeps the last one silently)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read vocabulary file ({exc.strerror or exc})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or "not valid YAML"
        raise ConfigError(f"{path}: {problem}{where}") from None
    except yaml.YAMLError:
        raise ConfigError(f"{path}: not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _text(path: Path, where: str, value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {where}: '{key}' must be a non-empty string")
    return " ".join(value.split())


def _paraphrases(path: Path, where: str, value: object, minimum: int) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{path}: {where}: 't3' must be a list of paraphrases")
    items = tuple(_text(path, where, item, "t3") for item in value)
    if len(items) < minimum:
        raise ConfigError(f"{path}: {where}: 't3' has {len(items)} paraphrases, needs at least {minimum}")
    if len({i.lower() for i in items}) != len(items):
        raise ConfigError(f"{path}: {where}: 't3' repeats a paraphrase")
    return items


def _check_keys(path: Path, where: str, entry: object, allowed: set[str], required: set[str]) -> dict:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {where}: expected a mapping")
    unknown = sorted(str(k) for k in entry if k not in allowed)
    if unknown:
        raise ConfigError(f"{path}: {where}: unknown key '{unknown[0]}'")
    missing = sorted(required - set(entry))
    if missing:
        raise ConfigError(f"{path}: {where}: missing '{missing[0]}'")
    return entry


@lru_cache(maxsize=8)
def _load_actions_cached(path: Path) -> dict[str, Action]:
    data = _check_keys(path, "top level", _read_yaml(path), {"actions"}, {"actions"})
    entries = data["actions"]
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{path}: 'actions' must be a non-empty mapping of action id -> texts")
    actions: dict[str, Action] = {}
    by_t2: dict[str, str] = {}
    for action_id, entry in entries.items():
        if not isinstance(action_id, str) or not _ACTION_ID.match(action_id):
            raise ConfigError(f"{path}: action id {action_id!r} must be lower_snake_case")
        where = f"action '{action_id}'"
        _check_keys(path, where, entry, _ACTION_KEYS, _ACTION_KEYS)
        action = Action(
            action=action_id,
            t1=_text(path, where, entry["t1"], "t1"),
            t2=_text(path, where, entry["t2"], "t2"),
            t3=_paraphrases(path, where, entry["t3"], MIN_PARAPHRASES),
        )
        other = by_t2.setdefault(action.t2.lower(), action_id)
        if other != action_id:
            raise ConfigError(f"{path}: {where}: 't2' is the same as action '{other}'")
        actions[action_id] = action
    return actions


def load_actions(path: str | Path = ACTIONS_PATH) -> dict[str, Action]:
    """The action catalogue (default: the packaged ``actions.yaml``), validated."""
    return _load_actions_cached(Path(path).resolve())


def _vocab_path(name_or_path: str | Path) -> Path:
    if isinstance(name_or_path, str) and name_or_path in list_vocabularies():
        return VOCAB_DIR / f"{name_or_path}.yaml"
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        known = ", ".join(list_vocabularies())
        raise ConfigError(f"{name_or_path}: unknown vocabulary (known: {known}; or give a .yaml path)")
    return path.resolve()


def _parse_class(path: Path, class_id: object, entry: object, actions: dict[str, Action]) -> ClassText:
    if isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 0:
        raise ConfigError(f"{path}: class id {class_id!r} must be a non-negative integer")
    where = f"class {class_id}"
    entry = _check_keys(path, where, entry, _CLASS_KEYS, {"action", "label"})
    action_id = _text(path, where, entry["action"], "action")
    if action_id not in actions:
        raise ConfigError(f"{path}: {where}: unknown action '{action_id}' (not in the action catalogue)")
    action = actions[action_id]
    extra = _paraphrases(path, where, entry["t3"], 1) if "t3" in entry else ()
    seen = {p.lower() for p in action.t3}
    t3 = action.t3 + tuple(p for p in extra if p.lower() not in seen)
    label = _text(path, where, entry["label"], "label")
    return ClassText(class_id, action_id, label, action.t1, action.t2, t3)


@lru_cache(maxsize=32)
def _load_vocabulary_cached(path: Path) -> Vocabulary:
    data = _check_keys(path, "top level", _read_yaml(path), _VOCAB_KEYS, {"name", "dataset", "classes"})
    name = _text(path, "top level", data["name"], "name")
    dataset = _text(path, "top level", data["dataset"], "dataset")
    aliases = data.get("aliases", [])
    if not isinstance(aliases, list):
        raise ConfigError(f"{path}: 'aliases' must be a list of dataset names")
    aliases = tuple(_text(path, "aliases", a, "aliases") for a in aliases)
    actions_path = ACTIONS_PATH
    if "actions_file" in data:
        actions_path = path.parent / _text(path, "top level", data["actions_file"], "actions_file")
    actions = load_actions(actions_path)
    entries = data["classes"]
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{path}: 'classes' must be a non-empty mapping of class id -> {{action, label}}")
    classes = sorted(
        (_parse_class(path, cid, entry, actions) for cid, entry in entries.items()), key=lambda c: c.class_id
    )
    return Vocabulary(name, dataset, tuple(classes), aliases, path)


def load_vocabulary(name_or_path: str | Path) -> Vocabulary:
    """A packaged vocabulary by name (``"3dc"``) or any vocabulary file by path, validated."""
    return _load_vocabulary_cached(_vocab_path(name_or_path))


def list_vocabularies() -> list[str]:
    """Names of the packaged vocabularies (every ``*.yaml`` here except the action catalogue and its muscle
    table)."""
    return sorted(p.stem for p in VOCAB_DIR.glob("*.yaml") if p not in (ACTIONS_PATH, MUSCLES_PATH))


def action_labels() -> dict[str, list[str]]:
    """Every short name of each catalogue action: its id in words and each packaged vocabulary's label for
    it (T0), sorted. What a wearer typing a gesture's name rather than a sentence most often writes."""
    labels: dict[str, set[str]] = {a: {a.replace("_", " ")} for a in load_actions()}
    for name in list_vocabularies():
        for c in load_vocabulary(name).classes:
            labels.setdefault(c.action, set()).add(c.t0.replace("_", " "))
    return {a: sorted(names) for a, names in labels.items()}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def vocabulary_for_dataset(dataset: str) -> Vocabulary:
    """The packaged vocabulary whose name, ``dataset`` or ``aliases`` match (case/punctuation ignored)."""
    for name in list_vocabularies():
        vocab = load_vocabulary(name)
        if describes(vocab, dataset):
            return vocab
    raise ConfigError(
        f"dataset '{dataset}': no vocabulary describes it (known: {', '.join(list_vocabularies())})"
    )


def class_map(source: Vocabulary, target: Vocabulary) -> dict[int, int]:
    """Class id in ``source`` -> class id in ``target`` describing the same shared action.

    Why by action: two datasets number their classes independently, but a class's meaning is its action id
    (``hand_close``), so recordings of both can train and test one model (e.g. the ``myo`` vocabulary).
    :class:`ConfigError` names the first source class whose action the target lacks.
    """
    by_action = {c.action: c.class_id for c in target.classes}
    mapping = {}
    for c in source.classes:
        if c.action not in by_action:
            raise ConfigError(f"vocabulary '{target.name}' has no class for {source.name} class {c.class_id} "
                              f"'{c.t0}' (action {c.action})")
        mapping[c.class_id] = by_action[c.action]
    return mapping


def describes(vocab: Vocabulary, dataset: str) -> bool:
    """True when ``dataset`` is this vocabulary's own dataset (name, ``dataset`` or an alias)."""
    return _norm(dataset) in {_norm(n) for n in (vocab.name, vocab.dataset, *vocab.aliases)}


__all__ = [
    "ACTIONS_PATH",
    "Action",
    "ClassText",
    "Vocabulary",
    "class_map",
    "describes",
    "list_vocabularies",
    "load_actions",
    "load_vocabulary",
    "vocabulary_for_dataset",
]

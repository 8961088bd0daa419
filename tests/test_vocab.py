"""Vocabulary files: schema of every packaged YAML, cross-dataset sharing rules, loader errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from myosem_rt.errors import ConfigError
from myosem_rt.recordings.ninapro import DB1_MOVEMENTS, DB2_MOVEMENTS
from myosem_rt.vocab import (
    ACTIONS_PATH,
    MIN_PARAPHRASES,
    action_labels,
    list_vocabularies,
    load_actions,
    load_vocabulary,
    vocabulary_for_dataset,
)

EXPECTED = {"3dc", "myo", "myodisco", "ciil", "scheme_englehart", "ninapro_db2", "ninapro_db1"}
VOCABS = sorted(EXPECTED)


def test_packaged_vocabularies_are_the_expected_set() -> None:
    assert set(list_vocabularies()) == EXPECTED


@pytest.mark.parametrize("name", VOCABS)
def test_every_class_has_all_four_views(name: str) -> None:
    vocab = load_vocabulary(name)
    assert vocab.name == name and vocab.dataset.strip()
    ids = [c.class_id for c in vocab.classes]
    assert ids == sorted(set(ids)), "class ids must be unique and sorted"
    assert ids[0] == 0 and vocab.by_id(0).action == "rest", "class 0 is rest in every dataset here"
    for cls in vocab.classes:
        for text in (cls.t0, cls.t1, cls.t2, *cls.t3):
            assert isinstance(text, str) and text.strip() and "\n" not in text
        assert len(cls.t3) >= MIN_PARAPHRASES
        assert vocab.by_id(cls.class_id) is cls
    views = vocab.views()
    assert set(views) == {"t0", "t1", "t2", "t3"}
    assert all(len(texts) == len(vocab) for texts in views.values())


def test_each_yaml_has_a_header_comment() -> None:
    for path in [ACTIONS_PATH, *(ACTIONS_PATH.parent / f"{n}.yaml" for n in VOCABS)]:
        assert path.read_text(encoding="utf-8").startswith("# "), path


def test_every_action_is_used_and_every_reference_exists() -> None:
    actions = load_actions()
    used = {cls.action for name in VOCABS for cls in load_vocabulary(name).classes}
    assert used <= set(actions)
    assert set(actions) - used == set(), "actions.yaml has actions no vocabulary uses"


def test_actions_are_distinguishable() -> None:
    actions = load_actions().values()
    for view in ("t1", "t2"):
        texts = [getattr(a, view).lower() for a in actions]
        assert len(set(texts)) == len(texts), f"two actions share a {view}"
    owner: dict[str, str] = {}
    for action in actions:
        assert len(action.t3) >= MIN_PARAPHRASES
        for phrase in action.t3:
            other = owner.setdefault(phrase.lower(), action.action)
            assert other == action.action, f"paraphrase {phrase!r} belongs to {other} and {action.action}"


@pytest.mark.parametrize(("name", "names"), [("ninapro_db2", DB2_MOVEMENTS), ("ninapro_db1", DB1_MOVEMENTS)])
def test_ninapro_labels_equal_the_reader_names(name: str, names: dict[int, str]) -> None:
    vocab = load_vocabulary(name)
    assert {c.class_id: c.t0 for c in vocab.classes} == names


def test_ninapro_db1_and_db2_share_actions_for_the_same_movements() -> None:
    db1, db2 = load_vocabulary("ninapro_db1"), load_vocabulary("ninapro_db2")
    # DB1 exercises B and C (13..52) are DB2 exercises B and C (1..40).
    for db2_id in range(1, 41):
        assert db1.by_id(db2_id + 12).action == db2.by_id(db2_id).action
    assert db1.by_id(13).t1 == db2.by_id(1).t1  # "thumb up"
    # DB2 exercise D force patterns share DB1 exercise A single-finger actions.
    assert db2.by_id(44).action == db1.by_id(1).action == "index_flexion"
    assert db2.by_id(41).action == db1.by_id(7).action == "little_finger_flexion"


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("folder", "name"), [("3dc", "3dc"), ("myodisco", "myodisco"), ("ciil_shift", "ciil")]
)
def test_t0_equals_labels_json(data_dir: Path, folder: str, name: str) -> None:
    labels = json.loads((data_dir / folder / "labels.json").read_text(encoding="utf-8"))
    expected = {int(k): v for k, v in labels["classes"].items()}
    vocab = load_vocabulary(name)
    assert {c.class_id: c.t0 for c in vocab.classes} == expected
    assert vocabulary_for_dataset(labels["dataset"]) is vocab


def test_the_hand_close_classes_share_one_action() -> None:
    members = [("3dc", 7), ("myodisco", 5), ("ciil", 1), ("ninapro_db2", 6), ("ninapro_db1", 18)]
    classes = [load_vocabulary(name).by_id(cid) for name, cid in members]
    assert {c.action for c in classes} == {"hand_close"}
    assert len({(c.t1, c.t2) for c in classes}) == 1
    shared = load_actions()["hand_close"].t3
    assert all(c.t3[: len(shared)] == shared for c in classes)
    assert [c.t0 for c in classes[:3]] == ["Power Grip", "hand_close", "Hand_Close"], "own dataset labels"


def test_a_power_grasp_of_an_object_is_related_to_but_distinct_from_a_fist() -> None:
    grasp = load_vocabulary("ninapro_db2").by_id(19)
    assert grasp.t0 == "small diameter grasp (power grip)"
    assert grasp.action != "hand_close"
    assert "fist" in grasp.t1


def test_rest_labels_of_every_dataset_map_to_rest() -> None:
    labels = {load_vocabulary(name).by_id(0).t0 for name in VOCABS}
    assert labels == {"Neutral", "z_rest", "No_Motion", "no movement", "rest"}
    assert {load_vocabulary(name).by_id(0).action for name in VOCABS} == {"rest"}


def test_action_labels_name_every_action_by_its_id_and_every_dataset_label() -> None:
    labels = action_labels()
    assert set(load_actions()) <= set(labels)
    assert all(a.replace("_", " ") in names for a, names in labels.items())
    for name in VOCABS:
        for c in load_vocabulary(name).classes:
            assert c.t0.replace("_", " ") in labels[c.action], (name, c.class_id)
    assert {"Power Grip", "Hand Close", "hand close"} <= set(labels["hand_close"])
    assert "Power Grip" not in labels["hand_open"]


def test_dataset_specific_paraphrases_are_appended() -> None:
    power = load_vocabulary("3dc").by_id(7)
    plain = load_vocabulary("myodisco").by_id(5)
    assert power.t3[: len(plain.t3)] == plain.t3
    assert len(power.t3) > len(plain.t3)


@pytest.mark.parametrize(
    ("dataset", "name"),
    [
        ("3DC", "3dc"),
        ("MyoDisCo", "myodisco"),
        ("CIIL ElectrodeShift", "ciil"),
        ("CIIL", "ciil"),
        ("NinaPro-DB2", "ninapro_db2"),
        ("NinaPro-DB3", "ninapro_db2"),
        ("NinaPro-DB1", "ninapro_db1"),
    ],
)
def test_vocabulary_for_dataset(dataset: str, name: str) -> None:
    assert vocabulary_for_dataset(dataset).name == name


def test_unknown_dataset_and_name_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="no vocabulary"):
        vocabulary_for_dataset("NinaPro-DB9")
    with pytest.raises(ConfigError, match="unknown vocabulary"):
        load_vocabulary("nonsense")
    with pytest.raises(KeyError, match="no class id 99"):
        load_vocabulary("ciil").by_id(99)


ACTIONS_OK = """\
actions:
  rest:
    t1: Nothing moves.
    t2: Staying still.
    t3: [relax, do nothing, keep still]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("vocab_text", "actions_text", "problem"),
    [
        ("classes:\n  0: {action: rest}\n", ACTIONS_OK, "class 0: missing 'label'"),
        ("classes:\n  0: {action: hand_wave, label: Wave}\n", ACTIONS_OK, "unknown action 'hand_wave'"),
        (
            "classes:\n  0: {action: rest, label: A}\n  0: {action: rest, label: B}\n",
            ACTIONS_OK,
            "duplicate key 0 at line 6",
        ),
        ("classes:\n  0: {action: rest, label: ''}\n", ACTIONS_OK, "'label' must be a non-empty string"),
        (
            "classes:\n  x: {action: rest, label: A}\n",
            ACTIONS_OK,
            "class id 'x' must be a non-negative integer",
        ),
        ("classes:\n  0: {action: rest, label: A, t5: [b]}\n", ACTIONS_OK, "unknown key 't5'"),
        ("classes:\n  0: {action: rest, label: A\n", ACTIONS_OK, "at line"),
        ("classes: {}\n", ACTIONS_OK, "'classes' must be a non-empty mapping"),
        (
            "classes:\n  0: {action: rest, label: A}\n",
            ACTIONS_OK.replace("    t1: Nothing moves.\n", ""),
            "action 'rest': missing 't1'",
        ),
        (
            "classes:\n  0: {action: rest, label: A}\n",
            ACTIONS_OK.replace(", keep still", ""),
            "'t3' has 2 paraphrases, needs at least 3",
        ),
        (
            "classes:\n  0: {action: rest, label: A}\n",
            ACTIONS_OK + "  still:\n    t1: Also nothing.\n    t2: Staying still.\n    t3: [a, b, c]\n",
            "action 'still': 't2' is the same as action 'rest'",
        ),
    ],
)
def test_bad_yaml_gives_one_line_config_error_naming_file_and_problem(
    tmp_path: Path, vocab_text: str, actions_text: str, problem: str
) -> None:
    actions = _write(tmp_path, "actions_test.yaml", actions_text)
    header = f"name: broken\ndataset: Broken\nactions_file: {actions.name}\n"
    path = _write(tmp_path, "broken.yaml", header + vocab_text)
    with pytest.raises(ConfigError) as info:
        load_vocabulary(path)
    message = str(info.value)
    assert "\n" not in message
    assert problem in message
    assert str(tmp_path) in message  # names the vocabulary or the catalogue file


def test_valid_custom_vocabulary_loads_from_a_path(tmp_path: Path) -> None:
    actions = _write(tmp_path, "actions_test.yaml", ACTIONS_OK)
    text = f"name: mine\ndataset: Mine\nactions_file: {actions.name}\n"
    text += "classes:\n  3: {action: rest, label: Idle}\n"
    vocab = load_vocabulary(_write(tmp_path, "mine.yaml", text))
    assert vocab.by_id(3).t0 == "Idle" and vocab.by_id(3).t3 == ("relax", "do nothing", "keep still")


def test_vocab_package_does_not_import_torch() -> None:
    code = "import sys, myosem_rt.vocab, myosem_rt.vocab.glove; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

"""Anatomical prototypes for actions no one trained on (myosem_rt/anatomy.py): built from the trained
actions that drive the same muscles, mixed with the action's own text prototype."""

from __future__ import annotations

import numpy as np
import pytest

from myosem_rt.anatomy import anatomical_prototypes, anatomy_points


def test_a_new_action_lands_between_the_known_actions_that_share_its_muscles() -> None:
    protos = np.eye(4, 6, dtype=np.float32)  # four orthogonal prototypes
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=np.float64)  # 3: 0's + 1's
    known = np.array([True, True, True, False])
    points = anatomy_points(protos, vectors, known)
    np.testing.assert_allclose(points[3], (protos[0] + protos[1]) / np.sqrt(2), atol=1e-6)
    np.testing.assert_allclose(points[:3], protos[:3])  # the known ones stay where they are
    mixed = anatomical_prototypes(protos, vectors, known, weight=0.5)
    assert np.allclose(np.linalg.norm(mixed, axis=1), 1.0, atol=1e-6)
    assert mixed[3] @ protos[3] > 0 and mixed[3] @ protos[0] > 0  # between its text and its anatomy
    np.testing.assert_allclose(anatomical_prototypes(protos, vectors, known, weight=0.0), protos, atol=1e-6)


def test_an_action_whose_muscles_no_known_action_drives_keeps_its_text() -> None:
    protos = np.eye(3, 4, dtype=np.float32)
    vectors = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float64)  # action 2 uses a muscle no one else does
    known = np.array([True, True, False])
    np.testing.assert_allclose(anatomical_prototypes(protos, vectors, known, 1.0)[2], protos[2], atol=1e-6)
    with pytest.raises(ValueError, match="weight must be in"):
        anatomical_prototypes(protos, vectors, known, 1.5)


def test_ulnar_deviation_is_put_by_its_muscles_not_its_wording() -> None:
    """The shipped 3DC model's prototypes, ulnar deviation taken as new: by its wording it sits nearest
    radial deviation; by its muscles (flexor + extensor carpi ulnaris) between wrist flexion and
    extension."""
    from myosem_rt.model import MyoSemModel
    from myosem_rt.vocab.muscles import load_muscles

    model = MyoSemModel.load("3dc-armband")
    vectors = load_muscles().vectors(model.actions)
    assert vectors is not None
    col = {a: i for i, a in enumerate(model.actions)}
    new = col["wrist_ulnar_deviation"]
    known = np.arange(len(model.actions)) != new
    point = anatomy_points(model.prototypes, vectors, known)[new]
    sims = {a: float(point @ model.prototypes[i]) for a, i in col.items() if a != "wrist_ulnar_deviation"}
    assert max(sims, key=sims.get) in {"wrist_flexion", "wrist_extension"}
    assert sims["wrist_radial_deviation"] < min(sims["wrist_flexion"], sims["wrist_extension"])

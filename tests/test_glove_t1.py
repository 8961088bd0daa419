"""Glove-derived T1: constructed CyberGlove trajectories must be described by the joints that moved."""

from __future__ import annotations

import numpy as np
import pytest

from myosem_rt.vocab.glove import (
    INDEX,
    N_SENSORS,
    NO_MOTION,
    SENSORS,
    class_motion,
    describe_glove,
    describe_trial,
    sensor_range,
)

BASE = 60.0  # raw resting value of every sensor
FULL = 80.0  # raw change across a sensor's full range


def _sensors(*names: str) -> list[int]:
    return [INDEX[n] for n in names]


INDEX_MIDDLE = _sensors("index_mcp", "index_pip", "index_dip", "middle_mcp", "middle_pip", "middle_dip")
RING_LITTLE = _sensors("ring_mcp", "ring_pip", "ring_dip", "little_mcp", "little_pip", "little_dip")


def _trial(changes: dict[int, float], n: int = 400, noise: float = 0.5, seed: int = 0, ramp: bool = True):
    """A trial starting at rest, ramping (10%..25% of the trial) to rest + change, then holding."""
    rng = np.random.default_rng(seed)
    glove = BASE + rng.normal(0.0, noise, (n, N_SENSORS))
    shape = np.clip((np.arange(n) - 0.1 * n) / (0.15 * n), 0.0, 1.0) if ramp else np.ones(n)
    for sensor, change in changes.items():
        glove[:, sensor] += shape * change
    return glove


def _recording(classes: dict[int, dict[int, float]], reps: int = 3, ramp: bool = True):
    """rest, class 1, rest, class 2, ... repeated, after one full excursion of every sensor (class 99)."""
    parts, labels = [], []
    sweep = {s: FULL for s in range(N_SENSORS)}
    plan = [(99, sweep)] + [(cid, ch) for _ in range(reps) for cid, ch in classes.items()]
    for i, (cid, changes) in enumerate(plan):
        parts.append(_trial({}, n=200, seed=1000 + i))
        labels.append(np.zeros(200, dtype=int))
        parts.append(_trial(changes, seed=i, ramp=ramp))
        labels.append(np.full(400, cid))
    return np.concatenate(parts), np.concatenate(labels)


def test_sensor_layout_is_the_cyberglove_22_order() -> None:
    names = [name for name, _ in SENSORS]
    assert len(names) == N_SENSORS == len(set(names))
    assert names[:4] == ["thumb_rotation", "thumb_mcp", "thumb_ip", "thumb_index_abduction"]
    assert names[4:7] == ["index_mcp", "index_pip", "index_dip"]
    assert names[-3:] == ["palm_arch", "wrist_pitch", "wrist_yaw"]


def test_index_and_middle_flexion_names_those_fingers_and_not_the_ring() -> None:
    text = describe_trial(_trial({s: FULL for s in INDEX_MIDDLE}))
    assert "index and middle fingers flex" in text
    assert "ring" not in text and "little" not in text
    assert "the other fingers stay still" in text
    assert "thumb stays still" in text and "wrist does not move" in text
    assert "Final shape: index and middle fingers curled" in text


def test_wrist_pitch_only_trial_mentions_wrist_flexion_or_extension() -> None:
    flexed = describe_trial(_trial({INDEX["wrist_pitch"]: FULL}))
    extended = describe_trial(_trial({INDEX["wrist_pitch"]: -FULL}))
    assert "wrist flexes" in flexed and "toward the palm" in flexed
    assert "wrist extends" in extended and "bending back" in extended
    for text in (flexed, extended):
        assert "fingers stay still" in text and "thumb stays still" in text


def test_no_motion_trial_says_no_joint_moves() -> None:
    assert describe_trial(_trial({})) == NO_MOTION
    glove, label = _recording({1: {s: FULL for s in INDEX_MIDDLE}, 2: {}})
    assert describe_glove(glove, label, 2) == NO_MOTION
    assert describe_glove(glove, label, 1) != NO_MOTION


def test_opposite_finger_groups_and_joint_location() -> None:
    changes = {s: -0.5 * FULL for s in INDEX_MIDDLE} | {s: FULL for s in RING_LITTLE}
    glove, label = _recording({1: changes})
    text = describe_glove(glove, label, 1)
    assert "index and middle fingers extend" in text
    assert "ring and little fingers flex strongly" in text
    knuckles = describe_trial(_trial({INDEX["index_mcp"]: FULL}))
    assert "index finger flexes strongly at the knuckles" in knuckles
    hook = {
        s: FULL
        for s in _sensors(
            *(f"{f}_{j}" for f in ("index", "middle", "ring", "little") for j in ("pip", "dip"))
        )
    }
    text = describe_trial(_trial(hook))
    assert text.startswith("All four fingers flex strongly at the middle and end joints")


def test_amount_is_graded_by_the_recording_range() -> None:
    glove, label = _recording({1: {INDEX["index_mcp"]: 0.2 * FULL}, 2: {INDEX["index_mcp"]: 0.9 * FULL}})
    assert "index finger flexes slightly" in describe_glove(glove, label, 1)
    assert "index finger flexes strongly" in describe_glove(glove, label, 2)
    scaled = glove.copy()
    scaled[:, INDEX["index_mcp"]] *= 100.0  # a sensor with another raw scale reads the same
    assert describe_glove(scaled, label, 1) == describe_glove(glove, label, 1)


def test_thumb_and_spread_are_described() -> None:
    thumb = describe_trial(_trial({INDEX["thumb_mcp"]: FULL, INDEX["thumb_ip"]: FULL}))
    assert "the thumb flexes strongly" in thumb and "fingers stay still" in thumb
    abducted = describe_trial(_trial({INDEX["thumb_index_abduction"]: FULL}))
    assert "moves strongly away from the index finger" in abducted
    spread = _sensors("middle_index_abduction", "ring_middle_abduction", "little_ring_abduction")
    assert "the fingers spread apart" in describe_trial(_trial({s: FULL for s in spread}))


def test_rest_posture_comes_from_the_preceding_rest() -> None:
    # Trials that are already at the hold posture from their first sample: only the rest run before them
    # shows where the hand started.
    glove, label = _recording({1: {s: FULL for s in INDEX_MIDDLE}}, ramp=False)
    assert "index and middle fingers flex" in describe_glove(glove, label, 1)
    motion = class_motion(glove, label, 1)
    assert motion.n_trials == 3
    assert np.all(motion.delta[INDEX_MIDDLE] > 0.8)
    assert np.all(np.abs(np.delete(motion.delta, INDEX_MIDDLE)) < 0.05)


def test_bad_input_raises_value_error() -> None:
    with pytest.raises(ValueError, match="T x 22"):
        describe_trial(np.zeros((10, 18)))
    glove, label = _recording({1: {}})
    with pytest.raises(ValueError, match="class 7 has no samples"):
        describe_glove(glove, label, 7)
    with pytest.raises(ValueError, match="label has"):
        describe_glove(glove, label[:-1], 1)
    lo, hi = sensor_range(glove)
    assert np.all(hi - lo > 0.9 * FULL)

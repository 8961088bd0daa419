"""Process descriptions (T1) derived from CyberGlove joint trajectories (numpy only).

Why: the hand-written T1 texts in ``actions.yaml`` say how a movement *should* unfold; NinaPro DB1/DB2/DB3
also record how each subject's hand *did* move (``glove``, T x 22 raw CyberGlove II values). Comparing the
rest posture with the hold posture of a class's trials gives a data-derived T1 ("the index and middle
fingers flex at the knuckles while the other fingers stay still; ...") usable as an extra text view.

Sensor layout (``SENSORS``, 0-based column order of the 22 values): the CyberGlove II 22-sensor order of the
CyberGlove reference manual (sensor table), as implemented byte for byte in YARP's CyberGlove device driver
(``_fillDataStructure``: thumb rotation, thumb MCP, thumb IP, thumb-index abduction, index MCP/PIP/DIP,
middle MCP/PIP/DIP, middle-index abduction, ring MCP/PIP/DIP, ring-middle abduction, little MCP/PIP/DIP,
little-ring abduction, palm arch, wrist pitch, wrist yaw) and by libglove's ``CyberGlove::Sensor`` enum
(same order, padded to 24 slots). NinaPro stores the glove's 22 values as the device delivers them (Atzori
et al., Sci. Data 2014: "22 raw CyberGlove II values"); no NinaPro-specific reordering is documented.

Sign assumptions (raw values are uncalibrated; not yet checked against NinaPro recordings, so flip ``SIGN``
if e.g. wrist flexion vs extension trials show otherwise): for the flexion sensors (finger MCP/PIP/DIP,
thumb MCP/IP) and wrist pitch, larger = more flexion; for the abduction sensors, larger = wider spread;
thumb rotation larger = rotated further across the palm; palm arch larger = more cupped; wrist yaw larger =
toward the little-finger (ulnar) side.

Normalisation: each sensor's change is divided by its range across the whole recording (1st-99th
percentile), so 1.0 means "moved across this subject's full range of that joint".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_SENSORS = 22

#: (name, kind) per column. Kinds: flex, abduction, thumb_roll, palm_arch, wrist_pitch, wrist_yaw.
SENSORS: tuple[tuple[str, str], ...] = (
    ("thumb_rotation", "thumb_roll"),
    ("thumb_mcp", "flex"),
    ("thumb_ip", "flex"),
    ("thumb_index_abduction", "abduction"),
    ("index_mcp", "flex"),
    ("index_pip", "flex"),
    ("index_dip", "flex"),
    ("middle_mcp", "flex"),
    ("middle_pip", "flex"),
    ("middle_dip", "flex"),
    ("middle_index_abduction", "abduction"),
    ("ring_mcp", "flex"),
    ("ring_pip", "flex"),
    ("ring_dip", "flex"),
    ("ring_middle_abduction", "abduction"),
    ("little_mcp", "flex"),
    ("little_pip", "flex"),
    ("little_dip", "flex"),
    ("little_ring_abduction", "abduction"),
    ("palm_arch", "palm_arch"),
    ("wrist_pitch", "wrist_pitch"),
    ("wrist_yaw", "wrist_yaw"),
)
INDEX = {name: i for i, (name, _) in enumerate(SENSORS)}
#: +1 where a larger raw value means the direction named in the module docstring; flip to -1 to correct.
SIGN = np.ones(N_SENSORS)

FINGERS = ("index", "middle", "ring", "little")
NOTABLE = 0.15  #: normalised change below this counts as "does not move"
SLIGHT, STRONG = 0.3, 0.6  #: below SLIGHT: "slightly"; at or above STRONG: "strongly"
NO_MOTION = "No joint moves notably: the fingers, thumb and wrist keep their resting posture."


@dataclass(frozen=True)
class GloveMotion:
    """How a trial (or the median trial of a class) moved, per sensor, after :data:`SIGN` correction."""

    delta: np.ndarray  #: (22,) hold minus rest, divided by the sensor's range in the recording
    hold: np.ndarray  #: (22,) hold posture as a fraction of the sensor's range (0 = low end, 1 = high end)
    n_trials: int = 1


def _check_glove(glove: np.ndarray) -> np.ndarray:
    glove = np.asarray(glove, dtype=np.float64)
    if glove.ndim != 2 or glove.shape[1] != N_SENSORS or glove.shape[0] == 0:
        raise ValueError(f"glove must be T x {N_SENSORS} with T > 0, got shape {glove.shape}")
    return glove


def sensor_range(glove: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sensor (low, high): the 1st and 99th percentiles across the recording (robust to glitches)."""
    lo, hi = np.percentile(_check_glove(glove), [1.0, 99.0], axis=0)
    return lo, hi


def trial_motion(
    trial: np.ndarray,
    rest: np.ndarray | None = None,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
) -> GloveMotion:
    """Motion of one trial: hold posture (median of the middle 50%) minus rest posture.

    ``rest`` is the rest posture (22,), e.g. the median of the preceding rest samples; without it the median
    of the trial's first ~10% is used. ``lo``/``hi`` are the recording's sensor range (default: the trial's
    own range).
    """
    trial = _check_glove(trial)
    n = trial.shape[0]
    if rest is None:
        rest = np.median(trial[: max(1, n // 10)], axis=0)
    if lo is None or hi is None:
        lo, hi = sensor_range(trial)
    quarter = n // 4
    hold = np.median(trial[quarter : n - quarter] if n - 2 * quarter > 0 else trial, axis=0)
    span = np.asarray(hi, dtype=np.float64) - np.asarray(lo, dtype=np.float64)
    moving = span > 1e-9
    safe = np.where(moving, span, 1.0)
    delta = np.where(moving, (hold - np.asarray(rest, dtype=np.float64)) / safe, 0.0) * SIGN
    position = np.clip(np.where(moving, (hold - lo) / safe, 0.5), 0.0, 1.0)
    position = np.where(SIGN < 0, 1.0 - position, position)
    return GloveMotion(delta=delta, hold=position)


def _runs(label: np.ndarray) -> list[tuple[int, int, int]]:
    change = np.flatnonzero(np.diff(label) != 0) + 1
    bounds = np.concatenate(([0], change, [label.shape[0]]))
    return [(int(a), int(b), int(label[a])) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def class_motion(glove: np.ndarray, label: np.ndarray, class_id: int, rest_id: int = 0) -> GloveMotion:
    """Median motion over every trial of ``class_id`` in a recording.

    A trial's rest posture is the median of the second half of the rest run (label ``rest_id``) right before
    it, where there is one; otherwise the trial's first ~10%.
    """
    glove = _check_glove(glove)
    label = np.asarray(label).reshape(-1)
    if label.shape[0] != glove.shape[0]:
        raise ValueError(f"label has {label.shape[0]} samples, glove has {glove.shape[0]}")
    lo, hi = sensor_range(glove)
    runs = _runs(label)
    motions = []
    for i, (a, b, cid) in enumerate(runs):
        if cid != int(class_id):
            continue
        rest = None
        if i > 0 and runs[i - 1][2] == rest_id and cid != rest_id:
            ra, rb, _ = runs[i - 1]
            rest = np.median(glove[(ra + rb) // 2 : rb], axis=0)
        motions.append(trial_motion(glove[a:b], rest, lo, hi))
    if not motions:
        raise ValueError(f"class {class_id} has no samples in this recording")
    return GloveMotion(
        delta=np.median([m.delta for m in motions], axis=0),
        hold=np.median([m.hold for m in motions], axis=0),
        n_trials=len(motions),
    )


def _degree(amount: float) -> str:
    size = abs(amount)
    return " slightly" if size < SLIGHT else " strongly" if size >= STRONG else ""


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _fingers(names: list[str], article: bool = True) -> str:
    if len(names) == len(FINGERS):
        return "all four fingers" if article else "all fingers"
    return ("the " if article else "") + f"{_join(names)} finger" + ("s" if len(names) > 1 else "")


def _finger_pattern(d: np.ndarray, finger: str) -> tuple[int, str, str] | None:
    """(direction +1 flex / -1 extend, degree word, where) for one finger, or None if it stays still."""
    mcp = d[INDEX[f"{finger}_mcp"]]
    ip = (d[INDEX[f"{finger}_pip"]] + d[INDEX[f"{finger}_dip"]]) / 2
    main = mcp if abs(mcp) >= abs(ip) else ip
    if abs(main) < NOTABLE:
        return None
    direction = 1 if main > 0 else -1
    if abs(mcp) >= NOTABLE and abs(ip) >= NOTABLE and np.sign(mcp) != np.sign(ip):
        other = "extend" if ip < 0 else "flex"
        where = f" at the knuckles while the middle and end joints {other}"
        direction = 1 if mcp > 0 else -1
    elif abs(ip) < NOTABLE / 2 or abs(mcp) >= 2 * abs(ip):
        where = " at the knuckles"
    elif abs(mcp) < NOTABLE / 2 or abs(ip) >= 2 * abs(mcp):
        where = " at the middle and end joints"
    else:
        where = ""
    return direction, _degree(main), where


def _finger_clauses(d: np.ndarray) -> tuple[list[str], list[str]]:
    groups: dict[tuple[int, str, str], list[str]] = {}
    for finger in FINGERS:
        pattern = _finger_pattern(d, finger)
        if pattern is not None:
            groups.setdefault(pattern, []).append(finger)
    clauses = []
    for (direction, degree, where), names in groups.items():
        plural = len(names) > 1
        verb = ("flex" if direction > 0 else "extend") + ("" if plural else "es" if direction > 0 else "s")
        clauses.append(f"{_fingers(names)} {verb}{degree}{where}")
    moved = [f for names in groups.values() for f in names]
    return clauses, moved


def _thumb_clause(d: np.ndarray) -> str | None:
    flex = (d[INDEX["thumb_mcp"]] + d[INDEX["thumb_ip"]]) / 2
    roll, abd = d[INDEX["thumb_rotation"]], d[INDEX["thumb_index_abduction"]]
    parts = []
    if abs(flex) >= NOTABLE:
        parts.append(("flexes" if flex > 0 else "extends") + _degree(flex))
    if abs(roll) >= NOTABLE:
        parts.append(
            "rotates" + _degree(roll) + (" across the palm" if roll > 0 else " back away from the palm")
        )
    if abs(abd) >= NOTABLE:
        parts.append("moves" + _degree(abd) + (" away from" if abd > 0 else " toward") + " the index finger")
    return f"the thumb {_join(parts)}" if parts else None


def _hand_clauses(d: np.ndarray) -> list[str]:
    clauses = []
    spread = float(
        np.mean(
            d[
                [
                    INDEX["middle_index_abduction"],
                    INDEX["ring_middle_abduction"],
                    INDEX["little_ring_abduction"],
                ]
            ]
        )
    )
    if abs(spread) >= NOTABLE:
        clauses.append(
            "the fingers" + (" spread apart" if spread > 0 else " close together sideways") + _degree(spread)
        )
    arch = d[INDEX["palm_arch"]]
    if abs(arch) >= NOTABLE:
        clauses.append("the palm" + (" cups" if arch > 0 else " flattens") + _degree(arch))
    return clauses


def _wrist_clause(d: np.ndarray) -> str | None:
    pitch, yaw = d[INDEX["wrist_pitch"]], d[INDEX["wrist_yaw"]]
    parts = []
    if abs(pitch) >= NOTABLE:
        parts.append(
            ("flexes" + _degree(pitch) + ", bending toward the palm")
            if pitch > 0
            else ("extends" + _degree(pitch) + ", bending back")
        )
    if abs(yaw) >= NOTABLE:
        side = "little-finger (ulnar)" if yaw > 0 else "thumb (radial)"
        parts.append(f"tilts{_degree(yaw)} toward the {side} side")
    return f"the wrist {_join(parts)}" if parts else None


def _shape_word(position: float) -> str:
    return "curled" if position >= 2 / 3 else "straight" if position <= 1 / 3 else "half bent"


def _final_shape(motion: GloveMotion, moved: list[str], thumb_moved: bool, wrist: str | None) -> str:
    by_shape: dict[str, list[str]] = {}
    for finger in moved:
        joints = [INDEX[f"{finger}_{j}"] for j in ("mcp", "pip", "dip")]
        by_shape.setdefault(_shape_word(float(np.mean(motion.hold[joints]))), []).append(finger)
    parts = [f"{_fingers(names, article=False)} {shape}" for shape, names in by_shape.items()]
    if thumb_moved:
        thumb = float(np.mean(motion.hold[[INDEX["thumb_mcp"], INDEX["thumb_ip"]]]))
        parts.append(f"thumb {_shape_word(thumb)}")
    if wrist is not None:
        pitch = motion.delta[INDEX["wrist_pitch"]]
        if abs(pitch) >= NOTABLE:
            parts.append("wrist bent toward the palm" if pitch > 0 else "wrist bent back")
        else:
            parts.append("wrist tilted sideways")
    if len(moved) < len(FINGERS) or not thumb_moved or wrist is None:
        parts.append("the rest of the hand as at rest")
    return "Final shape: " + ", ".join(parts) + "."


def describe_motion(motion: GloveMotion) -> str:
    """English T1 text for a :class:`GloveMotion`: what moves, in which direction, how much, final shape."""
    d = np.asarray(motion.delta, dtype=np.float64)
    finger_clauses, moved = _finger_clauses(d)
    thumb, wrist = _thumb_clause(d), _wrist_clause(d)
    hand = _hand_clauses(d)
    if not finger_clauses and thumb is None and wrist is None and not hand:
        return NO_MOTION
    if not finger_clauses:
        fingers = "the fingers stay still"
    else:
        fingers = " while ".join(finger_clauses[:2]) + "".join(f", and {c}" for c in finger_clauses[2:])
        if len(moved) < len(FINGERS):
            fingers += (" while" if len(finger_clauses) == 1 else ", and") + " the other fingers stay still"
    clauses = [fingers, *hand, thumb or "the thumb stays still", wrist or "the wrist does not move"]
    text = "; ".join(clauses) + "."
    if moved or thumb is not None or wrist is not None:
        text += " " + _final_shape(motion, moved, thumb is not None, wrist)
    return text[0].upper() + text[1:]


def describe_trial(
    trial: np.ndarray,
    rest: np.ndarray | None = None,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
) -> str:
    """T1 text for a single trial (T x 22); pass the recording's :func:`sensor_range` as ``lo``/``hi``.

    Without them the trial's own range is used, which exaggerates sensors that only drift.
    """
    return describe_motion(trial_motion(trial, rest, lo, hi))


def describe_glove(glove: np.ndarray, label: np.ndarray, class_id: int) -> str:
    """T1 text for ``class_id`` from all its trials in a recording (``glove`` T x 22, ``label`` T)."""
    return describe_motion(class_motion(glove, label, class_id))

"""NinaPro facts the reader needs: movement names by global id, file-name patterns, exercise id offsets.

Source: the NinaPro documentation as collected in ../shared/reference/ninapro.md. Global ids follow NinaPro:
DB2/DB3 number exercise B as 1-17, C as 18-40 and D as 41-49; DB1 numbers its exercise A as 1-12, B as
13-29 and C as 30-52. 0 is rest everywhere.
"""

from __future__ import annotations

import re

REST = "rest"

EXERCISE_A = (  # DB1 E1: finger movements
    "index flexion",
    "index extension",
    "middle flexion",
    "middle extension",
    "ring flexion",
    "ring extension",
    "little finger flexion",
    "little finger extension",
    "thumb adduction",
    "thumb abduction",
    "thumb flexion",
    "thumb extension",
)

EXERCISE_B = (  # DB2/DB3 E1, DB1 E2: isometric, isotonic hand configurations and wrist movements
    "thumb up",
    "extension of index and middle, flexion of the others",
    "flexion of ring and little finger, extension of the others",
    "thumb opposing base of little finger",
    "abduction of all fingers",
    "fingers flexed together in fist",
    "pointing index",
    "adduction of extended fingers",
    "wrist supination (axis: middle finger)",
    "wrist pronation (axis: middle finger)",
    "wrist supination (axis: little finger)",
    "wrist pronation (axis: little finger)",
    "wrist flexion",
    "wrist extension",
    "wrist radial deviation",
    "wrist ulnar deviation",
    "wrist extension with closed hand",
)

EXERCISE_C = (  # DB2/DB3 E2, DB1 E3: grasping and functional movements
    "large diameter grasp",
    "small diameter grasp (power grip)",
    "fixed hook grasp",
    "index finger extension grasp",
    "medium wrap",
    "ring grasp",
    "prismatic four fingers grasp",
    "stick grasp",
    "writing tripod grasp",
    "power sphere grasp",
    "three finger sphere grasp",
    "precision sphere grasp",
    "tripod grasp",
    "prismatic pinch grasp",
    "tip pinch grasp",
    "quadpod grasp",
    "lateral grasp",
    "parallel extension grasp",
    "extension type grasp",
    "power disk grasp",
    "open a bottle with a tripod grasp",
    "turn a screw (grasp the screwdriver with a stick grasp)",
    "cut something (grasp the knife with an index finger extension grasp)",
)

EXERCISE_D = (  # DB2/DB3 E3: force patterns
    "flexion of the little finger",
    "flexion of the ring finger",
    "flexion of the middle finger",
    "flexion of the index finger",
    "abduction of the thumb",
    "flexion of the thumb",
    "flexion of index and little finger",
    "flexion of ring and middle finger",
    "flexion of index finger and thumb",
)


def _numbered(*groups: tuple[str, ...]) -> dict[int, str]:
    names = [REST] + [name for group in groups for name in group]
    return dict(enumerate(names))


#: DB2 and DB3: 0 rest, 1-17 exercise B, 18-40 exercise C, 41-49 exercise D.
DB2_MOVEMENTS: dict[int, str] = _numbered(EXERCISE_B, EXERCISE_C, EXERCISE_D)
#: DB1: 0 rest, 1-12 exercise A, 13-29 exercise B, 30-52 exercise C.
DB1_MOVEMENTS: dict[int, str] = _numbered(EXERCISE_A, EXERCISE_B, EXERCISE_C)

#: Offset added to a file's own labels to get global ids, by (database, exercise).
#: DB1 restarts at 1 in every exercise file; DB2/DB3 E2 is already 18..40 and E3 is handled by E3_CODES.
LABEL_OFFSET: dict[tuple[str, int], int] = {
    ("DB1", 1): 0,
    ("DB1", 2): 12,
    ("DB1", 3): 29,
    ("DB2", 1): 0,
    ("DB2", 2): 0,
    ("DB2", 3): 0,
}

#: Some copies of DB2/DB3 exercise 3 code ``stimulus`` as these values for movements 41..49 (in order).
E3_CODES: dict[int, int] = {code: 41 + i for i, code in enumerate((1, 2, 4, 6, 8, 9, 16, 32, 40))}

#: First global id of each exercise file, for files whose labels restart at 1 (DB2/DB3 E3 written 1..9).
DB2_EXERCISE_FIRST_ID = {1: 1, 2: 18, 3: 41}

DB1_NAME = re.compile(r"^S(?P<subject>\d+)_A1_E(?P<exercise>[123])\.mat$", re.IGNORECASE)
DB23_NAME = re.compile(r"^S(?P<subject>\d+)_E(?P<exercise>[123])_A1\.mat$", re.IGNORECASE)
DB_FOLDER = re.compile(r"^DB(?P<db>[123])_s(?P<subject>\d+)$", re.IGNORECASE)

#: Electrode counts and rates as documented; DB3 subjects 6 and 7 have 10 electrodes.
DB_FACTS = {
    "DB1": {"fs": 100.0, "channels": (10,), "unit": "V (RMS-rectified, Otto Bock)"},
    "DB2": {"fs": 2000.0, "channels": (12,), "unit": "V"},
    "DB3": {"fs": 2000.0, "channels": (12, 10), "unit": "V"},
}

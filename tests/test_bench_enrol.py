"""``myosem bench enrol`` on real recordings (quick: the first days of MultiDay): every row is computed on
the same windows, the anchor and the profile with and without session adaptation side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from myosem_rt import cli
from myosem_rt.profile.bench import ANCHOR, ANCHOR_ADAPT, NO_ADAPT, OURS


@pytest.mark.realdata
def test_multiday_quick_rows(data_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "enrol.json"
    assert cli.main(["-q", "bench", "enrol", "--data", str(data_dir), "--suite", "multiday", "--quick",
                     "--json", str(out), "--results", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "multiday" in printed and "anchor" in printed
    units = json.loads(out.read_text())["multiday"]["units"]
    assert len(units) == 2  # quick: day 1 enrols, the next two recorded days are scored
    for day in units.values():
        row = day["1"]
        for name in (ANCHOR, ANCHOR_ADAPT, NO_ADAPT, OURS):
            assert 0.0 <= row[name] <= 1.0, name
        assert row[OURS] > 0.5 and row[NO_ADAPT] > 0.5  # 11 classes: chance is 0.09
    text = (tmp_path / "enrolment.md").read_text()
    assert OURS in text and NO_ADAPT in text and "By horizon" in text

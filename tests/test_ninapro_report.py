"""The NinaPro rows of the comparative report, end to end on fixture recordings (no NinaPro file is here).

The shared data holds no NinaPro DB2/DB3 files, so ``docs/results.md`` lists the db2-* protocols as
missing. This test shows the rows fill in the moment such files are present: a tiny MyoSem model and the
LDA baseline are trained on ``db2-class`` fixtures (the documented DB2 layout, ``tests/fixtures/ninapro.py``)
and ``write_report`` tabulates them, held-out classes scored both ways, with nothing listed as missing.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from myosem_rt.config import default_config  # noqa: E402
from tests.fixtures.ninapro import write_db23  # noqa: E402
from train.report import collect, write_report  # noqa: E402

P = "db2-class"


@pytest.mark.slow
def test_db2_class_rows_fill_from_fixture_recordings(tmp_path: Path) -> None:
    from train.baselines.run import BaselineConfig, run_protocol
    from train.pipeline import run_training

    data = tmp_path / "data"
    for subject in (1, 2):
        write_db23(data / "db2", db=2, subject=subject, exercise=1)
    runtime = copy.deepcopy(default_config())  # fixture movements are 40 samples at 2 kHz: 20-sample windows
    runtime["datasets"]["NinaPro-DB2"] = {"window_ms": 10.0, "hop_ms": 5.0, "patch_ms": 2.5}
    config = tmp_path / "tiny-db2.yaml"
    config.write_text("base: tiny\nvocabularies: [ninapro_db2]\nstage1: {steps: 0}\nnorm_windows: 2000\n"
                      "parity_windows: 64\nstage2: {epochs: 2}\n"
                      "stage3: {epochs_frozen: 1, epochs_unfrozen: 1}\n")
    runs = tmp_path / "runs"
    manifest = run_training(config, data, P, runs / "myosem" / P, runtime_config=runtime, device="cpu",
                            command="myosem train (fixture)")
    m = manifest["metrics"]
    held = set(manifest["data"]["held_out_classes"])
    assert held == {3, 11, 16, 27, 35, 46}
    assert not held & {int(c) for c in manifest["data"]["windows"]["train_per_class"]}
    assert m["emg_to_text_held_out_only"]["n_candidates"] == 6  # every held-out class is a candidate
    assert m["text_to_emg_held_out_only"]["n_queries"] == 3  # E1 has test windows of 3, 11 and 16 only
    run_protocol(runs / "myosem" / P, data, runs / "baselines" / P, ["lda"], BaselineConfig(proj_steps=50),
                 runtime_config=runtime)

    cells, unavailable = collect(runs, [P], data)
    assert unavailable == {}
    md = write_report(cells, unavailable, tmp_path / "docs", runs).read_text()
    for title in ("**MyoSem-RT**", "Hudgins TD + LDA"):
        row = next(line for line in md.splitlines() if line.startswith(f"| {P} | {title} |"))
        assert row.count("±") == 4, row  # R@1/3/5 and MRR, each with its uncertainty
    held_rows = md.split("## Held-out classes")[1].split("## Ablations")[0]
    lda_row = next(line for line in held_rows.splitlines() if line.startswith(f"| {P} | Hudgins TD + LDA |"))
    assert lda_row.count("±") == 5, lda_row
    mrr6 = np.mean(1 / np.arange(1, 7))  # 50 classes; 6 held-out candidates; 3 of them with test windows
    assert f"| {P} | *chance* | | {1 / 50:.3f} | {1 / 6:.3f} | {mrr6:.3f} | {1 / 3:.3f} |" in held_rows
    assert f"**{P}**" not in md.split("## Missing")[1]
    assert np.isfinite(m["emg_to_text"]["R@1"])

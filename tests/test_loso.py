"""``myosem bench loso``: fold plan (every subject tested once), collection and report of the run folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from myosem_rt.errors import ConfigError  # noqa: E402
from train.loso import SUITES, collect, plan, report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_every_subject_is_tested_exactly_once(suite: str) -> None:
    _, folds = SUITES[suite]
    tested = [s for fold in folds for s in fold]
    assert len(tested) == len(set(tested))
    assert sorted(tested) == list(range(1, max(tested) + 1))


def test_plan_runs_myosem_ablations_then_baselines_per_fold(tmp_path: Path) -> None:
    jobs = plan("3dc", tmp_path, Path("data"), ablations=["ablate-window-features"])
    assert [j.name for j in jobs[:3]] == ["myosem-fold1", "ablate-window-features-fold1", "baselines-fold1"]
    assert len(jobs) == 9 and len({j.label for j in jobs}) == 9  # one log per job
    first = jobs[0].argv
    i = first.index("--test-subjects")
    assert first[i + 1:i + 7] == ("1", "4", "7", "10", "13", "14")
    assert jobs[2].argv[jobs[2].argv.index("--model") + 1] == str(tmp_path / "fold1" / "myosem")
    small = plan("myo", tmp_path, Path("data"), overrides={"--max-windows-per-file": "300"})[0].argv
    for flag in ("--threads", "--max-windows-per-file"):  # the recipe's value replaced, never given twice
        assert small.count(flag) == 1
    assert small[small.index("--max-windows-per-file") + 1] == "300"
    bad_args = ({"suite": "ninapro"}, {"suite": "3dc", "baselines": ["svm"]}, {"suite": "3dc", "recipe": "x"})
    for bad in bad_args:
        with pytest.raises(ConfigError, match="bench loso"):
            plan(runs=tmp_path, data=Path("data"), **bad)


def _metrics(r1: float) -> dict:
    return {"emg_to_text": {"R@1": r1, "MRR": r1 + 0.1}, "text_to_emg": {"R@1": r1 - 0.05}}


def test_collect_and_report_mean_and_sd_over_folds(tmp_path: Path) -> None:
    for i, r1 in enumerate((0.4, 0.5, 0.6), start=1):
        (tmp_path / f"fold{i}" / "myosem").mkdir(parents=True)
        (tmp_path / f"fold{i}" / "myosem" / "manifest.json").write_text(json.dumps({"metrics": _metrics(r1)}))
        (tmp_path / f"fold{i}" / "baselines").mkdir()
        if i < 3:  # one fold of the anchor is missing: reported as such, not averaged as zero
            lda = tmp_path / f"fold{i}" / "baselines" / "lda.json"
            lda.write_text(json.dumps({"metrics": _metrics(0.3)}))
    res = collect("3dc", tmp_path, baselines=["lda"])
    assert res["myosem"]["summary"]["emg_to_text R@1"] == pytest.approx((0.5, 0.1))  # sample sd (ddof 1)
    assert res["myosem"]["complete"] and not res["lda"]["complete"]
    assert res["lda"]["summary"]["emg_to_text R@1"] == pytest.approx((0.3, 0.0))
    text = report("3dc", res, "myosem bench loso --suite 3dc")
    assert "| **MyoSem-RT** | 0.500 ± 0.100 | 0.600 ± 0.100 | 0.450 ± 0.100 | 3/3 |" in text
    assert "| Hudgins TD + LDA | 0.300 ± 0.000 | 0.400 ± 0.000 | 0.250 ± 0.000 | 2/3 |" in text
    assert "| Hudgins TD + LDA | 0.300 | 0.300 | - |" in text


def test_bench_loso_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    for argv, message in ((["--suite", "3dc", "--data", str(tmp_path / "none")], "is not a folder"),
                          (["--suite", "emg", "--data", str(tmp_path)], "--suite takes one of")):
        r = subprocess.run([sys.executable, "-m", "myosem_rt.cli", "bench", "loso", *argv], cwd=REPO,
                           capture_output=True, text=True, check=False)
        assert r.returncode == 2, r.stderr
        assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_mean_sd_is_the_sample_sd_and_zero_for_one_fold() -> None:
    from train.loso import mean_sd

    assert mean_sd([0.4, 0.5, 0.6]) == pytest.approx((0.5, 0.1))
    assert mean_sd([0.7]) == (0.7, 0.0)

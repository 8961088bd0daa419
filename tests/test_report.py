"""The comparative report (myosem report, train/report.py, train/figures.py, train/suite.py).

Two levels: the markdown logic on hand-made result files (rows, uncertainty, best in bold, missing cells
and their reasons, the shortfall list), and the whole pipeline on a tiny real subset -- a tiny MyoSem
model on MyoDisCo subject 1, two baselines on its windows, then ``myosem report`` with every figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from myosem_rt import cli  # noqa: E402
from train.report import collect, write_report  # noqa: E402
from train.suite import plan, run_jobs  # noqa: E402

P = "myodisco-rand"


def figures(r1: float, spread: str, err: float = 0.01) -> dict:
    keys = {"R@1": r1, "R@3": min(1.0, r1 + 0.2), "R@5": min(1.0, r1 + 0.3), "MRR": r1 + 0.1}
    chance = {"R@1": 0.1, "R@3": 0.3, "R@5": 0.5, "MRR": 0.293}
    return {**keys, spread: {k: err for k in keys}, "chance": chance}


def metrics(e2t: float, t2e: float, held_out: float | None = None) -> dict:
    m = {"protocol": P, "n_windows": 500, "emg_to_text": figures(e2t, "std"),
         "text_to_emg": figures(t2e, "se")}
    if held_out is not None:
        m["emg_to_text_held_out"] = figures(held_out, "std")
        m["emg_to_text_seen"] = figures(e2t, "std")
        m["emg_to_text_held_out_only"] = figures(held_out + 0.3, "std")
        m["text_to_emg_held_out_only"] = figures(held_out + 0.4, "se")
    return m


def write_manifest(runs: Path, method: str, m: dict, protocol: str = P, **extra) -> None:
    d = runs / method / protocol
    d.mkdir(parents=True)
    training = {"name": "myosem-small", "seed": 0, "max_windows_per_file": 800, "stage2": {"epochs": 15},
                "stage3": {"epochs_frozen": 6, "epochs_unfrozen": 3}, "stage1": {"steps": 150}}
    (d / "manifest.json").write_text(json.dumps({"metrics": m, "command": f"myosem train {method}",
                                                 "training": training, **extra}))


def test_report_rows_uncertainty_missing_and_shortfalls(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_manifest(runs, "myosem", metrics(0.60, 0.70, held_out=0.2))
    write_manifest(runs, "ablate-queries", metrics(0.55, 0.72))
    (runs / "baselines" / P).mkdir(parents=True)
    (runs / "baselines" / P / "lda.json").write_text(json.dumps({
        "metrics": metrics(0.50, 0.80, held_out=0.1), "command": "python -m train.baselines --only lda",
        "config": {"seed": 0}, "training": {"seconds": 12.0}}))
    (runs / "logs").mkdir()
    (runs / "logs" / f"ablate-stage1-{P}.json").write_text(json.dumps({"rc": 1, "seconds": 3}))
    write_manifest(runs / "budget", "myosem", metrics(0.75, 0.76))  # a larger-budget rerun
    cells, unavailable = collect(runs, [P], data=None)
    (tmp_path / "docs" / "results").mkdir(parents=True)  # a fold benchmark's own report is included
    (tmp_path / "docs" / "results" / "zeroshot-3dc.md").write_text("# Held-out classes: 3dc\n\n| x | 0.5 |\n")
    md = write_report(cells, unavailable, tmp_path / "docs", runs).read_text()
    assert "Reduced CPU run" in md and "at most 800 windows per file" in md
    assert "## Held-out classes over folds" in md and "### Held-out classes: 3dc" in md
    assert "| x | 0.5 |" in md
    row = "| **0.600 ± 0.010** | 0.800 ± 0.010 | 0.900 ± 0.010 | 0.700 ± 0.010 |"
    assert f"| {P} | **MyoSem-RT** {row}" in md
    assert f"| {P} | Hudgins TD + LDA | 0.500 ± 0.010 |" in md
    assert f"| {P} | TCN | -- | -- | -- | -- |" in md  # not run: a dash, never a number
    assert f"| {P} | *chance* | 0.100 | 0.300 | 0.500 | 0.293 |" in md
    assert f"| {P} | **Hudgins TD + LDA** |" not in md and "**0.800 ± 0.010**" in md  # LDA best text->EMG
    assert f"| {P} | without semantic queries (alpha = 0) | 0.550 ± 0.010 | 0.650 ± 0.010 | -0.050 |" in md
    held = md.split("## Held-out classes")[1].split("## Ablations")[0]  # all candidates, then held-out only
    assert f"| {P} | Hudgins TD + LDA | 0.500 ± 0.010 | 0.100 ± 0.010 | 0.400 ± 0.010 | 0.500 ± 0.010 | " \
           "0.500 ± 0.010 |" in held
    assert f"| {P} | *chance* | | 0.100 | 0.100 | 0.293 | 0.100 |" in held
    assert "MyoSem-RT has the highest R@1 in 1 of 2" in md
    assert f"**{P}, text → EMG**: MyoSem-RT R@1 0.700 vs Hudgins TD + LDA 0.800" in md
    assert "7.1 combined σ" in md  # 0.1 / hypot(0.01, 0.01)
    assert f"{P} / TCN: not run within the reduced CPU budget" in md
    assert f"{P} / without stage 1 (base MiniLM prototypes): run failed (exit 1" in md
    assert "`myosem train myosem`" in md and "| 0.2 min |" in md  # commands, seeds, wall-clock
    budget = md.split("## Budget check")[1]
    assert "| **MyoSem-RT** | **0.750 ± 0.010** |" in budget and "| TCN | -- |" in budget


def test_unavailable_protocol_is_listed_not_tabulated(tmp_path: Path) -> None:
    cells, unavailable = collect(tmp_path / "runs", ["db2-rand"], data=tmp_path)
    assert "no NinaPro DB2 recordings" in unavailable["db2-rand"]
    md = write_report(cells, unavailable, tmp_path / "docs", tmp_path / "runs").read_text()
    assert "- **db2-rand**: no recordings for this protocol" in md and "| db2-rand |" not in md


def test_report_from_the_record_keeps_figures_only_of_the_recorded_model(tmp_path: Path, data_dir: Path,
                                                                          capsys) -> None:
    """A later session has the record but no runs/: the tables come from the record, and the figures
    listed in figures.json stay only while they show the model whose result is recorded."""
    docs, record = tmp_path / "docs", tmp_path / "docs" / "results" / "report-runs"
    write_manifest(record, "myosem", metrics(0.61, 0.7), created="2026-12-06T10:00:00")
    (docs / "figures").mkdir(parents=True)
    (docs / "figures" / "figures.json").write_text(json.dumps({
        "protocol": P, "model_created": "2026-12-06T10:00:00", "figures": {"A figure": "figures/a.png"}}))
    argv = ["report", "--runs", str(tmp_path / "runs"), "--out", str(docs), "--data", str(data_dir),
            "--protocols", P]
    assert cli.main(argv) == 0
    md = (docs / "results.md").read_text()
    assert "**0.610 ± 0.010**" in md and "![A figure](figures/a.png)" in md
    write_manifest(record / "newer", "myosem", metrics(0.62, 0.7), created="2026-12-07T10:00:00")
    (record / "myosem" / P / "manifest.json").write_text((record / "newer" / "myosem" / P / "manifest.json")
                                                         .read_text())
    assert cli.main(argv) == 0  # another model now: its figures are not those
    assert "A figure" not in (docs / "results.md").read_text()
    assert "no MyoSem-RT model to draw figures from" in capsys.readouterr().err


def test_suite_plan_pairs_each_model_with_its_baselines_then_goes_breadth_first(tmp_path: Path, capsys
                                                                                ) -> None:
    jobs = plan(["3dc-rand", P], tmp_path / "runs", tmp_path / "data")
    assert [j.label for j in jobs[:4]] == ["myosem-3dc-rand", "baselines-3dc-rand", f"myosem-{P}",
                                           f"baselines-{P}"]
    assert [j.label for j in jobs if j.step == "ablations"][:5] == [
        "ablate-descriptors-3dc-rand", "ablate-queries-3dc-rand", "ablate-stage1-3dc-rand",
        "ablate-window-features-3dc-rand", "ablate-session-stats-3dc-rand"]
    train = " ".join(jobs[0].argv)
    assert "--max-windows-per-file 800 --epochs 15 --align-epochs 6,3 --threads 1 --device cpu" in train
    assert "--train-config ablate-session-stats" in " ".join(jobs[-1].argv)
    assert run_jobs(jobs[:1], tmp_path / "runs", tmp_path / "data", dry_run=True) == 0
    assert "myosem-3dc-rand: python -m myosem_rt.cli train" in capsys.readouterr().out


def test_record_keeps_results_skips_recorded_jobs_and_retrains_a_model_its_baselines_need(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's record outlives runs/: a recorded job is not run again, a model's fitted statistics
    stay out of it, and baselines whose model is recorded but gone get that model trained again first."""
    import train.suite as suite
    from train.record import keep, recorded

    runs, record = tmp_path / "runs", tmp_path / "record"
    model = runs / "myosem" / P
    write_manifest(runs, "myosem", metrics(0.6, 0.7), normalisation={"x_mean": [0.0] * 1000})
    (model / "encoder.onnx").write_bytes(b"onnx")
    (model / "text").mkdir()
    (model / "text" / "manifest.json").write_text(json.dumps({"training": {"trained_on": ["myodisco"]}}))
    suite_run = runs / "zeroshot" / "3dc" / "fold1" / "myosem"  # a fold benchmark's run: not the report's
    suite_run.mkdir(parents=True)
    (suite_run / "manifest.json").write_text(json.dumps({"metrics": metrics(0.5, 0.5)}))
    assert keep(runs, record) == 2 and keep(runs, record) == 0  # unchanged files are not rewritten
    assert not (record / "zeroshot").exists()
    kept = json.loads((record / "myosem" / P / "manifest.json").read_text())
    assert "normalisation" not in kept and kept["metrics"]["emg_to_text"]["R@1"] == 0.6
    assert (record / "myosem" / P / "text" / "manifest.json").is_file()
    assert recorded(model, runs, record) and not recorded(runs / "myosem" / "3dc-rand", runs, record)

    jobs = plan([P], runs, tmp_path / "data", steps=["myosem", "baselines"])
    ran: list[str] = []

    def fake_run(job, runs_, data, nice, place, spent, left=""):  # noqa: ANN001, ANN202
        ran.append(job.label)
        if job.step == "baselines":
            for name in job.argv[job.argv.index("--only") + 1].split(","):
                (job.out / f"{name}.json").parent.mkdir(parents=True, exist_ok=True)
                (job.out / f"{name}.json").write_text(json.dumps({"metrics": metrics(0.5, 0.5)}))
        else:
            write_manifest(runs, "myosem", metrics(0.6, 0.7))
            (model / "encoder.onnx").write_bytes(b"onnx")
        return 0

    monkeypatch.setattr(suite, "_run_one", fake_run)
    import shutil

    shutil.rmtree(runs)  # a later session: the record is there, runs/ is not
    assert run_jobs(jobs, runs, tmp_path / "data", record=record) == 0
    assert ran == [f"myosem-{P}", f"baselines-{P}"]  # the model again, only because its baselines need it
    assert (record / "baselines" / P / "lda.json").is_file()
    ran.clear()
    assert run_jobs(jobs, runs, tmp_path / "data", record=record) == 0 and ran == []


def test_suite_plan_with_seeds_puts_each_seed_in_its_own_layout(tmp_path: Path) -> None:
    from myosem_rt.errors import ConfigError

    runs = tmp_path / "runs"
    jobs = plan([P], runs, tmp_path / "data", steps=["myosem", "baselines"], seeds=[0, 2])
    seed2 = runs / "seed2"
    assert [(j.label, j.root) for j in jobs] == [(f"myosem-{P}", runs), (f"baselines-{P}", runs),
                                                 (f"myosem-{P}", seed2), (f"baselines-{P}", seed2)]
    assert "--seed" not in jobs[0].argv and jobs[2].out == runs / "seed2" / "myosem" / P
    assert jobs[2].argv[-2:] == ("--seed", "2") and jobs[3].argv[-2:] == ("--seed", "2")
    base = jobs[3].argv
    assert base[base.index("--model") + 1] == str(runs / "seed2" / "myosem" / P)  # its own seed's windows
    with pytest.raises(ConfigError, match="seeds must be distinct"):
        plan([P], runs, tmp_path / "data", seeds=[1, 1])


def test_seed_section_mean_sd_and_verdict(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    mine, lda = (0.60, 0.62, 0.64), (0.50, 0.55, 0.60)
    for seed, (a, b) in enumerate(zip(mine, lda, strict=True)):
        root = runs if seed == 0 else runs / f"seed{seed}"
        write_manifest(root, "myosem", metrics(a, 0.70))
        (root / "baselines" / P).mkdir(parents=True)
        (root / "baselines" / P / "lda.json").write_text(json.dumps({
            "metrics": metrics(b, 0.70 + seed * 0.01), "command": "x", "config": {"seed": seed}}))
    write_manifest(runs / "seed1", "ablate-queries", metrics(0.5, 0.5))  # one seed only: no row
    cells, unavailable = collect(runs, [P], data=None)
    md = write_report(cells, unavailable, tmp_path / "docs", runs).read_text()
    section = md.split("## Seed-to-seed variation")[1].split("\n## ")[0]
    assert f"| {P} | **MyoSem-RT** | 0, 1, 2 | 0.620 ± 0.020 | 0.700 ± 0.000 |" in section
    assert f"| {P} | Hudgins TD + LDA | 0, 1, 2 | 0.550 ± 0.050 | 0.710 ± 0.010 |" in section
    assert "without semantic queries" not in section
    # EMG->text: +0.070, se = sqrt(0.02**2/3 + 0.05**2/3) = 0.031 -> ahead; text->EMG: -0.010, se 0.006
    assert f"- {P}, EMG → text: MyoSem-RT 0.620 vs Hudgins TD + LDA 0.550 (difference +0.070, " \
           "standard error 0.031: ahead)." in section
    # text->EMG: MyoSem-RT's seeds agree exactly (sd 0), so its sd is floored at the runs' se 0.01:
    # sqrt(0.01**2/3 + 0.01**2/3) = 0.008
    assert "(difference -0.010, standard error 0.008: within seed noise)." in section
    assert "ahead in 1, behind in 0, within two standard errors in 1 of 2" in section


def test_cross_device_section_splits_myo_classes_by_what_the_text_space_saw(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    per_class = {str(c): float(c in (0, 2, 4, 5, 6)) for c in range(10)}  # 1 on the shared actions, else 0
    for protocol, trained_on in (("cross-device", ["3dc"]), ("myo-user", ["3dc", "myo"])):
        m = metrics(0.5, 0.4)
        m["emg_to_text"]["per_class"] = per_class if protocol == "cross-device" else {str(c): 0.5 for c in
                                                                                       range(10)}
        write_manifest(runs, "myosem", m, protocol, vocabulary="myo")
        (runs / "myosem" / protocol / "text").mkdir()
        (runs / "myosem" / protocol / "text" / "manifest.json").write_text(
            json.dumps({"training": {"trained_on": trained_on}}))
    cells, unavailable = collect(runs, ["myo-user", "cross-device"], data=None)
    md = write_report(cells, unavailable, tmp_path / "docs", runs).read_text()
    section = md.split("## Cross-device")[1].split("\n## ")[0]
    assert "(rest, wrist_extension, wrist_flexion, hand_close, hand_open)" in section
    assert "(double_tap, finger_gun, point, snap, thumbs_up)" in section
    assert "| 3DC descriptions only (cross-device) | 0.500 ± 0.010 | 0.600 ± 0.010 | 0.400 ± 0.010 | " \
           "1.000 | 0.000 |" in section
    assert "| every vocabulary, Myo included (myo-user) | 0.500 ± 0.010 | 0.600 ± 0.010 | 0.400 ± 0.010 | " \
           "0.500 | 0.500 |" in section
    assert "| none: base MiniLM (myo-user without stage 1) | -- |" in section


# -- the whole pipeline on a tiny real subset ---------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.slow
def test_report_end_to_end_on_a_tiny_real_subset(data_dir: Path, tmp_path: Path, capsys) -> None:
    import matplotlib.image as mpimg

    from train.baselines.run import BaselineConfig, run_protocol
    from train.pipeline import run_training

    config = tmp_path / "tiny-myo.yaml"  # tiny, text space = the base model (stage 1 is not under test)
    config.write_text("base: tiny\nvocabularies: [myodisco]\nmax_windows_per_file: 600\nstage1: {steps: 0}\n"
                      "stage2: {epochs: 8}\nstage3: {epochs_frozen: 4, epochs_unfrozen: 1}\n")
    runs = tmp_path / "runs"
    manifest = run_training(config, data_dir, P, runs / "myosem" / P, protocol_options={"subjects": [1]},
                            device="cpu", command="myosem train (test)")
    assert manifest["metrics"]["n_windows"] > 100
    records = run_protocol(runs / "myosem" / P, data_dir, runs / "baselines" / P, ["lda", "tcn"],
                           BaselineConfig(epochs=2, proj_steps=100))
    for name in ("lda", "tcn"):  # the same test windows and candidates as MyoSem-RT's evaluation
        m, ref = records[name]["metrics"], manifest["metrics"]
        assert m["n_windows"] == ref["n_windows"] and m["classes"] == ref["classes"]
        assert m["emg_to_text"]["n_candidates"] == ref["emg_to_text"]["n_candidates"]
    lda = records["lda"]["metrics"]["emg_to_text"]
    assert lda["R@1"] > lda["chance"]["R@1"]

    docs = tmp_path / "docs"
    assert cli.main(["report", "--runs", str(runs), "--out", str(docs), "--data", str(data_dir),
                     "--protocols", P]) == 0
    assert "report written" in capsys.readouterr().out
    md = (docs / "results.md").read_text()
    for title in ("**MyoSem-RT**", "Hudgins TD + LDA", "TCN"):
        row = next(line for line in md.splitlines() if line.startswith(f"| {P} | {title} |"))
        assert "±" in row and "--" not in row, row
    assert f"| {P} | Atzori CNN | -- |" in md and f"{P} / Atzori CNN: not run" in md
    pngs = sorted((docs / "figures").glob("*.png"))
    assert len(pngs) == 5, pngs
    for png in pngs:
        assert f"](figures/{png.name})" in md
        image = mpimg.imread(png)
        assert image.std() > 0.02 and png.stat().st_size < 200_000, png  # drawn, not blank; small

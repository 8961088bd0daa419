"""`myosem train` end to end on a tiny real subset: stages 1-3, export, eval, resume (CPU, well under 3 min).

3DC subjects 1 and 2, 500 windows per file, the `tiny` training config, protocol 3dc-rand (repetitions 1-4
trained, 5-8 tested: the same subjects' held-out repetitions, recorded after a break).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from myosem_rt import cli  # noqa: E402
from myosem_rt.config import load_config  # noqa: E402
from myosem_rt.model import MyoSemModel  # noqa: E402
from train.data import load_windows  # noqa: E402
from train.emg.model import Dims, ModelConfig, MyoSemNet  # noqa: E402
from train.splits import split  # noqa: E402

pytestmark = pytest.mark.realdata
ARGS = ["--train-config", "tiny", "--protocol", "3dc-rand", "--subjects", "1", "2", "--device", "cpu"]


def train(data_dir: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setitem(cli.COMMANDS, "train", "myosem_rt.commands.train")  # until cli.py registers it
    return cli.main(["train", "--data", str(data_dir), "--out", str(out), *ARGS])


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("smoke") / "model"
    with pytest.MonkeyPatch.context() as mp:
        assert train(data_dir, out, mp) == 0
    return out


def test_exported_model_loads_and_matches_the_trained_network(trained: Path, data_dir: Path) -> None:
    model = MyoSemModel.load(trained)
    m = model.manifest
    assert (model.n_channels, model.fs, model.window, model.hop, model.patch) == (10, 1000.0, 200, 50, 25)
    assert model.class_ids.tolist() == list(range(11)) and model.text_dir is not None
    assert m["onnx"]["parity_max_abs_diff"] <= 1e-4
    assert m["command"].startswith("myosem train") and "--protocol 3dc-rand" in m["command"]
    assert m["data"]["windows"]["train"] > 0 and m["data"]["windows"]["test"] > 0
    assert all(len(f["sha256"]) == 64 for f in m["data"]["train_files"])
    size = sum(e["bytes"] for e in m["files"].values())
    assert size < 20e6, f"model directory is {size / 1e6:.1f} MB"

    # independent parity: rebuild the torch network from the last checkpoint, compare on test windows
    ck = torch.load(trained / "checkpoints" / "stage3_unfrozen.pt", weights_only=True)
    dims = Dims(model.n_channels, model.window, model.patch, len(m["classes"]["train_class_ids"]), model.dim)
    net = MyoSemNet(ModelConfig(**m["training"]["model"]), dims)
    net.load_state_dict(ck["model"])
    sp = split("3dc-rand", data_dir, subjects=[1])
    ws = load_windows(sp.test_files, load_config(), max_windows_per_file=64, seed=5)
    with torch.no_grad():
        z_torch = net.eval()(torch.from_numpy(ws.x), torch.from_numpy(ws.desc)).numpy()
    assert float(np.abs(model.encode(ws.x, ws.desc) - z_torch).max()) <= 1e-4


def test_metrics_are_in_the_manifest_and_above_chance(trained: Path) -> None:
    manifest = json.loads((trained / "manifest.json").read_text())
    metrics = manifest["metrics"]
    assert metrics["protocol"] == "3dc-rand" and metrics["n_windows"] > 100
    assert manifest["wall_clock"]["seconds"] > 0 and manifest["wall_clock"]["device"] == "cpu"
    e2t, t2e = metrics["emg_to_text"], metrics["text_to_emg"]
    for figures in (e2t, t2e):
        for key in ("R@1", "R@3", "R@5", "MRR"):
            assert 0.0 <= figures[key] <= 1.0
    # held-out repetitions of the training subjects: far above the 1/11 of a random ranking
    assert e2t["R@1"] > e2t["chance"]["R@1"] + 4 * e2t["std"]["R@1"]
    assert e2t["MRR"] > e2t["chance"]["MRR"] + 4 * e2t["std"]["MRR"]
    assert t2e["R@1"] > t2e["chance"]["R@1"]


def test_rerun_resumes_instead_of_retraining(trained: Path, data_dir: Path, monkeypatch, capsys) -> None:
    before = json.loads((trained / "manifest.json").read_text())
    assert train(data_dir, trained, monkeypatch) == 0
    captured = capsys.readouterr()
    text = captured.err  # the CLI logs to stderr
    assert "EMG->text R@1" in captured.out  # the command's summary
    assert "stage 1: reusing" in text and "stage2: done" in text and "stage3_unfrozen: done" in text
    after = json.loads((trained / "manifest.json").read_text())
    assert after["files"]["encoder.onnx"] == before["files"]["encoder.onnx"]  # same weights, same export
    assert after["metrics"]["emg_to_text"] == before["metrics"]["emg_to_text"]


def test_bench_train_prints_every_phase(threedc_file: Path, capsys) -> None:
    """`myosem bench train` times real steps of every phase of the config and estimates the wall-clock."""
    assert cli.main(["bench", "train", "--data", str(threedc_file), "--train-config", "tiny", "--quick",
                     "--device", "cpu", "--windows", "100000"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  stage")}
    assert set(rows) == {"stage2", "stage3_frozen", "stage3_unfrozen", "stages"}
    assert all(float(rows[p][2]) > 0 for p in ("stage2", "stage3_frozen", "stage3_unfrozen"))
    assert "for 100000 windows" in out


def test_bench_train_bad_input_is_one_line(threedc_file: Path, tmp_path: Path, capsys) -> None:
    assert cli.main(["bench", "train", "--data", str(tmp_path / "none.mat")]) == 2
    assert "none.mat" in capsys.readouterr().err
    assert cli.main(["bench", "train", "--data", str(threedc_file), "--windows", "0"]) == 2
    assert "--windows must be >= 1" in capsys.readouterr().err


def test_training_labels_setting_is_checked() -> None:
    from myosem_rt.errors import ConfigError
    from train.pipeline import TrainConfig, _apply_overrides

    assert TrainConfig.from_mapping({"labels": "activity"}).labels == "activity"
    assert _apply_overrides(TrainConfig(), {"labels": "activity"}).labels == "activity"
    with pytest.raises(ConfigError, match="labels must be cue or activity"):
        TrainConfig.from_mapping({"labels": "motion"})

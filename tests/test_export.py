"""ONNX export and the model directory: torch/onnxruntime parity, manifest checks, a runtime without torch."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from myosem_rt import text_encoder as rtt  # noqa: E402
from myosem_rt.config import load_config  # noqa: E402
from myosem_rt.descriptors import patch_descriptors  # noqa: E402
from myosem_rt.model import ModelError, MyoSemModel, bench_model  # noqa: E402
from myosem_rt.vocab import load_vocabulary  # noqa: E402
from train.emg.export import write_model_dir  # noqa: E402
from train.emg.model import Dims, ModelConfig, MyoSemNet  # noqa: E402

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
VOCAB = load_vocabulary("3dc")
DIMS = Dims(n_channels=4, window=40, patch=5, n_classes=len(VOCAB), text_dim=16)
FS = 200.0


def fake_encode(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in for the text tower: one pseudo-random unit vector per text."""
    rows = [np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)).standard_normal(16)
            for t in texts]
    return rtt.l2_normalize(np.asarray(rows))


def windows(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    shape = (n, DIMS.window, DIMS.n_channels)
    x = (np.random.default_rng(seed).standard_normal(shape) * 80.0).astype(np.float32)
    return x, patch_descriptors(x, DIMS.patch).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MyoSemNet]:
    out = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    net = MyoSemNet(ModelConfig(d_model=32, n_layers=2, n_heads=4, codebook_size=16, n_queries=2), DIMS)
    net.encoder.norm.fit(*windows(64))
    with torch.no_grad():
        net.encoder.gate_e.fill_(0.0)  # open gates, so the descriptor path is exercised by the parity check
    (out / "text").mkdir()
    (out / "text" / rtt.MANIFEST).write_text(json.dumps({"format": rtt.FORMAT}))
    classes = [(VOCAB.name, c.class_id, c.action, [[c.t0], [c.t1], [c.t2], list(c.t3)]) for c in VOCAB]
    protos = rtt.build_prototypes(fake_encode, classes)
    write_model_dir(out, net.eval(), vocabulary=VOCAB, text_prototypes=protos,
                    train_class_ids=[c.class_id for c in VOCAB if c.class_id != 3], fs=FS, hop=10,
                    dataset="3DC", runtime_config=load_config(), parity_windows=windows(32, seed=1),
                    extra={"command": "pytest"})
    return out, net


def broken_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_onnx_matches_torch(exported: tuple[Path, MyoSemNet]) -> None:
    out, net = exported
    model = MyoSemModel.load(out)
    assert model.manifest["onnx"]["parity_max_abs_diff"] <= 1e-4
    for n in (1, 7):  # dynamic batch axis
        x, desc = windows(n, seed=10 + n)
        with torch.no_grad():
            z_torch = net(torch.from_numpy(x), torch.from_numpy(desc)).numpy()
        z = model.encode(x, desc)
        assert z.shape == (n, DIMS.text_dim)
        assert float(np.abs(z - z_torch).max()) <= 1e-4
    np.testing.assert_allclose(model.encode_windows(x), z, atol=1e-6)  # descriptors computed the same way
    np.testing.assert_allclose(model.encode(x[0], desc[0]), z[:1], atol=1e-6)  # one window


def test_model_directory_contents(exported: tuple[Path, MyoSemNet]) -> None:
    out, _ = exported
    model = MyoSemModel.load(out)
    assert (model.n_channels, model.fs, model.window, model.hop, model.patch) == (4, FS, 40, 10, 5)
    assert (model.window_ms, model.hop_ms, model.patch_ms) == (200.0, 50.0, 25.0)
    assert model.class_ids.tolist() == list(VOCAB.class_ids)
    assert model.class_names == [c.t0 for c in VOCAB] and model.descriptions == [c.t2 for c in VOCAB]
    np.testing.assert_allclose(np.linalg.norm(model.prototypes, axis=1), 1.0, atol=1e-5)
    assert model.text_dir == out / "text" and model.dim == DIMS.text_dim
    m = model.manifest
    assert m["classes"]["held_out_class_ids"] == [3]
    assert {"encoder.onnx", "prototypes.npz", "classes.json", "text/manifest.json"} <= set(m["files"])
    assert len(m["normalisation"]["x_std"]) == 4 and m["filters"] == load_config()["filters"]
    scores, order = model.rank(model.encode(*windows(3)))
    assert scores.shape == (3, len(VOCAB)) and order.shape == (3, len(VOCAB))
    assert np.all(np.diff(np.take_along_axis(scores, order, axis=1), axis=1) <= 0)  # best first
    assert not any(p.suffix in (".pkl", ".pt") for p in out.rglob("*"))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: (d / "prototypes.npz").unlink(), r"prototypes\.npz: missing"),
    (lambda d: (d / "encoder.onnx").open("ab").write(b"\0"), r"encoder\.onnx: corrupt \(sha256"),
    (lambda d: _edit_manifest(d, schema="myosem-model/99"), r"unsupported model schema 'myosem-model/99'"),
    (lambda d: _edit_manifest(d, window=42), r"window 42 is not a whole number"),
    (lambda d: _edit_manifest(d, window=50, n_channels=4), r"encoder inputs .* do not match the manifest"),
    (lambda d: (d / "manifest.json").write_text("{oops"), r"corrupt manifest"),
    (lambda d: (d / "manifest.json").unlink(), r"no manifest\.json"),
])
def test_invalid_model_directories_give_one_line_errors(exported, tmp_path, damage, message) -> None:
    bad = broken_copy(exported[0], tmp_path / "bad")
    damage(bad)
    with pytest.raises(ModelError, match=message) as err:
        MyoSemModel.load(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


def _edit_manifest(model_dir: Path, **changes: object) -> None:
    path = model_dir / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_missing_directory_and_wrong_input_shapes(exported, tmp_path) -> None:
    with pytest.raises(ModelError, match="model directory not found"):
        MyoSemModel.load(tmp_path / "nowhere")
    model = MyoSemModel.load(exported[0])
    x, desc = windows(2)
    with pytest.raises(ModelError, match=r"x must be \(N, 40, 4\)"):
        model.encode(x[:, :30], desc)
    with pytest.raises(ModelError, match="desc must be"):
        model.encode(x, desc[:1])


def test_runtime_loader_never_imports_torch(exported) -> None:
    code = (
        "import sys, numpy as np\n"
        "from myosem_rt.model import MyoSemModel\n"
        f"m = MyoSemModel.load({str(exported[0])!r})\n"
        "x = np.zeros((2, m.window, m.n_channels), np.float32)\n"
        "z = m.encode_windows(x); m.rank(z)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok', z.shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ok (2, 16)" in result.stdout


def test_bench_model_prints_latency_figures(exported, capsys) -> None:
    class Args:
        model = str(exported[0])
        quick = True

    assert bench_model(Args(), load_config()) == 0
    text = capsys.readouterr().out
    assert "one window (1 CPU thread)  median" in text and "p99" in text and "encoder.onnx" in text


def test_train_command_without_torch_is_a_one_line_error(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # as if the train extra were not installed\n"
        "from myosem_rt import cli\n"
        "cli.COMMANDS.setdefault('train', 'myosem_rt.commands.train')\n"
        f"sys.exit(cli.main(['train', '--data', {str(tmp_path)!r}, '--protocol', '3dc-rand', "
        f"'--out', {str(tmp_path / 'm')!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "myosem train: error: training needs the train extra (torch is not installed): run it as "
        "MYOSEM_EXTRAS=gui,train ./myosem ..., or pip install -e '.[train]'"]


@pytest.fixture(scope="module")
def exported_wf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MyoSemNet, np.ndarray]:
    """An encoder with window-level features (ModelConfig.window_features), its gate open."""
    from myosem_rt.profile.features import classical_features, noise_threshold

    out = tmp_path_factory.mktemp("model_wf")
    x, desc = windows(64)
    eps = noise_threshold(x)
    feat = classical_features(x, eps, "td+cov+d")
    dims = Dims(**{**DIMS.__dict__, "n_features": feat.shape[1]})
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=32, n_layers=2, n_heads=4, codebook_size=16, n_queries=2,
                      window_features="td+cov+d")
    net = MyoSemNet(cfg, dims)
    net.encoder.norm.fit(x, desc, feat)
    with torch.no_grad():
        net.encoder.gate_w.fill_(2.0)
    (out / "text").mkdir()
    (out / "text" / rtt.MANIFEST).write_text(json.dumps({"format": rtt.FORMAT}))
    classes = [(VOCAB.name, c.class_id, c.action, [[c.t0], [c.t1], [c.t2], list(c.t3)]) for c in VOCAB]
    xp, dp = windows(32, seed=1)
    protos = rtt.build_prototypes(fake_encode, classes)
    write_model_dir(out, net.eval(), vocabulary=VOCAB, text_prototypes=protos,
                    train_class_ids=[c.class_id for c in VOCAB], fs=FS, hop=10, dataset="3DC",
                    runtime_config=load_config(),
                    parity_windows=(xp, dp, classical_features(xp, eps, "td+cov+d")),
                    extra={"command": "pytest"}, window_features={"set": "td+cov+d", "eps": eps})
    return out, net, eps


def test_window_feature_encoder_round_trip(exported_wf) -> None:
    """The runtime computes the window features itself, exactly as training did: torch == onnxruntime."""
    from myosem_rt.profile.features import classical_features

    out, net, eps = exported_wf
    model = MyoSemModel.load(out)
    assert model.manifest["inputs"]["feat"] == ["N", net.dims.n_features]
    assert model.manifest["onnx"]["parity_max_abs_diff"] <= 1e-4
    x, desc = windows(5, seed=3)
    feat = classical_features(x, eps, "td+cov+d")
    with torch.no_grad():
        z_torch = net(torch.from_numpy(x), torch.from_numpy(desc), torch.from_numpy(feat)).numpy()
    assert float(np.abs(model.encode(x, desc) - z_torch).max()) <= 1e-4
    with torch.no_grad():  # the features matter: other features, another z
        shuffled = torch.from_numpy(feat[::-1].copy())
        z_other = net(torch.from_numpy(x), torch.from_numpy(desc), shuffled).numpy()
    assert float(np.abs(z_other - z_torch).max()) > 1e-3
    with pytest.raises(ValueError, match="window features"):
        net(torch.from_numpy(x), torch.from_numpy(desc))


def test_one_window_runs_a_fixed_batch_graph_with_the_same_output(exported, exported_wf) -> None:
    """A live hop (one window) goes through a second session of the graph with the batch fixed to 1
    (onnxruntime folds the shape arithmetic away): the same embeddings as the batch session."""
    for out in (exported[0], exported_wf[0]):
        model = MyoSemModel.load(out)
        x, desc = windows(6, seed=4)
        batch = model.encode(x, desc)
        assert model._single is None  # a batch does not build it
        one = np.concatenate([model.encode(x[i], desc[i]) for i in range(len(x))])
        assert model._single is not None and model._single is not model.session
        assert [i.shape[0] for i in model._single.get_inputs()] == [1] * len(model._single.get_inputs())
        np.testing.assert_allclose(one, batch, atol=1e-5)
        assert float(np.abs(one[0] - one[1]).max()) > 1e-3  # different windows, different z


@pytest.mark.parametrize("entry", [{"set": "td+cov+d+z", "eps": [1.0] * 4}, {"set": "td", "eps": [1.0] * 3},
                                   "td+cov+d", {"set": "mfcc", "eps": [1.0] * 4}])
def test_bad_window_feature_manifest_is_one_line_error(exported_wf, tmp_path, entry) -> None:
    out = broken_copy(exported_wf[0], tmp_path / "m")
    manifest = json.loads((out / rtt.MANIFEST).read_text())
    manifest["window_features"] = entry
    (out / rtt.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="window_features") as err:
        MyoSemModel.load(out, verify=False)
    assert "\n" not in str(err.value)


def test_session_statistics_travel_in_the_manifest_and_run_per_stream(exported_wf, tmp_path) -> None:
    """An encoder trained with session statistics (ModelConfig.window_session_prior): the runtime keeps
    the stream's running statistics, so one call on a sequence equals window-by-window calls, a new session
    starts over, and eval's encode runs each recording from a fresh session in time order."""
    from myosem_rt.commands.eval import encode
    from myosem_rt.profile.features import classical_features
    from myosem_rt.session_stats import SessionStats

    src, net, eps = exported_wf
    x, desc = windows(64)
    feat = classical_features(x, eps, "td+cov+d")
    stats = SessionStats(feat.mean(axis=0), feat.var(axis=0), prior_hops=20)
    xp, dp = windows(32, seed=1)
    protos = rtt.build_prototypes(fake_encode, [(VOCAB.name, c.class_id, c.action,
                                                 [[c.t0], [c.t1], [c.t2], list(c.t3)]) for c in VOCAB])
    out = tmp_path / "m"
    (out / "text").mkdir(parents=True)
    (out / "text" / rtt.MANIFEST).write_text(json.dumps({"format": rtt.FORMAT}))
    write_model_dir(out, net.eval(), vocabulary=VOCAB, text_prototypes=protos,
                    train_class_ids=[c.class_id for c in VOCAB], fs=FS, hop=10, dataset="3DC",
                    runtime_config=load_config(), extra={"command": "pytest"},
                    parity_windows=(xp, dp, classical_features(xp, eps, "td+cov+d")),
                    window_features={"set": "td+cov+d", "eps": eps, "session": stats})
    model = MyoSemModel.load(out)
    assert model.session_stats is not None and model.session_stats.prior_hops == 20
    xs, ds = windows(6, seed=4)
    together = model.encode(xs, ds)
    model.new_session()
    one_by_one = np.concatenate([model.encode(xs[i : i + 1], ds[i : i + 1]) for i in range(6)])
    np.testing.assert_allclose(one_by_one, together, atol=1e-5)
    model.new_session()
    f = classical_features(xs, eps, "td+cov+d")
    with torch.no_grad():
        z_torch = net(torch.from_numpy(xs), torch.from_numpy(ds),
                      torch.from_numpy(SessionStats(stats.mean0, stats.var0, 20).normalise(f))).numpy()
    np.testing.assert_allclose(model.encode(xs, ds), z_torch, atol=1e-4)
    assert float(np.abs(model.encode(xs, ds) - z_torch).max()) > 1e-4  # the same windows again: moved on

    class WS:  # two recordings, interleaved and out of time order
        x, desc, hop = xs, ds, 10
        file_index = np.array([0, 1, 0, 1, 0, 1])
        start = np.array([20, 0, 0, 10, 10, 20])
        def __len__(self) -> int:
            return 6

    z = encode(model, WS(), batch=2)
    model.new_session()
    want_a = model.encode(xs[[2, 4, 0]], ds[[2, 4, 0]])
    model.new_session()
    want_b = model.encode(xs[[1, 3, 5]], ds[[1, 3, 5]])
    np.testing.assert_allclose(z[[2, 4, 0]], want_a, atol=1e-5)
    np.testing.assert_allclose(z[[1, 3, 5]], want_b, atol=1e-5)

    manifest = json.loads((out / rtt.MANIFEST).read_text())
    manifest["window_features"]["session"]["mean"] = [0.0]
    bad = broken_copy(out, tmp_path / "bad")
    (bad / rtt.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="window_features.session") as err:
        MyoSemModel.load(bad, verify=False)
    assert "\n" not in str(err.value)

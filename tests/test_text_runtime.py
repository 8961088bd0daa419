"""Runtime text encoder: export round-trip, prototypes, artefact errors, and no torch in the runtime."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from myosem_rt import text_encoder as rt  # noqa: E402
from myosem_rt.vocab import load_vocabulary  # noqa: E402
from train.text.stage1 import (  # noqa: E402
    NOVEL_SENTENCES,
    Stage1Config,
    collect_training_texts,
    export_text_model,
    make_tower,
    prototype_classes,
    torch_encoder,
    train_stage1,
)

#: int8 linears + 4-bit word embeddings: measured cosine to fp32 torch >= 0.990 on every vocabulary text of
#: all packaged vocabularies (mean ~0.997); 0.98 per text leaves room for other weights, 0.99 on the mean.
MIN_COSINE, MIN_MEAN_COSINE = 0.98, 0.99


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    vocabs = [load_vocabulary("ciil")]
    cfg = Stage1Config(steps=2, batch_actions=5, seed=0)
    tower = make_tower(cfg)
    train_stage1(tower, collect_training_texts(vocabs), cfg)
    text_dir = export_text_model(tower, tmp_path_factory.mktemp("model"), vocabs, cfg, {"note": "test"})
    return tower, vocabs, text_dir


def test_export_round_trip_matches_torch(exported) -> None:
    tower, vocabs, text_dir = exported
    encoder = rt.TextEncoder.load(text_dir.parent)  # the model dir resolves to its text/ folder
    texts = [t for *_, views in prototype_classes(vocabs) for vt in views for t in vt] + list(NOVEL_SENTENCES)
    got = encoder.encode(texts)
    ref = torch_encoder(tower)(texts)
    assert got.shape == ref.shape == (len(texts), tower.dim) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * ref).sum(1)
    assert cos.min() >= MIN_COSINE and cos.mean() >= MIN_MEAN_COSINE
    manifest = json.loads((text_dir / rt.MANIFEST).read_text())
    assert manifest["training"]["note"] == "test" and manifest["training"]["steps"] == 2
    assert manifest["export_check"]["cosine_vocab_mean"] >= MIN_MEAN_COSINE
    assert sum(f["bytes"] for f in manifest["files"].values()) < 20e6
    # batching and padding do not change an embedding
    np.testing.assert_allclose(encoder.encode(texts[:1]), got[:1], atol=1e-5)


def test_prototypes_round_trip(exported, tmp_path: Path) -> None:
    _, vocabs, text_dir = exported
    encoder = rt.TextEncoder.load(text_dir)
    shipped = encoder.prototypes()
    assert list(shipped.class_id) == [c.class_id for c in vocabs[0].classes]
    assert list(shipped.action) == [c.action for c in vocabs[0].classes]
    assert shipped.views == rt.VIEWS and shipped.view_embeddings.shape[:2] == (len(vocabs[0]), 4)
    rebuilt = rt.build_prototypes(encoder.encode, prototype_classes(vocabs))
    np.testing.assert_allclose(rebuilt.prototypes, shipped.prototypes, atol=1e-5)
    rebuilt.save(tmp_path / "p.npz")
    again = rt.TextPrototypes.load(tmp_path / "p.npz")
    for field in ("vocab", "class_id", "action", "label", "view_embeddings", "prototypes"):
        assert np.array_equal(getattr(again, field), getattr(rebuilt, field)), field
    np.testing.assert_allclose(np.linalg.norm(again.prototypes, axis=1), 1.0, atol=1e-5)


def test_encode_edge_cases(exported) -> None:
    encoder = rt.TextEncoder.load(exported[2])
    assert encoder.encode([]).shape == (0, encoder.dim)
    with pytest.raises(TypeError):
        encoder.encode("make a fist")
    long = encoder.encode(["grip " * 400])  # truncated at max_len, still one unit vector
    assert long.shape == (1, encoder.dim) and np.isfinite(long).all()


def _copy(text_dir: Path, dest: Path) -> Path:
    shutil.copytree(text_dir, dest)
    return dest


def test_missing_or_corrupt_artefact_gives_one_line_errors(exported, tmp_path: Path) -> None:
    text_dir = exported[2]
    cases = []
    cases.append((tmp_path / "nowhere", "not found"))
    (tmp_path / "empty").mkdir()
    cases.append((tmp_path / "empty", "no manifest.json"))
    bad_json = _copy(text_dir, tmp_path / "json")
    (bad_json / rt.MANIFEST).write_text("{not json", encoding="utf-8")
    cases.append((bad_json, "corrupt manifest"))
    tampered = _copy(text_dir, tmp_path / "tampered")
    data = bytearray((tampered / rt.ONNX_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tampered / rt.ONNX_FILE).write_bytes(bytes(data))
    cases.append((tampered, "corrupt (sha256"))
    missing = _copy(text_dir, tmp_path / "missing")
    (missing / rt.TOKENIZER_FILE).unlink()
    cases.append((missing, "tokenizer.json: missing"))
    for path, message in cases:
        with pytest.raises(rt.TextModelError) as info:
            rt.TextEncoder.load(path)
        assert message in str(info.value) and "\n" not in str(info.value), (path, str(info.value))
    truncated = _copy(text_dir, tmp_path / "truncated")
    (truncated / rt.ONNX_FILE).write_bytes((text_dir / rt.ONNX_FILE).read_bytes()[:1000])
    with pytest.raises(rt.TextModelError, match="cannot load ONNX model"):
        rt.TextEncoder.load(truncated, verify=False)


def test_runtime_never_imports_torch(exported) -> None:
    code = (
        "import sys, json\n"
        "import myosem_rt.text_encoder as t\n"
        f"e = t.TextEncoder.load({str(exported[2])!r})\n"
        "x = e.encode(['squeeze my fingers into the palm', 'wave'])\n"
        "p = e.prototypes()\n"
        "print(json.dumps([list(x.shape), 'torch' in sys.modules, 'transformers' in sys.modules,"
        " len(p.class_id)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    shape, has_torch, has_transformers, n_classes = json.loads(out.stdout.strip().splitlines()[-1])
    assert shape == [2, 384] and n_classes == len(exported[1][0])
    assert not has_torch and not has_transformers


def test_bench_text_prints_figures(exported, capsys: pytest.CaptureFixture[str]) -> None:
    assert rt.bench_text(Namespace(data=str(exported[2]), quick=True), {}) == 0
    out = capsys.readouterr().out
    assert "median" in out and "p99" in out and "MB on disk" in out

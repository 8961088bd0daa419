"""Stages 2 and 3 under ``torchrun --nproc_per_node=2`` (gloo, CPU): both ranks end with identical weights.

Without gradient synchronisation the two ranks, which train on different halves of the windows, would
diverge; identical weights therefore show that DDP averaged every step (about 15 s on 2 cores).

The test launches this file as the torchrun worker script; the worker trains a toy problem through the
same :func:`train_stage2` / :func:`train_stage3` that ``myosem train`` uses and saves each rank's weights.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]


def worker(out: Path) -> None:
    """One rank: identical seeds and data on every rank; the DistributedSampler shards the windows."""
    sys.path.insert(0, str(REPO))
    from myosem_rt.descriptors import patch_descriptors
    from train.emg.model import Dims, ModelConfig, MyoSemNet
    from train.emg.stages import (
        Stage2Config,
        Stage3Config,
        as_tensors,
        setup_distributed,
        teardown_distributed,
        train_stage2,
        train_stage3,
    )

    torch.set_num_threads(1)
    ctx = setup_distributed("cpu")
    dims = Dims(n_channels=4, window=40, patch=5, n_classes=3, text_dim=16)
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    x = (rng.standard_normal((120, 40, 4)) * (1.0 + 2.0 * np.eye(4)[y][:, None, :])).astype(np.float32)
    data = as_tensors(x, patch_descriptors(x, 5).astype(np.float32), y)
    torch.manual_seed(0)
    net = MyoSemNet(ModelConfig(d_model=32, n_layers=2, n_heads=4, codebook_size=16, n_queries=2), dims)
    net.encoder.norm.fit(x, patch_descriptors(x, 5))
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    ckpt = out / "checkpoints"
    h2 = train_stage2(net, data, Stage2Config(epochs=2, batch_size=32), ctx, ckpt, "ddp-toy")
    g = torch.Generator().manual_seed(1)
    protos = torch.nn.functional.normalize(torch.randn(3, 16, generator=g), dim=-1)
    h3 = train_stage3(net, data, protos, Stage3Config(epochs_frozen=2, epochs_unfrozen=1, batch_size=32), ctx,
                      ckpt, "ddp-toy")
    torch.save({"state": net.state_dict(), "initial": initial, "world": ctx.world,
                "history": [h["loss"] for h in h2 + h3]}, out / f"rank{ctx.rank}.pt")
    teardown_distributed()


def test_two_ranks_end_with_identical_weights(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
           str(Path(__file__).resolve()), str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert ranks[0]["history"] == ranks[1]["history"]  # epoch figures are all-reduced over both shards
    for key, value in ranks[0]["state"].items():
        torch.testing.assert_close(ranks[1]["state"][key], value, rtol=0, atol=0, msg=key)
    moved = [k for k, v in ranks[0]["state"].items() if not torch.equal(v, ranks[0]["initial"][k])]
    assert any(k.startswith("encoder.") for k in moved) and any(k.startswith("align.") for k in moved)
    # only rank 0 writes checkpoints: one file per phase
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "stage2.pt", "stage3_frozen.pt", "stage3_unfrozen.pt"]


if __name__ == "__main__":
    worker(Path(sys.argv[1]))

"""DistributedDataParallel on CPU: 2 processes under torchrun with gloo, each rank training on its own shard.

This file doubles as the worker script (``torchrun --nproc_per_node 2 tests/test_ddp.py OUT``): each rank
records the sample indices the engine handed to ``train_epoch`` and which rank wrote epoch files, trains with
the ordinary ``fit``, and saves its final weights for the test to compare.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from charclf.data import CharDataset, DataBundle
from charclf.models import create_model
from charclf.train import OptimizerConfig, TrainConfig, fit

CLASSES = tuple("abcd")
N_TRAIN = 192
CONFIG = TrainConfig(model="lenet5_keras", epochs=2, batch_size=16, seed=3, log_every=4,
                     optimizer=OptimizerConfig(name="sgd", lr=0.05))


def data() -> DataBundle:
    g = torch.Generator().manual_seed(0)

    def part(n, name):
        y = torch.arange(n) % len(CLASSES)
        x = (torch.rand(n, 28, 28, generator=g) * 60).to(torch.uint8)
        for c in range(len(CLASSES)):
            x[y == c, 3 + 6 * c:7 + 6 * c, 5:23] = 250
        return CharDataset(x, y, CLASSES, "synthetic", name, "holdout")

    return DataBundle(part(N_TRAIN, "train"), part(64, "val"), part(64, "test"), "synthetic", "holdout", CLASSES)


def worker(out: Path) -> None:
    import torch.distributed as dist

    from charclf.train import engine, run_folder

    rank = int(os.environ["RANK"])
    seen, writers = [], []
    real_train_epoch, real_save_epoch = engine.train_epoch, run_folder.save_epoch

    def recording_train_epoch(*args, indices=None, **kw):
        seen.append(indices.tolist())
        return real_train_epoch(*args, indices=indices, **kw)

    def recording_save_epoch(*args, **kw):
        writers.append(rank)
        return real_save_epoch(*args, **kw)

    engine.train_epoch, run_folder.save_epoch = recording_train_epoch, recording_save_epoch
    torch.manual_seed(0)
    model = create_model(CONFIG.model, num_classes=len(CLASSES))
    history = fit(model, data(), CONFIG, out / "run", progress=False)
    assert not dist.is_initialized()  # fit tears down the group it created
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, out / f"weights{rank}.pt")
    (out / f"rank{rank}.json").write_text(json.dumps({"seen": seen, "writers": writers,
                                                        "train_loss": history.train_loss.tolist()}))


@pytest.mark.slow  # two torchrun processes
def test_two_gloo_ranks_train_disjoint_shards_and_only_rank0_writes(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__,
           str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for epoch in range(CONFIG.epochs):
        a, b = (set(r["seen"][epoch]) for r in ranks)
        assert len(a) == len(b) == N_TRAIN // 2 and not a & b and a | b == set(range(N_TRAIN))
    assert ranks[0]["seen"][0] != ranks[0]["seen"][1]  # a new order every epoch
    # Metrics are all-reduced: both ranks report the same history.
    assert ranks[0]["train_loss"] == ranks[1]["train_loss"]
    # DDP keeps the replicas identical.
    w0, w1 = (torch.load(tmp_path / f"weights{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    # Only rank 0 wrote the run folder, and it is complete.
    assert ranks[0]["writers"] == [0, 0] and ranks[1]["writers"] == []
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and (tmp_path / "run" / "model.safetensors").exists()


if __name__ == "__main__":
    worker(Path(sys.argv[1]))

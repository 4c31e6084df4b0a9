"""Data-parallel training with torch.distributed (gloo on CPU), as torchrun would run it."""
import json
import os
import socket
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from darnzip.images.config import DarnConfig
from darnzip.images.train import TrainSettings, train

from ..conftest import random_binary_images

TINY = DarnConfig(image_shape=(6, 6), latent_sizes=(8,), q_autoregressive=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, run_dir: str, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    data = np.tile(random_binary_images(8, (6, 6), seed=2, density=0.3), (32, 1, 1))
    settings = TrainSettings(epochs=2, batch_size=32, learning_rate=1e-2, samples=2, seed=0, device="cpu")
    model = train(TINY, settings, data, data[:64], Path(run_dir), progress=False, log=lambda s: None)
    results[rank] = torch.cat([p.detach().flatten() for p in model.parameters()]).numpy()
    dist.destroy_process_group()


def test_two_gloo_processes_train_one_model(tmp_path):
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), results), nprocs=2, join=True)
    assert np.array_equal(results[0], results[1]), "ranks diverged: gradients were not averaged"
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2
    history = json.loads(state["history"])
    assert history[1]["train_fe_bits"] < history[0]["train_fe_bits"]
    assert json.loads((tmp_path / "settings.json").read_text())["processes"] == 2

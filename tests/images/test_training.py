"""Training: both estimators give finite gradients, training lowers the free energy, and runs resume."""
import numpy as np
import pytest
import torch

from darnzip.images.estimators import estimator_loss
from darnzip.images.model import Darn, DarnConfig
from darnzip.images.train import TrainSettings, free_energy_bits, train

from ..conftest import random_binary_images

TINY = DarnConfig(image_shape=(6, 6), latent_sizes=(8,), q_autoregressive=True)
DETERMINISTIC = DarnConfig(image_shape=(6, 6), latent_sizes=(8, 4), q_autoregressive=False, deterministic_units=5)


@pytest.mark.parametrize("estimator,samples,config", [("rloo", 2, TINY), ("rloo", 5, TINY), ("taylor", 1, TINY),
                                                     ("rloo", 2, DETERMINISTIC), ("taylor", 1, DETERMINISTIC)])
def test_estimators_give_finite_gradients_for_every_parameter(estimator, samples, config):
    torch.manual_seed(0)
    model = Darn(config)
    x = torch.from_numpy(random_binary_images(16, (6, 6), seed=1).reshape(16, -1)).float()
    loss, free_energy = estimator_loss(estimator, model, x, samples)
    loss.backward()
    assert torch.isfinite(free_energy) and free_energy > 0
    for name, p in model.params.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.params["q_1_bias"].grad.abs().sum() > 0  # the posterior gets a learning signal
    if config.deterministic_units:  # the straight-through rounding passes gradient to the hidden weights
        assert model.params["p_0_hidden"].grad.abs().sum() > 0


def test_training_lowers_free_energy_and_resumes(tmp_path):
    data = np.tile(random_binary_images(8, (6, 6), seed=2, density=0.3), (40, 1, 1))  # 8 patterns to learn
    settings = TrainSettings(epochs=2, batch_size=32, learning_rate=1e-2, estimator="rloo", samples=2, seed=0)
    untrained = free_energy_bits(Darn(TINY), data[:64], "cpu")
    model = train(TINY, settings, data, data[:64], tmp_path, progress=False, log=lambda s: None)
    after_two = free_energy_bits(model, data[:64], "cpu")
    assert after_two < untrained - 5
    settings.epochs = 3
    logs = []
    train(TINY, settings, data, data[:64], tmp_path, progress=False, log=logs.append)
    assert logs[0].startswith("resumed") and len(logs) == 2  # the resume line and one more epoch

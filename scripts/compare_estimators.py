"""Measure the gradient estimators and posterior families against each other (short runs, same seed).

Prints, per (posterior, estimator): validation free energy after E epochs, seconds per epoch, and the
variance of the q-gradient estimate at the same trained state (sum over q parameters, 32 draws).
"""
import json, sys, time
from pathlib import Path
import torch
from darnzip.images.datasets import load_binary_mnist
from darnzip.images.estimators import estimator_loss
from darnzip.images.model import DarnConfig
from darnzip.images.train import TrainSettings, train, free_energy_bits

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
tr, va = load_binary_mnist("train"), load_binary_mnist("valid")[:2000]

def q_grad_variance(model, estimator, samples, x, draws=32):
    grads = []
    qparams = [p for n, p in model.params.items() if n.startswith("q_")]
    for _ in range(draws):
        loss, _ = estimator_loss(estimator, model, x, samples)
        g = torch.autograd.grad(loss, qparams)
        grads.append(torch.cat([t.flatten() for t in g]))
    g = torch.stack(grads)
    return float(g.var(0).sum()), g.mean(0)

results = []
for qar in (False, True):
    for estimator, samples in (("rloo", 2), ("taylor", 1)):
        cfg = DarnConfig(latent_sizes=(400,), q_autoregressive=qar)
        st = TrainSettings(epochs=epochs, estimator=estimator, samples=samples, seed=0)
        t = time.time()
        model = train(cfg, st, tr, va, Path(f"runs/compare/{qar}-{estimator}"), resume=False, progress=False, log=lambda s: None)
        secs = (time.time() - t) / epochs
        results.append(dict(q_autoregressive=qar, estimator=estimator, samples=samples, epochs=epochs,
                            valid_fe_bits=round(free_energy_bits(model, va, "cpu"), 2), seconds_per_epoch=round(secs, 1)))
        # variance of both estimators at this trained state, on one fixed batch
        x = torch.from_numpy(tr[:128].reshape(128, -1)).float()
        for e2, k2 in (("rloo", 2), ("taylor", 1)):
            var, _ = q_grad_variance(model, e2, k2, x)
            results[-1][f"qgrad_var_{e2}"] = var
        print(json.dumps(results[-1]), flush=True)

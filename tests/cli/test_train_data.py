"""`darnzip train DATA...`: a DARN trained on the user's own binary images, of their size, that then codes
them; `darnzip data fashion-mnist` from Debian's package."""
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from darnzip_cli.main import main
from PIL import Image


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def blobs(count: int, seed: int, shape=(12, 10)) -> np.ndarray:
    """Binary images of one or two filled rectangles: structure a small DARN can learn."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, *shape), np.uint8)
    for image in images:
        for _ in range(rng.integers(1, 3)):
            top, left = rng.integers(0, shape[0] - 3), rng.integers(0, shape[1] - 3)
            image[top:top + rng.integers(2, 6), left:left + rng.integers(2, 6)] = 1
    return images


def test_a_darn_trained_on_your_images_codes_them_and_resumes(tmp_path):
    images = blobs(60, seed=1)
    (tmp_path / "pngs").mkdir()
    for i, image in enumerate(images[:40]):
        Image.fromarray(image * 255).save(tmp_path / "pngs" / f"b{i:02d}.png")
    np.save(tmp_path / "more.npy", images[40:])
    stem, run_dir = tmp_path / "models" / "blobs-v1", tmp_path / "run"
    args = ["train", tmp_path / "pngs", tmp_path / "more.npy", "--epochs", "2", "--latents", "8",
            "--batch-size", "8", "--run-dir", run_dir, "--device", "cpu", "--model-id", "blobs-v1"]
    result = run(*args, "--export", stem)
    assert result.exit_code == 0, result.output
    assert "60 images from" in result.output and "54 to train on, 6 held out" in result.output
    assert '"epoch": 2' in result.output and '"valid_fe_bits"' in result.output
    assert '"step": ' in result.output  # progress lines for logs (stderr is not a terminal here)

    model = stem.with_suffix(".safetensors")
    archive = tmp_path / "blobs.dz"
    made = run("compress", tmp_path / "more.npy", "-o", archive, "--model", model, "-T", "1", "--particles", "1")
    assert made.exit_code == 0, made.output
    assert "20 images 10x12" in run("list", archive).output
    assert run("decompress", archive, "-o", tmp_path / "back.npy", "--model", model, "-q").exit_code == 0
    assert np.array_equal(np.load(tmp_path / "back.npy"), images[40:])

    again = run(*args, "--epochs", "3", "--export", tmp_path / "models" / "blobs-v2", "--model-id", "blobs-v2")
    assert again.exit_code == 0 and "at epoch 2" in again.output and '"epoch": 3' in again.output


def test_images_of_two_sizes_are_refused_before_training(tmp_path):
    (tmp_path / "pngs").mkdir()
    Image.fromarray(blobs(1, 2)[0] * 255).save(tmp_path / "pngs" / "a.png")
    Image.fromarray(blobs(1, 3, (9, 9))[0] * 255).save(tmp_path / "pngs" / "b.png")
    result = run("train", tmp_path / "pngs", "--epochs", "1", "--run-dir", tmp_path / "run", "--device", "cpu")
    assert result.exit_code == 1 and "b.png: image is 9x9" in result.output
    assert not (tmp_path / "run").exists()


def test_fashion_mnist_from_the_debian_package(tmp_path):
    from darnzip.images.datasets import FASHION_MNIST_DIR

    if not Path(FASHION_MNIST_DIR).exists():
        result = run("data", "fashion-mnist", "-o", tmp_path / "f.npy")
        assert result.exit_code == 1 and "apt install dataset-fashion-mnist" in result.output
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    assert run("data", "fashion-mnist", "--split", "test", "--limit", "50", "-o", tmp_path / "f.npy").exit_code == 0
    images = np.load(tmp_path / "f.npy")
    assert images.shape == (50, 28, 28) and set(np.unique(images)) == {0, 1} and 0.2 < images.mean() < 0.7

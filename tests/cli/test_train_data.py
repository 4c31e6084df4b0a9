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


def test_statically_binarised_mnist_is_one_fixed_draw_of_the_intensities(tmp_path):
    from darnzip.images.datasets import _mnist_splits, load_dataset, load_static_mnist

    test = load_static_mnist("test")
    grey = _mnist_splits()[2][0].reshape(-1, 28, 28)
    assert np.array_equal(test, load_dataset("mnist-static-test"))  # the same draw every time
    assert test.shape == (10_000, 28, 28) and set(np.unique(test)) == {0, 1}
    assert abs(test.mean() - grey.mean()) < 0.002  # Bernoulli(intensity): the mean intensity, in expectation
    assert not test[grey == 0].any() and test[grey == 1].all()  # certain pixels are what they are
    differ = np.minimum(grey, 1 - grey).mean()  # how often a draw differs from thresholding, in expectation
    assert abs((test != (grey > 0.5)).mean() - differ) < 0.001
    assert not np.array_equal(load_static_mnist("train")[:100], load_static_mnist("valid")[:100])
    result = run("data", "mnist", "--binarize", "static", "--split", "test", "--limit", "7", "-o", tmp_path / "s.npy")
    assert result.exit_code == 0 and np.array_equal(np.load(tmp_path / "s.npy"), test[:7])
    assert run("report", "--data", "no-such-set", "--plot", "").exit_code == 1


def test_report_on_static_mnist_shows_the_published_figures_beside_its_own(tmp_path):
    result = run("report", "--data", "mnist-static-test", "--limit", "20", "--samples", "2", "--particles", "1",
                 "--no-baselines", "--plot", "", "--json", tmp_path / "r.json", "-T", "1")
    assert result.exit_code == 0, result.output
    assert "published on this data set" in result.output and "84.13 nats" in result.output
    import json

    figures = json.loads((tmp_path / "r.json").read_text())
    assert figures["images"] == 20 and [row["bits_per_image"] for row in figures["published"]] == \
        pytest.approx([121.37, 148.96], abs=0.01)


def test_compress_refusing_another_size_says_how_to_get_a_model_for_it(tmp_path):
    Image.fromarray(blobs(1, 4)[0] * 255).save(tmp_path / "small.png")
    result = run("compress", tmp_path / "small.png", "-o", tmp_path / "s.dz", "--model", "mnist-binary-v1")
    assert result.exit_code == 1 and "image is 10x12, the model codes 28x28" in result.output
    assert "page model" in result.output and "darnzip train DATA..." in result.output
    assert not (tmp_path / "s.dz").exists()

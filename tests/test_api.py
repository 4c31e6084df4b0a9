"""The Python API's documented examples run as tests, and `import darnzip` stays light."""
import doctest
import subprocess
import sys

import numpy as np
import pytest

import darnzip
import darnzip.api


@pytest.mark.parametrize("module, examples", [("darnzip.api", 8), ("darnzip.access", 4), ("darnzip.scale", 6)])
def test_the_documented_examples_run(module, examples):
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted >= examples and result.failed == 0


def test_import_darnzip_does_not_load_torch():
    code = "import sys, darnzip; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize("dtype, lo, hi", [(np.uint8, 0, 255), (np.int16, -3, 7), (np.bool_, False, True)])
def test_images_of_any_two_values_and_integer_dtype_round_trip(dtype, lo, hi):
    bits = np.random.default_rng(3).random((9, 28, 28)) < 0.2
    images = np.where(bits, hi, lo).astype(dtype)
    restored = darnzip.decompress_images(darnzip.compress_images(images, particles=1))
    assert restored.dtype == images.dtype and np.array_equal(restored, images)


def test_wrong_arrays_are_refused_with_a_message():
    with pytest.raises(ValueError, match="28, 28"):
        darnzip.compress_images(np.zeros((2, 5, 5), np.uint8))
    with pytest.raises(Exception, match="not a binary image"):
        darnzip.compress_images(np.arange(784 * 2).reshape(2, 28, 28) % 3)


def test_the_readme_library_example_runs():
    """The README's first library example is the one users copy: it must run as printed."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## As a library"):]
    code = section[section.index("```python") + len("```python"):section.index("```", section.index("```python") + 3)]
    assert "open_archive" in code
    exec(compile(code, "README.md", "exec"), {})

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
        darnzip.compress_images(np.zeros((2, 5, 5), np.uint8), model="mnist-binary-v1")
    with pytest.raises(ValueError, match="integer"):
        darnzip.compress_images(np.zeros((2, 5, 5), np.float32))
    with pytest.raises(Exception, match="not a binary image"):
        darnzip.compress_images(np.arange(784 * 2).reshape(2, 28, 28) % 3)


def test_images_of_another_size_use_the_page_model():
    images = (np.random.default_rng(5).random((4, 5, 9)) < 0.3).astype(np.uint16) * 300
    data = darnzip.compress_images(images)
    back = darnzip.decompress_images(data)
    assert back.dtype == np.uint16 and np.array_equal(back, images)
    with darnzip.open_archive(data) as archive:
        assert archive.members[0].header["coder"]["name"] == "pages-ans/context-copy-1"
        assert np.array_equal(archive.read(1, 3), images[1:3])


def test_the_readme_library_example_runs():
    """The README's first library example is the one users copy: it must run as printed."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## As a library"):]
    code = section[section.index("```python") + len("```python"):section.index("```", section.index("```python") + 3)]
    assert "open_archive" in code
    exec(compile(code, "README.md", "exec"), {})


def test_random_access_refuses_what_it_cannot_index_with_one_error():
    from pathlib import Path

    images = (np.random.default_rng(4).random((12, 28, 28)) < 0.2).astype(np.uint8)
    data = darnzip.compress_images(images, particles=1, chunk_size=5)
    golden = (Path(__file__).parent / "golden" / "factorised-v2.dz").read_bytes()
    for broken, message in ((data[:-1], "no chunk index"), (data + b"\0" * 40, "no chunk index"),
                            (golden, "older format"), (b"", "empty")):
        with pytest.raises(darnzip.ArchiveError, match=message):
            darnzip.open_archive(broken)
    damaged = bytearray(data)
    damaged[-30] ^= 1  # inside the index's offsets
    with pytest.raises(darnzip.ArchiveError):
        darnzip.open_archive(bytes(damaged))
    with darnzip.open_archive(data) as archive:
        offsets = archive.members[0].index.offsets
    damaged = bytearray(data)
    damaged[offsets[1] + 40] ^= 1  # inside chunk 1's record: chunks 0 and 2 still read
    with darnzip.open_archive(bytes(damaged)) as archive:
        assert np.array_equal(archive.read_chunk(2), images[8:])  # chunks of 4, 4, 4
        with pytest.raises(darnzip.ArchiveError, match="chunk 1"):
            archive.read_chunk(1)
    with darnzip.open_archive(data) as archive:
        with pytest.raises(IndexError):
            archive.read_chunk(3)
        assert np.array_equal(archive.read(-5, 100), images) and len(archive.read(7, 7)) == 0

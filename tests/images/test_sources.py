"""Input discovery, binary value mapping, header packing and safe output names."""
import numpy as np
import pytest

from darnzip.images.sources import (
    InputError,
    binary_values,
    find_inputs,
    pack_entries,
    safe_output_path,
    source_bytes,
    unpack_entries,
)


@pytest.mark.parametrize("values,expected", [([0, 1], (0, 1)), ([0, 255], (0, 255)), ([0], (0, 1)), ([255], (0, 255)),
                                             ([3, 7], (3, 7)), ([9], (9, 10))])
def test_binary_values(values, expected):
    lo, hi = binary_values(np.array(values), "x")
    assert (lo, hi) == expected
    assert set(values) <= {lo, hi} and lo != hi


def test_three_values_are_refused():
    with pytest.raises(InputError, match="3 distinct values"):
        binary_values(np.array([0, 1, 2]), "x")


def test_pack_and_unpack_are_inverse():
    entries = [
        {"type": "image", "name": f"{i}.png", "format": "PNG", "mode": "L", "lo": 0, "hi": 255} for i in range(3)
    ] + [{"type": "npy", "name": "a.npy", "dtype": "|u1", "shape": [2, 3, 3], "lo": 0, "hi": 1},
         {"type": "image", "name": "z.png", "format": "PNG", "mode": "1", "lo": 0, "hi": 255}]
    packed = pack_entries([dict(e) for e in entries])
    assert len(packed) == 3
    assert packed[0]["names"] == [{"prefix": "", "start": 0, "count": 3, "width": 0, "suffix": ".png"}]
    assert list(unpack_entries(packed)) == entries


@pytest.mark.parametrize("name", ["../x.png", "/etc/passwd", "a/../../b.png", ""])
def test_unsafe_names_are_refused(tmp_path, name):
    with pytest.raises(InputError):
        safe_output_path(tmp_path, name)


def test_symlink_loops_are_not_followed(tmp_path):
    from PIL import Image

    (tmp_path / "d").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "d" / "a.png")
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d", target_is_directory=True)
    assert [name for _, name in find_inputs([str(tmp_path / "d")])] == ["a.png"]


def test_npy_restores_dtype_and_values():
    import io

    entry = {"type": "npy", "name": "a.npy", "dtype": "<i4", "shape": [2, 2, 2], "lo": -1, "hi": 5}
    bits = np.array([[[0, 1], [1, 0]], [[1, 1], [0, 0]]], dtype=np.uint8)
    back = np.load(io.BytesIO(source_bytes(entry, bits)))
    assert back.dtype == np.int32 and np.array_equal(back, np.where(bits == 1, 5, -1))


@pytest.mark.parametrize("names", [
    [f"test_{i:04d}.png" for i in range(1000)],
    ["a.png", "b.png", "frame7.png", "frame8.png", "frame10.png", "x_01.png", "x_02.png", "x_2.png", "007", "008"],
    ["1.png", "2.png", "3.png", "10.png", "11.png", "0.png", "00.png", "000.png"],
])
def test_name_runs_are_exact_and_compact(names):
    from darnzip.core.names import decode_names, encode_names

    encoded = encode_names(names)
    assert decode_names(encoded) == names
    if len(names) == 1000:
        assert encoded == [{"prefix": "test_", "start": 0, "count": 1000, "width": 4, "suffix": ".png"}]

"""The page model: binary images of any size, coded exactly, with copies of repeated glyphs."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from darnzip.images.container import ArchiveReader
from darnzip.pages import pixels
from darnzip.pages.archive import ChunkPlan, compress_pages, decode_pages, open_pages
from darnzip.pages.codec import PageDecodeError, decode_page, encode_page
from darnzip.pages.model import PageModel
from darnzip.pages.modelfile import default_page_model
from darnzip.pages.patches import plan_patches, residual_of, stamp


def text_page(height: int = 300, width: int = 400, glyphs: int = 12, seed: int = 0) -> np.ndarray:
    """Lines of a few random 'glyphs' (blobs of ink) with varying gaps: a page that repeats its symbols."""
    rng = np.random.default_rng(seed)
    shapes = []
    for _ in range(glyphs):
        h, w = rng.integers(8, 15), rng.integers(5, 10)
        glyph = (rng.random((h, w)) < 0.55).astype(np.uint8)
        glyph[h // 2, :] = 1  # connected enough to be one or two components
        glyph[:, w // 2] = 1
        shapes.append(glyph)
    page = np.zeros((height, width), np.uint8)
    for top in range(5, height - 20, 22):
        x = 5
        while x < width - 15:
            glyph = shapes[rng.integers(glyphs)]
            h, w = glyph.shape
            page[top + 14 - h:top + 14, x:x + w] = glyph
            x += w + int(rng.integers(2, 4)) + (8 if rng.random() < 0.15 else 0)
    return page


def untrained() -> PageModel:
    return PageModel.untrained()


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (2, 3), (56, 56), (37, 211)])
@pytest.mark.parametrize("density", [0.0, 0.1, 0.5, 1.0])
def test_any_size_round_trips_exactly(shape, density):
    image = (np.random.default_rng(shape[0] * 31 + shape[1]).random(shape) < density).astype(np.uint8)
    code = encode_page(image, untrained())
    assert np.array_equal(decode_page(code.segments, shape, untrained()), image)


def test_copies_of_repeated_glyphs_round_trip_and_save_most_of_the_page():
    page = text_page()
    with_copies = encode_page(page, untrained())
    without = encode_page(page, untrained(), copies=False)
    assert with_copies.copies > 100 and with_copies.patches > with_copies.copies
    assert np.array_equal(decode_page(with_copies.segments, page.shape, untrained()), page)
    assert np.array_equal(decode_page(without.segments, page.shape, untrained()), page)
    assert with_copies.words < 0.6 * without.words


def test_a_copy_is_the_residual_stamped_from_its_root():
    page = text_page(seed=3)
    plan, lines, residual = plan_patches(page)
    assert np.array_equal(residual, residual_of(page, plan))
    assert np.array_equal(stamp(residual, plan), page)
    assert residual.sum() < page.sum() / 3  # the copies' ink is not coded as pixels
    listed = np.concatenate(lines)
    assert sorted(listed.tolist()) == list(range(len(plan)))
    copies = plan.copies
    assert np.all(plan.root[copies] < copies)  # a root is listed before its copies
    for i in copies[:50].tolist():
        r = plan.root[i]
        assert np.array_equal(page[plan.y0[i]:plan.y0[i] + plan.h[i], plan.x0[i]:plan.x0[i] + plan.w[i]],
                              page[plan.y0[r]:plan.y0[r] + plan.h[r], plan.x0[r]:plan.x0[r] + plan.w[r]])


def test_white_on_black_is_coded_as_cheaply_as_black_on_white():
    page = text_page(seed=5)
    plain, inverted = encode_page(page, untrained()), encode_page(1 - page, untrained())
    assert abs(plain.words - inverted.words) <= 2
    assert np.array_equal(decode_page(inverted.segments, page.shape, untrained()), 1 - page)


def test_bands_carry_their_context_and_counts(monkeypatch):
    monkeypatch.setattr(pixels, "BAND_PIXELS", 400 * 7)  # 7 rows a band
    page = text_page(100, 400, seed=2)
    code = encode_page(page, untrained())
    assert len(code.segments) == 15
    assert np.array_equal(decode_page(code.segments, page.shape, untrained()), page)


def test_encoder_and_decoder_tables_are_identical_after_a_band():
    import constriction

    band = text_page(60, 200, seed=7)
    above = np.zeros((0, 200), np.uint8)
    enc_table, dec_table = untrained().pixel_table(), untrained().pixel_table()
    coder = constriction.stream.stack.AnsCoder()
    pixels.push_band(coder, band, above, enc_table)
    decoder = constriction.stream.stack.AnsCoder(coder.get_compressed())
    assert np.array_equal(pixels.pop_band(decoder, 60, 200, above, dec_table), band)
    assert np.array_equal(enc_table.counts, dec_table.counts)
    assert not np.array_equal(enc_table.counts, untrained().pixel)  # it did adapt


def test_the_same_words_in_another_process_with_other_thread_counts():
    page = text_page(120, 300, seed=9)
    here = encode_page(page, untrained())
    root = Path(__file__).resolve().parents[2]
    script = ("import sys, numpy as np; from tests.pages.test_pages import text_page; "
              "from darnzip.pages.codec import encode_page; from darnzip.pages.model import PageModel; "
              "code = encode_page(text_page(120, 300, seed=9), PageModel.untrained()); "
              "sys.stdout.buffer.write(np.concatenate(code.segments).astype('<u4').tobytes())")
    for threads in ("1", "2"):
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "PYTHONPATH": str(root)}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, cwd=root)
        assert done.returncode == 0, done.stderr.decode()
        assert done.stdout == np.concatenate(here.segments).astype("<u4").tobytes()


def test_cut_or_padded_words_are_refused():
    page = text_page(80, 200, seed=4)
    words = np.concatenate(encode_page(page, untrained()).segments)
    for damaged in (words[:-3], np.concatenate([words, [7, 7]]).astype(np.uint32)):
        with pytest.raises(PageDecodeError):
            decode_page([damaged], page.shape, untrained())
    with pytest.raises(PageDecodeError):
        decode_page([words, words], page.shape, untrained())  # more segments than the page has bands


def test_archive_stacks_images_of_one_size_and_restores_every_source():
    model = default_page_model()
    small = np.stack([text_page(40, 56, seed=s) for s in range(30)])
    big = text_page(500, 300, seed=1)
    sources = [({"type": "npy", "name": "digits.npy", "dtype": "|u1", "shape": list(small.shape), "lo": 0, "hi": 1}, small),
               ({"type": "image", "name": "page.png", "format": "PNG", "mode": "1", "lo": 0, "hi": 255,
                 "shape": list(big.shape)}, big[None]),
               ({"type": "image", "name": "dot.png", "format": "PNG", "mode": "1", "lo": 0, "hi": 255, "shape": [1, 1]},
                np.ones((1, 1, 1), np.uint8))]
    buffer = io.BytesIO()
    stats = compress_pages(buffer, sources, *model)
    assert stats.images == 32 and stats.archive_bytes == len(buffer.getvalue())
    opened = open_pages(ArchiveReader(io.BytesIO(buffer.getvalue())))
    assert [opened.plan.chunk(i) for i in range(len(opened.plan))] == [(0, 30, 40, 56), (30, 1, 500, 300), (31, 1, 1, 1)]
    decoded = np.concatenate([flat.reshape(-1) for flat in decode_pages(opened)])
    assert np.array_equal(decoded, np.concatenate([small.reshape(-1), big.reshape(-1), [1]]))


@pytest.mark.slow
def test_a_10000_by_10000_image_round_trips_in_bounded_memory(tmp_path):
    """The encoder holds the image, its residual, one strip's components and one band's coding state;
    the decoder the residual, the page and a band: a few bytes a pixel, whatever the page holds. The
    code of 100 copies of a tile is no larger than 100 codes of the tile."""
    script = """
import resource, sys, numpy as np
from tests.pages.test_pages import text_page
from darnzip.pages.codec import encode_page, decode_page
from darnzip.pages.modelfile import default_page_model
tile = text_page(1000, 1000, seed=3)
model = default_page_model()[1]
alone = encode_page(tile, model).words
page = np.tile(tile, (10, 10))
code = encode_page(page, model)
assert np.array_equal(decode_page(code.segments, page.shape, model), page)
print(code.words, alone, code.copies, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr.decode()
    words, alone, copies, peak_mb = map(int, done.stdout.split())
    assert copies > 400_000 and words < 100 * alone
    assert peak_mb < 1500

"""Frame-side fixtures and helpers: toy palette streams and small frame models trained on them."""

from __future__ import annotations

import io
import json
import os
import shutil
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from darnzip_cli.main import main

from darnzip.frames.config import MOTIONS, STILL, FrameConfig
from darnzip.frames.latent_context import (
    BERNOULLI,
    CONTEXTS,
    LOGIT_BINS,
    LatentPrior,
    diagonal_order,
)
from darnzip.frames.model import FrameDarn, build_exact
from darnzip.frames.modelfile import load_frame_model, save_frame_model
from darnzip.frames.palette import Palette, pack_rgb
from darnzip.frames.stream import compress_frames
from darnzip.frames.train import train

PALETTE = np.array([[0, 0, 0], [200, 72, 72], [92, 186, 92], [236, 236, 236]], dtype=np.uint8)


def sprite_frames(count: int, seed: int, height: int = 24, width: int = 40) -> np.ndarray:
    """A ball and a paddle moving over a two-colour background: a tiny Atari-like RGB stream."""
    rng = np.random.default_rng(seed)
    idx = np.zeros((count, height, width), dtype=np.uint8)
    idx[:, :4] = 3
    by, bx, vy, vx, py = 8, 5, 1, 2, 10
    for t in range(count):
        idx[t, by:by + 2, bx:bx + 2] = 1
        idx[t, py:py + 6, width - 3:width - 1] = 2
        by, bx = by + vy, bx + vx
        if not 4 <= by <= height - 3:
            vy, by = -vy, by - 2 * vy
        if not 0 <= bx <= width - 3:
            vx, bx = -vx, bx - 2 * vx
        py = int(np.clip(py + rng.integers(-2, 3), 4, height - 6))
    return PALETTE[idx]


def trained_sprite_model(tmp_path_factory, model_id: str, motions=STILL):
    """A small frame model trained for a few steps on sprite frames, written and reloaded as a model file."""
    torch.manual_seed(0)
    rgb = sprite_frames(200, seed=1)
    palette = Palette(np.unique(pack_rgb(rgb)))
    frames = np.stack([palette.indices(f) for f in rgb])
    cfg = FrameConfig(24, 40, tuple(int(c) for c in palette.colours), block=8, hidden=8, motions=motions)
    model = None
    for model, _, _ in train(frames, cfg, epochs=1, batch=8, steps_per_epoch=40, lr=2e-2, rho=0.3):
        pass
    stem = tmp_path_factory.mktemp("frame-model") / model_id
    save_frame_model(stem, model_id, cfg, model.quantize(8), 8, frames[0])
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(scope="module")
def frame_model(tmp_path_factory):
    return trained_sprite_model(tmp_path_factory, "sprites-v1")


@pytest.fixture(scope="module")
def moving_model(tmp_path_factory):
    """The same, with motion vectors on copied blocks."""
    return trained_sprite_model(tmp_path_factory, "sprites-moving-v1", MOTIONS)


def _script(name: str):
    """A module of scripts/ (they are not a package), loaded from its file."""
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _with_history(loaded, tmp_path, model_id: str, history: int = 4, offset: float = 3.0):
    """The same weights whose copies may also read frames t-2..t-history (what scripts/add_history.py
    ships), with every lag as likely as none."""
    cfg, tensors = _script("add_history").with_history(loaded, history, offset, np.zeros(history))
    stem = tmp_path / model_id
    save_frame_model(stem, model_id, cfg, tensors, loaded.exact.frac_bits, loaded.reference)
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(scope="module")
def history_model(moving_model, tmp_path_factory):
    """The moving model whose copies may also read one of the last four frames."""
    return _with_history(moving_model, tmp_path_factory.mktemp("history-model"), "sprites-history-v1")


def _with_latent_context(loaded, tmp_path, model_id: str, frames: list[np.ndarray]):
    """The same weights with the latent-context table that scripts/add_latent_context.py fits on `frames`."""
    script = _script("add_latent_context")
    zero = np.zeros((script.CONTEXTS, script.LOGIT_BINS))
    _, recorder = script.code(loaded, *script.with_context(loaded, zero), [frames], motion_every=1)
    motion = script.fit_motion(loaded, recorder, {k: loaded.exact.integers[k] / (1 << loaded.exact.frac_bits)
                                                  for k in script.MOTION_TABLES})
    cfg, tensors = script.with_context(loaded, script.fit_offsets(recorder, loaded.exact.frac_bits), motion=motion)
    stem = tmp_path / model_id
    save_frame_model(stem, model_id, cfg, tensors, loaded.exact.frac_bits, loaded.reference)
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(scope="module")
def context_model(history_model, tmp_path_factory):
    """The history model whose prior over a block's latent also reads the latents coded before it, and
    whose copies draw their vectors from the posterior."""
    return _with_latent_context(history_model, tmp_path_factory.mktemp("context-model"), "sprites-context-v1",
                                list(sprite_frames(60, seed=21)))


@pytest.fixture(scope="module")
def class_model(context_model, tmp_path_factory):
    """The context model whose copies code their vector's class instead of popping it from the posterior
    (what scripts/add_vector_classes.py ships)."""
    cfg, tensors = _script("add_vector_classes").with_vector_classes(context_model)
    stem = tmp_path_factory.mktemp("class-model") / "sprites-classes-v1"
    save_frame_model(stem, "sprites-classes-v1", cfg, tensors, context_model.exact.frac_bits, context_model.reference)
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(scope="module")
def row_model(class_model, tmp_path_factory):
    """The class model with a row context (what scripts/add_row_context.py ships), at a 5-nat bonus."""
    cfg, tensors = _script("add_row_context").with_row_context(class_model, 5.0)
    stem = tmp_path_factory.mktemp("row-model") / "sprites-rows-v1"
    save_frame_model(stem, "sprites-rows-v1", cfg, tensors, class_model.exact.frac_bits, class_model.reference)
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(scope="module")
def linear_model(context_model, tmp_path_factory):
    """The context model with no hidden layer in its pixel model (what scripts/finetune_pixels.py --hidden 0
    ships): its units removed, then its tables fitted for two epochs to the pixels its coder draws."""
    from darnzip.frames.pixel_fit import (
        code_and_record,
        fit_pixel_tables,
        with_fewer_hidden_units,
        with_pixel_tables,
    )

    _, train_pixels = code_and_record(context_model, [list(sprite_frames(60, seed=31))])
    _, val_pixels = code_and_record(context_model, [list(sprite_frames(30, seed=32))])
    train_pixels, val_pixels = (pixels + (np.ones(len(pixels[1]), dtype=np.float32),)
                                for pixels in (train_pixels, val_pixels))
    exact = context_model.exact
    model = with_fewer_hidden_units(FrameDarn.from_integers(context_model.config, exact.integers, exact.frac_bits),
                                    train_pixels, 0)
    model, _ = fit_pixel_tables(model, train_pixels, val_pixels, epochs=2, lr=1e-2, batch=256)
    stem = tmp_path_factory.mktemp("linear-model") / "sprites-linear-v1"
    save_frame_model(stem, "sprites-linear-v1", model.cfg, with_pixel_tables(exact.integers, model, exact.frac_bits),
                     exact.frac_bits, context_model.reference)
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(params=["still", "moving", "history", "context", "class", "row", "linear"])
def any_model(request):
    """Each test that takes this runs with a still model, a moving one, one with a history, one with a
    latent context and a vector posterior, one with a latent context and vector classes, one with
    vector classes and a row context, and the context model with no hidden layer in its pixel model."""
    return request.getfixturevalue(f"{request.param}_model" if request.param != "still" else "frame_model")


def _archive(frame_model, frames, chunk_frames=16, workers=1, total=None) -> bytes:
    buffer = io.BytesIO()
    compress_frames(buffer, iter(frames), {"type": "npy", "name": "x.npy"}, frame_model, chunk_frames, workers,
                    total=total)
    return buffer.getvalue()


def _wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _with_references(loaded, more_references: np.ndarray, tmp_path, model_id: str):
    """The same weights with further reference frames (what scripts/add_references.py ships)."""
    stem = tmp_path / model_id
    save_frame_model(stem, model_id, loaded.config, loaded.exact.integers, loaded.exact.frac_bits,
                     loaded.reference, None, more_references)
    return load_frame_model(stem.with_suffix(".safetensors"))


def _reset_screen(frame_model) -> np.ndarray:
    """A palette-index frame far from any sprite frame: what a game shows after a reset, say."""
    screen = frame_model.reference.copy()
    screen[4:, :] = frame_model.palette.indices(PALETTE[[2]].reshape(1, 1, 3))[0, 0]
    return screen


def animated_frames(count: int, seed: int) -> list[np.ndarray]:
    """Sprite frames plus a block that cycles through three random poses, as SpaceInvaders' aliens do:
    no copy of frame t-1 reproduces it, a copy of frame t-3 does."""
    rgb = sprite_frames(count, seed)
    poses = PALETTE[np.random.default_rng(seed).integers(0, 4, (3, 8, 8))]
    rgb[:, 16:24, 8:16] = poses[np.arange(count) % 3]
    return list(rgb)


def _verbose_accounting(loaded, frames, tmp_path) -> dict:
    """What `darnzip compress -v` reports for the frames (one chunk, one process)."""
    np.save(tmp_path / "stream.npy", np.stack(frames))
    r = CliRunner().invoke(main, ["compress", str(tmp_path / "stream.npy"), "-o", str(tmp_path / "stream.dz"), "-f",
                                  "--model", str(loaded.weights_path), "-T", "1", "-v"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output[r.output.index("{"):r.output.rindex("}") + 1])


def _with_encoder_settings(loaded, tmp_path, encoder):
    """The model's two files copied to `tmp_path`, its JSON given `encoder` settings; returns the weights."""
    weights = tmp_path / loaded.weights_path.name
    shutil.copyfile(loaded.weights_path, weights)
    info = json.loads(loaded.weights_path.with_suffix(".json").read_text()) | {"encoder": encoder}
    weights.with_suffix(".json").write_text(json.dumps(info))
    return weights


def _random_prior(rng, blocks_y=7, blocks_x=5, frac_bits=8):
    """A LatentPrior with random base logits, unmatched counts and a strong random context table."""
    cfg = FrameConfig(blocks_y * 8, blocks_x * 8, (1, 2), block=8, hidden=4, motions=MOTIONS, latent_context=True)
    tensors = FrameDarn(cfg).quantize(frac_bits)
    tensors["prior_context"] = rng.integers(-6 << frac_bits, 6 << frac_bits, (CONTEXTS, LOGIT_BINS)).astype(np.int32)
    model = build_exact(cfg, tensors, frac_bits)
    base = rng.integers(-10 << frac_bits, 4 << frac_bits, cfg.blocks)
    return LatentPrior(model, base, rng.integers(0, 10, cfg.blocks))


def _decode_one_diagonal_per_call(prior, coder) -> np.ndarray:
    """The definition of the decoder's order: one pop per anti-diagonal, each given the latents before it."""
    cfg = prior.cfg
    h = np.zeros(cfg.blocks, dtype=np.int32)
    order = diagonal_order(cfg.blocks_y, cfg.blocks_x)
    y, x = np.divmod(order, cfg.blocks_x)
    for d in range(cfg.blocks_y + cfg.blocks_x - 1):
        blocks = order[y + x == d]
        h[blocks] = coder.decode(BERNOULLI, prior.probabilities(h)[blocks])
    return h


def _exact_first_of_class(cfg: FrameConfig, sources: list[np.ndarray], blocks: np.ndarray) -> np.ndarray:
    """The vector classes by definition: per block and vector (source s, motion v at column s * V + v),
    the first column that reads exactly the same pixels for the block's pixels inside the frame."""
    m, k = cfg.margin, cfg.block
    out = np.empty((len(blocks), len(sources) * len(cfg.motions)), dtype=np.int64)
    for row, b in enumerate(blocks):
        by, bx = divmod(int(b), cfg.blocks_x)
        reads = []
        for source in sources:
            pp = np.full((cfg.height + 2 * m, cfg.width + 2 * m), cfg.outside, dtype=np.int64)
            pp[m:m + cfg.height, m:m + cfg.width] = source
            for dy, dx in cfg.motions:
                y0, x0 = by * k, bx * k
                y1, x1 = min(y0 + k, cfg.height), min(x0 + k, cfg.width)
                reads.append(pp[m + y0 - dy:m + y1 - dy, m + x0 - dx:m + x1 - dx].tobytes())
        out[row] = [reads.index(r) for r in reads]
    return out


def formation_frames(count: int, seed: int) -> list[np.ndarray]:
    """Rows of textured sprites that step together, a row at a time, as SpaceInvaders' aliens do: each
    frame one row moves 1 or 2 pixels sideways (the same for all its sprites), the others stand still."""
    rng = np.random.default_rng(seed)
    sprites = rng.integers(1, 4, (2, 4, 6, 6))  # a texture per row and sprite
    x = np.array([4, 4])
    frames = []
    for t in range(count):
        row = t % 2
        x[row] = 2 + (x[row] - 2 + rng.integers(1, 3)) % 4
        idx = np.zeros((24, 40), dtype=np.uint8)
        for r, y in enumerate((1, 13)):
            for s in range(4):
                idx[y:y + 6, x[r] + 9 * s:x[r] + 9 * s + 6] = sprites[r, s]
        frames.append(PALETTE[idx])
    return frames




@pytest.fixture
def game_model_alone(monkeypatch):
    """Chunks coded by the game model only, not also tried with the universal model: for tests of the game
    model's own coding (what it sizes and decides)."""
    from darnzip.frames.chunks import FrameChunkCodec

    monkeypatch.setattr(FrameChunkCodec, "universal_choice", False)

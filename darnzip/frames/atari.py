"""Atari 2600 frames from ale-py (ROMs bundled): the project's own training and evaluation streams."""
from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = ["GAMES", "frames_array"]  # the public names (docs/api.md)

GAMES = ("Pong", "Freeway", "SpaceInvaders", "Riverraid", "Seaquest")


def play(game: str, frames: int, seed: int, frameskip: int = 4) -> Iterator[np.ndarray]:
    """(210, 160, 3) uint8 RGB frames of random-action play; episodes restart when they end."""
    try:
        import ale_py
        import gymnasium as gym
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("Atari frames need ale-py and gymnasium: pip install 'darnzip[atari]'") from exc
    gym.register_envs(ale_py)
    env = gym.make(f"ALE/{game}-v5", obs_type="rgb", frameskip=frameskip)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    try:
        for i in range(frames):
            yield obs
            if i + 1 < frames:
                obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
                if terminated or truncated:
                    obs, _ = env.reset(seed=int(rng.integers(2**31)))
    finally:
        env.close()


def frames_array(game: str, frames: int, seed: int) -> np.ndarray:
    out = np.empty((frames, 210, 160, 3), dtype=np.uint8)
    for i, frame in enumerate(play(game, frames, seed)):
        out[i] = frame
    return out

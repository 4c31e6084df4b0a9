"""Chunks of frames handed to and from forked workers through shared memory instead of the pool's pipe.

A chunk of 512 Atari frames is 51 MB of RGB. Pickled, sent through the pool's pipe and unpickled, each took
0.16-0.2 s on the 2-core machines here, while a worker codes the whole chunk in about 3 s: the second
worker began coding 0.41 s after the stream did, and decoded chunks reached the parent 0.2 s after their
worker had finished. A slot of memory shared with the forked workers carries the same frames with one copy
on each side.

There is one slot per job in flight (`workers + 1`), used in turn: a job's slot is reused only after its
result has been taken, because the runner keeps at most `workers + 1` jobs in flight and takes results in
order. Frames that do not fit a slot (another size, more than a chunk) travel through the pipe as before.
"""
from __future__ import annotations

import dataclasses
import mmap

import numpy as np

MAX_SLOT_BYTES = 1 << 28  # larger chunks (up to 65,536 frames) go through the pipe rather than reserve this much


@dataclasses.dataclass(frozen=True)
class SlotFrames:
    """What a job or result says in place of its frames: `count` frames are in slot `slot`."""
    slot: int
    count: int


class FrameSlots:
    """`count` slots of `capacity` frames of one shape (H, W, 3) uint8, in anonymous shared memory, which
    forked workers inherit (spawned workers would not: there, frames go through the pipe)."""

    def __init__(self, count: int, capacity: int, frame_shape: tuple[int, ...]):
        self.count, self.capacity, self.frame_shape = count, capacity, tuple(frame_shape)
        self._slot_bytes = capacity * int(np.prod(self.frame_shape))
        self._memory = mmap.mmap(-1, count * self._slot_bytes)  # MAP_SHARED: one memory for parent and workers

    @classmethod
    def for_chunks(cls, count: int, capacity: int, frame_shape: tuple[int, ...]) -> FrameSlots | None:
        """Slots for chunks of `capacity` frames, or None where one would exceed MAX_SLOT_BYTES or the
        system refuses the mapping (frames then go through the pipe)."""
        if capacity * int(np.prod(frame_shape)) > MAX_SLOT_BYTES:
            return None
        try:
            return cls(count, capacity, frame_shape)
        except OSError:
            return None

    def fits(self, frames: list[np.ndarray]) -> bool:
        return len(frames) <= self.capacity and all(
            f.shape == self.frame_shape and f.dtype == np.uint8 for f in frames)

    def put(self, slot: int, frames: list[np.ndarray]) -> SlotFrames:
        """Copy `frames` (which must fit) into `slot`."""
        view = self._view(slot, len(frames))
        for i, frame in enumerate(frames):
            view[i] = frame
        return SlotFrames(slot, len(frames))

    def send(self, slot: int, frames: list[np.ndarray]) -> SlotFrames | list[np.ndarray]:
        """What to hand over for `frames`: their place in `slot` where they fit, else the frames themselves."""
        return self.put(slot, frames) if self.fits(frames) else frames

    def view(self, where: SlotFrames) -> np.ndarray:
        """The frames in a slot, in place (valid until the slot is reused)."""
        return self._view(where.slot, where.count)

    def take(self, where: SlotFrames) -> list[np.ndarray]:
        """The frames in a slot, each copied out on its own (the slot is then free for the next job, and a
        frame kept by the caller does not keep its whole chunk alive)."""
        return [frame.copy() for frame in self.view(where)]

    def close(self) -> None:
        """Unmap the slots now, or, while a view of them is still referenced, once the last one goes."""
        try:
            self._memory.close()
        except BufferError:  # a view is still referenced somewhere: the mapping goes when it does
            pass

    def _view(self, slot: int, frames: int) -> np.ndarray:
        if not 0 <= slot < self.count or not 0 <= frames <= self.capacity:
            raise ValueError(f"slot {slot} cannot hold {frames} frames")
        # frombuffer holds the mapping's buffer while the view lives, so that close() cannot unmap it under
        # the view (np.ndarray(buffer=...) does not, and a view read after close() crashed the process)
        frame_bytes = self._slot_bytes // self.capacity
        return np.frombuffer(self._memory, dtype=np.uint8, count=frames * frame_bytes,
                             offset=slot * self._slot_bytes).reshape(frames, *self.frame_shape)

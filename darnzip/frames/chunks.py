"""One chunk of a frame stream: which frames the model codes, their context, and the coding itself.

A modelled frame's context is the previous frame when that was modelled too, otherwise the model's
first reference frame (with no frame t-2). A key frame is a modelled frame whose context is one of the
model's reference frames, whatever came before it: the encoder makes one where that codes shorter (an
emulator reset, a new level, a chunk's first frame that resembles another reference), and the frame
after a key frame has no frame t-2. Modelled frames share one ANS stack, pushed last frame first so
that decoding runs forward in time; the first frame pushed has nothing to pop bits back from, so it
takes q's likelier latents instead (its posterior cost is the chunk's initial-bits overhead).

The game model is not always the better coder of its own game: the encoder also codes the whole chunk on
the raw side with the universal model (rawside.py) and keeps whichever is shorter, chunk by chunk.
"""
from __future__ import annotations

import dataclasses
import zlib

import constriction
import numpy as np

from darnzip.core.records import ArchiveError
from .codec import FrameBits, FrameCodec
from .container import KIND_KEY, KIND_MODELLED, KIND_RAW, FrameChunk
from .palette import Palette
from .rawside import pack_raw, side_holds_universal_code, unpack_raw

FEW_BLOCKS = 8  # a frame that differs from its reference in this many blocks or fewer is cheap to try as a key


def worth_a_key_trial(from_reference: int, from_prev: int, blocks_from_reference) -> bool:
    """Whether the encoder tries coding a frame from a reference frame (a key frame: a reset, say), given
    the pixels it differs in from that reference and from the frame before it. Chosen on 1,000 frames of
    each game's training play (seed 1): of the 92 trials at a ratio between 1/3 and 1/2, 87 lost on the
    frame itself, by 9 to 1,630 bits, and each cost a plan of the frame from the reference (Seaquest had 73
    of them); the 3 that won by more than 29 bits were Pong frames that differ from their reference in 5-7
    blocks, which a trial plans cheaply. `blocks_from_reference` is called only when needed."""
    if 3 * from_reference < from_prev:
        return True
    return 2 * from_reference < from_prev and blocks_from_reference() <= FEW_BLOCKS


@dataclasses.dataclass
class ChunkStats:
    frames: list[FrameBits]  # per modelled frame, in stream order
    raw_frames: int
    raw_bytes: int  # zstd bytes spent on raw frames
    initial_bits: float  # posterior information not returned by the first pushed frame
    key_frames: int = 0  # modelled frames coded from a reference frame
    universal_frames: int = 0  # raw frames the universal model coded (the rest: a byte compressor)
    chosen_over_model: int = 0  # raw frames the game model codes, put on the raw side as the shorter code


class FrameChunkCodec:
    universal_choice = True  # code each chunk with the universal model too and keep the shorter

    def __init__(self, codec: FrameCodec, palette: Palette, references: list[np.ndarray]):
        self.codec = codec
        self.palette = palette
        self.references = references  # palette-index frames; the first is the default context
        self.shape = (codec.cfg.height, codec.cfg.width, 3)

    def context(self, i: int, kinds: np.ndarray, frames: list[np.ndarray | None], key_reference: dict[int, int]):
        """(prev, prev2) of modelled frame i, from the frames before it in the chunk."""
        if kinds[i] == KIND_KEY:
            return self.references[key_reference[i]], None
        prev_ok = i >= 1 and kinds[i - 1] != KIND_RAW
        prev2_ok = prev_ok and kinds[i - 1] != KIND_KEY and i >= 2 and kinds[i - 2] != KIND_RAW
        return (frames[i - 1] if prev_ok else self.references[0]), (frames[i - 2] if prev2_ok else None)

    def older(self, i: int, frames: list[np.ndarray | None]) -> dict[int, np.ndarray] | None:
        """Frames t-lag (lag 2 up to the model's history) that frame i may copy from: the chunk's earlier
        modelled frames, whatever their kind."""
        last = self.codec.cfg.history
        return {lag: frames[i - lag] for lag in range(2, last + 1)
                if i - lag >= 0 and frames[i - lag] is not None} if last else None

    def nearest_reference(self, frame: np.ndarray) -> tuple[int, int]:
        """(index, differing pixels) of the reference frame that `frame` (palette indices) differs from
        least (the first on ties)."""
        distance = [int(np.count_nonzero(frame != ref)) for ref in self.references]
        r = int(np.argmin(distance))
        return r, distance[r]

    def _choose_keys(self, kinds: np.ndarray, indexed: list[np.ndarray | None]) -> tuple[dict[int, int], dict]:
        """Mark key frames in `kinds` (in place) and return their reference indices, and the trials' plans
        that the chosen contexts can reuse. A frame with no modelled frame before it takes the reference it
        differs from least. A later frame becomes a key frame when it differs from some reference in far
        fewer pixels than from the previous frame (`worth_a_key_trial`) and coding it and the frame after
        it is cheaper that way (trial plans without bits back: the frame after a key frame has no t-2,
        which was measured to cost more than the key frame saves on some Freeway frames). In scrolling
        games mid-play frames often differ from a reference a little less than from the frame before, yet
        cost 10-50x more from it (measured on Riverraid): hence the bound on the ratio
        (`worth_a_key_trial`), which also keeps the trials rare."""
        keys: dict[int, int] = {}
        plans: dict = {}
        for i in np.flatnonzero(kinds == KIND_MODELLED):
            r, from_reference = self.nearest_reference(indexed[i])
            if i == 0 or kinds[i - 1] == KIND_RAW:
                if r != 0:
                    kinds[i], keys[i] = KIND_KEY, r
                continue
            from_prev = int(np.count_nonzero(indexed[i] != indexed[i - 1]))
            if not worth_a_key_trial(from_reference, from_prev, lambda: int(np.count_nonzero(
                    self.codec.features.changed_per_block(indexed[i], self.references[r])))):
                continue
            trials = [{}, {}]
            trial_keys, trial_kinds = {**keys, i: r}, [kinds.copy(), kinds.copy()]
            trial_kinds[0][i], trial_kinds[1][i] = KIND_MODELLED, KIND_KEY
            span = [i] + ([i + 1] if i + 1 < len(kinds) and kinds[i + 1] == KIND_MODELLED else [])
            for j in span:
                for kinds_tried, trial in zip(trial_kinds, trials):
                    prev, prev2 = self.context(j, kinds_tried, indexed, trial_keys)
                    trial[self._plan_key(j, prev, prev2)] = self.codec.plan(indexed[j], prev, prev2,
                                                                            self.older(j, indexed))
                if j == i and not self._cost(trials[1]) < self._cost(trials[0]):
                    break  # the frame after (no t-2) won back what the key frame lost once in 111 (README)
            costs = [self._cost(trial) for trial in trials]
            if costs[1] < costs[0]:
                kinds[i], keys[i] = KIND_KEY, r
            if not self.codec.plans_need_the_coder:
                plans.update(trials[int(costs[1] < costs[0])])
        return keys, plans

    @staticmethod
    def _cost(trial: dict) -> float:
        return sum(plan.bits.free_energy for plan in trial.values())

    @staticmethod
    def _plan_key(i: int, prev: np.ndarray, prev2: np.ndarray | None) -> tuple:
        """What a plan of frame i depends on: the frame and its context frames (by identity: they live as
        long as the chunk's encoding) and its older frames (fixed by i)."""
        return i, id(prev), id(prev2)

    def encode(self, rgb_frames: list[np.ndarray]) -> tuple[FrameChunk, ChunkStats]:
        kinds = np.empty(len(rgb_frames), dtype=np.uint8)
        indexed: list[np.ndarray | None] = []
        raw_shapes, raw_parts = [], []
        crc = 0
        for i, rgb in enumerate(rgb_frames):
            crc = zlib.crc32(np.ascontiguousarray(rgb), crc)  # hashed in place
            idx = self.palette.indices(rgb) if rgb.shape == self.shape else None
            kinds[i] = KIND_MODELLED if idx is not None else KIND_RAW
            indexed.append(idx)
            if idx is None:
                raw_shapes.append(rgb.shape[:2])
                raw_parts.append(rgb)
        keys, plans = self._choose_keys(kinds, indexed)
        side = pack_raw(raw_parts)
        coder = constriction.stream.stack.AnsCoder()
        modelled = np.flatnonzero(kinds != KIND_RAW)
        bits: dict[int, FrameBits] = {}
        initial = 0.0
        for n, i in enumerate(modelled[::-1]):
            prev, prev2 = self.context(i, kinds, indexed, keys)
            plan = plans.pop(self._plan_key(i, prev, prev2), None)
            if plan is not None:  # worked out by a key-frame trial in this very context
                bits[i] = self.codec.emit(coder, plan)
            else:
                bits[i] = self.codec.push(coder, indexed[i], prev, prev2, bits_back=n > 0, older=self.older(i, indexed))
            if n == 0:
                initial = bits[i].posterior
        chunk = FrameChunk(kinds, raw_shapes, side, coder.get_compressed(), crc,
                           np.array([keys[i] for i in sorted(keys)], dtype=np.uint8))
        stats = ChunkStats([bits[i] for i in modelled], len(raw_parts), len(side), initial, len(keys),
                           len(raw_parts) if side_holds_universal_code(side) else 0)
        if len(modelled) and self.universal_choice:
            alternative = pack_raw(list(rgb_frames), byte_coders=False)
            if alternative and len(alternative) < len(chunk.to_bytes()):
                chunk = FrameChunk(np.full(len(kinds), KIND_RAW, np.uint8), [f.shape[:2] for f in rgb_frames],
                                   alternative, np.zeros(0, np.uint32), crc)
                stats = ChunkStats([], len(rgb_frames), len(alternative), 0.0, 0, len(rgb_frames), len(modelled))
        return chunk, stats

    def decode(self, chunk: FrameChunk, index: int) -> list[np.ndarray]:
        """RGB frames of a chunk, checked against its content CRC."""
        raw = self._raw_frames(chunk, index)
        if np.any(chunk.key_references >= len(self.references)):
            raise ArchiveError(f"corrupt archive: chunk {index} names a reference frame the model does not have")
        keys = dict(zip(np.flatnonzero(chunk.kinds == KIND_KEY).tolist(), chunk.key_references.tolist()))
        coder = constriction.stream.stack.AnsCoder(chunk.words)
        modelled = np.flatnonzero(chunk.kinds != KIND_RAW)
        last = modelled[-1] if len(modelled) else -1
        indexed: list[np.ndarray | None] = [None] * len(chunk.kinds)
        out, crc = [], 0
        try:
            for i, kind in enumerate(chunk.kinds):
                if kind != KIND_RAW:
                    prev, prev2 = self.context(i, chunk.kinds, indexed, keys)
                    indexed[i] = self.codec.pop(coder, prev, prev2, bits_back=i != last,
                                                older=self.older(i, indexed))
                    rgb = self.palette.to_rgb(indexed[i])
                else:
                    rgb = next(raw)
                crc = zlib.crc32(np.ascontiguousarray(rgb), crc)
                out.append(rgb)
        except Exception as exc:  # constriction reports bad streams with several exception types
            raise ArchiveError(f"corrupt archive: chunk {index} does not decode ({exc})") from exc
        if not coder.is_empty():
            raise ArchiveError(f"corrupt archive: chunk {index} has unused coded data")
        if crc != chunk.content_crc:
            raise ArchiveError(f"corrupt archive: chunk {index} decodes to the wrong content (checksum mismatch)")
        return out

    @staticmethod
    def holds_raw_frames_alone(chunk: FrameChunk) -> bool:
        return not (np.any(chunk.kinds != KIND_RAW) or len(chunk.words))

    @staticmethod
    def decode_raw(chunk: FrameChunk, index: int) -> list[np.ndarray]:
        """The RGB frames of a chunk that holds raw frames alone (`holds_raw_frames_alone`), checked against
        its CRC: what a stream that no model coded needs, with no model loaded."""
        frames = list(FrameChunkCodec._raw_frames(chunk, index))
        crc = 0
        for rgb in frames:
            crc = zlib.crc32(np.ascontiguousarray(rgb), crc)
        if crc != chunk.content_crc:
            raise ArchiveError(f"corrupt archive: chunk {index} decodes to the wrong content (checksum mismatch)")
        return frames

    @staticmethod
    def _raw_frames(chunk: FrameChunk, index: int):
        return iter(unpack_raw(chunk.side, chunk.raw_shapes, chunk.version, index))

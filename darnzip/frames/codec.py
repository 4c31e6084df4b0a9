"""Bits-back coding of one frame given the two before it: a push/pop pair on one ANS stack.

push(x) = emit(plan(x)): pop h_b ~ q for the blocks that a copy of frame t-1 reproduces (other blocks
have h_b = 1 for certain; still models), pop the copied blocks' motion vectors from their posterior
(models with a vector posterior), push the pixels of the blocks with h_b = 1 under the pixel model (one
categorical call), push the copied blocks' motion vectors (or their classes) under their prior (moving
models only), push h under the prior (latent_context.py: one Bernoulli call, or one per anti-diagonal of
blocks when decoding a model with a latent context). pop is the exact reverse. Both sides compute every
probability with ExactFrameModel. A plan that pops nothing depends on the frames alone, so the chunk
encoder reuses its key-frame trials' plans.

A model with vector classes (config.vector_classes) codes no vector as such: vectors that read the same
pixels for a block form a class, which the decoder can work out from frames t-1 and t-lag before it
decodes frame t, and a copy names the class of the vectors that reproduce its block (by its first
vector), at -log2 of their prior mass: in two steps, whether it is the still class (the vectors that
read what (0, 0) reads: exactly the unchanged blocks; one Bernoulli over the copies), then, for the
other copies, which class among the rest (one categorical call). That is what a vector posterior costs
once its bits are back, without popping anything, so nothing is paid at the bottom of the stack and
the chunk's last-pushed frame pays no more than the others.

Otherwise a copied block's vector is the likeliest vector under the prior among those that reproduce
the block (a point mass, nothing to give back), unless the model has a vector posterior: then it is
popped from q(v), the prior restricted to exactly those vectors, and the decoder, which knows them once
the frame is decoded, pushes it back. A copy then costs -log2 of the prior mass of all the vectors that
reproduce the block, not of the likeliest one. q is coded over the reproducing vectors alone (constriction gives every
symbol of a categorical some probability, so a q over all vectors could hand out one that does not
reproduce the block). A changed block that a vector reproduces is copied or drawn by the encoder's choice
(whichever codes shorter), and an unchanged block is always copied: h's q is a point mass in a moving
model. Still models give bits back over their unchanged blocks' h.

Models with a history also let a copied block read one older frame t-lag (2 <= lag <= config.history)
with any of the vectors: the encoder picks the lag per frame (the one that codes the blocks no copy of
t-1 reproduces most cheaply, or none), and pushes it, under its prior, just before h.
"""
from __future__ import annotations

import dataclasses

import constriction
import numpy as np
import torch

from .coder_features import CoderFeatures
from .features import available_from, drawn_pixels, first_of_class, geometry, MotionMatcher
from .latent_context import BERNOULLI, PROB_SCALE, LatentPrior, information
from .model import ExactFrameModel

CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


def categorical_information(probs: np.ndarray, symbols: np.ndarray) -> float:
    """Bits of `symbols` under categorical rows `probs`, one row per symbol."""
    return float(-np.log2(probs[np.arange(len(symbols)), symbols]).sum())


# a copy this cheap is taken without pricing the block's pixels (FrameCodec._cheap_copies), unless the
# model file sets another value for its encoder (modelfile.py: "encoder": {"cheap_copy_bits": ...})
CHEAP_COPY_BITS = 2.0


class FrameDecodeError(ValueError):
    """The stream does not decode to a frame the model could have coded (a damaged or foreign stream)."""


@dataclasses.dataclass
class FrameBits:
    """Information content of one coded frame, in bits (one-sample free energy = prior + pixels - posterior)."""
    prior: float = 0.0
    pixels: float = 0.0
    posterior: float = 0.0
    blocks_drawn: int = 0
    lag: int = 0  # the older frame t-lag that copies may read (0: none)

    @property
    def free_energy(self) -> float:
        return self.prior + self.pixels - self.posterior


@dataclasses.dataclass
class FramePlan:
    """One frame worked out for pushing: what `FrameCodec.emit` pushes, in that order, as (symbols, model,
    probabilities), then h with its prior's probabilities; and the frame's information."""
    latent_prior: LatentPrior
    h: np.ndarray
    bits: FrameBits = dataclasses.field(default_factory=FrameBits)
    pushes: list = dataclasses.field(default_factory=list)
    p_latent: np.ndarray | None = None
    observed: tuple = ()  # what the codec's observer is called with
    frame: np.ndarray | None = None  # the frame and its stacked context frames, for `drawn_pixel_features`
    stacked: np.ndarray | None = None


class MotionPrior:
    """One frame's prior over copied blocks' motion vectors. The encoder asks for the weights of several
    sets of blocks, with and without an older frame's vectors; each row depends on its block alone, so
    every block's row is worked out once per kind and the sets are read from it."""

    def __init__(self, model: ExactFrameModel, bucket: np.ndarray, predicted: np.ndarray, shared: np.ndarray):
        self.model, self.bucket, self.predicted, self.shared = model, bucket, predicted, shared
        self._logits: dict[bool, np.ndarray] = {}
        self._rows: dict[bool, np.ndarray] = {}

    def logits(self, blocks: np.ndarray, history: bool = False) -> np.ndarray:
        """Prior logits (int64, one row per block) of the blocks' motion vectors (and, with `history`, of
        the older frame's vectors after them)."""
        if history not in self._logits:
            self._logits[history] = self.model.motion_logits(self.bucket, self.predicted, self.shared, history)
        return self._logits[history][blocks]

    def weights(self, blocks: np.ndarray, history: bool = False) -> np.ndarray:
        """`logits` as prior weights (int64, each at least 1)."""
        if history not in self._rows:
            self._rows[history] = self.model.weights_of_logits(self.logits(slice(None), history))
        return self._rows[history][blocks]


class FrameCodec:
    def __init__(self, model: ExactFrameModel, cheap_copy_bits: float = CHEAP_COPY_BITS):
        """`cheap_copy_bits` steers the encoder alone (`_cheap_copies`): any value gives an archive that
        any decoder of the model decodes."""
        self.model = model
        self.cfg = model.cfg
        self.cheap_copy_bits = cheap_copy_bits
        self.geometry = geometry(model.cfg)
        self.matcher = MotionMatcher(model.cfg)
        self.features = CoderFeatures(model.cfg)
        # called, if set, with what each pushed frame was coded with: (latent prior, h, motion prior or
        # None, copied blocks, whether they may read an older frame, their reproducing vectors or None).
        # The scripts that fit tables on coded play read it; coding never does.
        self.observer = None
        # called, if set, with the plan of each pushed frame: scripts/finetune_pixels.py reads its drawn
        # pixels (`drawn_pixel_features`) to train the pixel model on the blocks the coder draws
        self.pixel_observer = None
        # Moving models read a current-frame neighbour only if it comes earlier in the coding order, even
        # when its block is copied (training cannot know which unchanged blocks the coder will draw), so
        # their availability map is the same for every frame.
        self._every_block_available = self._availability(np.ones(model.cfg.blocks, dtype=bool)) \
            if model.cfg.moving else None
        # `_current_frame`: the spare cell's index, and a dtype that holds `unknown` (256 for 255 colours)
        self._unknown_cell = int(np.prod(self.features.padded_shape))
        self._current_dtype = np.min_scalar_type(model.cfg.unknown)
        self._current_base = self.geometry.current_base_np.astype(np.int32)  # int32 indices, as the contexts'

    def _context(self, prev: np.ndarray, prev2: np.ndarray | None):
        """What frame t's probabilities condition on: padded t-1, the stacked padded t-1 and t-2 (flat)
        that pixel contexts read, the prior over h, motion buckets, and (moving models) the motion
        prior."""
        cfg, features = self.cfg, self.features
        if prev2 is None and cfg.moving:
            # Moving models see a stream's start as a still scene (t-2 = t-1): their pixel tables, trained on
            # few frames without a t-2, were measured to put ~1,000 bits on a block with an empty t-2.
            prev2 = prev
        prior_idx, prior_ring, bucket = features.prior(prev, prev2)
        padded_prev = features.padded(prev)
        padded_prev2 = features.padded(prev2) if prev2 is not None else np.full_like(padded_prev, cfg.outside)
        stacked = np.concatenate([padded_prev.ravel(), padded_prev2.ravel()])
        motion_prior, unmatched_around = None, None
        if cfg.moving:
            predicted = self.matcher(prev, prev2)  # prev2 is set for moving models (above)
            motion_prior = MotionPrior(self.model, bucket, predicted, features.global_motion(predicted, bucket))
            if cfg.latent_context:
                unmatched_around = features.count_around(~predicted.any(axis=1))
        latent_prior = LatentPrior(self.model, self.model.block_logits("prior", prior_idx, prior_ring),
                                   unmatched_around)
        return padded_prev, stacked, latent_prior, bucket, motion_prior

    def _posterior(self, frame: np.ndarray, prev: np.ndarray, bucket: np.ndarray):
        """Which blocks changed since frame t-1, then either q(h_b = 1) (2**-16 units) for every block
        (still models) or the motion vectors that reproduce each block (moving models, whose q is a
        point mass)."""
        if self.cfg.moving:
            matches = self.matcher(frame, prev)
            return ~matches[:, 0], None, matches  # vector (0, 0) reproduces exactly the unchanged blocks
        changed = self.features.changed_per_block(frame, prev) > 0
        q_idx, q_ring = self.features.posterior(changed, bucket)
        return changed.ravel(), self.model.block_probabilities("q", q_idx, q_ring), None

    def _bits_back_blocks(self, changed: np.ndarray) -> np.ndarray:
        """Blocks whose h_b is popped from q and pushed back: a still model's unchanged blocks, none for a
        moving model (it copies every unchanged block: its pixel model, never asked to draw one in
        training, was measured to spend ~1,000 bits on one when a sampled h_b = 1 drew it)."""
        return np.zeros(0, dtype=np.int64) if self.cfg.moving else np.flatnonzero(~changed)

    @staticmethod
    def _canonical_vectors(weights: np.ndarray, matches: np.ndarray) -> np.ndarray:
        """Per row, the vector a copy takes: the one of largest prior weight among those that reproduce
        the block (the first on ties). Rows must have a match."""
        return np.where(matches, weights, -1).argmax(axis=1)

    def _lags(self, older: dict[int, np.ndarray] | None) -> np.ndarray:
        """The lags a frame may name: 0 (none), then each lag whose frame the decoder has."""
        return np.array([0] + sorted(lag for lag in (older or {}) if 2 <= lag <= self.cfg.history), dtype=np.int64)

    def _lag_probabilities(self, lags: np.ndarray) -> np.ndarray:
        weights = self.model.lag_weights(lags).astype(np.float64)
        return (weights / weights.sum())[None, :]

    def _copy_moved(self, current: np.ndarray, sources: list[np.ndarray], copies: np.ndarray,
                    vectors: np.ndarray) -> None:
        """Fill copied blocks into the padded flat frame `current` from padded flat `sources` (t-1, then
        the older frame): vector index i reads sources[i // V] with motion i % V. In-place copies of t-1
        are there already."""
        cfg, m, row = self.cfg, self.cfg.margin, self.geometry.row
        moved = vectors != 0
        if not moved.any():
            return
        y, x, owner = self.features.block_raster(copies[moved])
        index = vectors[moved][owner]
        source, v = np.divmod(index, len(cfg.motions))
        v = np.asarray(cfg.motions, dtype=np.int64)[v]
        where = (y + m) * row + (x + m)
        read = where - v[:, 0] * row - v[:, 1]
        current[where] = sources[0][read] if len(sources) == 1 else np.stack(sources)[source, read]

    def _current_frame(self, padded: np.ndarray) -> np.ndarray:
        """Padded frame t, flat, as the pixel contexts read it, with a spare cell at the end that holds
        `unknown`: what a neighbour not yet decoded at the pixel's step reads (`_reads`)."""
        current = np.empty(padded.size + 1, dtype=self._current_dtype)
        current[:-1] = padded.ravel()
        current[-1] = self.cfg.unknown
        return current

    def _reads(self, available: np.ndarray, where: np.ndarray, step: np.ndarray) -> np.ndarray:
        """The cells of `_current_frame` that each pixel's current-frame groups read: a causal neighbour's
        flat padded position where it is decoded before the pixel's own step, else the spare cell. Fixed
        for the whole frame, so a decoding step reads its values with one gather."""
        neighbours = where[:, None] + self.geometry.current_np
        return np.where(available[neighbours] < step[:, None], neighbours, self._unknown_cell)

    def _probabilities(self, partial: np.ndarray, current: np.ndarray, reads: np.ndarray) -> np.ndarray:
        """Categorical rows for pixels given the table sums of their context-frame groups with the model's
        biases (`partial`) and the current frame as far as it is known (`current`, `reads`)."""
        sums = self.model.table_sums(self._current_values(current, reads))
        sums += partial
        return self.model.categorical_rows(sums)

    def _current_values(self, current: np.ndarray, reads: np.ndarray) -> np.ndarray:
        """Vocabulary indices of the current-frame groups: each neighbour's colour, or `unknown`."""
        return current[reads] + self._current_base

    def _availability(self, drawn_blocks: np.ndarray) -> np.ndarray:
        """Flat padded map of the step after which each current-frame pixel is known (`available_from`)."""
        drawn = drawn_pixels(torch.from_numpy(drawn_blocks).unsqueeze(0), self.cfg)
        return available_from(drawn, self.cfg).view(-1).numpy()

    def _available(self, h: np.ndarray) -> np.ndarray:
        """The availability map for a frame whose drawn blocks are `h == 1` (the same for every frame of a
        moving model)."""
        return self._every_block_available if self.cfg.moving else self._availability(h == 1)

    def _pixel_setup(self, h: np.ndarray, stacked: np.ndarray, blocks: np.ndarray | None = None):
        """Coding-order pixels of the drawn blocks (or of `blocks` among them): coordinates, flat padded
        positions, steps, the availability map, context sums with the model's biases."""
        y, x, where, step = self.features.pixels(np.flatnonzero(h == 1) if blocks is None else blocks)
        available = self._available(h)
        partial = self.model.table_sums(torch.from_numpy(self.features.context(stacked, where, y, x)))
        return y, x, where, step, available, self.model.with_biases(partial)

    def drawn_pixel_features(self, plan: FramePlan) -> tuple[np.ndarray, np.ndarray]:
        """The pixels that a planned frame draws, in coding order, as the pixel model reads them: (N,
        feature groups + current groups) vocabulary indices (what `table_sums` adds up), and (N,) their
        palette indices. For training the pixel model on the coder's own draws; coding never calls it."""
        frame, h = plan.frame, plan.h
        y, x, where, step = self.features.pixels(np.flatnonzero(h == 1))
        values = self._current_values(self._current_frame(self.features.padded(frame)),
                                      self._reads(self._available(h), where, step))
        return np.concatenate([self.features.context(plan.stacked, where, y, x), values], axis=1), frame[y, x]

    @property
    def plans_need_the_coder(self) -> bool:
        """Whether working out a frame pops bits back from the stack (a still model's h, a vector
        posterior). Otherwise a plan depends on the frames alone and can be reused (chunks.py)."""
        return not self.cfg.moving or self.cfg.vector_posterior

    def push(self, coder, frame: np.ndarray, prev: np.ndarray, prev2: np.ndarray | None,
             bits_back: bool = True, older: dict[int, np.ndarray] | None = None) -> FrameBits:
        """Encode `frame` (H, W palette indices). Without bits back, h takes q's likelier value. `older`
        maps lags (2 and up) to the frames t-lag that a history model may copy from."""
        return self.emit(coder, self.plan(frame, prev, prev2, older, coder if bits_back else None))

    def plan(self, frame: np.ndarray, prev: np.ndarray, prev2: np.ndarray | None,
             older: dict[int, np.ndarray] | None = None, popper=None) -> FramePlan:
        """Everything `push` codes for `frame`, and its information: h, the lag, the copies' vectors, with
        their probabilities. Bits back are popped from `popper` (None: q's likelier values instead)."""
        _, stacked, latent_prior, bucket, motion_prior = self._context(prev, prev2)
        changed, p_q, matches = self._posterior(frame, prev, bucket)
        if self.cfg.vector_classes:
            matches = self._named_by_class(matches, [prev])
        # what the choices below price h with: with a latent context, its prior as if only the blocks no
        # vector reproduces were drawn, then as the first choice of copies left it (the decoder never
        # needs these)
        must_draw = changed if matches is None else changed & ~matches.any(axis=1)
        p_prior = latent_prior.probabilities(must_draw.astype(np.int64))
        free = self._bits_back_blocks(changed)
        h = changed.astype(np.int32)
        plan = FramePlan(latent_prior, h, frame=frame, stacked=stacked)
        bits = plan.bits
        if len(free):
            p_free = p_q[free] * PROB_SCALE
            if popper is not None:
                h[free] = popper.decode(BERNOULLI, p_free)
            else:
                h[free] = (p_free >= 0.5).astype(np.int32)
            bits.posterior = information(p_free, h[free])
        current = self._current_frame(self.features.padded(frame))
        lag, lags = 0, self._lags(older)
        if h.any():
            # every changed block's pixels, once: moving models' pixel contexts do not depend on h, so the
            # copy-or-draw choice and the coding share these numbers
            priced = np.flatnonzero(h == 1)
            if matches is not None:
                priced = np.setdiff1d(priced, self._cheap_copies(changed, matches, p_prior, motion_prior))
            y, xx, where, step, available, partial = self._pixel_setup(h, stacked, priced)
            probs = self._probabilities(partial, current, self._reads(available, where, step))
            symbols = frame[y, xx].astype(np.int32)
            pixel_bits = -np.log2(probs[np.arange(len(symbols)), symbols])
            if matches is not None:
                block = (y // self.cfg.block) * self.cfg.blocks_x + xx // self.cfg.block
                block_bits = np.full(self.cfg.blocks, np.inf)  # blocks not priced are copied whatever happens
                block_bits[priced] = np.bincount(block, weights=pixel_bits, minlength=self.cfg.blocks)[priced]
                self._choose_copies(h, changed, matches, p_prior, motion_prior, block_bits)
                if self.cfg.latent_context:
                    p_prior = latent_prior.probabilities(h)
                    h[:] = changed
                    self._choose_copies(h, changed, matches, p_prior, motion_prior, block_bits)
                if len(lags) > 1:
                    lag = self._choose_lag(frame, older, lags, h, matches, p_prior, motion_prior, block_bits)
                    if lag:  # choose again with the older frame's vectors too (h is `changed` for moving models)
                        matches = np.concatenate([matches, self.matcher(frame, older[lag], remember=False)], axis=1)
                        if self.cfg.vector_classes:
                            matches = self._named_by_class(matches, [prev, older[lag]])
                        h[:] = changed
                        self._choose_copies(h, changed, matches, p_prior, motion_prior, block_bits, True)
                unpriced = changed.copy()
                unpriced[priced] = False
                if np.any(h[unpriced] == 1):
                    raise RuntimeError("a block chosen to be drawn has no pixel probabilities")  # never: it has a copy
                drawn = h[block] == 1
                probs, symbols, pixel_bits = probs[drawn], symbols[drawn], pixel_bits[drawn]
            bits.blocks_drawn = int(h.sum())
            bits.pixels = float(pixel_bits.sum())
            plan.pushes.append((symbols, CATEGORICAL, probs))
        copies = np.flatnonzero(h == 0)
        if matches is not None and len(copies):  # h, the lag and the copies are settled: pick the vectors
            weights = motion_prior.weights(copies, lag > 0)
            if self.cfg.vector_classes:
                sources = [prev, older[lag]] if lag else [prev]
                logits = motion_prior.logits(copies, lag > 0) if self.cfg.row_context else None
                bits.prior += self._plan_vector_classes(plan, sources, copies, matches[copies], weights, logits)
            else:
                vectors, vector_posterior = self._pick_vectors(popper, weights, matches[copies])
                bits.posterior += vector_posterior
                vector_probs = weights / weights.sum(axis=1, keepdims=True)
                plan.pushes.append((vectors, CATEGORICAL, vector_probs))
                bits.prior += categorical_information(vector_probs, vectors)
            if len(lags) > 1:
                lag_probs = self._lag_probabilities(lags)
                symbol = np.flatnonzero(lags == lag).astype(np.int32)
                plan.pushes.append((symbol, CATEGORICAL, lag_probs))
                bits.prior += categorical_information(lag_probs, symbol)
                bits.lag = lag
        plan.p_latent = latent_prior.probabilities(h)
        bits.prior += information(plan.p_latent, h)
        plan.observed = (latent_prior, h, motion_prior, copies, lag > 0, None if matches is None else matches[copies])
        return plan

    def emit(self, coder, plan: FramePlan) -> FrameBits:
        """Push a planned frame: its pixels, the copies' vectors (or classes), the lag, then h."""
        for symbols, model, probabilities in plan.pushes:
            if len(symbols):
                coder.encode_reverse(symbols, model, probabilities)
        plan.latent_prior.push(coder, plan.h, plan.p_latent)
        if self.observer is not None:
            self.observer(*plan.observed)
        if self.pixel_observer is not None:
            self.pixel_observer(plan)
        return plan.bits

    def _vector_classes(self, sources: list[np.ndarray], blocks: np.ndarray) -> np.ndarray:
        """(n, V * len(sources)): for each vector of each block, the first vector that reads the same
        content from `sources` (frame t-1, then the older frame), by content hash. Both sides compute it
        from frames they have before the vectors are coded."""
        return first_of_class(self.matcher.content_hashes(sources, blocks))

    def _reads_as_still(self, sources: list[np.ndarray], blocks: np.ndarray) -> np.ndarray:
        """(n, V * len(sources)) bool: the vectors that read for each block exactly what vector (0, 0)
        reads, its own pixels in frame t-1 = sources[0] (the still class; compared exactly, over the
        pixels inside the frame)."""
        prev = sources[0]
        if len(blocks) * 8 < self.cfg.blocks:  # a few blocks: compare just those
            return np.concatenate(list(self.matcher.for_blocks(prev, sources, blocks)), axis=1)
        return np.concatenate([self.matcher(prev, source, remember=False)[blocks] for source in sources], axis=1)

    def _named_by_class(self, matches: np.ndarray, sources: list[np.ndarray]) -> np.ndarray:
        """`matches` without the changed blocks whose class's first vector does not reproduce them (two
        different contents with one hash: never seen, but the decoder copies the first vector, so the
        encoder must draw such a block). An unchanged block's class starts with (0, 0), which reproduces it."""
        rows = np.flatnonzero(~matches[:, 0] & matches.any(axis=1))
        if len(rows):
            classes = self._vector_classes(sources, rows)
            matches = matches.copy()
            matches[rows] &= np.take_along_axis(matches[rows], classes, axis=1)
        return matches

    @staticmethod
    def _still_probabilities(weights: np.ndarray, still: np.ndarray) -> np.ndarray:
        """P(a copy's vector is in the still class): that class's share of the prior mass."""
        return np.where(still, weights, 0).sum(axis=1) / weights.sum(axis=1)

    @staticmethod
    def _class_probabilities(weights: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Categorical rows over vectors where each class's first vector carries the prior mass (`weights`)
        of the whole class and the others none."""
        n, columns = weights.shape
        at = (np.arange(n)[:, None] * columns + classes).ravel()
        mass = np.bincount(at, weights=weights.ravel(), minlength=n * columns).reshape(n, columns)
        mass /= mass.sum(axis=1, keepdims=True)
        return mass

    @staticmethod
    def _previous_in_row(blocks: np.ndarray, blocks_x: int) -> tuple[np.ndarray, np.ndarray]:
        """For increasing block indices: the position in `blocks` of the one before each in the same block
        row (-1 for a row's first), and each one's rank in its row (the decoding wave of a row context)."""
        position = np.arange(len(blocks))
        first = np.ones(len(blocks), dtype=bool)
        rows = blocks // blocks_x
        first[1:] = rows[1:] != rows[:-1]
        start = np.maximum.accumulate(np.where(first, position, 0))
        return np.where(first, -1, position - 1), position - start

    @staticmethod
    def _waves(wave: np.ndarray) -> list[np.ndarray]:
        """Positions of each wave's copies (increasing), first wave first: the decoder's order."""
        by_wave = np.argsort(wave, kind="stable")
        bounds = np.searchsorted(wave[by_wave], np.arange(int(wave.max()) + 2)).tolist()
        return [by_wave[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]

    def _row_context_logits(self, logits, rows, previous, classes, picked) -> np.ndarray:
        """Logits of the moved copies `rows` (config.row_context): the vectors of the class that the previous
        moved copy in the block row named are raised by the model's bonus. Aliens in one row of a formation
        step together, so the next copy along a row mostly takes a vector of the same class (measured on
        SpaceInvaders' held-out play: 16.2 bits/frame of moved classes fell to 4.6 at a 5-nat bonus)."""
        out = logits[rows].copy()
        before = previous[rows]
        has = np.flatnonzero(before >= 0)
        if len(has):
            named = classes[before[has]] == picked[before[has], None]
            out[has] += self.model.integers["row_bonus"][0] * named
        return out

    def _moved_class_rows(self, weights, still, classes) -> np.ndarray:
        """Categorical rows of moved copies over their vectors (prior `weights`), the still class left out."""
        rest = np.where(still, 0, weights)
        if not rest.any(axis=1).all():
            raise FrameDecodeError("a copied block leaves the still class, which holds every vector")
        return self._class_probabilities(rest, classes)

    def _plan_vector_classes(self, plan: FramePlan, sources, copies, reproducing, weights, logits=None) -> float:
        """Plan the copies' vector classes (config.vector_classes) and return their information. A copy
        names the class of the vectors that reproduce it, which costs -log2 of their prior mass, what a
        vector posterior's bits back come to, with nothing popped. In two steps, so that only moved blocks
        need their classes worked out: whether the class is the still one (an unchanged block: one
        Bernoulli per copy), then, for the others, the class by its first vector, among the rest. With a row
        context (`logits` given), the moved copies are coded in waves, the first moved copy of every block
        row, then the second, ..., each wave given the classes of the one before."""
        in_still = reproducing[:, 0].astype(np.int32)  # (0, 0) reproduces exactly the unchanged blocks
        moved = np.flatnonzero(in_still == 0)
        # what reads as (0, 0) reads in frame t-1 is what reproduces an unchanged block of frame t
        still = reproducing.copy()
        if len(moved):
            still[moved] = self._reads_as_still(sources, copies[moved])
        p_still = self._still_probabilities(weights, still)
        information_bits = information(p_still, in_still)
        if len(moved):
            classes = self._vector_classes(sources, copies[moved])
            vectors = classes[np.arange(len(moved)), reproducing[moved].argmax(axis=1)].astype(np.int32)
            if logits is None:
                rows = self._moved_class_rows(weights[moved], still[moved], classes)
                plan.pushes.append((vectors, CATEGORICAL, rows))
            else:
                previous, wave = self._previous_in_row(copies[moved], self.cfg.blocks_x)
                in_context = self._row_context_logits(logits[moved], slice(None), previous, classes, vectors)
                rows = self._moved_class_rows(self.model.weights_of_logits(in_context), still[moved], classes)
                for in_wave in reversed(self._waves(wave)):  # pushed last wave first: decoded first wave first
                    plan.pushes.append((vectors[in_wave], CATEGORICAL, rows[in_wave]))
            information_bits += categorical_information(rows, vectors)
        plan.pushes.append((in_still, BERNOULLI, p_still))
        return information_bits

    def _pop_vector_classes(self, coder, sources, copies, weights, logits=None) -> np.ndarray:
        """The decoder's half of `_plan_vector_classes`: the copies' vectors (each its class's first)."""
        still = self._reads_as_still(sources, copies)
        in_still = coder.decode(BERNOULLI, self._still_probabilities(weights, still))
        vectors = np.zeros(len(copies), dtype=np.int32)
        moved = np.flatnonzero(in_still == 0)
        if len(moved):
            classes = self._vector_classes(sources, copies[moved])
            if logits is None:
                picked = coder.decode(CATEGORICAL, self._moved_class_rows(weights[moved], still[moved], classes))
            else:
                previous, wave = self._previous_in_row(copies[moved], self.cfg.blocks_x)
                moved_logits, moved_still = logits[moved], still[moved]
                picked = np.zeros(len(moved), dtype=np.int32)
                for in_wave in self._waves(wave):
                    in_context = self._row_context_logits(moved_logits, in_wave, previous, classes, picked)
                    rows = self._moved_class_rows(self.model.weights_of_logits(in_context), moved_still[in_wave],
                                                  classes[in_wave])
                    picked[in_wave] = coder.decode(CATEGORICAL, rows)
            if np.any(classes[np.arange(len(moved)), picked] != picked) or still[moved, picked].any():
                raise FrameDecodeError("a copied block's motion vector is not the first of its class")
            vectors[moved] = picked
        return vectors

    @staticmethod
    def _vector_posteriors(weights: np.ndarray, reproducing: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """q(v) of copied blocks (rows of prior `weights`) with more than one reproducing vector: the prior
        restricted to those vectors. Grouped by how many there are, so that q never gives a vector that
        does not reproduce its block any probability: (rows, their vectors' columns, q) per group."""
        counts = np.count_nonzero(reproducing, axis=1)
        rows = np.flatnonzero(counts > 1)
        if not len(rows):
            return []
        rows = rows[np.argsort(counts[rows], kind="stable")]  # by k, block order within one k
        sizes = counts[rows]
        flat = np.flatnonzero(reproducing[rows])  # each row's columns, increasing, row after row
        columns = flat % reproducing.shape[1]
        q = weights[rows].ravel().take(flat).astype(np.float64)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        # every row normalised at once (its sum is exact: integer weights, far below 2**53)
        q /= np.repeat(np.add.reduceat(q, offsets[:-1]), sizes)
        starts = np.concatenate([[0], np.flatnonzero(sizes[1:] != sizes[:-1]) + 1])  # where each k begins
        bounds, offsets = np.append(starts, len(rows)).tolist(), offsets.tolist()
        groups = []
        for k, lo, hi in zip(sizes[starts].tolist(), bounds[:-1], bounds[1:]):
            span = slice(offsets[lo], offsets[hi])
            groups.append((rows[lo:hi], columns[span].reshape(hi - lo, k), q[span].reshape(hi - lo, k)))
        return groups

    def _pick_vectors(self, popper, weights: np.ndarray, reproducing: np.ndarray):
        """The copied blocks' vectors and their posterior information (bits). With a vector posterior and
        bits back (a `popper`), each is popped from q(v); otherwise it is the canonical vector (q a point
        mass)."""
        vectors = self._canonical_vectors(weights, reproducing).astype(np.int32)
        if not (self.cfg.vector_posterior and popper is not None):
            return vectors, 0.0
        information_bits = 0.0
        for rows, columns, q in self._vector_posteriors(weights, reproducing):
            picked = popper.decode(CATEGORICAL, q)
            vectors[rows] = columns[np.arange(len(rows)), picked]
            information_bits += categorical_information(q, picked)
        return vectors, information_bits

    def _return_vector_bits(self, coder, weights: np.ndarray, reproducing: np.ndarray, vectors: np.ndarray) -> None:
        """The decoder's half of `_pick_vectors` with bits back: push each vector back under q, last
        group first."""
        copies = np.arange(len(vectors))
        if not reproducing[copies, vectors].all():
            raise FrameDecodeError("a copied block's motion vector does not reproduce it")
        # q's symbol for each vector: how many reproducing vectors come before it
        rank = np.cumsum(reproducing, axis=1, dtype=np.int32)[copies, vectors] - 1
        for rows, _, q in reversed(self._vector_posteriors(weights, reproducing)):
            coder.encode_reverse(rank[rows], CATEGORICAL, q)

    def _copy_costs(self, blocks, matches, p_prior, motion_prior, pixel_bits, history: bool):
        """Bits to copy (`_copy_bits`) and to draw each of `blocks`, h included."""
        return (self._copy_bits(blocks, matches, p_prior, motion_prior, history),
                pixel_bits[blocks] - np.log2(p_prior[blocks]))

    def _copy_bits(self, blocks, matches, p_prior, motion_prior, history: bool) -> np.ndarray:
        """Bits to copy each of `blocks` (inf where nothing reproduces the block), h included. `matches` is
        (n, V), or (sets, n, V) to price several sets of reproducing vectors at once. A copy costs its
        vector's prior information less, with a vector posterior, what q gives back: the prior mass of all
        the vectors that reproduce the block."""
        weights = motion_prior.weights(blocks, history)
        if self.cfg.vector_posterior or self.cfg.vector_classes:  # both charge the mass of the whole set
            # exact integer sums, as np.where(matches, weights, 0).sum(-1) but without the (sets, n, V)
            # temporary: 1.4 against 4.2 ms for a long history's 127 sets of 100 blocks
            best = np.einsum("...nv,nv->...n", matches, weights)
        else:
            best = np.where(matches, weights, -1).max(axis=-1)  # the canonical vector's weight (weights >= 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(best > 0, -np.log2(best / weights.sum(axis=1)) - np.log2(1.0 - p_prior[blocks]), np.inf)

    def _cheap_copies(self, changed, matches, p_prior, motion_prior) -> np.ndarray:
        """Changed blocks that a copy of frame t-1 codes in under `cheap_copy_bits`: the encoder copies them
        without pricing their pixels, as drawing one would have to code its 64 pixels in fewer bits. On
        Riverraid, where scrolling makes most changed blocks such copies, this skips the pixel model for
        65% of the copy-or-draw choices at 2 bits; 22 of 23,770 choices on 300 held-out frames went the
        other way, costing 7.6 bits in all. The decoder never needs this rule."""
        candidates = np.flatnonzero(changed & matches.any(axis=1))
        copy_bits = self._copy_bits(candidates, matches[candidates], p_prior, motion_prior, False)
        return candidates[copy_bits < self.cheap_copy_bits]

    def _choose_copies(self, h, changed, matches, p_prior, motion_prior, pixel_bits: np.ndarray,
                       history: bool = False) -> None:
        """Set h_b = 0 for the changed blocks that a motion vector codes in fewer bits than the pixel model
        (`pixel_bits`: per block, under the coder's contexts, which for moving models do not depend on h).
        The decoder never needs this rule."""
        candidates = np.flatnonzero(changed & matches.any(axis=1))
        if not len(candidates):
            return
        copy_bits, draw_bits = self._copy_costs(candidates, matches[candidates], p_prior, motion_prior, pixel_bits,
                                                history)
        h[candidates[copy_bits < draw_bits]] = 0

    def _choose_lag(self, frame, older, lags, h, matches, p_prior, motion_prior, pixel_bits) -> int:
        """The lag whose frame codes this frame's remaining blocks (h_b = 1 after the choice among copies
        of t-1 alone) in the fewest bits, or 0. Estimated on those blocks only: the other copies are
        charged what naming a history costs them, as if each kept its t-1 vector (an upper bound).
        The decoder never needs this rule."""
        left = np.flatnonzero(h == 1)
        if not len(left):
            return 0
        lag_bits = -np.log2(self._lag_probabilities(lags)[0])
        costs = [float(pixel_bits[left].sum() - np.log2(p_prior[left]).sum()) + lag_bits[0]]
        copies = np.flatnonzero(h == 0)
        with_history = motion_prior.weights(copies, True)
        kept = self._canonical_vectors(with_history[:, :len(self.cfg.motions)], matches[copies])
        share = np.take_along_axis(with_history, kept[:, None], axis=1)[:, 0] / with_history.sum(axis=1)
        without = motion_prior.weights(copies)
        t1_share = np.take_along_axis(without, kept[:, None], axis=1)[:, 0] / without.sum(axis=1)
        extra = float(np.log2(t1_share / share).sum())  # what the other copies pay once a lag is named
        if self._no_lag_can_win(left, matches, p_prior, motion_prior, pixel_bits, extra + lag_bits[1:].min(),
                                costs[0]):
            return 0
        # every lag at once: the prior over a block's vectors does not depend on the lag, only which
        # vectors reproduce the block does
        found = self.matcher.likely_for_blocks(frame, [older[lag] for lag in lags[1:]], left)  # (lags, n, V)
        reproducing = np.concatenate([np.broadcast_to(matches[left], found.shape), found], axis=2)
        copy_bits, draw_bits = self._copy_costs(left, reproducing, p_prior, motion_prior, pixel_bits, True)
        costs += list(np.minimum(copy_bits, draw_bits).sum(axis=1) + extra + lag_bits[1:])
        return int(lags[int(np.argmin(costs))])

    def _no_lag_can_win(self, left, matches, p_prior, motion_prior, pixel_bits, least_overhead: float,
                        cost_without: float) -> bool:
        """Whether every lag's cost in `_choose_lag` is bound to exceed `cost_without`, before asking which
        older frames reproduce which blocks: each block left to draw still costs at least the smaller of
        drawing it and copying it as if every vector of the older frame reproduced it, besides the vectors
        of frame t-1 that do (a superset of what any lag offers, so a copy no dearer). So the choice is the
        same, without the search: on 300 held-out frames it was skipped for 234 of SpaceInvaders' 261
        choices, 127 of Seaquest's 305 and 26 of Riverraid's 277. The margin covers summation order."""
        every_older_vector = np.ones((len(left), len(self.cfg.motions)), dtype=bool)
        cheapest_copy, draw = self._copy_costs(left, np.concatenate([matches[left], every_older_vector], axis=1),
                                               p_prior, motion_prior, pixel_bits, True)
        return float(np.minimum(cheapest_copy, draw).sum()) + least_overhead >= cost_without + 1e-6

    def pop(self, coder, prev: np.ndarray, prev2: np.ndarray | None, bits_back: bool = True,
            older: dict[int, np.ndarray] | None = None, sampling: bool = False) -> np.ndarray:
        """Decode one frame: the exact inverse of `push` with the same context. `sampling` (decoding random
        words, sampling.py) lets a drawn block repeat frame t-1, which no archive holds but the model
        allows."""
        cfg = self.cfg
        padded_prev, stacked, latent_prior, bucket, motion_prior = self._context(prev, prev2)
        h = latent_prior.decode(coder)
        copies = np.flatnonzero(h == 0)
        vectors, lag, lags = None, 0, self._lags(older)
        if motion_prior is not None and len(copies):
            if len(lags) > 1:
                lag = int(lags[coder.decode(CATEGORICAL, self._lag_probabilities(lags))[0]])
            weights = motion_prior.weights(copies, lag > 0)
            if cfg.vector_classes:
                logits = motion_prior.logits(copies, lag > 0) if cfg.row_context else None
                vectors = self._pop_vector_classes(coder, [prev, older[lag]] if lag else [prev], copies, weights,
                                                   logits)
            else:
                vectors = coder.decode(CATEGORICAL, weights / weights.sum(axis=1, keepdims=True))
        frame = prev.copy()
        if h.any() or (vectors is not None and vectors.any()):
            m = cfg.margin
            current = self._current_frame(padded_prev)
            if vectors is not None:
                sources = [padded_prev.ravel()]
                if lag:
                    sources.append(self.features.padded(older[lag]).ravel())
                self._copy_moved(current, sources, copies, vectors)
            if h.any():
                y, xx, where, step, available, partial = self._pixel_setup(h, stacked)
                reads = self._reads(available, where, step)
                bounds = np.searchsorted(step, np.arange(2 * cfg.block)).tolist()
                for lo, hi in zip(bounds[:-1], bounds[1:]):
                    if lo == hi:
                        continue
                    probs = self._probabilities(partial[lo:hi], current, reads[lo:hi])
                    current[where[lo:hi]] = coder.decode(CATEGORICAL, probs)
            frame = current[:-1].reshape(padded_prev.shape)[m:m + cfg.height, m:m + cfg.width].astype(prev.dtype)
            if vectors is not None and frame.max() >= cfg.colours:
                raise FrameDecodeError("a motion vector reads beyond the previous frame")
        changed, p_q, matches = self._posterior(frame, prev, bucket)
        if lag and not cfg.vector_classes:
            matches = np.concatenate([matches, self.matcher(frame, older[lag], remember=False)], axis=1)
        if vectors is not None and not cfg.vector_classes:  # a class's first vector reproduces it by construction
            if cfg.vector_posterior and bits_back:
                self._return_vector_bits(coder, weights, matches[copies], vectors)
            elif not np.array_equal(self._canonical_vectors(weights, matches[copies]), vectors):
                raise FrameDecodeError("a copied block's motion vector is not the one the encoder chooses")
        if self.cfg.moving and not sampling and h[~changed].any():
            raise FrameDecodeError("an unchanged block is drawn, which a moving model never does")
        free = self._bits_back_blocks(changed)
        if len(free):
            p_free = p_q[free] * PROB_SCALE
            if bits_back:
                coder.encode_reverse(h[free].astype(np.int32), BERNOULLI, p_free)
            elif not np.array_equal(h[free], (p_free >= 0.5).astype(h.dtype)):
                raise FrameDecodeError("latents of the first coded frame are not the posterior's likelier values")
        return frame

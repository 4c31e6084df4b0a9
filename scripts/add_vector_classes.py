"""Code a model's copies by vector class instead of popping their vectors from a posterior: a new model
version with the same tensors (config.vector_classes; see darnzip/frames/codec.py).

A copy with a vector posterior costs -log2 of the prior mass of every vector that reproduces its block,
once the bits it popped are returned; a copy by class costs exactly that, with nothing popped. So the
tables fitted for the posterior (scripts/add_latent_context.py) are kept as they are, and a chunk no
longer pays for its first pops coming off a near-empty stack, nor for its last-pushed frame taking the
likeliest vectors (measured on 500 held-out frames: 735 bits per chunk for Pong, 1,516 for Riverraid).

    python scripts/add_vector_classes.py --game pong --from atari-pong-v4 --to atari-pong-v5 --register
"""
from __future__ import annotations

import dataclasses
import json

from darnzip.frames.derive import (coded_bits, derive_arguments, integer_tensors, save_derived, training_chunks,
                                   with_tables)
from darnzip.frames.zoo import resolve_frame_model


def with_vector_classes(loaded):
    """(config, integer tensors) of `loaded` coding its copies by vector class."""
    cfg = dataclasses.replace(loaded.config, vector_posterior=False, vector_classes=True)
    return cfg, integer_tensors(loaded)


def main():
    ap = derive_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1000, help="training frames to measure on")
    ap.add_argument("--chunk", type=int, default=500)
    args = ap.parse_args()

    loaded = resolve_frame_model(args.source)
    if not loaded.config.moving or loaded.config.vector_classes:
        raise SystemExit(f"{args.source}: needs a moving model that does not code vector classes yet")
    cfg, tensors = with_vector_classes(loaded)
    derived = with_tables(loaded, cfg, tensors)
    chunks = training_chunks(args.game, args.frames, args.chunk)
    measured = {"training_frames": sum(map(len, chunks)), "chunk": args.chunk,
                "source_bits_per_frame": round(coded_bits(loaded.chunk_codec(), chunks), 2),
                "bits_per_frame": round(coded_bits(derived.chunk_codec(), chunks), 2)}
    print(json.dumps({"model": args.source, **measured}), flush=True)
    save_derived(args, loaded, cfg, tensors, None,
                 "vector_classes", measured, "whose copies code the class of vectors that read the same content")


if __name__ == "__main__":
    main()

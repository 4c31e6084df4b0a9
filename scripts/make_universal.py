"""Train the universal frame model (models/universal-frames-v2): count its contexts on random-action play
of the training games, then scale the counts into its starting tables.

    python scripts/make_universal.py --frames 1500 --seed 100 --out models/universal-frames-v2 --register

The strength of the starting counts and the increments were chosen on other play of training games
(Alien, Qbert, Boxing, KungFuMaster, Asterix and Frostbite, play seed 300).

Games: the training list of issue 34 only. Atlantis, Gopher, Hero, Jamesbond, Tutankham and Zaxxon are
kept for measuring generalisation and never trained on."""
from __future__ import annotations

import argparse
import multiprocessing
import shlex
import sys
from pathlib import Path


TRAINING_GAMES = ("Pong", "Freeway", "SpaceInvaders", "Riverraid", "Seaquest", "Alien", "Amidar", "Assault",
                  "Asterix", "BeamRider", "Bowling", "Boxing", "Enduro", "Frostbite", "KungFuMaster", "Qbert",
                  "RoadRunner", "Skiing", "Tennis", "VideoPinball")
HELD_OUT_GAMES = ("Atlantis", "Gopher", "Hero", "Jamesbond", "Tutankham", "Zaxxon")


def count_game(job: tuple[str, int, int]):
    from darnzip.frames.atari import frames_array
    from darnzip.frames.bench import index_stream
    from darnzip.frames.universal.model import UniversalModel
    from darnzip.frames.universal.train import Statistics

    game, frames, seed = job
    idx = index_stream(frames_array(game, frames, seed))
    stats = Statistics()
    stats.add_stream(idx, int(idx.max()) + 1, UniversalModel.untrained())
    print(f"{game}: {frames} frames counted", flush=True)
    return stats


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1500, help="frames of play per game")
    parser.add_argument("--seed", type=int, default=100, help="play seed (evaluation uses others)")
    parser.add_argument("--strength", type=int, default=1024, help="sum a context's starting counts scale to")
    parser.add_argument("--increment", type=int, default=16, help="what a coded symbol adds to its count")
    parser.add_argument("--pixel-increment", type=int, default=128,
                        help="the same for the pixel table, which learns after every anti-diagonal step")
    parser.add_argument("--limit", type=int, default=1 << 16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("models/universal-frames-v2"))
    parser.add_argument("--register", action="store_true", help="pin the model in its directory's registry.json")
    args = parser.parse_args(argv)

    from darnzip.core.zoo import register_model
    from darnzip.frames.universal.modelfile import KIND, save_universal
    from darnzip.frames.universal.train import Statistics

    jobs = [(game, args.frames, args.seed) for game in TRAINING_GAMES]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        parts = pool.map(count_game, jobs)
    total = Statistics()
    for part in parts:
        total.add(part)
    model = total.model(args.strength, args.increment, args.limit)
    model.increments["pixel"] = args.pixel_increment
    model_id = args.out.name
    made_with = "python " + " ".join(shlex.quote(a) for a in ["scripts/make_universal.py", *sys.argv[1:]])
    info = {"trained_on": {"games": list(TRAINING_GAMES), "frames_per_game": args.frames, "seed": args.seed},
            "made_with": made_with}
    sha = save_universal(args.out, model, model_id, info)
    print(f"wrote {args.out}.safetensors (sha256 {sha[:16]}...) from {total.frames} frames")
    if args.register:
        register_model(model_id, args.out.with_suffix(".safetensors"), sha,
                       f"universal frame model (scheme {model.scheme}), {len(TRAINING_GAMES)} games x {args.frames} "
                       f"frames of play (seed {args.seed})", kind=KIND,
                       made_with=made_with)


if __name__ == "__main__":
    main()

"""Train the page model (models/pages-v1): count its contexts on 300-dpi pages of the training manuals,
then scale the counts into its starting tables.

    python scripts/make_page_model.py --out models/pages-v1 --register

Manuals: bzip2, nettle, libtasn1 and shared-mime-info (darnzip.pages.manuals.TRAINING), every page. The
fontconfig, zlib crc and valgrind manuals are held out for measuring (never trained or tuned on); the
strengths were chosen with shared-mime-info held out of the counts."""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manuals", nargs="+", default=None, help="training manuals [the four of TRAINING]")
    parser.add_argument("--pixel-strength", type=int, default=16, help="most starting counts of a pixel context")
    parser.add_argument("--latent-strength", type=int, default=256, help="most starting counts of a latent table")
    parser.add_argument("--out", type=Path, default=Path("models/pages-v1"))
    parser.add_argument("--register", action="store_true", help="pin the model in its directory's registry.json")
    args = parser.parse_args(argv)

    from darnzip.core.zoo import register_model
    from darnzip.pages import train
    from darnzip.pages.manuals import HELD_OUT, TRAINING, load_pbm, render_manual
    from darnzip.pages.modelfile import KIND, save_page_model

    manuals = args.manuals or list(TRAINING)
    if set(manuals) & set(HELD_OUT):
        parser.error(f"{', '.join(HELD_OUT)} are held out for measuring")
    statistics, pages = train.empty_statistics(), 0
    for name in manuals:
        with tempfile.TemporaryDirectory() as tmp:
            for path in render_manual(name, Path(tmp)):
                train.add_page(statistics, load_pbm(path))
                pages += 1
        print(f"{name}: counted, {pages} pages so far", flush=True)
    model = train.model_from_statistics(statistics, args.pixel_strength, args.latent_strength)
    made_with = "python " + " ".join(shlex.quote(a) for a in ["scripts/make_page_model.py", *sys.argv[1:]])
    info = {"trained_on": {"manuals": manuals, "pages": pages, "dpi": 300}, "made_with": made_with}
    sha = save_page_model(args.out, model, args.out.name, info)
    print(f"wrote {args.out}.safetensors (sha256 {sha[:16]}...) from {pages} pages")
    if args.register:
        register_model(args.out.name, args.out.with_suffix(".safetensors"), sha,
                       f"page model, {pages} pages of {len(manuals)} manuals", kind=KIND, made_with=made_with)


if __name__ == "__main__":
    main()

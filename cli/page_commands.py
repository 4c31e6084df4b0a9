"""Pages: bench-pages (darnzip's page model vs JBIG, JB2 and PNG on bilevel pages)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from darnzip.core.atomic import atomic_file

from .app import main
from .errors import fail, friendly_errors


def page_ranges(text: str | None) -> list[tuple[int | None, int | None]]:
    """'5', '5-9' or '1-3,10,50-52' (1-based, inclusive) -> [(first, last), ...]; None: every page."""
    if text is None:
        return [(None, None)]
    ranges = []
    for part in text.split(","):
        try:
            first, _, last = part.partition("-")
            first, last = int(first), int(last or first)
        except ValueError:
            fail(f"--pages {text!r}: give pages or ranges such as 5-9 or 1-3,10")
        if not 1 <= first <= last:
            fail(f"--pages {text!r}: need 1 <= first <= last")
        ranges.append((first, last))
    return ranges


@main.command("bench-pages")
@click.argument("paths", nargs=-1)
@click.option("--manual", "manuals", multiple=True,
              help="Render this manual's pages (repeatable): fontconfig, zlib-crc, valgrind are held out of training.")
@click.option("--pages", "pages_text", default=None, help="Pages of each manual, e.g. 5, 1-10 or 1-3,40 [all].")
@click.option("--model", "model_name", default=None, help="Page model id or file [pages-v1].")
@click.option("--together", is_flag=True,
              help="Also compress all the pages as one archive (pages of one size share chunks of seven).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing JSON file.")
@friendly_errors
def bench_pages_command(paths, manuals, pages_text, model_name, together, json_path, force):
    """darnzip's page model vs JBIG (pbmtojbg -q), DjVu JB2 (cjb2 -lossless) and PNG on bilevel pages (PBM/PNG
    files, or pages rendered at 300 dpi from installed manuals), every codec round-tripped, page by page."""
    from darnzip.images.sources import find_inputs
    from darnzip.pages.bench import bench_page
    from darnzip.pages.manuals import load_pbm, render_manual
    from darnzip.pages.modelfile import resolve_page_model

    if not paths and not manuals:
        fail("name pages (files) or --manual NAME")
    page_model = resolve_page_model(model_name)
    rows, together_bytes = [], None
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(Path(name).stem, (lambda p: lambda: load_pbm(p))(path)) for path, name in find_inputs(paths)]
        for manual in manuals:
            for path in render_manual(manual, Path(tmp) / manual, page_ranges(pages_text)):
                jobs.append((path.stem, (lambda p: lambda: load_pbm(p))(path)))
        for name, load in jobs:
            row = bench_page(load(), page_model, name)
            rows.append(row)
            click.echo(_row_text(row))
        if together:
            together_bytes = pages_together([(name, load()) for name, load in jobs], page_model)
    click.echo(_summary(rows))
    if together_bytes is not None:
        click.echo(f"all {len(rows)} pages in one archive: {together_bytes:,} bytes")
    if json_path:
        with atomic_file(Path(json_path), force) as f:
            f.write((json.dumps({"model": page_model[0], "pages": rows, "together_bytes": together_bytes},
                                indent=1) + "\n").encode())


def pages_together(pages: list, page_model: tuple) -> int:
    """Bytes of one archive of all the pages (checked by decoding)."""
    from darnzip.pages.bench import round_trip

    sources = [({"type": "image", "name": f"{name}.pbm", "format": "PPM", "mode": "1", "lo": 0, "hi": 255,
                 "shape": list(image.shape)}, image[None]) for name, image in pages]
    stats, _, _, exact = round_trip(sources, page_model)
    if not exact:
        raise RuntimeError("darnzip did not give the pages back")
    return stats.archive_bytes


def _best_classical(row: dict) -> int | None:
    known = [row[k] for k in ("jbig", "jb2") if row.get(k) is not None]
    return min(known) if known else None


def _row_text(row: dict) -> str:
    best = _best_classical(row)
    ratio = f"{row['darnzip'] / best:.3f}" if best else "-"
    cols = "  ".join(f"{k} {row[k] if row.get(k) is not None else 'skipped'}" for k in ("jbig", "jb2", "png"))
    return (f"{row['page']}: darnzip {row['darnzip']} (no copies {row.get('darnzip_no_copies', '-')}, "
            f"{row['copies']} of {row['patches']} patches copied)  {cols}  ratio to best of JBIG/JB2 {ratio}  "
            f"{row['mpixels_per_s'][0]:.1f}/{row['mpixels_per_s'][1]:.1f} Mpixels/s")


def _summary(rows: list[dict]) -> str:
    totals = {k: sum(r[k] for r in rows if r.get(k) is not None) for k in ("darnzip", "darnzip_no_copies", "jbig", "jb2", "png")}
    smaller = sum(1 for r in rows if _best_classical(r) and r["darnzip"] < _best_classical(r))
    return (f"{len(rows)} pages: darnzip {totals['darnzip']:,} bytes, without copies {totals['darnzip_no_copies']:,}, "
            f"JBIG {totals['jbig']:,}, JB2 {totals['jb2']:,}, PNG {totals['png']:,}; darnzip smaller than the best of "
            f"JBIG and JB2 on {smaller} of {len(rows)}")

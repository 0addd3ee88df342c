"""``gifloop loops``: find the segments of a video that loop, print them, optionally write them.

    gifloop loops INPUT [--max-duration S] [--min-duration S] [--threshold D] [--top N]
                        [--out DIR] [--json F] [--width PX]

Registered by the main CLI with ``cli.add_command(loops_command)``. Out-of-range options are click
errors; everything else raises gifloop errors. The CLI turns both into one-line messages.
"""

from __future__ import annotations

import contextlib
import sys

import click

from .finder import find_loops
from .frames import as_clip
from .report import export_loops, format_table, gif_name, loops_json


@click.command("loops")
@click.argument("input")
@click.option("--max-duration", type=click.FloatRange(min=0, min_open=True), default=3.0, show_default=True, help="Longest loop, in seconds.")
@click.option("--min-duration", type=click.FloatRange(min=0), default=0.5, show_default=True, help="Shortest loop, in seconds.")
@click.option("--threshold", type=click.FloatRange(min=0), default=None,
              help="Largest seam distance (RMS of 0-255 levels on 150 px thumbnails). Default: automatic.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="How many loops to report.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write each loop as a GIF here, plus index.html.")
@click.option("--json", "json_path", help="Write the loops as JSON to this file ('-' prints it instead of the table).")
@click.option("--width", type=click.IntRange(min=1), default=320, show_default=True, help="Width of the GIFs written with --out.")
def loops_command(input, max_duration, min_duration, threshold, top, out_dir, json_path, width):
    """Find the segments of INPUT that loop well, best first."""
    clip = as_clip(input)
    with _progress_bar() as progress:
        loops = find_loops(clip, max_duration=max_duration, min_duration=min_duration, threshold=threshold,
                           top=top, progress=progress)
    gifs = None
    if out_dir is not None:
        index = export_loops(clip, loops, out_dir, width=width)
        gifs = [gif_name(rank, loop) for rank, loop in enumerate(loops, 1)]
    if json_path is not None:
        document = loops_json(loops, clip.source.path, gifs)
        if json_path == "-":
            click.echo(document)
        else:
            with open(json_path, "w", encoding="utf-8") as f:
                f.write(document + "\n")
    if json_path != "-":
        if loops:
            click.echo(format_table(loops))
        else:
            click.echo(f"no loops found in {input}; try a larger --threshold (e.g. 15) or --max-duration")
        if out_dir is not None:
            click.echo(f"wrote {len(loops)} GIFs and {index}")



@contextlib.contextmanager
def _progress_bar():
    """A tqdm bar of analysed frames on a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc="analyse", unit="frame", leave=False, file=sys.stderr, dynamic_ncols=True)

    def update(stage, done, total):
        if total is not None and bar.total != total:
            bar.total = max(total, done)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()

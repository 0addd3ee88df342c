"""Showing loop candidates: a text table, JSON, and a folder of GIFs with an HTML contact sheet.

>>> print(format_table(loops))                                         # doctest: +SKIP
  #   start     end  length   seam  score  why
  1    4.12    6.08    1.96    0.4   0.93  seam 0.4 vs 3.1 per frame; motion carries on across the seam
>>> export_loops(gifloop.open("in.mp4"), loops, "loops/", width=320)  # doctest: +SKIP
'loops/index.html'
"""

from __future__ import annotations

import html
import json
import os
from typing import Optional, Sequence

from .finder import LoopCandidate

_COLUMNS = f"{'#':>3}  {'start':>7}  {'end':>7}  {'length':>6}  {'seam':>5}  {'score':>5}  why"


def format_table(loops: Sequence[LoopCandidate]) -> str:
    """One line per candidate, best first."""
    lines = [_COLUMNS]
    for rank, loop in enumerate(loops, 1):
        lines.append(f"{rank:>3}  {loop.start:>7.2f}  {loop.end:>7.2f}  {loop.duration:>6.2f}  "
                     f"{loop.distance:>5.1f}  {loop.score:>5.2f}  {'; '.join(loop.reasons)}")
    return "\n".join(lines)


def loops_json(loops: Sequence[LoopCandidate], source: str, gifs: Optional[Sequence[str]] = None) -> str:
    """The candidates as a JSON document (times in seconds, distances in 0-255 levels)."""
    items = []
    for rank, loop in enumerate(loops, 1):
        item = {"rank": rank, "start": round(loop.start, 6), "end": round(loop.end, 6), "duration": loop.duration,
                "distance": round(loop.distance, 4), "score": round(loop.score, 4), "reasons": loop.reasons}
        if gifs is not None:
            item["gif"] = gifs[rank - 1]
        items.append(item)
    return json.dumps({"source": source, "loops": items}, indent=2)


def gif_name(rank: int, loop: LoopCandidate) -> str:
    """``loop01_0004.12-0006.08.gif``: sorts by rank and says where the loop is."""
    return f"loop{rank:02d}_{loop.start:07.2f}-{loop.end:07.2f}.gif"


def export_loops(clip, loops: Sequence[LoopCandidate], folder, width: int = 320) -> str:
    """Write each candidate of ``clip`` as a GIF (at most ``width`` px wide) in ``folder``, plus
    ``index.html`` showing them side by side; returns the path of ``index.html``."""
    os.makedirs(folder, exist_ok=True)
    names = []
    for rank, loop in enumerate(loops, 1):
        part = loop.to_clip(clip)
        if part.size[0] > width:
            part = part.resize(width=width)
        names.append(gif_name(rank, loop))
        part.write_gif(os.path.join(folder, names[-1]), overwrite=True)
    index = os.path.join(folder, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write(contact_sheet(loops, names, title=os.path.basename(clip.source.path)))
    return index


def contact_sheet(loops: Sequence[LoopCandidate], gifs: Sequence[str], title: str) -> str:
    """A static HTML page showing every GIF (paths relative to the page) with its times and score."""
    cards = []
    for rank, (loop, gif) in enumerate(zip(loops, gifs), 1):
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in loop.reasons)
        cards.append(
            f'<figure><img src="{html.escape(gif)}" alt="loop {rank}" loading="lazy">'
            f"<figcaption><b>#{rank}</b> {loop.start:.2f}&ndash;{loop.end:.2f} s "
            f"({loop.duration:.2f} s) &middot; score {loop.score:.2f} &middot; seam {loop.distance:.1f}"
            f"<ul>{reasons}</ul></figcaption></figure>")
    body = "\n".join(cards) if cards else "<p>No loops found.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Loops in {html.escape(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; background: #fafafa; }}
main {{ display: flex; flex-wrap: wrap; gap: 1em; }}
figure {{ margin: 0; padding: .6em; background: #fff; border: 1px solid #ddd; border-radius: 6px; max-width: 340px; }}
img {{ display: block; max-width: 100%; }}
figcaption {{ margin-top: .4em; }} ul {{ margin: .3em 0 0 1.2em; padding: 0; color: #555; }}
</style></head>
<body><h1>Loops in {html.escape(title)}</h1><p>{len(loops)} candidates, best first.</p>
<main>
{body}
</main></body></html>
"""

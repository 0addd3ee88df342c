"""Recipe 6: the "Cary Grant" cinemagraph: one side of a slanted line frozen, the other moving,
with a soft edge (MoviePy: color_split(p1, p2, grad_width) as the mask of a snapshot)."""

import gifloop
from _media import media, out_dir


def make(folder):
    clip = gifloop.open(media("real/his_girl_friday_640x480_h264.mp4")).trim(1, 4).resize(width=320).with_fps(12)
    # Frozen on the left-hand side of someone walking from (210, 240) up to (150, 0): the left part.
    split = clip.freeze_region(line=((210, 240), (150, 0), 20), t=0.5)
    return split.write_gif(folder / "split.gif", overwrite=True)


if __name__ == "__main__":
    print(make(out_dir()))

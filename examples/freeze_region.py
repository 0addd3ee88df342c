"""Recipe 2: freeze a region. The bird flies while the rest of the picture stays as it was at 1 s
(the article froze everything but a moving character with a snapshot composited on top)."""

import gifloop
from _media import media, out_dir

MOVING = (130, 40, 200, 130)  # x, y, w, h: the part that keeps moving


def make(folder):
    clip = gifloop.open(media("real/squirrel_1280x720_h264.mp4")).trim(2, 5).resize(width=480).with_fps(15)
    return clip.freeze_region(outside=MOVING, t=1.0).write_gif(folder / "freeze.gif", overwrite=True)


if __name__ == "__main__":
    print(make(out_dir()))

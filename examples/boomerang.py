"""Recipe 3: time symmetrization: forward then backward, so the end meets the start."""

import gifloop
from _media import media, out_dir


def make(folder):
    clip = gifloop.open(media("real/cockatoo_1280x720_h264.mp4")).trim(3, 4.5).resize(width=360)
    return clip.boomerang().write_gif(folder / "boomerang.gif", overwrite=True)


if __name__ == "__main__":
    print(make(out_dir()))

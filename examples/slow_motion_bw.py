"""Recipe 7: slow motion (x0.2) in black and white."""

import gifloop
from _media import media, out_dir


def make(folder):
    clip = gifloop.open(media("formats/lightbulb_burst_256x240_indeo4.avi")).trim(6, 7.2).speed(0.2)
    return clip.with_fps(12).black_white().write_gif(folder / "slow_bw.gif", overwrite=True)


if __name__ == "__main__":
    print(make(out_dir()))

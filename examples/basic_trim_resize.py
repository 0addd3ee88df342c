"""Recipe 1: a moment of a movie, smaller. (The article: subclip((1, 22.65), (1, 23.2)).resize(0.3).)"""

import gifloop
from _media import media, out_dir


def make(folder):
    clip = gifloop.open(media("real/big_buck_bunny_trailer_480x270_h264.m4v"))
    return clip.trim((0, 9.5), (0, 11.2)).resize(scale=0.6).write_gif(folder / "basic.gif", overwrite=True)


if __name__ == "__main__":
    print(make(out_dir()))

"""Recipe 5: a caption ("In my nightmares / I see rabbits."), with the font Pillow bundles."""

import gifloop
from _media import media, out_dir


def make(folder):
    clip = gifloop.open(media("real/big_buck_bunny_0-30s_1280x720_vp8.webm")).trim(22, 25).resize(width=400)
    captioned = clip.with_fps(12).text("In my nightmares\nI see rabbits.", position="bottom", size=26)
    return captioned.write_gif(folder / "caption.gif", overwrite=True)


if __name__ == "__main__":
    print(make(out_dir()))

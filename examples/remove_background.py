"""Recipe 8: a static camera, moving people, a transparent background."""

import gifloop
from _media import media, out_dir


def make(folder):
    clip = gifloop.open(media("formats/opencv_vtest_768x576_msmpeg4v3.avi")).trim(10, 16).resize(width=384)
    return clip.remove_background(threshold=30).write_gif(folder / "no_background.gif", overwrite=True)


if __name__ == "__main__":
    print(make(out_dir()))

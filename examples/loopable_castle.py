"""Recipe 4: the "loopable castle": crossfade the end into the start so the loop has no jump
(MoviePy: make_loopable(clip, 0.5)). Here: a slow NASA shot instead of the castle fly-by."""

import gifloop
from _media import media, out_dir


def make(folder):
    clip = gifloop.open(media("real/nasa_shuttle_1080x608_vp8.webm")).trim(2, 6).resize(width=360).with_fps(12)
    return clip.make_loopable(0.8).write_gif(folder / "loopable.gif", overwrite=True)


if __name__ == "__main__":
    print(make(out_dir()))

"""The frame store: bounded memory, frames spilled to disk come back exactly, from any thread."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import gifloop
from conftest import gif_frames
from gifloop.framestore import FrameStore


def _frames(n=40, shape=(30, 40, 4)):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, shape).astype(np.uint8) for _ in range(n)]


def test_frames_past_the_budget_spill_and_come_back_exactly():
    frames = _frames()
    with FrameStore(memory_budget=5 * frames[0].nbytes) as store:
        for i, image in enumerate(frames):
            store.append(i / 10, image)
        assert len(store._memory) == 5 and len(store._spilled) == 35
        assert all(np.array_equal(store.image(i), frames[i]) for i in range(40))
        assert [t for t, _ in store] == [i / 10 for i in range(40)]


def test_spilled_frames_read_right_from_many_threads_at_once():
    frames = _frames()
    with FrameStore(memory_budget=0) as store:
        for i, image in enumerate(frames):
            store.append(i, image)
        order = list(range(40)) * 25
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(store.image, order))
    assert all(np.array_equal(image, frames[i]) for i, image in zip(order, results))


def test_a_gif_from_a_spilled_store_matches_one_from_memory(tmp_path, sample_clip, monkeypatch):
    """The GIF pass reads frames on worker threads: spilled frames must not get mixed up."""
    clip = gifloop.open(sample_clip).resize(width=160)
    in_memory = clip.write_gif(tmp_path / "m.gif", dither="blue-noise")
    monkeypatch.setattr("gifloop.framestore.DEFAULT_MEMORY_BUDGET", 0)
    monkeypatch.setattr(FrameStore.__init__, "__defaults__", (0,))
    spilled = clip.write_gif(tmp_path / "s.gif", dither="blue-noise")
    assert (tmp_path / "m.gif").read_bytes() == (tmp_path / "s.gif").read_bytes()
    assert len(gif_frames(spilled.path)) == in_memory.frames

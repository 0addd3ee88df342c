"""Clip recipes: immutability, geometry and timing bookkeeping, and bad parameters."""

import pytest

import gifloop
from gifloop import InvalidParameterError


@pytest.fixture
def clip(sample_clip):
    return gifloop.open(sample_clip)  # 320x240, 30 fps, 2 s


def test_open_reads_size_fps_and_duration(clip):
    assert clip.size == (320, 240)
    assert clip.fps == pytest.approx(30)
    assert clip.duration == pytest.approx(2.0, abs=0.05)


def test_methods_return_new_clips_and_leave_the_original_alone(clip):
    smaller = clip.resize(width=160)
    assert smaller is not clip and clip.size == (320, 240) and smaller.size == (160, 120)


def test_crop_then_resize_then_trim_then_fps(clip):
    out = clip.crop(0, 0, 320, 120).resize(width=160).trim(0.5, 1.5).with_fps(12)
    assert out.size == (160, 60)
    assert out.duration == pytest.approx(1.0)
    assert out.fps == 12


def test_crop_after_resize_is_in_the_resized_pixels(clip):
    out = clip.resize(width=160).crop(80, 0, 80, 120)
    assert out.size == (80, 120)
    assert out.region == pytest.approx((160, 0, 160, 240))


def test_resize_with_one_side_keeps_the_aspect_and_scale_works(clip):
    assert clip.resize(height=60).size == (80, 60)
    assert clip.resize(scale=0.5).size == (160, 120)
    assert clip.resize(width=100, height=100).size == (100, 100)


def test_speed_changes_duration_and_trim_counts_in_output_time(clip):
    fast = clip.speed(2)
    assert fast.duration == pytest.approx(1.0, abs=0.03)
    trimmed = fast.trim(0.25, 0.5)
    assert trimmed.start == pytest.approx(0.5) and trimmed.end == pytest.approx(1.0)


def test_negative_times_count_from_the_end(clip):
    tail = clip.trim(-0.5)
    assert tail.duration == pytest.approx(0.5, abs=0.05)


def test_fast_sources_are_capped_at_50_fps(clip):
    assert clip.speed(3).fps == pytest.approx(45)
    assert clip.speed(4).fps == pytest.approx(40)  # 120 fps -> every third frame


@pytest.mark.parametrize("make", [
    lambda c: c.crop(300, 0, 40, 40),
    lambda c: c.crop(0, 0, 0, 10),
    lambda c: c.crop(-1, 0, 10, 10),
    lambda c: c.crop(0, 0, 10.5, 10),
    lambda c: c.resize(width=0),
    lambda c: c.resize(width=-5),
    lambda c: c.resize(scale=0),
    lambda c: c.resize(width=10, scale=2),
    lambda c: c.with_fps(0),
    lambda c: c.with_fps(-12),
    lambda c: c.with_fps("fast"),
    lambda c: c.speed(0),
    lambda c: c.trim(5),
    lambda c: c.trim(1, 0.5),
    lambda c: c.trim(0, 1, duration=1),
    lambda c: c.trim(-9),
])
def test_bad_parameters_raise_one_line_errors(clip, make):
    with pytest.raises(InvalidParameterError) as info:
        make(clip)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_repr_is_informative(clip):
    assert "320x240" in repr(clip) and "30fps" in repr(clip)


def test_a_seek_that_lands_between_keyframes_seeks_earlier(tmp_path, monkeypatch):
    """Some WebM files send a seek to a packet the decoder cannot start from (no keyframe before
    the next index entry): every packet fails. The reader seeks earlier (10 s before, then the
    top) instead of calling the file damaged, and gives the frames decoding from the top gives."""
    import av

    from conftest import frame_index, level_frames, write_frames
    from gifloop.source.decode import FrameReader

    path = write_frames(tmp_path / "levels.mp4", level_frames(), fps=2)  # 25 s
    seeks = []
    frames_from = FrameReader._frames_from

    def landing_between_keyframes(self, container, stream, start, seek=True):
        seeks.append((start, seek))
        if seek and start > 1.0:  # any seek past 1 s fails like the screen recording's
            def refused():
                raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
                yield  # a generator
            return refused()
        return frames_from(self, container, stream, start, seek)

    monkeypatch.setattr(FrameReader, "_frames_from", landing_between_keyframes)
    near = list(gifloop.open(path).trim(8.0, 9.0).frames())  # 8 s, then 10 s earlier: the top
    assert seeks == [(8.0, True), (0.0, False)]
    assert [frame_index(f.image) for f in near] == [16, 17]
    seeks.clear()
    late = list(gifloop.open(path).trim(14.0, 15.0).frames())  # 14 s, 4 s (fails too), the top
    assert seeks == [(14.0, True), (4.0, True), (0.0, False)]
    assert [frame_index(f.image) for f in late] == [28, 29]


def test_a_file_no_seek_can_decode_is_still_reported_damaged(tmp_path, monkeypatch):
    import av

    from conftest import level_frames, write_frames
    from gifloop import CorruptSourceError
    from gifloop.source.decode import FrameReader

    path = write_frames(tmp_path / "levels.mp4", level_frames(), fps=25)

    def refused(self, container, stream, start, seek=True):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
        yield

    monkeypatch.setattr(FrameReader, "_frames_from", refused)
    with pytest.raises(CorruptSourceError, match="damaged or incomplete"):
        list(gifloop.open(path).trim(1.0, 1.5).frames())

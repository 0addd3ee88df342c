"""Every kind of input in ../shared/media: real codecs and containers, odd and broken files.

Skipped cleanly when the shared media folder is not there.
"""

import warnings

import numpy as np
import pytest

import gifloop
from gifloop import CorruptSourceError, NotAVideoError, TruncatedSourceWarning
from conftest import gif_delays_cs, parse_gif

# file, displayed size, rotation (clockwise degrees)
READABLE = [
    ("real/squirrel_1280x720_h264.mp4", (1280, 720), 0),                       # MP4/H.264
    ("real/cockatoo_1280x720_h264.mp4", (1280, 720), 0),                       # moov at the end
    ("formats/testpattern_1920x1080_hevc.mp4", (1920, 1080), 0),               # HEVC 8 bit
    ("portrait/iphone_hevc_rotated_8frames.mov", (1080, 1920), 90),            # HEVC 10 bit, MOV, rotated
    ("real/big_buck_bunny_0-30s_1280x720_vp8.webm", (1280, 720), 0),           # VP8
    ("formats/tractor_512x288_vp9.webm", (512, 288), 0),                       # VP9
    ("loops/water_gutter_426x240_av1.webm", (427, 240), 0),                    # AV1, SAR 427:426
    ("formats/apollo15_176x144_mjpeg.mov", (196, 144), 0),                     # MJPEG, SAR 135:121
    ("portrait/iphone_rotated_568x320_displays_320x568.mov", (320, 568), 90),  # MOV rotation tag
    ("loops/tree_in_wind_320x240_cinepak.avi", (320, 240), 0),                 # AVI/Cinepak
    ("formats/opencv_vtest_768x576_msmpeg4v3.avi", (768, 576), 0),             # AVI/MS-MPEG4
    ("formats/lightbulb_burst_256x240_indeo4.avi", (256, 240), 0),             # AVI/Indeo 4
    ("formats/city_cc0_486x284_mpeg1.mpg", (486, 284), 0),                     # MPEG-PS/MPEG-1
    ("loops/xine_water_logo_loop_384x288_mpeg1.mpv", (384, 288), 0),           # raw MPEG-1, no duration
    ("formats/segment_720x720_h264.ts", (720, 720), 0),                        # MPEG-TS
    ("formats/electricsheep_400x300_theora.ogv", (400, 300), 0),               # Ogg/Theora
    ("real/big_buck_bunny_trailer_480x270_h264.m4v", (480, 270), 0),           # M4V
    ("formats/flower_960x540_h264_fragmented.mp4", (960, 540), 0),             # fragmented MP4
    ("loops/newtons_cradle_200x150.gif", (200, 150), 0),                       # animated GIF input
    ("formats/screen_recording_3026x1386_h264_vfr.mp4", (3026, 1386), 0),      # strongly VFR
    ("loops/fireplace_dog_1280x720_h264_vfr.mp4", (1280, 720), 180),           # VFR + upside down
    ("odd/anamorphic_sar2-1_640x360_h264.mp4", (1280, 360), 0),                # non-square pixels
    ("odd/no_duration_1280x720_vp9.webm", (1280, 720), 0),                     # no container duration
    ("odd/one_pixel_1x1_h264.mp4", (1, 1), 0),                                 # 1x1
    ("odd/single_frame_alpha_1440x1080_vp9.webm", (1440, 1080), 0),            # one frame
    ("odd/cockatoo_1280x720_h264_yuv444p.mp4", (1280, 720), 0),                # 4:4:4
    ("odd/bad_keyframes_bbb_320x180_h264.mp4", (320, 180), 0),                 # odd keyframe table
    ("odd/opencv_box_640x480_h264_decode_errors.mp4", (640, 480), 0),          # decoder complaints
]


@pytest.mark.parametrize("name, display, rotation", READABLE, ids=[r[0] for r in READABLE])
def test_every_readable_input_converts(media, tmp_path, name, display, rotation):
    clip = gifloop.open(media(name))
    assert clip.size == display and clip.source.rotation == rotation
    width = min(96, display[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncatedSourceWarning)  # none of these is truncated
        out = clip.trim(0, duration=1.5).resize(width=width).with_fps(10).write_gif(tmp_path / "o.gif")
    info = parse_gif(out.path)
    assert info["size"] == (width, max(1, round(display[1] * width / display[0])))
    assert len(info["frames"]) >= 1
    length = sum(gif_delays_cs(out.path))
    assert length == round(out.duration * 100)
    if clip.duration is not None and clip.duration >= 1.5:
        assert abs(length - 150) <= 1


def _coded_frame(path, index):
    import av

    with av.open(path) as container:
        return list(container.decode(video=0))[index].to_ndarray(format="rgb24")


@pytest.mark.parametrize("name, quarter_turns", [
    ("portrait/rotate-90_bbb_1920x1080_displays_1080x1920.mp4", -1),  # shown turned clockwise
    ("portrait/iphone_rotated_568x320_displays_320x568.mov", -1),
    ("loops/fireplace_dog_1280x720_h264_vfr.mp4", 2),                 # shown upside down
])
def test_rotation_matches_turning_the_coded_picture(media, name, quarter_turns):
    path = media(name)
    shown = list(gifloop.open(path).frames())[-1].image.astype(int)  # the first ones fade in from black
    coded = _coded_frame(path, -1).astype(int)
    right = np.rot90(coded, k=quarter_turns)
    wrong = np.rot90(coded, k=quarter_turns + 2)
    assert shown.shape == right.shape
    assert np.abs(shown - right).mean() < 3
    assert np.abs(shown - wrong).mean() > 10


def test_variable_frame_rate_keeps_real_timing(media, tmp_path):
    clip = gifloop.open(media("formats/screen_recording_3026x1386_h264_vfr.mp4")).resize(width=200)
    assert clip.source.variable_fps
    out = clip.write_gif(tmp_path / "vfr.gif")
    delays = gif_delays_cs(out.path)
    assert max(delays) >= 100  # a 1.57 s pause in the recording stays a long frame
    assert sum(delays) == pytest.approx(873, abs=1)


def test_raw_stream_without_duration_reads_all_frames(media, tmp_path):
    clip = gifloop.open(media("loops/xine_water_logo_loop_384x288_mpeg1.mpv"))
    assert clip.duration is None  # the 0.04 s the container guesses is not believed
    out = clip.resize(width=96).write_gif(tmp_path / "x.gif")
    assert out.duration == pytest.approx(4.0, abs=0.05)


@pytest.mark.parametrize("name, start", [
    ("formats/smpte_countdown_1920x1080_h264.mp4", 6.0),
    ("formats/testpattern_1920x1080_hevc.mp4", 4.5),
    ("odd/bad_keyframes_bbb_320x180_h264.mp4", 3.0),
    ("real/gnome_screencast_display-dual-monitors_1024x768_vp8.webm", 36.0),  # its seek lands between keyframes
])
def test_trim_after_a_seek_gives_the_same_frames_as_decoding_from_the_top(media, name, start):
    clip = gifloop.open(media(name)).resize(width=160)
    every = list(clip.frames())
    trimmed = list(clip.trim(start, start + 0.5).frames())
    expected = [f for f in every if start - 1e-3 <= f.time < start + 0.5 - 1e-3]
    assert len(trimmed) == len(expected) > 0
    for got, want in zip(trimmed, expected):
        assert got.time == pytest.approx(want.time - start, abs=1e-3)
        assert np.array_equal(got.image, want.image)


def test_fps_resampling_matches_frames_on_screen(media):
    clip = gifloop.open(media("formats/smpte_countdown_1920x1080_h264.mp4")).resize(width=160)
    every = list(clip.frames())
    times = np.array([f.time for f in every])
    resampled = list(clip.trim(2.0, 4.0).with_fps(12).frames())
    assert len(resampled) == 24
    for k, frame in enumerate(resampled):
        on_screen = int(np.searchsorted(times, 2.0 + k / 12 + 1e-3, side="right") - 1)
        assert np.array_equal(frame.image, every[on_screen].image), k


def test_portrait_seed_recipe_on_a_real_phone_video(media, tmp_path):
    clip = gifloop.open(media("portrait/phone_keyboard_1080x1920_h264.mp4"))
    out = clip.crop(0, 0, 1080, 960).resize(width=640).with_fps(12).write_gif(tmp_path / "p.gif")
    assert out.size == (640, 569)
    assert abs(sum(gif_delays_cs(out.path)) - round(clip.duration * 100)) <= 1


@pytest.mark.parametrize("name, error, fragment", [
    ("odd/zero_bytes.webm", NotAVideoError, "empty"),
    ("odd/audio_only_crunching.mp3", NotAVideoError, "no video stream"),
    ("odd/audio_only_two_aac_tracks.mp4", NotAVideoError, "no video stream"),
    ("odd/not_a_video_text_renamed.mp4", CorruptSourceError, "not a video"),
    ("odd/broken_crc.ogg", CorruptSourceError, "damaged"),
    ("odd/truncated_80pct_moov_missing_cockatoo.mp4", CorruptSourceError, "incomplete"),
])
def test_broken_inputs_raise_clear_errors(media, name, error, fragment):
    with pytest.raises(error) as info:
        gifloop.open(media(name))
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_truncated_file_converts_what_decodes_and_warns(media, tmp_path):
    clip = gifloop.open(media("odd/truncated_60pct_moov_first_squirrel.mp4"))
    with pytest.warns(TruncatedSourceWarning, match="ends at"):
        out = clip.resize(width=96).with_fps(10).write_gif(tmp_path / "t.gif")
    assert 5.0 < out.duration < 6.5


def test_png_renamed_mp4_becomes_a_one_frame_gif(media, tmp_path):
    out = gifloop.open(media("odd/not_a_video_png_renamed.mp4")).write_gif(tmp_path / "png.gif")
    assert out.frames == 1 and out.size == (260, 77)


def test_start_past_the_end_of_a_file_without_duration(media, tmp_path):
    clip = gifloop.open(media("odd/no_duration_1280x720_vp9.webm"))
    with pytest.raises(gifloop.InvalidParameterError, match="past the end"):
        clip.trim(30).resize(width=64).write_gif(tmp_path / "late.gif")
    assert not (tmp_path / "late.gif").exists()

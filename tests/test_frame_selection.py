"""Frame choice on timestamps alone (no video needed): which source frame is on screen when."""

import pytest

from gifloop.source.decode import Window, select_frames


def run(times, window, last=0.04):
    gen = select_frames([(t, i) for i, t in enumerate(times)], window, last)
    out = []
    while True:
        try:
            out.append(next(gen))
        except StopIteration as done:
            return out, done.value


def test_resampling_picks_the_frame_on_screen_at_each_k_over_fps():
    times = [i / 30 for i in range(90)]  # 3 s at 30 fps
    out, end = run(times, Window(fps=12), last=1 / 30)
    assert [t for t, _ in out] == pytest.approx([k / 12 for k in range(36)])
    # frame on screen at k/12 is floor(k * 30 / 12) (2.5k), never the next one
    assert [i for _, i in out] == [int(k * 2.5 + 1e-9) for k in range(36)]
    assert end == pytest.approx(3.0)


def test_trim_is_frame_exact_and_rebased_to_zero():
    times = [i / 25 for i in range(100)]
    out, end = run(times, Window(start=1.0, end=2.0))
    assert [i for _, i in out] == list(range(25, 50))
    assert out[0][0] == 0.0 and out[-1][0] == pytest.approx(24 / 25)
    assert end == pytest.approx(1.0)


def test_start_between_frames_shows_the_frame_already_on_screen():
    times = [0.0, 0.1, 0.2, 0.3]
    out, _ = run(times, Window(start=0.15))
    assert [i for _, i in out] == [1, 2, 3]
    assert out[0][0] == 0.0 and out[1][0] == pytest.approx(0.05)


def test_speed_divides_output_times():
    times = [i / 10 for i in range(20)]
    out, end = run(times, Window(speed=2.0), last=0.1)
    assert [t for t, _ in out] == pytest.approx([i / 20 for i in range(20)])
    assert end == pytest.approx(1.0)


def test_speed_with_fps_samples_source_at_speed_over_fps():
    times = [i / 30 for i in range(60)]
    out, _ = run(times, Window(fps=10, speed=3.0), last=1 / 30)
    assert [i for _, i in out] == [9 * k for k in range(7)]  # every 0.3 s of source


def test_variable_frame_rate_keeps_real_timestamps():
    times = [0.0, 0.08, 0.18, 0.27, 1.0]
    out, end = run(times, Window(), last=0.09)
    assert [t for t, _ in out] == pytest.approx(times)
    assert end == pytest.approx(1.09)


def test_resampling_repeats_a_long_frame():
    out, _ = run([0.0, 1.0], Window(fps=4), last=1.0)
    assert [i for _, i in out] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_window_past_the_end_yields_nothing():
    out, _ = run([0.0, 0.1], Window(start=5.0))
    assert out == []

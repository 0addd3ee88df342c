import pytest

from gifloop import InvalidParameterError, format_time, parse_time


@pytest.mark.parametrize("value, seconds", [
    (12, 12.0), (1.5, 1.5), ("82.65", 82.65), ("1:22.65", 82.65), ("01:02:03.5", 3723.5),
    ((1, 22.65), 82.65), ([1, 2, 3], 3723.0), ("-0:01.5", -1.5), (" 4s ", 4.0), (".5", 0.5),
])
def test_parse_time_accepts_the_documented_forms(value, seconds):
    assert parse_time(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["abc", "1:75", "1::2", "", None, True, float("nan"), (1, "x"), (1, 2, 3, 4)])
def test_parse_time_rejects_nonsense_with_a_hint(value):
    with pytest.raises(InvalidParameterError) as info:
        parse_time(value, "start")
    assert "start" in str(info.value)
    assert "\n" not in str(info.value)


def test_format_time_round_trips():
    for seconds in (0, 0.04, 59.99, 82.65, 3725.5):
        assert parse_time(format_time(seconds)) == pytest.approx(seconds, abs=0.005)
    assert format_time(82.65) == "1:22.65"
    assert format_time(3725.5) == "1:02:05.50"

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from exchange.calendar import default_calendar
from exchange.calendar.workdays import WorkingDayCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = default_calendar()


def test_weekends_are_not_working_days() -> None:
    assert CAL.is_working_day(date(2026, 3, 6))  # Friday
    assert not CAL.is_working_day(date(2026, 3, 7))  # Saturday
    assert not CAL.is_working_day(date(2026, 3, 8))  # Sunday


def test_public_holidays_are_not_working_days_and_make_up_weekends_are() -> None:
    assert not CAL.is_working_day(date(2026, 10, 1))  # National Day
    assert not CAL.is_working_day(date(2026, 2, 17))  # Spring Festival
    assert CAL.is_working_day(date(2026, 10, 10))  # Saturday worked in exchange (调休)
    assert CAL.is_working_day(date(2026, 2, 14))


def test_the_starting_day_is_not_counted() -> None:
    assert CAL.add_working_days(date(2026, 3, 2), 1) == date(2026, 3, 3)
    assert CAL.add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 9)  # Friday -> Monday


def test_twenty_working_days_across_national_day() -> None:
    assert CAL.add_working_days(date(2026, 9, 30), 20) == date(2026, 11, 3)


def test_period_ends_at_midnight_shanghai_of_the_last_working_day() -> None:
    start = datetime(2026, 3, 2, 15, 30, tzinfo=SHANGHAI)
    assert CAL.period_end(start, 1) == datetime(2026, 3, 4, 0, 0, tzinfo=SHANGHAI)


def test_a_start_late_in_the_evening_utc_counts_from_the_shanghai_date() -> None:
    start = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # already Tuesday 01:00 in Shanghai
    assert CAL.period_end(start, 1).astimezone(SHANGHAI) == datetime(2026, 3, 5, 0, 0, tzinfo=SHANGHAI)


def test_acceleration_shrinks_the_wall_clock_length_without_changing_the_rule() -> None:
    start = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    real = CAL.period_end(start, 20) - start
    fast = CAL.with_acceleration(1440).period_end(start, 20) - start
    assert fast == real / 1440
    assert fast < timedelta(hours=1)


def test_negative_periods_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.add_working_days(date(2026, 3, 2), -1)
    with pytest.raises(ValueError):
        CAL.period_end(datetime(2026, 3, 2), 1)
    with pytest.raises(ValueError):
        CAL.with_acceleration(0)


def test_working_days_between_counts_after_start_up_to_end() -> None:
    assert CAL.working_days_between(date(2026, 3, 2), date(2026, 3, 9)) == 5


def test_a_calendar_file_cannot_list_a_day_as_both_holiday_and_working_day(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from exchange.calendar.workdays import load_calendar

    path = tmp_path / "cal.json"
    path.write_text('{"holidays": ["2026-05-09"], "working_weekends": ["2026-05-09"]}')
    with pytest.raises(ValueError, match="both"):
        load_calendar(path)


def test_an_empty_calendar_knows_only_weekends() -> None:
    plain = WorkingDayCalendar(frozenset(), frozenset())
    assert plain.is_working_day(date(2026, 10, 1))

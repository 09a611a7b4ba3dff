"""Deadlines counted in working days.

A period of N working days starting at a moment ends at 24:00 Asia/Shanghai of the N-th
working day after that moment's date: the starting day itself is not counted (the civil
code's rule for periods counted in days). Acceleration shrinks the wall-clock length of
every period by the same factor without changing which days count.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_DEFAULT_FILE = Path(__file__).with_name("cn_holidays.json")


@dataclass(frozen=True)
class WorkingDayCalendar:
    holidays: frozenset[date]
    extra_working_days: frozenset[date]
    acceleration: int = 1

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The date of the `days`-th working day after `start` (start itself not counted)."""
        if days < 0:
            raise ValueError("a period cannot be negative")
        current, counted = start, 0
        while counted < days:
            current += timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        return current

    def period_end(self, start: datetime, working_days: int) -> datetime:
        """The moment a period of `working_days` that starts at `start` ends (aware UTC)."""
        if start.tzinfo is None:
            raise ValueError("deadlines are computed from aware datetimes")
        local_start = start.astimezone(SHANGHAI)
        last_day = self.add_working_days(local_start.date(), working_days)
        end_local = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=SHANGHAI)
        real = end_local - local_start
        return start + real / self.acceleration

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`."""
        count, current = 0, start
        while current < end:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    def with_acceleration(self, acceleration: int) -> WorkingDayCalendar:
        if acceleration < 1:
            raise ValueError("acceleration is a whole factor >= 1")
        return WorkingDayCalendar(self.holidays, self.extra_working_days, acceleration)


def load_calendar(path: Path, acceleration: int = 1) -> WorkingDayCalendar:
    raw = json.loads(path.read_text(encoding="utf-8"))
    holidays = frozenset(date.fromisoformat(d) for d in raw.get("holidays", []))
    extra = frozenset(date.fromisoformat(d) for d in raw.get("working_weekends", []))
    overlap = holidays & extra
    if overlap:
        raise ValueError(f"{path}: days listed both as holiday and as working day: {sorted(overlap)}")
    return WorkingDayCalendar(holidays, extra, acceleration)


def default_calendar(acceleration: int = 1) -> WorkingDayCalendar:
    """The calendar file named by EXCHANGE_CALENDAR_FILE, else the bundled one."""
    path = Path(os.environ.get("EXCHANGE_CALENDAR_FILE", str(_DEFAULT_FILE)))
    return load_calendar(path, acceleration)

"""Working-day calendar (Asia/Shanghai): weekends, public holidays and make-up working days."""

from exchange.calendar.workdays import WorkingDayCalendar, default_calendar

__all__ = ["WorkingDayCalendar", "default_calendar"]

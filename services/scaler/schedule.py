"""Active-hours schedules (pure): weekly windows or cron-like start/end pairs, in an IANA timezone.

Syntax (``SCALER_SCHEDULE``), several windows separated by ``;``:

- weekly: ``Mon-Fri 07:00-19:00``, ``Sat,Sun 09:00-12:00``, ``Mon 22:00-06:00`` (wraps past midnight into the
  next day), ``Daily 08:00-18:00`` / ``* 08:00-18:00``; end ``24:00`` means midnight;
- cron-like: ``cron(0 7 * * 1-5)..cron(0 19 * * 1-5)``: active from the most recent start fire until the next
  end fire.

An empty schedule means "always active". Outside every window the scaler is off-hours (min 0, optional max cap);
see docs/adr/0002-scaling.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKLY = re.compile(r"^(?P<days>[A-Za-z*,\-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")
_CRON = re.compile(r"^cron\((?P<start>[^)]+)\)\s*\.\.\s*cron\((?P<end>[^)]+)\)$", re.IGNORECASE)


class ScheduleError(ValueError):
    """A schedule or timezone that cannot be used; the message is one line."""


def zone(name: str) -> ZoneInfo:
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown timezone {name!r}: use an IANA name such as Europe/Berlin or UTC"
        ) from None


def _parse_time(text: str) -> int:
    """Minutes after midnight; ``24:00`` is 1440."""
    hh, mm = (int(p) for p in text.split(":"))
    if mm > 59 or hh > 24 or (hh == 24 and mm != 0):
        raise ScheduleError(f"bad time {text!r}: use HH:MM between 00:00 and 24:00")
    return hh * 60 + mm


def _parse_days(text: str) -> frozenset[int]:
    low = text.lower()
    if low in ("*", "daily", "every"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in low.split(","):
        if "-" in part:
            a, _, b = part.partition("-")
            if a[:3] not in DAYS or b[:3] not in DAYS:
                raise ScheduleError(f"bad day range {part!r}: use Mon..Sun, e.g. Mon-Fri")
            i, j = DAYS.index(a[:3]), DAYS.index(b[:3])
            k = i
            while True:  # ranges may wrap, e.g. Sat-Mon
                days.add(k)
                if k == j:
                    break
                k = (k + 1) % 7
        else:
            if part[:3] not in DAYS:
                raise ScheduleError(f"bad day {part!r}: use Mon..Sun, e.g. Mon-Fri")
            days.add(DAYS.index(part[:3]))
    return frozenset(days)


@dataclass(frozen=True)
class WeeklyWindow:
    days: frozenset[int]  # 0 = Monday; the day the window starts
    start: int  # minutes after midnight
    end: int  # minutes after midnight; <= start wraps into the next day
    text: str

    def contains(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        today = local.weekday()
        if self.start < self.end:
            return today in self.days and self.start <= minute < self.end
        # wraps midnight: the part after start today, or the part before end that began yesterday
        return (today in self.days and minute >= self.start) or (
            (today - 1) % 7 in self.days and minute < self.end
        )


@dataclass(frozen=True)
class CronWindow:
    start: str
    end: str
    text: str

    def contains(self, local: datetime) -> bool:
        # Active when the latest start fire is more recent than the latest end fire.
        probe = local + timedelta(seconds=1)  # a fire at exactly `local` counts as passed
        last_start = croniter(self.start, probe).get_prev(datetime)
        last_end = croniter(self.end, probe).get_prev(datetime)
        return bool(last_start > last_end)


Window = WeeklyWindow | CronWindow


@dataclass(frozen=True)
class Schedule:
    windows: tuple[Window, ...]
    tz: ZoneInfo
    text: str = ""

    @property
    def always(self) -> bool:
        return not self.windows

    def active_window(self, now: float) -> str | None:
        """The text of the window containing unix time ``now``, ``"always"``, or None (off-hours)."""
        if self.always:
            return "always"
        local = datetime.fromtimestamp(now, tz=UTC).astimezone(self.tz)
        for window in self.windows:
            if window.contains(local):
                return window.text
        return None


def parse_schedule(text: str | None, tz_name: str = "UTC") -> Schedule:
    tz = zone(tz_name)
    windows: list[Window] = []
    for raw in (text or "").split(";"):
        part = " ".join(raw.split())
        if not part:
            continue
        if m := _CRON.match(part):
            start, end = m["start"].strip(), m["end"].strip()
            for expr in (start, end):
                if not croniter.is_valid(expr):
                    raise ScheduleError(f"bad cron expression {expr!r} in schedule window {part!r}")
            windows.append(CronWindow(start, end, part))
        elif m := _WEEKLY.match(part):
            start_min, end_min = _parse_time(m["start"]), _parse_time(m["end"])
            if start_min == end_min:
                raise ScheduleError(f"empty schedule window {part!r}: start equals end")
            windows.append(WeeklyWindow(_parse_days(m["days"]), start_min, end_min % 1440, part))
        else:
            raise ScheduleError(
                f"bad schedule window {part!r}: use 'Mon-Fri 07:00-19:00' or 'cron(0 7 * * 1-5)..cron(0 19 * * 1-5)'"
            )
    return Schedule(tuple(windows), tz, text or "")

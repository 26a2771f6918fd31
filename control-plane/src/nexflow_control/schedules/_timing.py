"""When a schedule is due: cron expressions and one-shot times in an IANA time zone.

A `When` is either `cron` (five fields, minute to weekday, read by croniter in the
schedule's time zone, so "30 7 * * *" is 07:30 local time across DST changes) or `at`
(one moment). `check_when` refuses what can never run well, each with a stable code:

    invalid_timezone        not an IANA zone name (zoneinfo)
    invalid_cron            not a five-field cron expression
    schedule_never_fires    a valid expression with no future time (``0 0 30 2 *``)
    schedule_too_frequent   two firings closer than the minimum interval
    schedule_in_past        a one-shot time that has passed
    invalid_schedule        neither or both of cron and at
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from ..errors import InvalidInput

_SAMPLE = 12  # successive gaps checked against the minimum interval


@dataclass(frozen=True, slots=True)
class When:
    cron: str | None
    at: datetime | None
    timezone: str

    def next_after(self, moment: datetime) -> datetime | None:
        """The first due time strictly after `moment` (UTC), or None (a one-shot's is past)."""
        if self.cron is None:
            return self.at if self.at is not None and self.at > moment else None
        zone = ZoneInfo(self.timezone)
        it = croniter(self.cron, moment.astimezone(zone))
        try:
            return it.get_next(datetime).astimezone(UTC)  # type: ignore[no-any-return]
        except CroniterBadDateError:
            return None


def _bad(code: str, message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code=code, field=field)


def check_when(
    cron: str | None, at: datetime | None, timezone: str, *, now: datetime, min_interval_s: float
) -> When:
    """A checked `When`; `InvalidInput` with one of the module's codes otherwise."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(
            "invalid_timezone", f"{timezone[:64]!r} is not an IANA time zone", "timezone"
        ) from None
    if (cron is None) == (at is None):
        raise _bad("invalid_schedule", "give exactly one of cron and at", "cron")
    if at is not None:
        at = at.replace(tzinfo=ZoneInfo(timezone)) if at.tzinfo is None else at
        try:
            at = at.astimezone(UTC)
        except (OverflowError, ValueError):
            raise _bad("invalid_schedule", "at has no UTC equivalent", "at") from None
        if at <= now:
            raise _bad("schedule_in_past", f"{at.isoformat()} has passed", "at")
        return When(None, at, timezone)
    assert cron is not None
    text = " ".join(cron.split())
    if len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise _bad("invalid_cron", f"{cron[:80]!r} is not a five-field cron expression", "cron")
    when = When(text, None, timezone)
    times: list[datetime] = []
    moment = now
    try:
        for _ in range(_SAMPLE):
            following = when.next_after(moment)
            if following is None:
                break
            times.append(following)
            moment = following
    except (CroniterBadCronError, CroniterError):
        raise _bad("invalid_cron", f"{cron[:80]!r} is not a cron expression", "cron") from None
    if not times:
        raise _bad("schedule_never_fires", f"{cron[:80]!r} has no future time", "cron")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if gaps and min(gaps) < timedelta(seconds=min_interval_s):
        raise _bad(
            "schedule_too_frequent",
            f"{cron[:80]!r} fires more often than every {min_interval_s:g} s",
            "cron",
        )
    return when

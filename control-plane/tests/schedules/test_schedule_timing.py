"""When schedules are due: cron in a time zone across DST, one-shots, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from nexflow_control.errors import InvalidInput
from nexflow_control.schedules import check_when

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # the day before Europe's spring change


def test_cron_is_read_in_its_time_zone_across_a_dst_change() -> None:
    """07:30 Berlin is 06:30 UTC before the change and 05:30 UTC after it."""
    when = check_when("30 7 * * *", None, "Europe/Berlin", now=NOW, min_interval_s=60)
    first = when.next_after(NOW)
    second = when.next_after(first) if first else None
    assert first == datetime(2026, 3, 29, 5, 30, tzinfo=UTC)
    assert second == datetime(2026, 3, 30, 5, 30, tzinfo=UTC)
    before = when.next_after(datetime(2026, 3, 27, 12, tzinfo=UTC))
    assert before == datetime(2026, 3, 28, 6, 30, tzinfo=UTC)


def test_a_one_shot_without_offset_is_local_and_fires_once() -> None:
    """`at` without an offset is read in the zone; after it, there is no next time."""
    when = check_when(
        None, datetime(2026, 12, 24, 18, 0), "America/New_York", now=NOW, min_interval_s=60
    )
    assert when.at == datetime(2026, 12, 24, 23, 0, tzinfo=UTC)
    assert when.next_after(NOW) == when.at
    assert when.next_after(when.at) is None


@pytest.mark.parametrize(
    ("cron", "at", "zone", "minimum", "code"),
    [
        ("0 0 30 2 *", None, "UTC", 60, "schedule_never_fires"),
        ("*/5 * * * *", None, "UTC", 3600, "schedule_too_frequent"),
        ("0 * * * * *", None, "UTC", 60, "invalid_cron"),
        ("0 25 * * *", None, "UTC", 60, "invalid_cron"),
        ("", None, "UTC", 60, "invalid_cron"),
        ("0 7 * * *", None, "Nowhere/City", 60, "invalid_timezone"),
        ("0 7 * * *", None, "../../etc/passwd", 60, "invalid_timezone"),
        (None, datetime(2026, 1, 1, tzinfo=UTC), "UTC", 60, "schedule_in_past"),
        (None, None, "UTC", 60, "invalid_schedule"),
        ("0 7 * * *", datetime(2027, 1, 1, tzinfo=UTC), "UTC", 60, "invalid_schedule"),
        (None, datetime(1, 1, 1), "Asia/Tokyo", 60, "invalid_schedule"),
    ],
)
def test_timing_that_cannot_run_well_is_refused(
    cron: str | None, at: datetime | None, zone: str, minimum: int, code: str
) -> None:
    """Each refusal carries its stable code and names the field."""
    with pytest.raises(InvalidInput) as caught:
        check_when(cron, at, zone, now=NOW, min_interval_s=minimum)
    assert caught.value.code == code
    assert caught.value.extra["field"] in {"cron", "at", "timezone"}

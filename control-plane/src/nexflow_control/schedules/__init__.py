"""Scheduled calls: cron expressions and one-shot times in a time zone, run as their owner.

ScheduleService     create / visible / get / pause / resume / delete (the routes' side)
Scheduler           the loop on every control plane: claim each due time once, run it
                    through `CallService.run` (policy, approval, audit as any call)
ScheduleStore       the `schedules` and `schedule_runs` tables; `claim` is the one
                    atomic UPDATE that makes a due time run once across control planes
check_when / When   cron and one-shot timing, with their error codes
Schedule, Status    a schedule as stored, and its public view
"""

from ._runner import Scheduler
from ._service import ScheduleService
from ._store import ScheduleStore, SchedulesUnavailable
from ._timing import When, check_when
from .records import DESTINATION, Schedule, Status

__all__ = [
    "DESTINATION",
    "Schedule",
    "ScheduleService",
    "ScheduleStore",
    "Scheduler",
    "SchedulesUnavailable",
    "Status",
    "When",
    "check_when",
]

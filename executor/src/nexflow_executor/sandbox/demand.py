"""Demand bookkeeping shared by the two pools of sandboxes started before their call.

The Docker warm pool (pool.py) and the nsjail pre-started jails (jail_pool.py) size
themselves the same way: per profile, as many as its calls were running at once at the
busiest moment of the last `window_s`, plus those expected to arrive while one sandbox is
set up (arrival rate times set-up time). Both also let a call that finds nothing ready
wait for a set-up already under way that no other call waits for. One copy of that
logic lives here, so the two pools cannot drift apart; what differs (caps, eviction,
how a sandbox ends) stays in each pool.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from nexflow_executor.errors import ExecutorError

__all__ = ["MAX_FAILURES", "Demand", "set_up_one", "wait_for_start"]

log = structlog.get_logger("nexflow_executor")

MAX_FAILURES = 3  # set-ups failed in a row before a profile gets nothing until its next call


@dataclass(slots=True)
class Demand[T]:
    """One profile's ready sandboxes, set-ups under way, and recent calls."""

    ready: deque[T] = field(default_factory=deque)
    starting: int = 0
    running: int = 0
    failures: int = 0
    arrivals: deque[float] = field(default_factory=deque)
    peaks: deque[tuple[float, int]] = field(default_factory=deque)
    waiting: deque[asyncio.Future[T]] = field(default_factory=deque)

    def arrive(self, now: float) -> None:
        """A call of this profile starts: count it until `leave()`."""
        self.running += 1
        self.arrivals.append(now)
        self.peaks.append((now, self.running))
        self.failures = 0

    def leave(self) -> None:
        """The call counted by `arrive()` has ended."""
        if self.running > 0:
            self.running -= 1

    def waiters(self) -> int:
        return sum(not f.done() for f in self.waiting)

    def hand_over(self, sandbox: T) -> bool:
        """Give `sandbox` to the longest-waiting call, if one still waits."""
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(sandbox)
                return True
        return False

    def keep(self, sandbox: T) -> None:
        """A set-up finished: to the longest-waiting call, else ready for the next."""
        if not self.hand_over(sandbox):
            self.ready.append(sandbox)

    def forget_before(self, cutoff: float) -> None:
        while self.arrivals and self.arrivals[0] < cutoff:
            self.arrivals.popleft()
        while self.peaks and self.peaks[0][0] < cutoff:
            self.peaks.popleft()

    def demand(self, now: float, window_s: float, setup_s: float) -> int:
        """Sandboxes this profile's recent calls ask to have ready (module docstring);
        0 once it has had no call for `window_s` or its set-ups keep failing."""
        self.forget_before(now - window_s)
        if not self.arrivals or self.failures >= MAX_FAILURES:
            return 0
        peak = max(n for _, n in self.peaks) if self.peaks else 1
        return peak + round(len(self.arrivals) / window_s * setup_s)


async def wait_for_start[T](
    entry: Demand[T], within_s: float, discard: Callable[[T], object]
) -> T | None:
    """The sandbox a set-up under way will hand over, if one is under way that no other
    call waits for and it is up within `within_s`; else None (set one up yourself). If the
    waiting call is cancelled just as a sandbox arrives, `discard` ends that sandbox."""
    if entry.starting <= entry.waiters():
        return None
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    entry.waiting.append(future)
    try:
        await asyncio.wait({future}, timeout=within_s)
    except BaseException:
        if future.done():
            discard(future.result())
        future.cancel()
        raise
    if not future.done():
        future.cancel()
        return None
    return future.result()


async def set_up_one[T](
    entry: Demand[T],
    start: Callable[[], Awaitable[T | None]],
    wanted: Callable[[], bool],
    discard: Callable[[T], object],
    event: str,
) -> None:
    """Run one set-up the refill counted in `entry.starting` (`start`; None: no longer
    needed), and hand what it made to a waiting call or keep it ready, or `discard` it if
    the profile is no longer `wanted`. A failure is counted (after MAX_FAILURES the
    profile gets nothing until its next call) and logged under `event`, never raised:
    the refill goes on for the other profiles."""
    try:
        made = await start()
    except ExecutorError as exc:
        entry.failures += 1
        log.warning(event, outcome="start_failed", error=exc.message)
        return
    except Exception:
        entry.failures += 1
        log.exception(event, outcome="start_failed")
        return
    finally:
        entry.starting -= 1
    if made is None:
        return
    if wanted():
        entry.keep(made)
    else:  # the profile was dropped while this one was being set up
        discard(made)

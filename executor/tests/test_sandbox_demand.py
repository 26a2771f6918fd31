"""The demand bookkeeping both pools share (sandbox/demand.py): how many sandboxes a
profile's recent calls ask for, and what a failed or unneeded set-up leaves behind."""

from __future__ import annotations

import asyncio

from nexflow_executor.errors import SandboxError
from nexflow_executor.sandbox.demand import MAX_FAILURES, Demand, set_up_one, wait_for_start


def test_demand_is_the_busiest_moment_plus_what_arrives_during_one_set_up() -> None:
    """Three calls at once at t=0..2, one more at t=50: peak 3, plus 4 arrivals in a 60 s
    window times a 30 s set-up (2); once the window has passed, nothing."""
    entry: Demand[str] = Demand()
    for t in (0.0, 1.0, 2.0):
        entry.arrive(t)
    for _ in range(3):
        entry.leave()
    entry.arrive(50.0)
    assert entry.demand(55.0, 60.0, 30.0) == 3 + 2
    assert entry.demand(55.0, 60.0, 0.0) == 3
    assert entry.demand(109.0, 60.0, 60.0) == 1 + 1  # only t=50 is left: peak 1, 1 a minute
    assert entry.demand(200.0, 60.0, 30.0) == 0 and not entry.peaks


async def test_failed_set_ups_are_counted_and_stop_the_demand() -> None:
    """A set-up that raises is logged and counted, never raised; after MAX_FAILURES in a
    row the profile asks for nothing until its next call."""
    entry: Demand[str] = Demand()
    entry.arrive(0.0)

    async def broken() -> str:
        raise SandboxError("no jail today")

    for _ in range(MAX_FAILURES):
        entry.starting += 1
        await set_up_one(entry, broken, lambda: True, entry.ready.append, "test")
    assert entry.starting == 0 and not entry.ready
    assert entry.demand(1.0, 60.0, 0.0) == 0
    entry.arrive(2.0)  # a new call forgives
    assert entry.demand(3.0, 60.0, 0.0) == 2


async def test_a_set_up_goes_to_the_waiting_call_else_ready_else_is_discarded() -> None:
    entry: Demand[str] = Demand()
    discarded: list[str] = []

    async def make(name: str) -> str:
        return name

    entry.starting = 1
    waiter = asyncio.create_task(wait_for_start(entry, 5.0, discarded.append))
    await asyncio.sleep(0)
    await set_up_one(entry, lambda: make("a"), lambda: True, discarded.append, "test")
    assert await waiter == "a" and not entry.ready
    entry.starting = 1
    await set_up_one(entry, lambda: make("b"), lambda: True, discarded.append, "test")
    assert list(entry.ready) == ["b"]
    entry.starting = 1
    await set_up_one(entry, lambda: make("c"), lambda: False, discarded.append, "test")
    assert discarded == ["c"] and list(entry.ready) == ["b"] and entry.starting == 0
    # Nothing under way that no one waits for: a caller sets one up itself at once.
    assert await wait_for_start(entry, 5.0, discarded.append) is None

"""`ChainStatus`: one walk at a time, shared by concurrent askers, reused while fresh."""

from __future__ import annotations

import asyncio

from nexflow_control.audit import VerifyReport
from nexflow_control.audit.status import ChainStatus


def _report(checked: int) -> VerifyReport:
    return VerifyReport(True, checked, None, None, "ok", checked, "h")


async def test_concurrent_askers_share_one_walk_and_reuse_it_while_fresh() -> None:
    now = [0.0]
    walks: list[int] = []
    gate = asyncio.Event()

    async def walk() -> VerifyReport:
        walks.append(1)
        await gate.wait()
        return _report(len(walks))

    status = ChainStatus(max_age_s=60, clock=lambda: now[0])
    askers = [asyncio.create_task(status.report(walk)) for _ in range(5)]
    await asyncio.sleep(0.01)
    gate.set()
    reports = await asyncio.gather(*askers)
    assert len(walks) == 1 and {r.checked for r, _ in reports} == {1}
    now[0] = 59.0
    assert (await status.report(walk))[0].checked == 1 and len(walks) == 1
    now[0] = 61.0  # stale: walks again
    assert (await status.report(walk))[0].checked == 2
    assert (await status.report(walk, fresh=True))[0].checked == 3  # asked for a new one


async def test_an_asker_that_goes_away_does_not_cancel_the_walk() -> None:
    gate = asyncio.Event()

    async def walk() -> VerifyReport:
        await gate.wait()
        return _report(7)

    status = ChainStatus()
    impatient = asyncio.create_task(status.report(walk))
    await asyncio.sleep(0.01)
    patient = asyncio.create_task(status.report(walk))
    await asyncio.sleep(0.01)
    impatient.cancel()
    gate.set()
    report, _ = await patient
    assert report.checked == 7

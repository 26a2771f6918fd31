"""Per-chat lanes: one chat's items in order and one at a time, other chats not held up,
a bounded number at once, a full lane refused without waiting."""

from __future__ import annotations

import asyncio

from nexflow_gateway.lanes import Lanes


async def test_one_chat_in_order_while_another_chat_is_not_held_up() -> None:
    """A slow item in chat a delays a's next items (kept in order, never two at once) but
    not chat b's, and `submit` itself never waits."""
    done: list[str] = []
    running: set[str] = set()
    overlapped: list[str] = []
    release, b_done = asyncio.Event(), asyncio.Event()

    async def work(item: tuple[str, int]) -> None:
        chat, n = item
        if chat in running:
            overlapped.append(chat)
        running.add(chat)
        if item == ("a", 0):
            await release.wait()
        await asyncio.sleep(0)
        running.discard(chat)
        done.append(f"{chat}{n}")
        if done.count("b2"):
            b_done.set()

    lanes: Lanes[tuple[str, int]] = Lanes(work, max_concurrent=8)
    for n in range(3):
        assert lanes.submit("a", ("a", n)) and lanes.submit("b", ("b", n))
    await asyncio.wait_for(b_done.wait(), 5)
    assert done == ["b0", "b1", "b2"]
    release.set()
    await asyncio.wait_for(lanes.drain(), 5)
    assert [d for d in done if d[0] == "a"] == ["a0", "a1", "a2"]
    assert overlapped == []


async def test_bounded_at_once_and_a_full_lane_is_refused() -> None:
    """With max_concurrent 2, four chats' items never run more than two at a time; a lane
    holding max_waiting items refuses the next one (False) at once."""
    now = peak = 0
    gate = asyncio.Event()

    async def work(_item: int) -> None:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await gate.wait()
        now -= 1

    lanes: Lanes[int] = Lanes(work, max_concurrent=2, max_waiting=3)
    for chat in range(4):
        assert lanes.submit(f"c{chat}", chat)
    assert lanes.submit("c0", 1) and lanes.submit("c0", 2)
    assert not lanes.submit("c0", 3)
    await asyncio.sleep(0.05)
    assert peak == 2
    gate.set()
    await asyncio.wait_for(lanes.drain(), 5)
    assert peak == 2 and now == 0
    assert lanes.submit("c0", 4)  # the lane went away once empty; a new one starts
    await asyncio.wait_for(lanes.drain(), 5)

"""The tiered validation: inline within a CPU slice, else in a worker process that is
replaced when it overruns or dies; every outcome is a clear error, never a hang."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.calls.inputs import check_tiered, validate_input_tiered
from nexflow_control.errors import InvalidInput, Unavailable
from nexflow_control.skills import NeedsWorker, ValidationPool, check_input

FAN_OUT = {
    "type": "object",
    "properties": {"n": {"items": {"allOf": [{"$ref": "#/properties/n"}] * 2}}},
}
SMALL = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}


def _nested(depth: int) -> list[Any]:
    nested: list[Any] = []
    for _ in range(depth):
        nested = [nested]
    return nested


def _workers(pool: ValidationPool) -> list[int]:
    """The pids of `pool`'s live worker processes."""
    return [w.process.pid for w in pool._workers if w.process.poll() is None]


def _all_workers() -> list[int]:
    """The pids of every validation worker this process started."""
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"nexflow_control.skills._worker" in cmdline:
                pids.append(int(pid))
    return pids


async def _check(pool: ValidationPool, schema: dict[str, Any], value: Any) -> bytes:
    return await validate_input_tiered(
        f"k{id(schema)}", schema, value, max_bytes=1 << 20, pool=pool
    )


def test_inline_slice_hands_a_costly_validation_on() -> None:
    """Inline, the fan-out schema stops after its CPU slice (milliseconds) with NeedsWorker."""
    started = time.thread_time()
    with pytest.raises(NeedsWorker):
        check_input("fan", FAN_OUT, {"n": _nested(40)}, inline=True)
    assert time.thread_time() - started < 0.05
    assert check_input("small", SMALL, {"a": "x", "b": 1}, inline=True) is None


async def test_common_input_never_starts_a_worker() -> None:
    """A small valid or invalid input is judged inline: no worker process is started."""
    pool = ValidationPool()
    assert await _check(pool, SMALL, {"a": "x", "b": 1}) == b'{"a":"x","b":1}'
    with pytest.raises(InvalidInput) as err:
        await _check(pool, SMALL, {"a": 1})
    assert (err.value.code, err.value.extra["field"]) == ("invalid_input", "input.a")
    assert _workers(pool) == []


async def test_worker_judges_what_the_slice_could_not() -> None:
    """A large valid input and a fan-out input go to a worker: accepted, and refused as
    `input_too_complex`; the worker's errors name the field like the inline ones."""
    pool = ValidationPool(workers=1)
    try:
        wide = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
        value = {f"k{i}": i for i in range(20_000)}
        assert await _check(pool, wide, value)
        assert len(_workers(pool)) == 1
        value["k7"] = -1
        with pytest.raises(InvalidInput) as err:
            await _check(pool, wide, value)
        assert (err.value.extra["field"], err.value.extra["validator"]) == ("input.k7", "minimum")
        with pytest.raises(InvalidInput) as err:
            await _check(pool, FAN_OUT, {"n": _nested(40)})
        assert err.value.code == "input_too_complex"
        assert len(_workers(pool)) == 1  # the same worker answered all three
        (pid,) = _workers(pool)
    finally:
        pool.close()
    assert pid not in _all_workers()


async def test_overrunning_worker_is_killed_and_replaced() -> None:
    """A worker past its wall-clock timeout is killed; the call gets `input_too_complex`
    and the next call gets a fresh worker."""
    pool = ValidationPool(workers=1, timeout_s=0.3)
    before = set(_all_workers())
    try:
        started = time.monotonic()
        with pytest.raises(InvalidInput) as err:
            await _check(pool, FAN_OUT, {"n": _nested(40)})
        assert err.value.code == "input_too_complex"
        assert "longer than 0.3 s" in err.value.message
        assert time.monotonic() - started < 30  # the first worker's start-up is not timed
        assert set(_all_workers()) <= before  # the overrunning worker is gone
        wide = {"type": "object", "additionalProperties": {"type": "integer"}}
        # Past the inline slice, yet well within 0.3 s on a loaded machine.
        assert await _check(pool, wide, {f"k{i}": i for i in range(5_000)})
        assert len(_workers(pool)) == 1
    finally:
        pool.close()


async def test_dead_worker_is_a_503_then_replaced() -> None:
    """A worker killed mid-validation gives `validation_unavailable` (503), not a hang."""
    pool = ValidationPool(workers=1)
    try:
        wide = {"type": "object", "additionalProperties": {"type": "integer"}}
        assert await _check(pool, wide, {f"k{i}": i for i in range(20_000)})
        (pid,) = _workers(pool)
        call = asyncio.create_task(_check(pool, FAN_OUT, {"n": _nested(40)}))
        await asyncio.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(Unavailable) as err:
            await asyncio.wait_for(call, 10)
        assert (err.value.status, err.value.code) == (503, "validation_unavailable")
        assert await _check(pool, wide, {f"k{i}": i for i in range(20_000)})
        assert len(_workers(pool)) == 1 and _workers(pool) != [pid]
    finally:
        pool.close()


async def test_busy_workers_refuse_after_the_wait() -> None:
    """When every worker stays busy past `wait_s`, a call gets a 503 instead of queueing."""
    pool = ValidationPool(workers=1, wait_s=0.2)
    try:
        first = asyncio.create_task(_check(pool, FAN_OUT, {"n": _nested(40)}))
        await asyncio.sleep(0.05)
        with pytest.raises(Unavailable) as err:
            await _check(pool, FAN_OUT, {"n": _nested(40)})
        assert err.value.code == "validation_unavailable"
        with pytest.raises(InvalidInput):
            await first
    finally:
        pool.close()


async def test_output_is_checked_by_the_same_tiers_and_named_as_output() -> None:
    """`check_tiered(root="output")` names the output's place inline and in a worker,
    and stops a fan-out output at its step budget: one validator for input and output."""
    pool = ValidationPool(workers=1)
    try:
        small = await check_tiered(
            "out-small", SMALL, {"a": 1}, b'{"a":1}', pool=pool, root="output"
        )
        assert small is not None and (small.field, small.keyword) == ("output.a", "type")
        assert small.message.startswith("output.a: ")
        assert _workers(pool) == []  # judged inline
        wide = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
        value = {f"k{i}": i for i in range(20_000)}
        value["k9"] = -1
        encoded = json.dumps(value).encode()
        big = await check_tiered("out-wide", wide, value, encoded, pool=pool, root="output")
        assert big is not None and big.field == "output.k9"
        assert len(_workers(pool)) == 1  # judged by the worker
        fan = {"n": _nested(40)}
        costly = await check_tiered(
            "out-fan", FAN_OUT, fan, json.dumps(fan).encode(), pool=pool, root="output"
        )
        assert costly is not None and costly.field == "output"
        assert costly.message.startswith("output: validation takes more than")
    finally:
        pool.close()

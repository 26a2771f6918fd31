"""Pre-started nsjail jails: a call runs in a jail set up before it, which serves it alone.

Everything runs in real jails through the real server. A call that finds a ready jail
reports `Started.warm`; the tests wait for the background refill to have one.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc
from nexflow_executor.sandbox.jail import Jail, JailProfile
from nexflow_executor.sandbox.jail_stub import PRELOADED
from nexflow_executor.sandbox.nsjail import NsjailSandbox
from nexflow_executor.settings import EgressSettings, PrestartSettings, Settings

from executor.tests.executor_testkit import (
    NSJAIL_ONLY,
    Outcome,
    execute,
    make_dir,
    request,
    serving,
    write_script,
)
from executor.tests.test_executor_egress import body, lab, probe
from tests import netlab

pytestmark = NSJAIL_ONLY
__all__ = ["lab"]  # the NetLab fixture, shared with the egress suite


async def warm_call(stub: pb_grpc.ExecutorStub, req_of: object) -> Outcome:
    """Run the request `req_of()` gives until one runs in a pre-started jail."""
    for _ in range(50):
        outcome = await execute(stub, req_of())  # type: ignore[operator]
        if outcome.events[0].started.warm:
            return outcome
        await asyncio.sleep(0.1)
    raise AssertionError("no call ran in a pre-started jail")


@pytest.fixture
async def stub(settings: Settings) -> AsyncIterator[pb_grpc.ExecutorStub]:
    async with serving(settings) as stub:
        yield stub


async def test_a_pre_started_jail_serves_one_call_only(stub, skill_dir):
    """A warm call sees none of an earlier call's files, modules or environment."""
    body = (
        "import os, sys, json\n"
        "seen = {'file': os.path.exists('/tmp/left'), 'module': 'leftover' in sys.modules,\n"
        "        'env': os.environ.get('MINE')}\n"
        "open('/tmp/left', 'w').write('x')\n"
        "sys.modules['leftover'] = sys\n"
        "print(json.dumps(seen))\n"
    )
    entry = write_script(skill_dir, "run.py", body)
    first = await execute(stub, request(skill_dir, entry, env={"MINE": "first"}))
    assert json.loads(first.stdout) == {"file": False, "module": False, "env": "first"}
    warm = await warm_call(stub, lambda: request(skill_dir, entry, env={"MINE": "later"}))
    assert json.loads(warm.stdout) == {"file": False, "module": False, "env": "later"}
    assert warm.finished.exit_code == 0


async def test_a_warm_jail_has_the_common_modules_loaded_and_nothing_of_the_stub(stub, skill_dir):
    """The modules nearly every skill imports are loaded while the jail waits (the call
    does not pay for them); the stub's own names are not in the script's namespace."""
    body = (
        "import sys\n"
        "had = sorted(m for m in PRELOADED if m in sys.modules)\n"
        "import json\n"
        "print(json.dumps({'had': had, 'stub': [n for n in ('_main', '_read', '_FD')\n"
        "  if n in globals()]}))\n"
    )
    entry = write_script(skill_dir, "run.py", f"PRELOADED = {PRELOADED!r}\n" + body)
    warm = await warm_call(stub, lambda: request(skill_dir, entry))
    assert json.loads(warm.stdout) == {"had": sorted(PRELOADED), "stub": []}


async def test_a_warm_python_call_runs_as_the_interpreter_would(stub, skill_dir):
    """In a pre-started jail the script is __main__ with its argv, exactly the call's
    environment, no script dir on sys.path, and an uncaught error exits 1 with a traceback
    of the script's frames only."""
    body = (
        "import os, sys, json\n"
        "print(json.dumps({'name': __name__, 'argv': sys.argv, 'env': dict(os.environ),\n"
        "  'path0': sys.path[0], 'flags': [sys.flags.isolated, sys.flags.no_site]}))\n"
        "sys.stdout.flush()\n"
        "def boom():\n"
        "    raise ValueError('bad ' + sys.stdin.read())\n"
        "boom()\n"
    )
    entry = write_script(skill_dir, "run.py", body)

    def req() -> pb.ExecuteRequest:
        return request(skill_dir, entry, args=["a", "b c"], env={"X": "1"}, stdin=b"input")

    out = await warm_call(stub, req)
    seen = json.loads(out.stdout)
    assert seen["name"] == "__main__" and seen["argv"] == ["/skill/run.py", "a", "b c"]
    assert seen["env"]["X"] == "1" and seen["env"]["NEXFLOW_CALL_ID"].startswith("t-")
    assert set(seen["env"]) == {"PATH", "HOME", "LANG", "X", "NEXFLOW_CALL_ID"}
    assert seen["path0"] != "/skill" and seen["flags"] == [1, 1]
    assert out.finished.exit_code == 1
    assert b'File "/skill/run.py", line 7' in out.stderr
    assert b"ValueError: bad input" in out.stderr and b"<string>" not in out.stderr


@pytest.mark.parametrize("runtime", [pb.RUNTIME_BASH, pb.RUNTIME_NODE], ids=["bash", "node"])
async def test_a_warm_jail_runs_other_runtimes(stub, skill_dir, runtime):
    """bash and node scripts run in pre-started jails too, with their argv and stdin."""
    name, body = {
        pb.RUNTIME_BASH: ("run.sh", 'echo "$1:$(cat)"\n'),
        pb.RUNTIME_NODE: (
            "run.js",
            "console.log(process.argv[2] + ':' + require('fs').readFileSync(0, 'utf8'))\n",
        ),
    }[runtime]
    entry = write_script(skill_dir, name, body)
    out = await warm_call(stub, lambda: request(skill_dir, entry, runtime, args=["hi"], stdin=b"x"))
    assert out.stdout.strip() == b"hi:x" and out.finished.exit_code == 0


async def test_limits_hold_in_a_warm_jail(stub, skill_dir):
    """Wall time and output caps apply to a warm call as to any call."""
    entry = write_script(
        skill_dir, "spin.py", "import sys, time\nprint('x' * 5000, flush=True)\ntime.sleep(30)\n"
    )

    def req() -> pb.ExecuteRequest:
        limits = pb.Limits(wall_time_ms=800, output_bytes=1000)
        return request(skill_dir, entry, limits=limits)

    out = await warm_call(stub, req)
    assert out.finished.kill_reason == pb.KILL_REASON_OUTPUT_LIMIT
    assert len(out.stdout) <= 1000


async def test_a_replaced_skill_folder_is_not_served_from_an_old_jail(stub, base_dir):
    """After a skill folder is swapped, no jail set up with the old one runs the call."""
    folder = make_dir(base_dir, "skill")
    entry = write_script(folder, "run.py", "print('old')\n")
    await warm_call(stub, lambda: request(folder, entry))
    folder.rename(base_dir / "gone")
    folder = make_dir(base_dir, "skill")
    write_script(folder, "run.py", "print('new')\n")
    out = await execute(stub, request(folder, entry))
    assert out.stdout == b"new\n"


async def test_the_pool_follows_demand_and_its_caps(settings, skill_dir):
    """Concurrent calls raise how many jails are kept ready, never beyond the caps; with
    no more calls, they are ended after idle_s."""
    prestart = PrestartSettings(max_per_profile=3, max_ready=3, idle_s=2.0, window_s=5.0)
    nsjail = settings.nsjail.model_copy(update={"prestart": prestart})
    sandbox = NsjailSandbox(settings.model_copy(update={"nsjail": nsjail}))
    entry = write_script(skill_dir, "run.py", "import time; time.sleep(0.3)\n")
    spec = _spec(settings, skill_dir, entry)
    await sandbox.start()
    try:
        profile = JailProfile.of(spec)
        taken = [sandbox.pool.take(profile) for _ in range(5)]  # 5 calls at once
        assert taken == [None] * 5
        peak = 0
        for _ in range(40):
            await asyncio.sleep(0.1)
            stats = sandbox.pool.stats()
            peak = max(peak, stats.ready + stats.starting)
            assert stats.ready + stats.starting <= 3
            if stats.ready == 3:
                break
        assert peak == 3
        jail = sandbox.pool.take(profile)
        assert isinstance(jail, Jail) and jail.alive
        assert sandbox.pool.stats().jail_memory_bytes > 0
        await jail.destroy()
        for _ in range(6):
            sandbox.pool.done(profile)
        for _ in range(120):  # window_s without a call, then idle_s: nothing kept
            await asyncio.sleep(0.1)
            if sandbox.pool.stats().ready + sandbox.pool.stats().starting == 0:
                break
        assert sandbox.pool.stats().ready == 0
    finally:
        await sandbox.close()


async def test_the_pool_stays_empty_when_disabled(settings, skill_dir):
    """With prestart off, nothing is set up ahead of a call."""
    nsjail = settings.nsjail.model_copy(update={"prestart": PrestartSettings(enabled=False)})
    off = settings.model_copy(update={"nsjail": nsjail})
    entry = write_script(skill_dir, "run.py", "print(1)\n")
    async with serving(off) as stub:
        for _ in range(3):
            out = await execute(stub, request(skill_dir, entry))
            assert out.stdout == b"1\n" and not out.events[0].started.warm


async def test_jails_set_up_ahead_yield_the_cpu_until_their_call(settings, skill_dir):
    """A jail that only adds to a reserve of ready ones is set up and waits at the lowest
    CPU weight (it takes only CPU the running calls leave idle); one the next call may
    need (none ready) gets the normal weight; the call that takes a background jail runs
    at the normal weight."""
    prestart = PrestartSettings(max_starting=1, max_per_profile=2)
    nsjail = settings.nsjail.model_copy(update={"prestart": prestart})
    one_at_a_time = settings.model_copy(update={"nsjail": nsjail})
    sandbox = NsjailSandbox(one_at_a_time)
    entry = write_script(skill_dir, "run.py", "print(1)\n")
    spec = _spec(one_at_a_time, skill_dir, entry)
    during: list[bool] = []

    async def no_output(stream: object, data: bytes) -> None:
        return None

    await sandbox.start()
    try:
        profile = JailProfile.of(spec)
        assert [sandbox.pool.take(profile), sandbox.pool.take(profile)] == [None, None]
        sandbox.pool.done(profile)  # two calls at once: two jails are wanted
        sandbox.pool.done(profile)
        for _ in range(200):
            if len(sandbox.pool.waiting()) == 2:
                break
            await asyncio.sleep(0.05)
        first, reserve = sandbox.pool.waiting()
        assert [first.cgroup.is_background(), reserve.cgroup.is_background()] == [False, True]

        async def started(image_id: str = "", warm: bool = False) -> None:
            assert warm and reserve not in sandbox.pool.waiting()
            during.append(reserve.cgroup.is_background())

        run = functools.partial(sandbox.run, on_output=no_output, cancel=asyncio.Event())
        assert (await run(spec, on_started=_ignore_started)).exit_code == 0  # takes `first`
        assert (
            await run(_spec(one_at_a_time, skill_dir, entry), on_started=started)
        ).exit_code == 0
        assert during == [False]
    finally:
        await sandbox.close()


async def _ignore_started(image_id: str = "", warm: bool = False) -> None:
    return None


def _spec(settings: Settings, skill_dir: Path, entry: str):  # type: ignore[no-untyped-def]
    from nexflow_executor.validation import validate_request

    return validate_request(request(skill_dir, entry), settings, lambda digest: None)


@pytest.mark.skipif(netlab.available() is not None, reason=str(netlab.available()))
@pytest.mark.xdist_group("egress")
async def test_a_warm_jail_reaches_only_its_own_calls_granted_host(settings, skill_dir, lab):
    """A jail pre-started after a call granted api.test serves a call granted other.test:
    that call reaches other.test, and api.test is refused by its own proxy."""
    with_lab = settings.model_copy(update={"egress": EgressSettings(**lab.executor_egress())})
    async with serving(with_lab) as stub:
        first, _ = await probe(stub, skill_dir, ["api.test:80"], [["fetch", "http://api.test/"]])
        assert body(first[0])["server"] == "api"
        before = len(lab.api.hits())
        actions = [["fetch", "http://other.test/"], ["fetch", "http://api.test/"]]
        for _ in range(50):
            results, outcome = await probe(stub, skill_dir, ["other.test:80"], actions)
            if outcome.events[0].started.warm:
                break
            await asyncio.sleep(0.1)
        assert outcome.events[0].started.warm
        assert body(results[0])["server"] == "other"
        assert results[1]["status"] == 403
        assert len(lab.api.hits()) == before

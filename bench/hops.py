"""Hops per call: what one synchronous `echo` call costs the control plane, counted.

`python -m bench.hops` starts `nexflow up --sandbox nsjail` in a process of its own with
probes installed before the control plane is imported (`probe`), makes warm-up calls,
then counts over N sequential calls of `POST /api/v1/skills/echo`:

- SQL statements, by verb and table (a trace callback on every `sqlite3` connection:
  aiosqlite's and the audit writer's alike);
- `json.dumps` / `json.loads` calls, by calling function;
- event-loop callbacks run (`asyncio.Handle._run`): every await that really suspended
  comes back through one, so this is the count of the call's loop hops;
- gRPC messages (the executor stub's calls, and the stream messages they bring back);
- time per stage (the tracing spans of a call, plus the history reads and audit appends
  that have none), p50 over the calls.

The probe only observes: nothing in the call path is changed by it beyond the cost of
counting. Counters are reset on SIGUSR1 and written to `$NEXFLOW_HOPS_OUT` on SIGUSR2.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

COUNTS: collections.Counter[str] = collections.Counter()
STAGES: dict[str, list[float]] = collections.defaultdict(list)


def _caller(depth: int = 2) -> str:
    frame = sys._getframe(depth)
    return f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_name}"


def _sql_key(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper() if words else "?"
    table = "?"
    for marker in ("INTO", "FROM", "UPDATE"):
        upper = [w.upper() for w in words]
        if marker in upper:
            i = upper.index(marker)
            if i + 1 < len(words):
                table = words[i + 1].strip('"(')
            break
    return f"sql {verb} {table}" if verb not in ("BEGIN", "COMMIT", "ROLLBACK") else f"sql {verb}"


def _install() -> None:
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = real_connect(*args, **kwargs)
        conn.set_trace_callback(lambda s: COUNTS.update([_sql_key(s)]))
        return conn

    sqlite3.connect = connect  # type: ignore[assignment]

    real_dumps, real_loads = json.dumps, json.loads

    def dumps(*args: Any, **kwargs: Any) -> str:
        COUNTS[f"json.dumps {_caller()}"] += 1
        return real_dumps(*args, **kwargs)

    def loads(*args: Any, **kwargs: Any) -> Any:
        COUNTS[f"json.loads {_caller()}"] += 1
        return real_loads(*args, **kwargs)

    json.dumps, json.loads = dumps, loads

    real_run = asyncio.events.Handle._run

    def run(self: asyncio.Handle) -> None:
        COUNTS["loop callbacks"] += 1
        real_run(self)

    asyncio.events.Handle._run = run  # type: ignore[method-assign]

    # Stage timers: every tracing span, timed by name.
    from nexflow_control import tracing

    real_step = tracing.step

    @contextlib.contextmanager
    def step(name: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        t = time.perf_counter()
        try:
            with real_step(name, *args, **kwargs) as span:
                yield span
        finally:
            STAGES[name].append((time.perf_counter() - t) * 1000)

    tracing.step = step

    from nexflow_control.calls import _context, _dispatch, _history, _service
    from nexflow_control.executors import _grpc

    def timed(cls: Any, attr: str, stage: str) -> None:
        real: Callable[..., Any] = getattr(cls, attr)

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await real(*args, **kwargs)
            finally:
                STAGES[stage].append((time.perf_counter() - t) * 1000)

        setattr(cls, attr, wrapper)

    timed(_history.CallHistory, "count_decision", "history.count_decision")
    timed(_history.CallHistory, "skill_runs", "history.skill_runs")
    timed(_context.CallParts, "append", "audit.append")
    timed(_dispatch, "_dispatched", "calls.dispatched (secrets, spec, audit commit)")
    timed(_dispatch, "_finished", "calls.finished (redact, check, audit commit)")
    timed(_dispatch, "check_output", "calls.check_output")
    timed(_dispatch, "granted_secrets", "calls.granted_secrets")
    timed(_service.CallService, "_run", "calls.run (all of the call)")
    timed(_service.CallService, "_decided", "calls.decided (from the decision on)")

    real_stub_init = _grpc.GrpcExecutor.__init__

    def stub_init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_stub_init(self, *args, **kwargs)
        stub = self._stub
        for name in ("Execute", "PutBundle", "Health", "State", "Cancel"):
            method = getattr(stub, name, None)
            if method is not None:
                setattr(stub, name, _counted_rpc(name, method))

    _grpc.GrpcExecutor.__init__ = stub_init  # type: ignore[method-assign]

    out = Path(os.environ["NEXFLOW_HOPS_OUT"])

    def reset(*_: Any) -> None:
        COUNTS.clear()
        STAGES.clear()

    def dump(*_: Any) -> None:
        out.write_text(json.dumps({"counts": dict(COUNTS), "stages": STAGES}))

    signal.signal(signal.SIGUSR1, reset)
    signal.signal(signal.SIGUSR2, dump)


def _counted_rpc(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        COUNTS[f"grpc call {name}"] += 1
        result = method(*args, **kwargs)
        if hasattr(result, "__aiter__"):
            return _CountedStream(name, result)
        return result

    return call


class _CountedStream:
    """A response stream whose messages are counted as they are read."""

    def __init__(self, name: str, inner: Any) -> None:
        self._name, self._inner = name, inner

    def __aiter__(self) -> _CountedStream:
        self._it = self._inner.__aiter__()
        return self

    async def __anext__(self) -> Any:
        msg = await self._it.__anext__()
        kind = msg.WhichOneof("event") if hasattr(msg, "WhichOneof") else "?"
        COUNTS[f"grpc recv {self._name} {kind}"] += 1
        return msg

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


def _probe(argv: list[str]) -> None:
    _install()
    from nexflow_control.cli import main

    sys.argv = ["nexflow", *argv]
    main()


def _drive(calls: int) -> None:
    import httpx

    from tests.harness import free_port, wait_healthy

    with tempfile.TemporaryDirectory(prefix="nexflow-hops-") as tmp:
        home, out = Path(tmp) / "home", Path(tmp) / "hops.json"
        home.mkdir()
        port = free_port()
        env = {
            **os.environ,
            "NEXFLOW_ADMIN_TOKEN": "",
            "NEXFLOW_WEB_CHAT": "false",
            "NEXFLOW_HOPS_OUT": str(out),
        }
        argv = ["up", "--home", str(home), "--port", str(port), "--sandbox", "nsjail"]
        log_path = Path(tmp) / "up.log"
        with open(log_path, "wb") as log:
            proc = _popen([sys.executable, "-m", "bench.hops", "probe", *argv], log, env)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(proc, url, log_path, "nexflow up (probed)")
            token = (home / "admin.token").read_text().strip()
            with httpx.Client(base_url=url, timeout=60) as client:
                client.headers["Authorization"] = f"Bearer {token}"
                for i in range(10):  # warm-up: first-run lookups, bundle upload
                    client.post("/api/v1/skills/echo", json={"input": {"data": i}})
                proc.send_signal(signal.SIGUSR1)
                time.sleep(0.3)
                lat = []
                for i in range(calls):
                    t = time.perf_counter()
                    r = client.post("/api/v1/skills/echo", json={"input": {"data": i}})
                    lat.append((time.perf_counter() - t) * 1000)
                    r.raise_for_status()
                    assert r.json()["status"] == "succeeded", r.text
                time.sleep(0.5)  # let the call's last audit batch land
                proc.send_signal(signal.SIGUSR2)
                for _ in range(50):
                    if out.exists():
                        break
                    time.sleep(0.1)
            _report(json.loads(out.read_text()), calls, lat)
        finally:
            proc.terminate()
            proc.wait(10)


def _popen(cmd: list[str], log: Any, env: dict[str, str]) -> Any:
    import subprocess

    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def _report(data: dict[str, Any], calls: int, lat: list[float]) -> None:
    counts: dict[str, int] = data["counts"]
    print(f"== hops per call: {calls} sequential echo calls on nsjail (per-call averages) ==")
    groups: dict[str, float] = collections.defaultdict(float)
    for key, n in sorted(counts.items()):
        print(f"  {n / calls:7.2f}  {key}")
        head = " ".join(key.split()[:2]) if key.startswith(("grpc",)) else key.split()[0]
        groups[head] += n / calls
    print("  -- totals per call --")
    for head, total in sorted(groups.items()):
        print(f"  {total:7.2f}  {head}")
    print("  -- p50 per stage (ms) --")
    print(f"  {statistics.median(lat):7.2f}  HTTP round trip (client)")
    for name, values in sorted(data["stages"].items()):
        per_call = len(values) / calls
        print(f"  {statistics.median(values):7.2f}  {name}  (x{per_call:.1f})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        _probe(sys.argv[2:])
    else:
        _drive(int(sys.argv[1]) if len(sys.argv) > 1 else 50)

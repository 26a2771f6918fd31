"""Skills by digest: PutBundle verifies and caches a bundle read-only; Execute runs it at
/skill on both backends; every malformed, tampered or cut-off upload stores and runs nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import stat
import tarfile

import grpc
import pytest
from nexflow.executor.v1 import executor_pb2 as pb

from executor.tests.executor_testkit import (
    NSJAIL_ONLY,
    bundle_request,
    cached_bundles,
    chunks_of,
    execute,
    put_bundle,
    serving,
    status_of,
    tar_bundle,
    tar_of,
)
from executor.tests.test_executor_hardening import MOUNT_TABLES

SKILL = """
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
try:
    open(os.path.join(here, 'run.py'), 'a').write('# changed')
    wrote = 'yes'
except OSError as e:
    wrote = type(e).__name__
print(json.dumps({'here': here, 'data': open(os.path.join(here, 'lib/data.txt')).read(),
                  'wrote': wrote, 'input': sys.stdin.read()}))
"""


def skill_bundle(marker: str = "hello") -> bytes:
    return tar_bundle({"run.py": SKILL.encode(), "lib/data.txt": marker.encode()})


async def test_a_bundle_runs_at_skill_read_only(stub, settings):
    """A stored bundle runs at /skill on both backends; the sandbox cannot change it, and
    the cached copy is root-owned and read-only; sending it again stores nothing."""
    data = skill_bundle()
    digest = hashlib.sha256(data).hexdigest()
    assert await put_bundle(stub, data) is True
    assert await put_bundle(stub, data) is False
    out = await execute(stub, bundle_request(digest, "run.py", stdin=b'{"x": 1}'))
    assert out.finished.exit_code == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["here"] == "/skill" and seen["data"] == "hello" and seen["input"] == '{"x": 1}'
    assert seen["wrote"] in {"OSError", "PermissionError"}, seen
    (stored,) = [p for p in settings.bundle_dir.iterdir() if p.name.startswith(digest)]
    run = (stored / "run.py").stat()
    assert run.st_uid == 0 and stat.S_IMODE(run.st_mode) == 0o444
    assert stat.S_IMODE(stored.stat().st_mode) == 0o555
    assert (stored / "run.py").read_bytes() == SKILL.encode()


async def test_a_bundle_mount_reveals_no_host_path(stub, settings):
    """The mount tables a bundled skill can reach name neither the state directory nor
    the bundle's cache entry."""
    data = tar_bundle({"mounts.py": MOUNT_TABLES.encode()})
    digest = hashlib.sha256(data).hexdigest()
    await put_bundle(stub, data)
    out = await execute(stub, bundle_request(digest, "mounts.py"))
    assert out.finished.exit_code == 0, out.stderr
    text = out.stdout.decode()
    leaked = [s for s in (str(settings.state_dir), digest, "bundles") if s in text]
    assert leaked == [], leaked


@NSJAIL_ONLY
async def test_a_bundle_not_held_fails_before_anything_starts(stub, settings):
    """Execute naming a bundle the executor does not hold: FAILED_PRECONDITION
    `bundle_missing <sha256>`, no Started; naming both or neither source: INVALID_ARGUMENT."""
    digest = hashlib.sha256(b"never sent").hexdigest()
    error = await status_of(execute(stub, bundle_request(digest, "run.py")))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == f"bundle_missing {digest}"
    both = bundle_request(digest, "run.py")
    both.skill_dir = "/tmp"
    error = await status_of(execute(stub, both))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "exactly one" in error.details()
    error = await status_of(execute(stub, bundle_request("ABC", "run.py")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "bundle_sha256" in error.details()


@NSJAIL_ONLY
async def test_a_tampered_bundle_is_refused_and_nothing_is_stored(stub, settings):
    """One flipped byte: DATA_LOSS, nothing in the cache, and the digest still cannot run."""
    data = skill_bundle()
    digest = hashlib.sha256(data).hexdigest()
    tampered = bytearray(data)
    tampered[600] ^= 0x01
    error = await status_of(put_bundle(stub, bytes(tampered), sha256=digest))
    assert error.code() == grpc.StatusCode.DATA_LOSS and "sha256" in error.details()
    assert cached_bundles(settings) == []
    error = await status_of(execute(stub, bundle_request(digest, "run.py")))
    assert error.details() == f"bundle_missing {digest}"


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x") -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/passwd"
    return info, None


BAD_ARCHIVES = {
    "symlink": ([_member("run.py", tarfile.SYMTYPE)], "symbolic link"),
    "hard link": ([_member("run.py", tarfile.LNKTYPE)], "hard link"),
    "device": ([_member("dev", tarfile.CHRTYPE)], "character device"),
    "fifo": ([_member("pipe", tarfile.FIFOTYPE)], "FIFO"),
    "absolute": ([_member("/etc/cron.d/x")], "relative"),
    "dot-dot": ([_member("lib/../../escape.py")], "'..'"),
    "duplicate": ([_member("run.py"), _member("./run.py")], "twice"),
    "file then dir": ([_member("lib"), _member("lib/x.py")], "cannot be unpacked"),
    "too many": ([_member(f"f{i}") for i in range(6)], "more than 5 entries"),
    "too big": ([_member("big", data=b"x" * 5000)], "more than 4096 bytes"),
}


@NSJAIL_ONLY
@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
async def test_an_archive_it_will_not_unpack_is_refused_naming_the_entry(case, settings):
    """Links, devices, absolute or `..` names, duplicates, too many entries or bytes:
    INVALID_ARGUMENT naming the entry; nothing half-unpacked is left in the cache."""
    members, problem = BAD_ARCHIVES[case]
    settings.bundles.max_entries = 5
    settings.bundles.max_unpacked_bytes = 4096
    async with serving(settings) as stub:
        error = await status_of(put_bundle(stub, tar_of(members)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert "bundle entry" in error.details() and problem in error.details(), error.details()
    assert cached_bundles(settings) == []


@NSJAIL_ONLY
async def test_a_file_that_is_no_tar_is_refused(stub, settings):
    """Bytes with a matching digest that are not an uncompressed tar (here: gzip):
    INVALID_ARGUMENT, nothing stored."""
    import gzip

    error = await status_of(put_bundle(stub, gzip.compress(skill_bundle())))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "tar" in error.details()
    assert cached_bundles(settings) == []


MALFORMED = {
    "no digest": (lambda s: s[0].ClearField("sha256"), grpc.StatusCode.INVALID_ARGUMENT),
    "no size": (lambda s: s[0].ClearField("size"), grpc.StatusCode.INVALID_ARGUMENT),
    "digest changes": (
        lambda s: setattr(s[1], "sha256", "0" * 64),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "size too small": (lambda s: setattr(s[0], "size", 100), grpc.StatusCode.DATA_LOSS),
    "size too large": (lambda s: setattr(s[0], "size", 10**6), grpc.StatusCode.DATA_LOSS),
    "chunk too large": (
        lambda s: setattr(s[1], "data", b"x" * (1024 * 1024 + 1)),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "above the limit": (
        lambda s: setattr(s[0], "size", 65 * 1024 * 1024),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
}


@NSJAIL_ONLY
@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_malformed_stream_is_refused_and_nothing_is_stored(case, stub, settings):
    """A stream whose header is missing, changes midway, or whose bytes do not match the
    declared size or exceed a limit: a clear error, nothing stored."""
    spoil, code = MALFORMED[case]
    stream = chunks_of(skill_bundle(), chunk=4096)
    assert len(stream) >= 2
    spoil(stream)

    async def send():
        for piece in stream:
            yield piece

    error = await status_of(stub.PutBundle(send()))
    assert error.code() == code, (case, error.details())
    assert cached_bundles(settings) == []


@NSJAIL_ONLY
async def test_an_empty_stream_is_refused(stub, settings):
    """A PutBundle stream with no chunk at all: INVALID_ARGUMENT."""

    async def nothing():
        return
        yield  # pragma: no cover

    error = await status_of(stub.PutBundle(nothing()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


@NSJAIL_ONLY
async def test_an_upload_cut_midway_leaves_nothing(stub, settings):
    """The client goes away after half the bundle: nothing stored, nothing left in
    .incoming, and the digest cannot run."""
    data = tar_bundle({"run.py": SKILL.encode(), "blob": b"z" * 300_000})
    digest = hashlib.sha256(data).hexdigest()
    stream = chunks_of(data, chunk=64 * 1024)
    half_sent = asyncio.Event()

    async def send():
        for piece in stream[: len(stream) // 2]:
            yield piece
        half_sent.set()
        await asyncio.sleep(3600)

    call = stub.PutBundle(send())
    await asyncio.wait_for(half_sent.wait(), 10)
    await asyncio.sleep(0.3)
    assert any(n.startswith(".incoming/upload-") for n in cached_bundles(settings))
    call.cancel()
    for _ in range(50):
        if cached_bundles(settings) == []:
            break
        await asyncio.sleep(0.1)
    assert cached_bundles(settings) == []
    error = await status_of(execute(stub, bundle_request(digest, "run.py")))
    assert error.details() == f"bundle_missing {digest}"


@NSJAIL_ONLY
async def test_the_cache_evicts_least_recently_used_bundles_no_call_holds(settings):
    """Beyond cache_bytes the least recently used bundle goes, never one a running call
    holds; the cache and its index survive a restart."""
    settings.bundles.max_unpacked_bytes = 50_000
    settings.bundles.cache_bytes = 100_000
    sleep = b"import time; time.sleep(3); print('done')"
    sleeper = tar_bundle({"run.py": sleep, "pad": b"s" * 40_000})
    others = [tar_bundle({"run.py": b"print(1)", "pad": bytes([i]) * 40_000}) for i in range(3)]
    digests = [hashlib.sha256(b).hexdigest() for b in (sleeper, *others)]
    async with serving(settings) as stub:
        await put_bundle(stub, sleeper)
        running = asyncio.create_task(execute(stub, bundle_request(digests[0], "run.py")))
        await asyncio.sleep(1.0)  # the sleeper holds its bundle now
        for data in others:
            assert await put_bundle(stub, data) is True
        out = await running
        assert out.stdout == b"done\n", out.stderr
        held = {n.split(".")[0] for n in cached_bundles(settings)}
        assert digests[0] in held and digests[1] not in held and digests[3] in held, held
    async with serving(settings) as stub:  # a restarted executor finds what it held
        assert await put_bundle(stub, others[2]) is False
        out = await execute(stub, bundle_request(digests[3], "run.py"))
        assert out.stdout == b"1\n"
        error = await status_of(execute(stub, bundle_request(digests[1], "run.py")))
        assert error.details() == f"bundle_missing {digests[1]}"


@pytest.mark.parametrize("backend", [pytest.param("docker", marks=pytest.mark.docker)])
async def test_a_bundle_runs_from_the_warm_pool(settings):
    """With the warm pool on, the second call of a bundle takes a pre-started container
    (the refill re-checks the cached bundle like a grant)."""
    settings.docker.pool.size = 1
    data = tar_bundle({"run.py": b"print('warm?')"})
    digest = hashlib.sha256(data).hexdigest()
    async with serving(settings) as stub:
        await put_bundle(stub, data)
        first = await execute(stub, bundle_request(digest, "run.py"))
        assert first.stdout == b"warm?\n" and not first.events[0].started.warm
        for _ in range(100):
            if (await stub.Describe(pb.DescribeRequest())).pool_ready:
                break
            await asyncio.sleep(0.1)
        second = await execute(stub, bundle_request(digest, "run.py"))
        assert second.stdout == b"warm?\n" and second.events[0].started.warm

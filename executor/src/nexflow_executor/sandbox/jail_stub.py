"""What a pre-started jail runs while it waits for its call, and the header that wakes it.

A jail is set up before its call is known (jail.py), so what the call runs cannot be in
its nsjail configuration. The jail starts `python -I -S -c STUB` instead: the interpreter
is up, and the stub blocks on stdin for one header written by the executor — a decimal
byte count on its own line, then that many bytes, NUL-separated:
    MODE \\0 NAME=VALUE \\0 ... \\0 \\0 ARGV0 \\0 ARGV1 \\0 ...
The header is read with exact-length `os.read`s on fd 0, never through `sys.stdin`, so
the rest of stdin — the call's input — is the script's, untouched. (In a pre-started
container the launcher passes the header on a pipe instead: `-c STUB 3` reads it from
fd 3, which is closed before the script runs.)

MODE `py`: the environment becomes exactly the call's, and the script (ARGV1) runs in
this interpreter as `__main__`, with `sys.argv` = ARGV1..., as `python -I -S script`
would run it: no script directory on `sys.path`, the same flags, the traceback without
the stub's frame, exit status 1 on an uncaught exception. MODE `exec`: `execve(ARGV0,
ARGV, ENV)` (bash and node skills; the jail's setup is still saved). Exit 125: a
malformed header; nothing of the call ran.

While it waits the stub also imports `json` and `urllib.parse` (`PRELOADED`): nearly
every skill imports them, `json` alone costs a fresh interpreter ~8 ms of CPU, and
neither reads the environment or anything of the call when imported. The script finds
them in `sys.modules`; the jail (or container) still serves that one call only. The
same in both backends' waiting interpreters.

Nothing here is secret (the script can read it): the call's environment arrives only
with the header, and the stub's own names live in a module the script never sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["PRELOADED", "STUB", "header"]

PRELOADED = ("json", "urllib.parse")

STUB = r"""
import os, sys
import json, urllib.parse

_FD = int(sys.argv[1]) if len(sys.argv) > 1 else 0

def _read(n):
    got = b""
    while len(got) < n:
        part = os.read(_FD, n - len(got))
        if not part:
            raise SystemExit(125)
        got += part
    return got

def _size():
    digits = b""
    while True:
        c = os.read(_FD, 1)
        if c == b"\n" and digits:
            return int(digits)
        if not c.isdigit() or len(digits) > 8:
            raise SystemExit(125)
        digits += c

def _main():
    fields = _read(_size()).split(b"\0")
    if _FD != 0:
        os.close(_FD)
    try:
        mode, rest = fields[0], fields[1:]
        cut = rest.index(b"")
        env = dict(f.split(b"=", 1) for f in rest[:cut])
        argv = rest[cut + 1 :]
    except ValueError:
        raise SystemExit(125)
    if mode == b"exec" and argv:
        os.execve(argv[0], argv, env)
    if mode != b"py" or len(argv) < 2:
        raise SystemExit(125)
    os.environ.clear()
    for name, value in env.items():
        os.environb[name] = value
    script = os.fsdecode(argv[1])
    sys.argv[:] = [os.fsdecode(a) for a in argv[1:]]
    main = type(sys)("__main__")
    main.__file__ = script
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    try:
        with open(script, "rb") as f:
            source = f.read()
    except OSError as exc:
        print(f"{sys.executable}: can't open file {script!r}: {exc}", file=sys.stderr)
        raise SystemExit(2)
    try:
        exec(compile(source, script, "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        tb = exc.__traceback__
        exc = exc.with_traceback(tb.tb_next if tb is not None else None)
        sys.excepthook(type(exc), exc, exc.__traceback__)
        raise SystemExit(1)

_main()
"""


def header(python: bool, env: Mapping[str, str], argv: Sequence[str]) -> bytes:
    """The bytes that start a call in a waiting stub; `python`: run argv[1] in-process."""
    fields = [b"py" if python else b"exec"]
    fields += [f"{k}={v}".encode(errors="surrogateescape") for k, v in env.items()]
    fields.append(b"")
    fields += [a.encode(errors="surrogateescape") for a in argv]
    body = b"\0".join(fields)
    return b"%d\n" % len(body) + body

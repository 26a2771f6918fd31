"""Finds the launcher's (launcher.c) end marker at the end of a container's stdout and stderr.

The marker is `\\0nexflow-exit:<nonce>:<status>\\n`, written by the launcher after the
script exited (see launcher.c). `EndMarker.feed()` returns the bytes that are the
script's output and holds back only a tail that could be the start of the marker, so
output still streams; once the marker is complete, `status` is set and everything after it (from a
leftover background process) is dropped. The nonce is per call and never visible to the
script, so output cannot end a call early by accident, and a script that forged it could
only report an exit status it could have exited with anyway.
"""

from __future__ import annotations

import re
import secrets

__all__ = ["EndMarker", "new_nonce"]

_MAX_STATUS_DIGITS = 4


def new_nonce() -> str:
    return secrets.token_hex(12)


class EndMarker:
    """The marker filter of one stream."""

    def __init__(self, nonce: str) -> None:
        self._prefix = b"\0nexflow-exit:" + nonce.encode() + b":"
        self._tail_re = re.compile(re.escape(self._prefix) + rb"(\d{1,4})\n")
        self._held = b""
        self.status: int | None = None

    @property
    def done(self) -> bool:
        return self.status is not None

    def feed(self, data: bytes) -> bytes:
        """The part of `data` (with what was held back) that is the script's output."""
        if self.done:
            return b""
        buf = self._held + data
        at = buf.find(self._prefix)
        if at >= 0:
            match = self._tail_re.match(buf, at)
            if match:
                self.status = int(match.group(1))
                self._held = b""
                return buf[:at]
            if len(buf) - at < len(self._prefix) + _MAX_STATUS_DIGITS + 1:
                self._held = buf[at:]  # the marker is still arriving
                return buf[:at]
            # a prefix followed by garbage is output, not our marker: pass it on
            at = -1
        keep = _partial_prefix(buf, self._prefix)
        self._held = buf[len(buf) - keep :] if keep else b""
        return buf[: len(buf) - keep]

    def flush(self) -> bytes:
        """At end of stream without a marker: what was held back is output after all."""
        held, self._held = self._held, b""
        return held


def _partial_prefix(buf: bytes, prefix: bytes) -> int:
    """Length of the longest suffix of `buf` that is a proper prefix of `prefix`."""
    for n in range(min(len(prefix) - 1, len(buf)), 0, -1):
        if buf.endswith(prefix[:n]):
            return n
    return 0

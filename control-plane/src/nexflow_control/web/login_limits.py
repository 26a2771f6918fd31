"""Failed-login throttling: per user name and per client address, in a sliding window.

Only failures count; a success does not reset the window (an attacker who knows one
password must not get more guesses at another name). Counts live in this process,
as the call rate counts do.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import TooManyRequests
from ..throttle import SlidingWindows


class LoginLimiter:
    def __init__(
        self,
        *,
        per_name: int,
        per_client: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"name": per_name, "client": per_client}
        self._failures = SlidingWindows(window_s, clock=clock)

    def check(self, name: str, client: str) -> None:
        """`TooManyRequests` (`login_rate_limited`, + `retry_after_s`) if either is over."""
        for key in _keys(name, client):
            if self._failures.count(key) >= self._limits[key[0]]:
                retry = int(self._failures.retry_after(key)) + 1
                raise TooManyRequests(
                    f"too many failed logins; try again in {retry} s",
                    code="login_rate_limited",
                    retry_after_s=retry,
                )

    def failed(self, name: str, client: str) -> None:
        for key in _keys(name, client):
            self._failures.add(key)


def _keys(name: str, client: str) -> tuple[tuple[str, str], ...]:
    return (("name", name.lower()), ("client", client))

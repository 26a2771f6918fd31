"""Failed-login throttling: per user name and per client address, in a sliding window.

Only failures count; a success does not reset the window (an attacker who knows one
password must not get more guesses at another name). The failures are counted in the
database (`throttle.SharedCounts`, kinds ``login.name`` and ``login.client``), so a
guesser spreading attempts over several control planes meets one limit.
"""

from __future__ import annotations

import math

from ..errors import TooManyRequests
from ..throttle import SharedCounts


class LoginLimiter:
    def __init__(
        self, counts: SharedCounts, *, per_name: int, per_client: int, window_s: float
    ) -> None:
        self._counts, self._window_s = counts, window_s
        self._limits = {"name": per_name, "client": per_client}

    async def check(self, name: str, client: str) -> None:
        """`TooManyRequests` (`login_rate_limited`, + `retry_after_s`) if either is over."""
        for kind, key in _keys(name, client):
            seen = await self._counts.peek(f"login.{kind}", key, self._window_s)
            if seen.counts[0] >= self._limits[kind]:
                retry = math.floor(seen.retry_after(self._window_s, self._counts.now())) + 1
                raise TooManyRequests(
                    f"too many failed logins; try again in {retry} s",
                    code="login_rate_limited",
                    retry_after_s=retry,
                )

    async def failed(self, name: str, client: str) -> None:
        for kind, key in _keys(name, client):
            await self._counts.take(f"login.{kind}", key, (self._window_s,))


def _keys(name: str, client: str) -> tuple[tuple[str, str], ...]:
    return (("name", name.lower()), ("client", client))

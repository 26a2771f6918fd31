"""Failed-login throttling: per user name and per client address, in a sliding window.

Only failures count; a success does not reset the window (an attacker who knows one
password must not get more guesses at another name). Counts live in this process,
as the call rate counts do.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable

from ..errors import TooManyRequests

_MAX_KEYS = 100_000  # bound the memory an attacker can make us spend on distinct names


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
        self._window, self._clock = window_s, clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def check(self, name: str, client: str) -> None:
        """`TooManyRequests` (`login_rate_limited`, + `retry_after_s`) if either is over."""
        now = self._clock()
        for kind, key in (("name", name.lower()), ("client", client)):
            window = self._window_of(kind, key, now)
            if len(window) >= self._limits[kind]:
                retry = max(1, int(window[0] + self._window - now) + 1)
                raise TooManyRequests(
                    f"too many failed logins; try again in {retry} s",
                    code="login_rate_limited",
                    retry_after_s=retry,
                )

    def failed(self, name: str, client: str) -> None:
        now = self._clock()
        if len(self._failures) > _MAX_KEYS:
            self._failures.clear()
        for kind, key in (("name", name.lower()), ("client", client)):
            self._window_of(kind, key, now).append(now)

    def _window_of(self, kind: str, key: str, now: float) -> deque[float]:
        window = self._failures[(kind, key)]
        while window and window[0] <= now - self._window:
            window.popleft()
        return window

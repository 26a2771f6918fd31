"""`SlidingWindows`: how many times each key was seen in the last `window_s` seconds.

The one mechanism behind the failed-login throttle (`web.login_limits`) and the
refused-access audit throttle (`refusals`). Keys come from the network (names tried,
client addresses), so the number of keys is bounded: past `max_keys` every window is
forgotten at once, which only ever errs towards letting something through again.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Hashable


class SlidingWindows:
    def __init__(
        self,
        window_s: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s, self._max_keys, self._clock = window_s, max_keys, clock
        self._seen: dict[Hashable, deque[float]] = defaultdict(deque)

    def count(self, key: Hashable) -> int:
        """How many times `key` was added within the window."""
        return len(self._current(key, self._clock()))

    def retry_after(self, key: Hashable) -> float:
        """Seconds until the oldest sighting of `key` leaves the window (0 if none)."""
        now = self._clock()
        window = self._current(key, now)
        return max(0.0, window[0] + self.window_s - now) if window else 0.0

    def add(self, key: Hashable) -> None:
        now = self._clock()
        if len(self._seen) > self._max_keys:
            self._seen.clear()
        self._current(key, now).append(now)

    def _current(self, key: Hashable, now: float) -> deque[float]:
        window = self._seen[key]
        while window and window[0] <= now - self.window_s:
            window.popleft()
        return window

"""Counts shared by every control plane on one database: call rates and throttles.

    SharedCounts    take (count in sliding windows and add one, atomically, optionally
                    up to a limit) / peek / pop, per (kind, key), in whole seconds
    Seen            what a take or peek saw: the counts, the oldest hit, whether it got in
    metadata        the `throttle_counts` table this area owns (revision 0005)

Used by the per-principal call rates (`calls.CallHistory`), the failed-login throttle
(`web.login_limits`) and the refused-access audit throttle (`refusals`).
"""

from ._counts import PRUNE_EVERY_S, Seen, SharedCounts
from .models import metadata

__all__ = ["PRUNE_EVERY_S", "Seen", "SharedCounts", "metadata"]

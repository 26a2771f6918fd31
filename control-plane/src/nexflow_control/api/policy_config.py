"""`data.nexflow.config` of the policy directory as it is on disk (with the settings'
overlay): what the secrets and skills pages show of grants and enabled state.

Read in a worker thread: it walks and parses the whole directory, file I/O that must not
stall the event loop every other request and decision shares."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import Unavailable
from ..policy import PolicyLoadError, read_policy_dir
from .deps import Services


async def policy_config(svc: Services) -> dict[str, Any]:
    """The config object (empty when absent); 503 `policy_unavailable` when unreadable."""
    settings = svc.settings
    try:
        source = await asyncio.to_thread(
            read_policy_dir, settings.policy_dir, settings.policy.overlay()
        )
    except PolicyLoadError as exc:
        raise Unavailable(str(exc), code="policy_unavailable") from exc
    config = source.data.get("nexflow", {}).get("config", {})
    return config if isinstance(config, dict) else {}


def section(config: dict[str, Any], *path: str) -> Any:
    """`config[path...]`, or None when a step is missing or not an object."""
    node: Any = config
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node

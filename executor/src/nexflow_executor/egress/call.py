"""The executor-wide egress setup, and the egress of one call that backends plug in.

`Egress` is built once from the settings: the resolver, and the namespace outbound
connections leave from (`egress.netns`; default the executor's own). `Egress.for_call`
gives a `CallEgress`, which a backend attaches to its sandbox's network namespace before
the script starts, through a process inside it (`join_process`: a container's, or a
waiting jail's first process), and which the service closes when the run is over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from nexflow_executor.egress.grants import HostGrant
from nexflow_executor.egress.netns import (
    EgressNamespace,
    listener_in_process_netns,
)
from nexflow_executor.egress.proxy import CallProxy, EgressRecord
from nexflow_executor.egress.resolver import DnsResolver, Resolver, SystemResolver
from nexflow_executor.errors import BackendUnavailable, SandboxError
from nexflow_executor.settings import EgressSettings

__all__ = ["CallEgress", "Egress", "proxy_env"]


def proxy_env(settings: EgressSettings) -> dict[str, str]:
    """The variables that point clients in the sandbox at the proxy; nothing is exempt."""
    url = f"http://127.0.0.1:{settings.sandbox_port}"
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
    env = dict.fromkeys(names, url)
    env["NO_PROXY"] = env["no_proxy"] = ""  # set, and empty: every destination is proxied
    return env


class CallEgress:
    """One call's proxy and the namespace it listens in; see the module docstring."""

    def __init__(self, proxy: CallProxy, port: int) -> None:
        self._proxy = proxy
        self._port = port

    async def join_process(self, pid: int) -> None:
        """Listen inside the network namespace process `pid` lives in (a container's, a jail's)."""
        try:
            listener = await listener_in_process_netns(pid, self._port)
        except OSError as exc:
            raise SandboxError(f"cannot attach the egress proxy to the sandbox: {exc}") from exc
        await self._proxy.serve(listener)

    async def close(self) -> int:
        """End every connection, deliver the records; return how many were not itemised."""
        await self._proxy.close()
        return self._proxy.dropped


class Egress:
    """What every call's proxy shares: settings, resolver, the outbound namespace."""

    def __init__(self, settings: EgressSettings) -> None:
        self._settings = settings
        self._namespace: EgressNamespace | None = None
        if settings.netns is not None:
            try:
                self._namespace = EgressNamespace(settings.netns)
            except OSError as exc:
                raise BackendUnavailable(f"egress.netns: {exc}") from exc
        sockets = self._namespace.socket if self._namespace else None
        self._resolver: Resolver = (
            DnsResolver(settings.nameservers, settings.dns_timeout_s, sockets)
            if settings.nameservers
            else SystemResolver(settings.dns_timeout_s)
        )

    def for_call(
        self, grants: Sequence[HostGrant], on_record: Callable[[EgressRecord], Awaitable[None]]
    ) -> CallEgress:
        sockets = self._namespace.socket if self._namespace else None
        proxy = CallProxy(grants, self._resolver, self._settings, on_record, sockets)
        return CallEgress(proxy, self._settings.sandbox_port)

    def close(self) -> None:
        if self._namespace is not None:
            self._namespace.close()

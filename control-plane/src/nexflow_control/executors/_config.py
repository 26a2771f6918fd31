"""The executors a control plane dispatches to, built from its settings."""

from __future__ import annotations

import grpc

from ..settings import ExecutorTarget, Settings
from ._bundles import BundleCache
from ._grpc import GrpcExecutor
from ._pool import ExecutorPool
from ._volumes import Volumes


def _credentials(target: ExecutorTarget) -> grpc.ChannelCredentials | None:
    """Mutual TLS credentials from the target's PEM files (read once, at start)."""
    if target.tls is None:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=target.tls.ca_file.read_bytes(),
        private_key=target.tls.key_file.read_bytes(),
        certificate_chain=target.tls.cert_file.read_bytes(),
    )


def executor_pool(settings: Settings) -> ExecutorPool:
    """One `GrpcExecutor` per configured target, sharing one bundle cache and volume map."""
    volumes, bundles = Volumes(settings.resolved_volumes), BundleCache()
    members = [
        GrpcExecutor(
            t.target,
            name=t.name,
            credentials=_credentials(t),
            server_name=t.tls.server_name if t.tls else None,
            connect_timeout_s=settings.executor_timeout_s,
            volumes=volumes,
            bundles=bundles,
        )
        for t in settings.resolved_executors
    ]
    return ExecutorPool(
        members,
        refresh_s=settings.executor_refresh_s,
        queue_s=settings.executor_queue_s,
        queue_max=settings.executor_queue_max,
    )

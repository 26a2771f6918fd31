"""gRPC over TCP with mutual TLS: the executor serves only the control plane's certificate.

Two checks, both required:
1. the TLS handshake (`ssl_server_credentials(..., require_client_auth=True)`): the
   client presents a certificate that chains to `tcp.client_ca_file` and is within its
   validity period; anything else never gets past the handshake;
2. `ClientIdentity`, an interceptor: the verified certificate must carry `tcp.client_name`
   as a DNS or URI subject alternative name or as its common name; otherwise every RPC,
   health checks included, ends with PERMISSION_DENIED before the servicer runs.

The unix socket is served by the same server without TLS: its file mode (0600 in a 0700
directory) is its authentication. A connection without TLS is accepted only from it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog

from nexflow_executor.errors import PreconditionFailed
from nexflow_executor.settings import TcpSettings

__all__ = ["ClientIdentity", "server_credentials"]

log = structlog.get_logger("nexflow_executor")
_IDENTITY_KEYS = ("x509_subject_alternative_name", "x509_common_name")


def server_credentials(tcp: TcpSettings) -> grpc.ServerCredentials:
    """The executor's certificate and key, and the CA its clients must chain to."""
    pems: dict[str, bytes] = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        path = getattr(tcp, name)
        try:
            pems[name] = path.read_bytes()
        except OSError as exc:
            raise PreconditionFailed(f"tcp.{name}: cannot read {path}: {exc.strerror}") from None
    return grpc.ssl_server_credentials(
        [(pems["key_file"], pems["cert_file"])],
        root_certificates=pems["client_ca_file"],
        require_client_auth=True,
    )


class ClientIdentity(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses every RPC whose TLS peer does not carry the accepted identity."""

    def __init__(self, client_name: str) -> None:
        self._name = client_name

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return _guarded(handler, self._check)

    async def _check(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        auth = context.auth_context()
        if auth.get("transport_security_type") != [b"ssl"]:
            if context.peer().startswith("unix:"):
                return  # the 0600 unix socket
            log.warning("executor.peer_refused", reason="no_tls")
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "mutual TLS is required")
        names = {v.decode(errors="replace") for key in _IDENTITY_KEYS for v in auth.get(key, [])}
        if self._name not in names:
            log.warning("executor.peer_refused", reason="wrong_identity")
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "the client certificate does not name the identity this executor serves",
            )


Check = Callable[[grpc.aio.ServicerContext[Any, Any]], Awaitable[None]]


def _guarded(handler: grpc.RpcMethodHandler, check: Check) -> grpc.RpcMethodHandler:
    """The same handler with `check(context)` run before its behaviour."""
    kinds = (
        ("unary_unary", grpc.unary_unary_rpc_method_handler),
        ("unary_stream", grpc.unary_stream_rpc_method_handler),
        ("stream_unary", grpc.stream_unary_rpc_method_handler),
        ("stream_stream", grpc.stream_stream_rpc_method_handler),
    )
    for attribute, make in kinds:
        behaviour = getattr(handler, attribute)
        if behaviour is not None:
            return make(
                _wrap(behaviour, check),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler


def _wrap(behaviour: Callable[..., Any], check: Check) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behaviour):

        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            await check(context)
            async for item in behaviour(request, context):
                yield item

        return stream

    async def call(request: Any, context: Any) -> Any:
        await check(context)
        return await behaviour(request, context)

    return call

"""Liveness/readiness probe of the executor image: grpc.health.v1 Check over its unix socket.

The TCP port takes only the control plane's client certificate, so neither the kubelet's
gRPC probe nor Compose's healthcheck can ask it; the unix socket (NEXFLOW_EXECUTOR_SOCKET)
inside the container can. Exit 0 when the executor answers SERVING, 1 otherwise.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_SOCKET = "/run/nexflow-executor/executor.sock"


def main() -> int:
    socket = os.environ.get("NEXFLOW_EXECUTOR_SOCKET", DEFAULT_SOCKET)
    try:
        with grpc.insecure_channel(f"unix:{socket}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=3)
    except grpc.RpcError as exc:
        print(f"executor health: {exc.code().name}", file=sys.stderr)
        return 1
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    print(f"executor health: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}")
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())

"""The control plane alone (no local executor), as the control-plane image runs it.

`nexflow up` starts an executor beside the control plane on one machine; in a deployment
the executors are other containers or pods, reached over gRPC + mutual TLS. This builds
`Settings` from the environment (NEXFLOW_*), then serves the app with uvicorn on
NEXFLOW_HOST:NEXFLOW_PORT until SIGTERM. Exit status 1 when the settings are refused
or the app does not start (the reason is one log line).
"""

from __future__ import annotations

import sys

import structlog
import uvicorn
from nexflow_common.logs import configure_logging
from nexflow_control.app import create_app
from nexflow_control.settings import Settings
from pydantic import ValidationError

log = structlog.get_logger("nexflow.serve")


def main() -> int:
    configure_logging()
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        log.error("control_plane.refused", reason=f"invalid settings: {problems}")
        return 1
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())

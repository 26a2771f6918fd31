"""Which backend a request lands on: its own choice, else docker for an image, except for
an image nsjail stands in for (nexflow/git), which takes the executor's default."""

from __future__ import annotations

from typing import Any, cast

from nexflow.executor.v1 import executor_pb2 as pb
from nexflow_executor.backends import Backends


def _backends(default: str) -> tuple[Backends, object, object]:
    docker, nsjail = object(), object()
    available = cast(dict[str, Any], {"docker": docker, "nsjail": nsjail})
    return Backends(available=available, default=default), docker, nsjail


def test_host_tool_image_runs_on_the_default_backend() -> None:
    """On an nsjail-default executor nexflow/git runs on nsjail, another image on docker."""
    backends, docker, nsjail = _backends("nsjail")
    unset = pb.BACKEND_UNSPECIFIED
    assert backends.pick(unset, "nexflow/git:bookworm") is nsjail
    assert backends.pick(unset, "nexflow/bash:bookworm") is docker
    assert backends.pick(unset, "") is nsjail
    assert backends.pick(pb.BACKEND_DOCKER, "nexflow/git:bookworm") is docker

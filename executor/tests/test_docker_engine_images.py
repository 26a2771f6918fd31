"""Image references resolved on every call are kept only while the engine's image events
are watched, and dropped by any image event: a re-tagged reference resolves to its new
image ID at once (within the event's delivery), and nothing is kept unwatched."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import docker
import pytest
from nexflow_executor.sandbox.docker_engine import DockerEngine

pytestmark = pytest.mark.docker
REPOSITORY = "nexflow-test/retag"


async def _until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    for _ in range(int(timeout_s / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def test_a_retagged_reference_is_resolved_afresh_and_nothing_is_kept_unwatched() -> None:
    api = docker.APIClient(version="auto")
    tag = f"t{os.getpid()}"
    reference = f"{REPOSITORY}:{tag}"
    first = api.inspect_image("nexflow/bash:bookworm")["Id"]
    second = api.inspect_image("nexflow/python:bookworm")["Id"]
    engine = DockerEngine("unix:///var/run/docker.sock", timeout_s=10)
    engine.connect()
    try:
        api.tag(first, REPOSITORY, tag)
        assert (await engine.resolve_image(reference)).id == first
        assert reference not in engine._images  # not watching: nothing kept
        engine.watch_images()
        assert await _until(lambda: engine._watching)
        assert (await engine.resolve_image(reference)).id == first
        assert engine._images[reference].id == first  # kept: the next call asks no engine
        api.tag(second, REPOSITORY, tag, force=True)  # the reference moves
        assert await _until(lambda: reference not in engine._images)
        assert (await engine.resolve_image(reference)).id == second
        await engine.stop_watching()
        assert not engine._watching and engine._images == {}
    finally:
        await engine.stop_watching()
        engine.api.close()
        api.remove_image(reference)
        api.close()

"""What routes depend on: the registry and the caller's principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from .auth import Principal, authenticate
from .context import Registry


def registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


async def principal(
    reg: Annotated[Registry, Depends(registry)],
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    return await authenticate(reg.db, authorization)


Reg = Annotated[Registry, Depends(registry)]
Who = Annotated[Principal, Depends(principal)]

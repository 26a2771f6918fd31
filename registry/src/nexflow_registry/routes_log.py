"""The transparency log over HTTP: checkpoint, entries, proofs."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from .models import ConsistencyOut, EntryOut, InclusionOut
from .routes_packages import Reg
from .transparency import log

router = APIRouter(prefix="/api/v1/log")


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/checkpoint", response_class=PlainTextResponse)
async def checkpoint(reg: Reg) -> str:
    """The log's head as a signed note (C2SP checkpoint)."""
    return await reg.checkpoint()


@router.get("/key", response_class=PlainTextResponse)
async def key(reg: Reg) -> str:
    """The checkpoint's verifier key (`name+keyid+base64`); pin it out of band."""
    return reg.log_signer.vkey + "\n"


@router.get("/entries/{index}")
async def entry(index: int, reg: Reg) -> EntryOut:
    async with reg.db.engine.connect() as conn:
        data = await log.entry(conn, index)
    return EntryOut(index=index, data=base64.b64encode(data).decode())


@router.get("/proof/inclusion")
async def inclusion(
    reg: Reg, leaf_index: Annotated[int, Query(ge=0)], tree_size: Annotated[int, Query(ge=1)]
) -> InclusionOut:
    async with reg.db.engine.connect() as conn:
        path = await log.inclusion_proof(conn, leaf_index, tree_size)
    return InclusionOut(leaf_index=leaf_index, tree_size=tree_size, hashes=_b64(path))


@router.get("/proof/consistency")
async def consistency(
    reg: Reg, first: Annotated[int, Query(ge=0)], second: Annotated[int, Query(ge=1)]
) -> ConsistencyOut:
    async with reg.db.engine.connect() as conn:
        path = await log.consistency_proof(conn, first, second)
    return ConsistencyOut(first=first, second=second, hashes=_b64(path))

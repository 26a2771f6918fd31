"""`StrictJsonRoute`: every route with a JSON body reads it through `strict_json.decode`.

FastAPI would decode a body with `json.loads`, which takes `NaN`, `1e999999` and lone
surrogates; this route class decodes it first (stable codes, see `strict_json`) and hands
FastAPI the value, which the route's pydantic model then validates (422 `invalid_input`
naming the field). A body whose `Content-Type` is given and is not JSON is refused with
422 `unsupported_media_type`; a body without one is read as JSON. An empty (or blank)
body is no body: the model's default, if it has one.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from ..errors import InvalidInput
from .strict_json import decode


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


async def read_json_body(request: Request) -> None:
    """Decode the body strictly and leave the value where `Request.json()` finds it."""
    raw = await request.body()
    if not raw.strip():
        request._body = b""  # blank is no body, as FastAPI sees it
        return
    content_type = request.headers.get("content-type")
    if content_type is not None and not _is_json(content_type):
        raise InvalidInput(
            "send the body as application/json", code="unsupported_media_type", field="body"
        )
    request._json = decode(raw)


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict(request: Request) -> Response:
            await read_json_body(request)
            return await handler(request)

        return strict


class ErrorBody(BaseModel):
    """Every error: a stable code, a sentence, and per code some more fields
    (`field`, `reasons`, `scope`, `call_id`, `retry_after_s`, `status`, ...)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "error": "invalid_input",
                    "message": "input.path: 42 is not of type 'string'",
                    "field": "input.path",
                }
            ]
        },
    )

    error: str
    message: str


ERRORS: dict[int | str, dict[str, Any]] = {
    "default": {"model": ErrorBody, "description": "an error: `{error, message, ...}`"}
}


def edge_router(prefix: str, tag: str) -> APIRouter:
    """A router whose routes decode JSON strictly and document the error body."""
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        route_class=StrictJsonRoute,
        strict_content_type=False,
        responses=ERRORS,
    )

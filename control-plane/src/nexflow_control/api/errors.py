"""Turn every error into `{"error": code, "message": ...}` — never a stack trace."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import NexflowError

log = structlog.get_logger("nexflow.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NexflowError)
    async def _nexflow(_: Request, exc: NexflowError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 429 and "retry_after_s" in exc.extra:
            headers = {"Retry-After": str(int(exc.extra["retry_after_s"]))}
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where, *path = first.get("loc", ()) or ("request",)
        # A body that does not fit the route's model is `invalid_input` (as a body refused
        # by hand always was); a query, path or header parameter is `invalid_request`.
        code = "invalid_input" if where == "body" else "invalid_request"
        field = ".".join(str(p) for p in path) or str(where)
        return JSONResponse(
            {
                "error": code,
                "message": f"{field}: {first.get('msg', 'invalid')}",
                "field": field,
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)}, status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("api.unhandled_error", error_type=type(exc).__name__)
        return JSONResponse(
            {"error": "internal_error", "message": "internal error; see the server log"},
            status_code=500,
        )

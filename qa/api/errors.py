"""Structured errors: every failure is ``{"error": {"code", "message", "hint"}}`` with a fitting status.

A user's mistake (:class:`kg.errors.KGQAError`) keeps its one clear sentence; anything else is a bug:
it is logged with its traceback on the server and the client gets a 500 without one.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kg.errors import (
    ConfigError,
    InvalidName,
    KGQAError,
    MalformedRecord,
    NotFound,
    QueryError,
    ReaderError,
    ReadOnlyViolation,
    StoreUnavailable,
    StrictModeAbort,
)

log = logging.getLogger("kgqa.api")


class ApiError(Exception):
    """An error with its HTTP status, a stable ``code``, a ``message`` and a ``hint`` (what to do)."""

    def __init__(self, status: int, code: str, message: str, hint: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint
        self.headers = headers or {}


# (status, code, hint) per error kind of kg.errors, most specific first
_KGQA: list[tuple[type[KGQAError], int, str, str]] = [
    (ReadOnlyViolation, 403, "read_only", "the console only reads: MATCH ... RETURN ...; load data with /ingest"),
    (QueryError, 400, "query_error", "check the query's syntax, narrow it or add LIMIT"),
    (NotFound, 404, "not_found", "look the entity up with /entities?q=NAME"),
    (StoreUnavailable, 503, "store_unavailable", "check that the graph database is running and reachable"),
    (StrictModeAbort, 422, "strict_abort", "fix the record, or ingest without strict to skip bad records"),
    (MalformedRecord, 422, "malformed_record", "fix the record and upload the file again"),
    (ReaderError, 400, "unreadable_file", "check the file's format and extension"),
    (InvalidName, 400, "invalid_name", "use names made of letters, digits and underscores"),
    (ConfigError, 400, "config_error", ""),
    (KGQAError, 400, "bad_request", ""),
]


def from_kgqa(exc: KGQAError) -> ApiError:
    for kind, status, code, hint in _KGQA:
        if isinstance(exc, kind):
            return ApiError(status, code, str(exc), hint)
    raise AssertionError("unreachable: KGQAError is the last entry")  # pragma: no cover


def body(code: str, message: str, hint: str = "") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "hint": hint}}


def respond(err: ApiError) -> JSONResponse:
    return JSONResponse(body(err.code, err.message, err.hint), status_code=err.status, headers=err.headers)


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


_HTTP_HINTS = {400: "send a request that matches the schema at /openapi.json (an upload: multipart/form-data "
                    "with a 'file' part and a short file name)",
               404: "see /openapi.json for the endpoints", 405: "see /openapi.json for the endpoints"}


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the structured form."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return respond(exc)

    @app.exception_handler(KGQAError)
    async def _kgqa(_: Request, exc: KGQAError) -> JSONResponse:
        return respond(from_kgqa(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            problems.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
        return respond(ApiError(422, "invalid_request", "; ".join(problems) or "invalid request",
                                "see the request schema at /openapi.json"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        hint = _HTTP_HINTS.get(exc.status_code, "")
        return respond(ApiError(exc.status_code, code, str(exc.detail), hint, dict(exc.headers or {})))

    app.add_middleware(CatchAll)


class Tracked:
    """An ASGI ``send`` that notes whether the response has started (after which no error can be sent)."""

    def __init__(self, send: Any) -> None:
        self.send, self.started = send, False

    async def __call__(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class CatchAll:
    """Turns an unexpected exception into a 500 in the structured form, logged with its traceback on the
    server. (Starlette's own last-resort handler also answers, but then re-raises, and the server drops
    the client's keep-alive connection.)"""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = Tracked(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if tracked.started:  # a streamed response broke off: nothing more can be said to this client
                return
            response = respond(ApiError(500, "internal", "the server failed on this request (a bug); it was logged",
                                        "try again; if it persists, report it with the server log"))
            await response(scope, receive, send)

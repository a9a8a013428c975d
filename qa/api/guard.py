"""What every request passes before it reaches an endpoint: the bearer token and the body size limit.

Both are plain ASGI middleware, so that they also hold for streamed request bodies (a chunked upload
without ``Content-Length`` is counted as it arrives and cut off at the limit).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

from qa.api.errors import Tracked, body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths anyone may read: the page and its files, the health check, the schema.
PUBLIC = ("/", "/health", "/openapi.json", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)


async def _send_error(send: Send, status: int, code: str, message: str, hint: str,
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body(code, message, hint)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})


class TokenAuth:
    """Requires ``Authorization: Bearer <token>`` on every path but :data:`PUBLIC` ones; 401 otherwise."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None or _public(scope["path"]):
            await self.app(scope, receive, send)
            return
        given = ""
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                scheme, _, rest = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    given = rest.strip()
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            what = "a wrong token" if given else "no token"
            await _send_error(send, 401, "unauthorized", f"this server requires a bearer token; the request had {what}",
                              "send 'Authorization: Bearer TOKEN' (the token kgqa serve printed or was given)",
                              [(b"www-authenticate", b'Bearer realm="kgqa"')])
            return
        await self.app(scope, receive, send)


def _public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


class BodyLimit:
    """Refuses request bodies over the limit with 413: ``upload_limit`` bytes on ``upload_paths``,
    ``limit`` bytes elsewhere."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int,
                 upload_paths: tuple[str, ...] = ("/ingest",)) -> None:
        self.app, self.limit, self.upload_limit, self.upload_paths = app, limit, upload_limit, upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"] in self.upload_paths else self.limit
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                await _send_error(send, 413, "too_large", f"the request body has {int(value):,} bytes; "
                                  f"the limit here is {limit:,}", _size_hint(scope["path"], self.upload_paths))
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        tracked = Tracked(send)
        try:
            await self.app(scope, counted, tracked)
        except _TooLarge as exc:
            if not tracked.started:
                await _send_error(send, 413, "too_large", f"the request body is over the limit of {exc.limit:,} bytes",
                                  _size_hint(scope["path"], self.upload_paths))


class _TooLarge(HTTPException):
    """Raised while a body is read; an HTTP exception so that the framework passes it through as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit:,} bytes")
        self.limit = limit


def _size_hint(path: str, upload_paths: tuple[str, ...]) -> str:
    if path in upload_paths:
        return "split the file, or start kgqa serve with a larger --max-upload-mb"
    return "send a smaller request"

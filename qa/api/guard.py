"""What every request passes before it reaches an endpoint, outermost first: the ``Host`` allow-list,
the origin of state-changing requests, the bearer token and the body size limit.

All are plain ASGI middleware, so that they also hold for streamed request bodies (a chunked upload
without ``Content-Length`` is counted as it arrives and cut off at the limit).

Why the first two matter on loopback too: any web page the user opens can send requests to
``http://127.0.0.1:8000`` (a form or ``fetch`` posts a file to ``/ingest`` without reading the answer),
and a page whose name is re-pointed at 127.0.0.1 (DNS rebinding) can even read the answers. The
``Host`` check refuses names the server does not go by; the origin check refuses POST/PUT/PATCH/DELETE
that a browser says came from another site. Clients that are not browsers send neither ``Origin`` nor
``Sec-Fetch-Site`` and are not affected.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

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


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _shown(value: str, limit: int = 100) -> str:
    """A header value as it appears in a message: quoted, and cut when long."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


class HostCheck:
    """Answers only requests whose ``Host`` header names one of ``allowed_hosts``: Starlette's
    :class:`~starlette.middleware.trustedhost.TrustedHostMiddleware` decides, and its plain-text refusal
    is replaced by a 400 in the API's error form that says what to do."""

    _PASSED = "kgqa.host_checked"

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.trusted = TrustedHostMiddleware(self._passed, allowed_hosts=list(allowed_hosts), www_redirect=False)
        self.allowed = [h for h in allowed_hosts if h != "*"]

    async def _passed(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[self._PASSED] = True
        await self.app(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = False

        async def relay(message: Message) -> None:
            nonlocal refused
            if scope.get(self._PASSED):
                await send(message)
            else:                         # TrustedHostMiddleware's own answer: replaced below
                refused = True

        await self.trusted(scope, receive, relay)
        if refused:
            host = _header(scope, b"host")
            port = (scope.get("server") or ("", 8000))[1]
            what = f"the host name {_shown(host)}" if host else "a request without a Host header"
            await _send_error(send, 400, "bad_host", f"this server does not answer to {what} "
                              f"(it answers to {', '.join(self.allowed)})",
                              f"open http://localhost:{port}/; to reach it under another name, start kgqa serve "
                              "with --allowed-host NAME")


#: Methods that change something; the others only read.
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class SameOrigin:
    """Refuses a state-changing request (:data:`UNSAFE_METHODS`) with 403 when a browser says it came from a
    page of another site: an ``Origin`` that is neither the server's own (the ``Host`` the request was sent
    to) nor one of ``trusted_hosts`` (the names given with ``--allowed-host``), or ``Sec-Fetch-Site:
    cross-site``/``same-site`` without such an ``Origin``. A request with neither header (curl, Python
    clients) passes."""

    def __init__(self, app: ASGIApp, trusted_hosts: Sequence[str] = ()) -> None:
        self.app = app
        self.trusted = [h for h in trusted_hosts if h != "*"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        origin, site = _header(scope, b"origin"), _header(scope, b"sec-fetch-site")
        if origin is not None:
            ok = self._own(origin, scope) or self._trusted(origin)
            said = f"Origin: {_shown(origin)}"
        elif site is not None:
            ok = site.lower() in ("same-origin", "none")
            said = f"Sec-Fetch-Site: {_shown(site)}"
        else:
            ok, said = True, ""
        if ok and site is not None and site.lower() == "cross-site" and not (origin and self._trusted(origin)):
            ok, said = False, f"Sec-Fetch-Site: {_shown(site)}"
        if not ok:
            await _send_error(send, 403, "foreign_origin",
                              f"this server does not take {scope['method']} requests from pages of other sites "
                              f"(the request had {said})",
                              "use the page this server serves, or a client outside the browser (curl, Python); "
                              "to trust a site's pages, start kgqa serve with --allowed-host ITS_NAME")
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _own(origin: str, scope: Scope) -> bool:
        """Whether ``origin`` is the origin the request was sent to (scheme, host and port)."""
        host = _header(scope, b"host")
        scheme = scope.get("scheme", "http")
        try:
            o, h = urlsplit(origin), urlsplit(f"//{host}")
            return (bool(host) and o.scheme == scheme and o.hostname is not None and o.hostname == h.hostname
                    and (o.port or _DEFAULT_PORTS.get(o.scheme)) == (h.port or _DEFAULT_PORTS.get(scheme))
                    and not o.path and not o.query and not o.username)
        except ValueError:            # a port out of range, a malformed IPv6 literal
            return False

    def _trusted(self, origin: str) -> bool:
        try:
            o = urlsplit(origin)
            name = o.hostname
            if o.scheme not in _DEFAULT_PORTS or name is None:
                return False
            o.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            return False
        if ":" in name:
            name = f"[{name}]"
        return any(name == p or (p.startswith("*.") and name.endswith(p[1:])) for p in self.trusted)


_DEFAULT_PORTS = {"http": 80, "https": 443}


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

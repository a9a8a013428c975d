"""The API's settings: one dataclass handed to :func:`qa.api.app.create_app`."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kg.config import StoreConfig
from kg.errors import ConfigError


class ReplyGenerator(Protocol):
    """Where a chat reply's text comes from (the generative dialogue head): one required method.

    ``stream(reply)`` gets the :class:`qa.chat.conversation.Reply` (resolution, answers, evidence) and
    yields the reply's text in pieces; the API sends each piece as a ``token`` event.
    """

    def stream(self, reply: Any) -> Iterator[str]:
        ...


@dataclass
class ApiSettings:
    """Everything :func:`qa.api.app.create_app` needs.

    Args:
        store: the graph store the server owns (it holds the only write handle of an embedded store);
            ``None``: the store the model was trained on (or the default store when there is no model).
        model_dir: the trained QA model (``kgqa train``); ``None`` or a missing folder: the API serves
            the graph (Cypher, entities, ingest) and ``/ask`` says that no model is loaded.
        host: the address the server binds; a non-loopback host requires ``token``.
        token: the bearer token clients must send (``Authorization: Bearer ...``); ``None`` on
            loopback: no authentication.
        generator: optional :class:`ReplyGenerator` for chat replies (default: the QA head's words); its
            replies are made one at a time, on one thread.
        max_body_bytes / max_upload_bytes: request size limits (JSON bodies / ``/ingest`` uploads).
        ask_timeout_s: how long a question may wait and run before a 504.
        queue_size: questions waiting for the model before new ones get a 503.
        max_batch / batch_wait_s: micro-batching of concurrent questions into one ``predict`` call.
        max_sessions / session_ttl_s: chat sessions kept (least recently used dropped) and their idle age.
        cypher_row_limit / cypher_timeout_s: caps of ``/cypher`` (a request may ask for less).
        neighbour_limit: relations returned by a neighbourhood request at most.
        upload_dir: where uploads are kept while they are ingested (default: a temporary folder).
        refresh_after_ingest: reload the model's graph snapshot after an ingest that changed the graph.
        read_only: open the store read-only (another process writes it); ``/ingest`` is then refused.
        allowed_hosts: host names the server answers to besides the loopback ones and ``host``
            (``Host:`` header; anything else gets a 400, which stops DNS rebinding); pages served
            under these names may also send state-changing requests (a reverse proxy's public
            name). ``*.example.com`` covers the subdomains; ``*`` turns the host check off.
        answerer / resolver: already loaded objects (tests; otherwise loaded from ``model_dir``).
    """

    store: StoreConfig | None = None
    model_dir: Path | None = None
    host: str = "127.0.0.1"
    token: str | None = None
    generator: ReplyGenerator | None = None
    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 200_000_000
    ask_timeout_s: float = 30.0
    queue_size: int = 256
    max_batch: int = 32
    batch_wait_s: float = 0.005
    max_sessions: int = 1000
    session_ttl_s: float = 3600.0
    cypher_row_limit: int = 1000
    cypher_timeout_s: float = 10.0
    neighbour_limit: int = 200
    upload_dir: Path | None = None
    refresh_after_ingest: bool = True
    read_only: bool = False
    allowed_hosts: tuple[str, ...] = ()
    answerer: Any = None
    resolver: Any = None

    def __post_init__(self) -> None:
        if self.model_dir is not None:
            self.model_dir = Path(self.model_dir)
        self.token = self.token or None
        self.allowed_hosts = tuple(_host_pattern(h) for h in self.allowed_hosts)
        if not self.token and not is_loopback(self.host):
            raise ConfigError(f"binding {self.host} (not loopback) needs a token: pass --token or set "
                              "KGQA_API_TOKEN (kgqa serve generates one when neither is given)")

    @property
    def auth_required(self) -> bool:
        return self.token is not None

    @property
    def trusted_hosts(self) -> list[str]:
        """Every name the ``Host:`` header may carry: the loopback ones, the bound host (unless it is
        all interfaces) and :attr:`allowed_hosts`."""
        names = list(LOOPBACK_NAMES)
        bound = _host_pattern(self.host)
        if bound not in UNSPECIFIED and bound not in names:
            names.append(bound)
        return names + [h for h in self.allowed_hosts if h not in names]


#: Host names a loopback server answers to by default (IPv6 literals in brackets, as in a Host header).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
#: Bind addresses that mean "every interface": not a name a client sends.
UNSPECIFIED = ("0.0.0.0", "[::]", "")


def _host_pattern(host: str) -> str:
    """``host`` as the ``Host:`` header spells it (lower case, IPv6 in brackets); a ConfigError when it is
    not a host name, an IP address or a ``*.domain`` wildcard."""
    h = host.strip().lower()
    if h == "*":
        return h
    try:
        ip = ipaddress.ip_address(h.strip("[]"))
        return f"[{ip}]" if ip.version == 6 else str(ip)
    except ValueError:
        pass
    name = h[2:] if h.startswith("*.") else h
    if not _HOSTNAME.fullmatch(name):
        raise ConfigError(f"{host!r} is not a host name: give a name such as kgqa.example.com, an IP address, "
                          "*.example.com for its subdomains, or * for any host (no port)")
    return h


_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None, env: dict[str, str] | None = None) -> tuple[str | None, bool]:
    """The token to use: ``token``, else ``$KGQA_API_TOKEN``, else a new random one when ``host`` is not
    loopback (authentication is on by default there). Returns ``(token, generated)``."""
    env = dict(os.environ if env is None else env)
    chosen = token or env.get("KGQA_API_TOKEN") or None
    if chosen is None and not is_loopback(host):
        return secrets.token_urlsafe(24), True
    return chosen, False

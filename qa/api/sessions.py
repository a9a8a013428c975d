"""Chat sessions: each a :meth:`qa.chat.conversation.Conversation.to_dict`, bounded in number and idle age.

The state is plain JSON (entities in focus, the last turns), so a session costs a few kilobytes and a
turn rebuilds its :class:`~qa.chat.conversation.Conversation` from it. When ``max_sessions`` are open the
least recently used one is dropped; one idle for ``ttl_s`` expires.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from qa.api.errors import ApiError


@dataclass
class Session:
    id: str
    state: dict[str, Any] = field(default_factory=lambda: {"focus": [], "history": []})
    created: float = field(default_factory=time.time)
    used: float = field(default_factory=time.time)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)   # one turn at a time

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created": self.created, "used": self.used,
                "history": self.state.get("history", []), "focus": self.state.get("focus", [])}


class Sessions:
    """Open chat sessions by id (thread-safe)."""

    def __init__(self, max_sessions: int = 1000, ttl_s: float = 3600.0) -> None:
        self.max_sessions, self.ttl_s = max_sessions, ttl_s
        self._open: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(time.time())
            return len(self._open)

    def create(self) -> Session:
        s = Session(secrets.token_urlsafe(12))
        with self._lock:
            self._expire(s.created)
            while len(self._open) >= self.max_sessions:
                self._open.popitem(last=False)
            self._open[s.id] = s
        return s

    def get(self, session_id: str) -> Session:
        now = time.time()
        with self._lock:
            self._expire(now)
            s = self._open.get(session_id)
            if s is None:
                raise ApiError(404, "no_session", f"no chat session {session_id!r}: it never existed, was closed, "
                               f"or was idle for more than {self.ttl_s:g} s", "start one with POST /chat/sessions")
            s.used = now
            self._open.move_to_end(session_id)
            return s

    def delete(self, session_id: str) -> None:
        self.get(session_id)
        with self._lock:
            self._open.pop(session_id, None)

    def _expire(self, now: float) -> None:
        while self._open:
            oldest = next(iter(self._open.values()))
            if now - oldest.used <= self.ttl_s:
                break
            self._open.popitem(last=False)

"""Running the API with uvicorn: in the foreground (``kgqa serve``) or on a background thread (tests, benches)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from kg.errors import ConfigError
from qa.api.settings import ApiSettings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _config(settings: ApiSettings, port: int, log_level: str, service: Any = None) -> Any:
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ConfigError("kgqa serve needs the api extra: pip install 'kgqa[api]'") from exc
    from qa.api.app import create_app

    return uvicorn.Config(create_app(settings, service), host=settings.host, port=port, log_level=log_level,
                          timeout_keep_alive=30, limit_concurrency=2048, timeout_graceful_shutdown=5)


def serve(settings: ApiSettings, port: int = 8000, log_level: str = "info", service: Any = None) -> None:
    """Serve until interrupted (Ctrl-C); the service is closed on the way out."""
    import uvicorn

    from qa.api.service import Service

    service = service or Service(settings)
    try:
        uvicorn.Server(_config(settings, port, log_level, service)).run()
    finally:
        service.close()


class ServerThread:
    """The API on a free loopback port, served by a background thread (the service, with its model, is
    built first, so that a bad setting raises here)::

        with ServerThread(settings) as server:
            httpx.get(server.url + "/health")
    """

    def __init__(self, settings: ApiSettings, port: int | None = None, log_level: str = "warning",
                 service: Any = None, start_timeout_s: float = 300.0) -> None:
        import uvicorn

        from qa.api.service import Service

        self.service = service or Service(settings)
        service = self.service
        self.port = port or free_port(settings.host)
        self.url = f"http://{settings.host}:{self.port}"
        self.server = uvicorn.Server(_config(settings, self.port, log_level, service))
        self.start_timeout_s = start_timeout_s
        self._thread = threading.Thread(target=self.server.run, name="kgqa-api", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.time() + self.start_timeout_s
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the API server stopped while starting (see the log above)")
            if time.time() > deadline:
                raise RuntimeError(f"the API server did not start within {self.start_timeout_s:g} s")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self.service.close()

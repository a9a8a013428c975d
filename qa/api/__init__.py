"""The HTTP API (FastAPI) and the web page it serves: ``kgqa serve`` (see :mod:`qa.api.app`)."""

from qa.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]


def create_app(settings: ApiSettings):  # type: ignore[no-untyped-def]
    """See :func:`qa.api.app.create_app` (imported lazily: FastAPI is the ``api`` extra)."""
    from qa.api.app import create_app as _create

    return _create(settings)

"""A real browser (headless Chromium, as in ``test_browser.py``) on another site's page posts a file to the
server on loopback, as the issue's attack does: the browser sends the request, the server refuses it with
its 403 and the graph stays as it was. The page at ``http://evil.example/`` is served by Playwright itself
(no network). The same form on the server's own page would be accepted (``test_browser.py`` uploads)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa.api.server import ServerThread
from qa.api.settings import ApiSettings
from tests.api.conftest import TinyModel, fresh_store
from tests.api.test_browser import browser  # noqa: F401 - the Chromium fixture

pytestmark = pytest.mark.slow

EVIL_PAGE = """<!doctype html><html><body>
<form id="f" method="post" enctype="multipart/form-data" action="{target}/ingest">
  <input type="file" name="file" id="file"><input type="hidden" name="format" value="triples">
</form></body></html>"""


@pytest.fixture
def evil_site(browser: Any, tiny_model: TinyModel, tmp_path: Path) -> Iterator[tuple[Any, ServerThread]]:  # noqa: F811
    settings = ApiSettings(store=fresh_store(tmp_path / "graph", tiny_model.kb), answerer=tiny_model.answerer,
                           resolver=tiny_model.resolver, upload_dir=tmp_path / "uploads")
    with ServerThread(settings) as server:
        context = browser.new_context()
        page = context.new_page()
        page.route("http://evil.example/**", lambda route: route.fulfill(
            status=200, content_type="text/html", body=EVIL_PAGE.format(target=server.url)))
        yield page, server
        context.close()


def test_a_cross_site_form_upload_from_a_real_browser_is_refused(evil_site: tuple[Any, ServerThread],
                                                                   tmp_path: Path) -> None:
    page, server = evil_site
    with httpx.Client(base_url=server.url, timeout=30) as c:
        before = c.get("/stats").json()["graph"]
        forged = tmp_path / "forged.txt"
        forged.write_text("Film 666|directed_by|Evil Director\n")
        page.goto("http://evil.example/")
        page.set_input_files("#file", str(forged))
        with page.expect_navigation():
            page.eval_on_selector("#f", "f => f.submit()")
        answer = json.loads(page.inner_text("body"))               # the server's answer, shown by the browser
        assert (answer.get("error") or {}).get("code") == "foreign_origin", answer    # not an ingest job
        assert "other sites" in answer["error"]["message"]
        assert c.get("/stats").json()["graph"] == before
        assert c.get("/ingest").json()["jobs"] == [] and c.get("/entities/Film 666").status_code == 404

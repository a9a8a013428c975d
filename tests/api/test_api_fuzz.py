"""Schema fuzzing in the suite, small and seeded: schemathesis generates requests from the app's OpenAPI schema
(fitting it and breaking it) for every operation, sent over real HTTP to the real app, with the tiny model, on
an embedded graph this test makes. No request may get a 500, an error outside the API's error form, or a
traceback, and the server must still answer afterwards, with the graph it started with still there.

``KGQA_FUZZ_EXAMPLES`` (default 20 per operation and mode: about 340 requests) and ``KGQA_FUZZ_SEED`` set a
longer or different run; ``bench/security_api.py`` runs one and records its figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from qa.api.server import ServerThread
from qa.api.settings import ApiSettings
from tests.api.conftest import TinyModel, error_of, fresh_store

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("KGQA_FUZZ_EXAMPLES", "20"))
SEED = int(os.environ.get("KGQA_FUZZ_SEED", "14"))


def test_schema_fuzzing_finds_no_500_and_the_server_stays_up(tiny_model: TinyModel, tmp_path: Path) -> None:
    pytest.importorskip("schemathesis", reason="schema fuzzing needs schemathesis (the dev extra)")
    from tests.api.schema_fuzz import fuzz

    settings = ApiSettings(store=fresh_store(tmp_path / "graph", tiny_model.kb), answerer=tiny_model.answerer,
                           resolver=tiny_model.resolver, upload_dir=tmp_path / "uploads", ask_timeout_s=20,
                           cypher_timeout_s=2, max_upload_bytes=100_000)
    with ServerThread(settings) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        film = c.get("/entities/Film 1/neighbours").json()["relations"]
        report = fuzz(s.url, EXAMPLES, seed=SEED)
        print({k: v for k, v in report.as_dict().items() if k != "per_operation"})
        assert report.requests >= 10 * EXAMPLES and len(report.per_operation) >= 15, report.as_dict()
        assert not report.failures, "\n".join(str(f) for f in report.failures[:10])
        assert c.get("/health").json()["status"] == "ok"
        after = c.get("/entities/Film 1/neighbours").json()["relations"]
        assert [r for r in after if r in film] == film                    # what was stored is still there
        assert c.post("/ask", json={"question": "who directed [Film 1]"}).json()["answers"]


def test_parameters_the_database_cannot_take_get_a_400(tiny_model: TinyModel, tmp_path: Path) -> None:
    """A parameter list mixing value types made the embedded store's driver raise ValueError, answered with a
    500 (found by hand; the longer schemathesis run, 200 per operation and mode, found it too: 12 of 3,404
    requests before the fix, none after)."""
    settings = ApiSettings(store=fresh_store(tmp_path / "graph", tiny_model.kb))
    with ServerThread(settings) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        for params in ({"a": [{"x": 1}, {"x": "y"}]}, {"a": [[1], ["y"]]}, {"a": {"b": [1, "y"]}}):
            r = c.post("/cypher", json={"query": "RETURN $a AS a", "params": params})
            assert r.status_code == 400, (params, r.text)
            err = error_of(r)
            assert err["code"] in ("invalid_params", "query_error"), err          # the store may refuse them itself
            assert err["code"] == "query_error" or "one type" in err["hint"]
        assert c.post("/cypher", json={"query": "RETURN $a AS a", "params": {"a": [1, 2]}}).json()["rows"] == [[[1, 2]]]

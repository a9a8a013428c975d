"""The API over a Neo4j store (tools/neo4j/start.sh): ask, the evidence Cypher, the console's graph form,
write refusal and an upload, as over the embedded store."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kg.config import StoreConfig
from kg.ingest import ingest
from qa.api.server import ServerThread
from qa.api.settings import ApiSettings
from tests.api.conftest import TinyModel, error_of
from tests.api.test_api_ingest import counts, upload, wait_for
from tests.conftest import NEO4J_PASSWORD, NEO4J_URI, NEO4J_USER

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


def test_the_api_over_neo4j(neo4j, tiny_model: TinyModel, tmp_path: Path) -> None:
    ingest(neo4j, tiny_model.kb, progress=False)
    store = StoreConfig(backend="neo4j", uri=NEO4J_URI, user=NEO4J_USER, password=NEO4J_PASSWORD,
                        path=str(tmp_path / "graph"))
    settings = ApiSettings(store=store, model_dir=tiny_model.run)
    with ServerThread(settings) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        assert c.get("/health").json()["store"] == "neo4j"
        body = c.post("/ask", json={"question": "who directed Film 3"}).json()
        assert body["topics"][0]["id"] == "Film 3" and body["answers"]
        ev = body["answers"][0]["evidence"][0]
        path = c.post("/cypher", json={"query": ev["cypher"], "params": ev["params"]}).json()
        assert len(path["rows"]) == 1 and path["graph"]["edges"][0]["source"] == "Film 3"
        rel = c.post("/cypher", json={"query": "MATCH (m {id: 'Film 3'})-[r:DIRECTED_BY]->(d) RETURN m, r, d"}).json()
        assert rel["graph"]["edges"][0]["target"] == body["answers"][0]["id"]
        r = c.post("/cypher", json={"query": "MATCH (n) DETACH DELETE n"})
        assert r.status_code == 403 and error_of(r)["code"] == "read_only"
        before = counts(c)
        job = wait_for(c, upload(c, "more.txt", b"Film 77|directed_by|Director 5\n").json())
        assert job["status"] == "done" and job["refresh"]["done"], job
        assert counts(c) == (before[0] + 1, before[1] + 1)
        assert [a["name"] for a in c.post("/ask", json={"question": "who directed [Film 77]"}).json()["answers"]] \
            == ["Director 5"]

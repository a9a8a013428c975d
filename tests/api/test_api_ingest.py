"""``/ingest`` over real HTTP: an upload becomes a background job with progress; bad files get clear
errors and lose nothing; after an ingest the model answers over the new facts. Each test owns its graph."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kg.config import StoreConfig
from qa.api.server import ServerThread
from qa.api.settings import ApiSettings
from tests.api.conftest import TinyModel, error_of, fresh_store

pytestmark = pytest.mark.slow


def wait_for(client: httpx.Client, job: dict[str, Any], timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.time() + timeout_s
    seen = [job["status"]]
    while job["status"] not in ("done", "failed"):
        assert time.time() < deadline, job
        time.sleep(0.1)
        job = client.get(f"/ingest/{job['id']}").json()
        seen.append(job["status"])
    job["seen"] = seen
    return job


def upload(client: httpx.Client, name: str, content: bytes, **form: str) -> httpx.Response:
    return client.post("/ingest", files={"file": (name, content)}, data=form)


def ask(client: httpx.Client, question: str) -> list[str]:
    return [a["name"] for a in client.post("/ask", json={"question": question}).json()["answers"]]


def counts(client: httpx.Client) -> tuple[int, int]:
    g = client.get("/stats").json()["graph"]
    return g["entities"], g["relations"]


def test_upload_ingests_in_the_background_and_the_model_answers_over_the_new_facts(
        tiny_model: TinyModel, tmp_path: Path) -> None:
    store = fresh_store(tmp_path / "graph", tiny_model.kb)
    settings = ApiSettings(store=store, model_dir=tiny_model.run, max_upload_bytes=50_000)
    with ServerThread(settings) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        entities, relations = counts(c)
        assert ask(c, "who directed [Film 77]") == []                         # not in the graph yet
        new = b"Film 77|directed_by|Director 5\nFilm 77|starred_actors|Actor 2\nFilm 77|release_year|1993\n"
        r = upload(c, "more.txt", new)
        assert r.status_code == 202, r.text
        job = wait_for(c, r.json())
        assert job["status"] == "done", job
        assert job["report"]["records"] == 3 and job["report"]["relationships_created"] == 3
        assert job["progress"]["fraction"] == 1.0 and job["progress"]["records_total"] == 3
        assert job["refresh"]["done"], job["refresh"]
        assert counts(c) == (entities + 1, relations + 3)
        assert ask(c, "who directed [Film 77]") == ["Director 5"]              # the refreshed snapshot answers
        assert c.get("/entities/Film 77/neighbours").json()["relations"]
        assert [j["id"] for j in c.get("/ingest").json()["jobs"]] == [job["id"]]

        again = wait_for(c, upload(c, "more.txt", new).json())                # idempotent: nothing new
        assert again["report"]["relationships_created"] == 0 and again["refresh"] is None
        assert counts(c) == (entities + 1, relations + 3)

        # a malformed record is reported and skipped; the rest is stored
        mixed = wait_for(c, upload(c, "mixed.txt", b"Film 78|directed_by|Director 6\nnot a triple\n").json())
        assert mixed["status"] == "done" and mixed["report"]["malformed"] == 1
        assert "mixed.txt:2" in mixed["report"]["malformed_examples"][0]
        assert counts(c) == (entities + 2, relations + 4)
        # strict: the job fails before writing its batch, and nothing stored before is lost
        strict = wait_for(c, upload(c, "strict.txt", b"Film 79|directed_by|Director 7\nbroken\n", strict="true").json())
        assert strict["status"] == "failed" and "strict" in strict["error"]["message"]
        assert counts(c) == (entities + 2, relations + 4)

        # CSV with a header, RDF: the formats kgqa ingest reads
        csv = wait_for(c, upload(c, "people.csv", b"head,relation,tail\nFilm 80,directed_by,Director 8\n").json())
        assert csv["status"] == "done" and csv["report"]["relationships_created"] == 1
        ttl = (b'@prefix ex: <http://example.org/> .\nex:film81 ex:directed_by ex:dir9 .\n'
               b'ex:film81 <http://www.w3.org/2000/01/rdf-schema#label> "Film 81" .\n')
        rdf = wait_for(c, upload(c, "films.ttl", ttl).json())
        assert rdf["status"] == "done" and rdf["report"]["relationships_created"] == 1
        assert c.get("/entities", params={"q": "Film 81"}).json()["entities"][0]["id"] == "http://example.org/film81"


def test_bad_uploads_get_clear_errors(tiny_model: TinyModel, tmp_path: Path) -> None:
    store = fresh_store(tmp_path / "graph", tiny_model.kb)
    settings = ApiSettings(store=store, answerer=tiny_model.answerer, resolver=tiny_model.resolver,
                           max_upload_bytes=2_000)
    with ServerThread(settings) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        before = counts(c)
        r = upload(c, "data.bin", b"Film 1|directed_by|X\n")
        assert r.status_code == 400 and error_of(r)["code"] == "unknown_format"
        r = upload(c, "data.txt", b"Film 1|directed_by|X\n", format="yaml")
        assert r.status_code == 400 and "triples" in error_of(r)["hint"]
        r = upload(c, "empty.txt", b"")
        assert r.status_code == 400 and error_of(r)["code"] == "empty_file"
        r = upload(c, "big.txt", b"Film 1|directed_by|X\n" * 500)
        assert r.status_code == 413 and error_of(r)["code"] == "too_large"
        r = c.post("/ingest", data={"format": "triples"})
        assert r.status_code == 422 and "file" in error_of(r)["message"]
        bad_rdf = wait_for(c, upload(c, "bad.ttl", b"this is not turtle <<<\n").json())
        assert bad_rdf["status"] in ("failed", "done")
        assert bad_rdf["error"] or bad_rdf["report"]["malformed"]
        assert counts(c) == before
        # no model directory: the graph changed, the answers cannot follow, and the job says so
        job = wait_for(c, upload(c, "more.txt", b"Film 90|directed_by|Director 1\n").json())
        assert job["status"] == "done" and not job["refresh"]["done"] and "no QA model" in job["refresh"]["message"]


def test_a_read_only_server_refuses_uploads(tiny_model: TinyModel, tmp_path: Path) -> None:
    store = fresh_store(tmp_path / "graph", tiny_model.kb)
    settings = ApiSettings(store=StoreConfig(backend="embedded", path=store.path), answerer=tiny_model.answerer,
                           resolver=tiny_model.resolver, read_only=True)
    with ServerThread(settings) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        r = upload(c, "more.txt", b"Film 90|directed_by|Director 1\n")
        assert r.status_code == 403 and error_of(r)["code"] == "read_only_server"
        assert c.post("/cypher", json={"query": "MATCH (n) RETURN count(n)"}).status_code == 200

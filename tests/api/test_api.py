"""The HTTP API over real HTTP (uvicorn on a free loopback port): every endpoint as a client sees it,
errors, limits and concurrency. The model is the tiny one of ``conftest.py``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kg.errors import ConfigError
from qa.api.server import ServerThread
from qa.api.settings import ApiSettings, is_loopback, resolve_token
from tests.api.conftest import TinyModel, error_of, events

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tiny_model: TinyModel) -> Iterator[ServerThread]:
    settings = ApiSettings(answerer=tiny_model.answerer, resolver=tiny_model.resolver, max_body_bytes=20_000,
                           cypher_row_limit=50, neighbour_limit=5)
    with ServerThread(settings) as s:
        yield s


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def director_of(model: TinyModel, film: str) -> str:
    for line in model.kb.read_text().splitlines():
        h, r, t = line.split("|")
        if h == film and r == "directed_by":
            return t
    raise AssertionError(film)


def entity_count(model: TinyModel) -> int:
    return len({x for line in model.kb.read_text().splitlines() for x in line.split("|")[::2]})


def test_health_and_schema(client: httpx.Client) -> None:
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["model"] and h["chat"] and h["auth"] is False
    schema = client.get("/openapi.json").json()
    for path in ("/ask", "/chat/sessions", "/chat/sessions/{session_id}/messages", "/cypher", "/ingest",
                 "/ingest/{job_id}", "/entities", "/entities/{entity_id}/neighbours", "/stats", "/health"):
        assert path in schema["paths"], path
    page = client.get("/")
    assert page.status_code == 200 and "<title>kgqa" in page.text
    assert "http://" not in page.text and "https://" not in page.text          # nothing from a CDN
    js = client.get("/static/vendor/cytoscape.min.js")
    assert js.status_code == 200 and len(js.content) > 100_000


def test_ask_returns_answers_evidence_cypher_and_a_graph(client: httpx.Client, tiny_model: TinyModel) -> None:
    r = client.post("/ask", json={"question": "who directed [Film 3]"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["topics"] == [{"id": "Film 3", "name": "Film 3"}]
    top = body["answers"][0]
    assert top["name"] == director_of(tiny_model, "Film 3")
    ev = top["evidence"][0]
    assert ev["text"] == f"Film 3 -[DIRECTED_BY]-> {top['name']}" and ev["cypher"].startswith("MATCH p = ")
    ids = {n["id"]: n["role"] for n in body["graph"]["nodes"]}
    assert ids["Film 3"] == "topic" and ids[top["id"]] == "answer"
    assert {"source": "Film 3", "target": top["id"], "type": "DIRECTED_BY"}.items() <= body["graph"]["edges"][0].items()
    # the evidence Cypher returns its path from the store
    rows = client.post("/cypher", json={"query": ev["cypher"], "params": ev["params"]}).json()["rows"]
    assert len(rows) == 1
    plain = client.post("/ask", json={"question": "who directed Film 3"}).json()      # the linker finds the topic
    assert plain["topics"][0]["id"] == "Film 3" and plain["answers"][0]["name"] == top["name"]
    none = client.post("/ask", json={"question": "who directed the film Zorblax"}).json()
    assert none["answers"] == [] and "no entity of the graph" in none["note"]
    assert body["kind"] == "path" and body["value"] is None


def test_ask_answers_a_count_and_a_yes_no_with_their_cypher(client: httpx.Client, tiny_model: TinyModel) -> None:
    director = director_of(tiny_model, "Film 3")
    films = [line.split("|")[0] for line in tiny_model.kb.read_text().splitlines()
             if line.split("|")[1:] == ["directed_by", director]]
    body = client.post("/ask", json={"question": f"how many films did {director} direct"}).json()
    assert body["kind"] == "count" and body["value"] == len(films), body
    rows = client.post("/cypher", json={"query": body["cypher"], "params": body["params"]}).json()["rows"]
    assert rows == [[len(films)]]                              # the count comes back from count()
    yes = client.post("/ask", json={"question": f"did {director} direct Film 3"}).json()
    assert yes["kind"] == "yes/no" and yes["value"] is True
    why = client.post("/ask", json={"question": f"why did {director} direct Film 3"}).json()
    assert why["kind"] == "unsupported" and why["answers"] == [] and "cannot answer" in why["note"]


@pytest.mark.parametrize("payload, field", [({}, "question"), ({"question": ""}, "question"),
                                            ({"question": "x", "answers": 0}, "answers"),
                                            ({"question": "x" * 1001}, "question")])
def test_ask_rejects_bad_requests_with_a_structured_error(client: httpx.Client, payload: dict, field: str) -> None:
    r = client.post("/ask", json=payload)
    assert r.status_code == 422
    err = error_of(r)
    assert err["code"] == "invalid_request" and field in err["message"]


def test_errors_are_structured(client: httpx.Client) -> None:
    r = client.get("/no/such/endpoint")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = client.post("/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and error_of(r)["code"] == "invalid_request"
    r = client.post("/ask", content=b"x" * 30_000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "30,000 bytes" in error_of(r)["message"]


def test_cypher_reads_and_refuses_writes(client: httpx.Client, tiny_model: TinyModel) -> None:
    r = client.post("/cypher", json={"query": "MATCH (m:Entity)-[r:DIRECTED_BY]->(d:Entity) WHERE m.id = $f "
                                              "RETURN m, r, d", "params": {"f": "Film 3"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == ["m", "r", "d"] and len(body["rows"]) == 1
    edge = body["graph"]["edges"][0]
    assert (edge["source"], edge["type"]) == ("Film 3", "DIRECTED_BY")
    path = client.post("/cypher", json={"query": "MATCH p = (m {id: 'Film 3'})-[:STARRED_ACTORS]->() RETURN p"}).json()
    assert len(path["graph"]["edges"]) == 2 and len(path["graph"]["nodes"]) == 3
    table = client.post("/cypher", json={"query": "MATCH (n:Entity) RETURN n.name AS name"}).json()
    assert table["graph"] is None and table["truncated"] and len(table["rows"]) == 50      # the server's row cap
    small = client.post("/cypher", json={"query": "MATCH (n:Entity) RETURN n.name", "limit": 3}).json()
    assert len(small["rows"]) == 3
    for write in ("CREATE (n:Entity {id: 'x'})", "MATCH (n) DETACH DELETE n", "MATCH (n) SET n.name = 'x'",
                  "LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l", "MATCH (n) RETURN n; MATCH (m) DELETE m"):
        r = client.post("/cypher", json={"query": write})
        assert r.status_code == 403, write
        err = error_of(r)
        assert err["code"] == "read_only" and ("not allowed" in err["message"] or "one statement" in err["message"])
    r = client.post("/cypher", json={"query": "MATCH (n RETURN n"})
    assert r.status_code == 400 and error_of(r)["code"] == "query_error"
    count = client.post("/cypher", json={"query": "MATCH (n:Entity) RETURN count(n)"}).json()["rows"]
    assert count == [[entity_count(tiny_model)]]


def test_entities_and_neighbours(client: httpx.Client) -> None:
    by_id = client.get("/entities", params={"q": "Film 3"}).json()
    assert by_id["how"] == "id" and by_id["entities"][0]["id"] == "Film 3"
    by_name = client.get("/entities", params={"q": "film 3"}).json()
    assert by_name["how"] == "name" and by_name["entities"][0]["id"] == "Film 3"
    typo = client.get("/entities", params={"q": "Directr 3"}).json()
    assert typo["how"] == "linked" and "Director 3" in [e["id"] for e in typo["entities"]]
    assert client.get("/entities", params={"q": "qqqqqqqq"}).json()["entities"] == []
    assert client.get("/entities/Film 3").json()["name"] == "Film 3"
    n = client.get("/entities/Film 3/neighbours").json()
    assert len(n["relations"]) == 5 and not n["truncated"]
    types = {r["type"] for r in n["relations"]}
    assert types == {"DIRECTED_BY", "STARRED_ACTORS", "RELEASE_YEAR", "HAS_GENRE"}
    assert n["graph"]["nodes"][0] == {"id": "Film 3", "name": "Film 3", "role": "focus"}
    capped = client.get("/entities/Drama/neighbours", params={"limit": 100}).json()
    assert capped["truncated"] and len(capped["relations"]) == 5                     # the server's cap
    r = client.get("/entities/Film 999/neighbours")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    assert client.get("/entities/Film 3/neighbours", params={"direction": "up"}).status_code == 422


def test_stats(client: httpx.Client, tiny_model: TinyModel) -> None:
    s = client.get("/stats").json()
    n = entity_count(tiny_model)
    assert s["graph"]["entities"] == n and s["graph"]["relations"] == 300
    assert s["graph"]["relation_types"]["DIRECTED_BY"] == 60 and s["model"]["entities"] == n


def test_chat_resolves_follow_ups_streams_and_keeps_history(client: httpx.Client, tiny_model: TinyModel) -> None:
    r = client.post("/chat/sessions")
    assert r.status_code == 201
    sid = r.json()["id"]
    first = client.post(f"/chat/sessions/{sid}/messages", json={"text": "who directed [Film 3]"}).json()
    director = director_of(tiny_model, "Film 3")
    assert first["resolution"]["how"] == "brackets" and first["reply"].startswith(director)
    assert first["answers"]["graph"]["nodes"] and first["turn"] == 1
    with client.stream("POST", f"/chat/sessions/{sid}/messages",
                       json={"text": "when was that film released", "stream": True}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        evs = events(resp)
    kinds = [k for k, _ in evs]
    assert kinds[:2] == ["resolution", "answers"] and kinds[-1] == "done" and "token" in kinds
    assert set(kinds[2:-1]) == {"token"}
    res = evs[0][1]
    assert res["how"] == "reference" and res["topic"]["id"] == "Film 3" and res["expression"] == "that film"
    text = "".join(d["text"] for k, d in evs if k == "token")
    assert text.strip() == evs[-1][1]["reply"] and "('that film' = Film 3)" in text
    history = client.get(f"/chat/sessions/{sid}").json()["history"]
    assert [h["resolved"] for h in history] == ["who directed [Film 3]", "when was [Film 3] released"]
    assert client.post(f"/chat/sessions/{sid}/reset").json()["history"] == []
    again = client.post(f"/chat/sessions/{sid}/messages", json={"text": "when was it released"}).json()
    assert again["resolution"]["how"] == "none"                         # nothing in focus after the reset
    assert client.delete(f"/chat/sessions/{sid}").status_code == 204
    r = client.post(f"/chat/sessions/{sid}/messages", json={"text": "who directed [Film 3]"})
    assert r.status_code == 404 and error_of(r)["code"] == "no_session"


def test_32_concurrent_questions_are_batched_without_errors(server: ServerThread, client: httpx.Client) -> None:
    before = client.get("/stats").json()["model"]

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as ac:
            return await asyncio.gather(*[ac.post("/ask", json={"question": f"who directed [Film {i}]"})
                                          for i in range(32)])

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * 32
    assert [r.json()["topics"][0]["id"] for r in responses] == [f"Film {i}" for i in range(32)]
    after = client.get("/stats").json()["model"]
    asked, batches = after["questions_answered"] - before["questions_answered"], after["batches"] - before["batches"]
    assert asked == 32 and batches < 32                               # concurrent questions shared predict calls


class SlowAnswerer:
    """The tiny model, 0.4 s slower per batch: to fill the queue and pass the timeout."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def predict(self, questions: Any, **kw: Any) -> Any:
        time.sleep(0.4)
        return self.inner.predict(questions, **kw)


def test_overload_and_timeout_are_clear_errors(tiny_model: TinyModel, tmp_path) -> None:
    from tests.api.conftest import fresh_store

    settings = ApiSettings(store=fresh_store(tmp_path / "g", tiny_model.kb), answerer=SlowAnswerer(tiny_model.answerer),
                           resolver=tiny_model.resolver, queue_size=2, max_batch=1, ask_timeout_s=0.25)
    with ServerThread(settings) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        r = c.post("/ask", json={"question": "who directed [Film 1]"})
        assert r.status_code == 504 and error_of(r)["code"] == "timeout"

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=s.url, timeout=30) as ac:
                return await asyncio.gather(*[ac.post("/ask", json={"question": "who directed [Film 2]"})
                                              for _ in range(12)])

        codes = [r.status_code for r in asyncio.run(burst())]
        assert 503 in codes and set(codes) <= {503, 504}
        over = next(r for r in asyncio.run(burst()) if r.status_code == 503)
        assert error_of(over)["code"] == "overloaded" and over.headers["retry-after"] == "1"


class BrokenGenerator:
    def stream(self, reply: Any) -> Iterator[str]:
        yield "Let me think"
        raise RuntimeError("secret internal detail")


class EchoGenerator:
    def stream(self, reply: Any) -> Iterator[str]:
        yield from ["The answer ", "is ", reply.prediction.answers[0].name]


def test_the_reply_generator_is_pluggable_and_its_bugs_stay_on_the_server(tiny_model: TinyModel, tmp_path) -> None:
    from tests.api.conftest import fresh_store

    store = fresh_store(tmp_path / "g", tiny_model.kb)
    common: dict[str, Any] = {"store": store, "answerer": tiny_model.answerer, "resolver": tiny_model.resolver}
    with ServerThread(ApiSettings(generator=EchoGenerator(), **common)) as s, \
            httpx.Client(base_url=s.url, timeout=30) as c:
        sid = c.post("/chat/sessions").json()["id"]
        reply = c.post(f"/chat/sessions/{sid}/messages", json={"text": "who directed [Film 3]"}).json()["reply"]
        assert reply == "The answer is " + director_of(tiny_model, "Film 3")
    with ServerThread(ApiSettings(generator=BrokenGenerator(), **common)) as s, \
            httpx.Client(base_url=s.url, timeout=30) as c:
        sid = c.post("/chat/sessions").json()["id"]
        r = c.post(f"/chat/sessions/{sid}/messages", json={"text": "who directed [Film 3]"})
        assert r.status_code == 500 and error_of(r)["code"] == "internal" and "secret" not in r.text
        with c.stream("POST", f"/chat/sessions/{sid}/messages",
                      json={"text": "who directed [Film 4]", "stream": True}) as resp:
            evs = events(resp)
        assert [k for k, _ in evs] == ["resolution", "answers", "token", "error", "done"]
        assert "secret" not in str(evs)


def test_token_auth(tiny_model: TinyModel, tmp_path) -> None:
    from tests.api.conftest import fresh_store

    settings = ApiSettings(store=fresh_store(tmp_path / "g", tiny_model.kb), answerer=tiny_model.answerer,
                           resolver=tiny_model.resolver, token="s3cret")
    with ServerThread(settings) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        assert c.get("/health").status_code == 200 and c.get("/").status_code == 200      # public
        for method, path in (("POST", "/ask"), ("POST", "/cypher"), ("GET", "/stats"), ("POST", "/chat/sessions"),
                             ("GET", "/entities?q=x"), ("POST", "/ingest")):
            r = c.request(method, path, json={"question": "who directed [Film 1]"})
            assert r.status_code == 401, path
            assert error_of(r)["code"] == "unauthorized" and r.headers["www-authenticate"].startswith("Bearer")
        wrong = c.get("/stats", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "wrong token" in error_of(wrong)["message"]
        ok = c.post("/ask", json={"question": "who directed [Film 1]"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_a_public_address_needs_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    with pytest.raises(ConfigError, match="needs a token"):
        ApiSettings(host="0.0.0.0")
    token, generated = resolve_token("0.0.0.0", None, env={})
    assert generated and len(token or "") >= 24
    assert resolve_token("0.0.0.0", None, env={"KGQA_API_TOKEN": "t"}) == ("t", False)
    assert resolve_token("127.0.0.1", None, env={}) == (None, False)

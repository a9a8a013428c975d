"""The API is safe on loopback too (issue 14), over real HTTP against a graph each test makes: a foreign
``Host`` (DNS rebinding) gets a clear 400 on every endpoint, a state-changing request from another site's
page a clear 403 that leaves the graph as it was, upload names cannot leave the upload folder, and none of
it answers 500. Clients that are not browsers (no ``Origin``, no ``Sec-Fetch-Site``) work as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kg.errors import ConfigError
from qa.api.jobs import safe_filename
from qa.api.server import ServerThread
from qa.api.settings import ApiSettings
from tests.api.conftest import TinyModel, error_of, fresh_store
from tests.api.test_api_ingest import counts, wait_for

pytestmark = pytest.mark.slow

EVIL = "http://evil.example"
TRIPLE = b"Film 91|directed_by|Director 9\n"
FORGED = b"Film 666|directed_by|Evil Director\n"


@pytest.fixture(scope="module")
def site(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Path]]:
    """A server over a graph of its own, uploads in a folder of its own; ``kgqa.example.com`` allowed."""
    folder = tmp_path_factory.mktemp("security")
    settings = ApiSettings(store=fresh_store(folder / "graph", tiny_model.kb), answerer=tiny_model.answerer,
                           resolver=tiny_model.resolver, upload_dir=folder / "uploads",
                           allowed_hosts=("kgqa.example.com",))
    with ServerThread(settings) as s:
        yield s, folder


@pytest.fixture
def client(site: tuple[ServerThread, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site[0].url, timeout=30) as c:
        yield c


def every_endpoint(client: httpx.Client) -> list[tuple[str, str]]:
    """(method, path) of every operation of the schema (path parameters filled in), the page and a file."""
    out = [("GET", "/"), ("GET", "/static/app.js"), ("GET", "/openapi.json")]
    for path, ops in client.get("/openapi.json").json()["paths"].items():
        filled = path.replace("{session_id}", "s1").replace("{job_id}", "j1").replace("{entity_id}", "Film 1")
        out += [(method.upper(), filled) for method in ops]
    return out


# -- Host header (DNS rebinding) --------------------------------------------------------------------------
def test_a_foreign_host_gets_a_clear_400_on_every_endpoint(client: httpx.Client) -> None:
    endpoints = every_endpoint(client)
    assert len(endpoints) >= 15
    for method, path in endpoints:
        r = client.request(method, path, headers={"Host": "evil.example"}, json={"question": "who directed [Film 1]"})
        assert r.status_code == 400, (method, path, r.status_code)
        err = error_of(r)
        assert err["code"] == "bad_host" and "'evil.example'" in err["message"] and "--allowed-host" in err["hint"]
    for host in ("evil.example:8000", "127.0.0.1.evil.example", "localhost.evil.example", "", "a b", "[::1"):
        r = client.get("/health", headers={"Host": host})
        assert r.status_code == 400 and error_of(r)["code"] == "bad_host", host


def test_loopback_names_the_bound_host_and_allowed_hosts_are_answered(client: httpx.Client) -> None:
    port = client.base_url.port
    for host in ("localhost", f"localhost:{port}", "127.0.0.1", f"127.0.0.1:{port}", f"[::1]:{port}",
                 "kgqa.example.com", "KGQA.example.com:443"):
        r = client.get("/health", headers={"Host": host})
        assert r.status_code == 200, (host, r.text)


def test_allowed_host_settings_are_checked() -> None:
    s = ApiSettings(allowed_hosts=("Kgqa.Example.com", "::1", "*.corp.example"))
    assert s.trusted_hosts == ["localhost", "127.0.0.1", "[::1]", "kgqa.example.com", "*.corp.example"]
    assert ApiSettings(host="0.0.0.0", token="t").trusted_hosts == ["localhost", "127.0.0.1", "[::1]"]
    for bad in ("evil.example:80", "http://x", "*x.com", "a..b", ""):
        with pytest.raises(ConfigError, match="is not a host name"):
            ApiSettings(allowed_hosts=(bad,))


def test_kgqa_serve_takes_allowed_hosts_and_refuses_bad_ones_in_one_line() -> None:
    from click.testing import CliRunner

    from qa.cli import cli

    assert "--allowed-host" in CliRunner().invoke(cli, ["serve", "--help"]).output
    result = CliRunner().invoke(cli, ["serve", "--allowed-host", "http://evil.example:80"])
    assert result.exit_code == 2 and "is not a host name" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


# -- foreign origins ------------------------------------------------------------------------------------
def test_a_cross_site_upload_does_not_write_into_the_graph(client: httpx.Client, site: tuple[ServerThread, Path],
                                                          ) -> None:
    before, jobs = counts(client), client.get("/ingest").json()["jobs"]
    for headers in ({"Origin": EVIL}, {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"},
                    {"Origin": f"http://127.0.0.1:{client.base_url.port + 1}"},           # another local port
                    {"Origin": f"https://127.0.0.1:{client.base_url.port}"},              # another scheme
                    {"Sec-Fetch-Site": "same-site"}):
        r = client.post("/ingest", files={"file": ("evil.txt", FORGED)}, headers=headers)
        assert r.status_code == 403, (headers, r.text)
        err = error_of(r)
        assert err["code"] == "foreign_origin" and "other sites" in err["message"], err
        assert "--allowed-host" in err["hint"]
    assert counts(client) == before and client.get("/ingest").json()["jobs"] == jobs
    assert client.get("/entities/Film 666").status_code == 404
    assert not list((site[1] / "uploads").rglob("evil.txt"))


def test_every_state_changing_endpoint_refuses_a_foreign_origin(client: httpx.Client) -> None:
    sid = client.post("/chat/sessions").json()["id"]
    before = {k: v for k, v in client.get(f"/chat/sessions/{sid}").json().items() if k != "used"}
    unsafe = [(m, p.replace("s1", sid)) for m, p in every_endpoint(client) if m in ("POST", "PUT", "PATCH", "DELETE")]
    assert {p for _, p in unsafe} >= {"/ask", "/cypher", "/ingest", "/chat/sessions", f"/chat/sessions/{sid}"}
    for method, path in unsafe:
        r = client.request(method, path, headers={"Origin": EVIL}, json={"question": "who directed [Film 1]",
                                                                          "text": "hi", "query": "RETURN 1"})
        assert r.status_code == 403 and error_of(r)["code"] == "foreign_origin", (method, path)
    after = client.get(f"/chat/sessions/{sid}")                                       # not deleted, not reset
    assert after.status_code == 200 and {k: v for k, v in after.json().items() if k != "used"} == before
    # reads are not refused: the browser keeps their answers from the other site (no CORS headers)
    r = client.get("/health", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_the_servers_own_page_curl_and_allowed_hosts_still_change_things(client: httpx.Client) -> None:
    own = f"http://127.0.0.1:{client.base_url.port}"
    for headers in ({}, {"Origin": own}, {"Origin": own, "Sec-Fetch-Site": "same-origin"},
                    {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                    {"Origin": f"http://localhost:{client.base_url.port}",
                     "Host": f"localhost:{client.base_url.port}"},
                    {"Origin": "https://kgqa.example.com", "Sec-Fetch-Site": "same-origin"}):      # a proxy's name
        r = client.post("/cypher", json={"query": "MATCH (n) RETURN count(n) AS n"}, headers=headers)
        assert r.status_code == 200, (headers, r.text)
    r = client.post("/ingest", files={"file": ("more.txt", b"Film 92|directed_by|Director 9\n")},
                    headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 202, r.text
    assert wait_for(client, r.json())["status"] == "done"
    assert client.get("/entities/Film 92/neighbours").json()["relations"][0]["type"] == "DIRECTED_BY"


# -- upload names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["..", "../../escaped.txt", "..\\..\\escaped.txt", "/etc/escaped.txt", ".",
                                  "a\x00b.txt", "x" * 1000 + ".txt", "字" * 300 + ".txt", "\u202etxt.exe.txt"])
def test_upload_names_are_sanitised(client: httpx.Client, site: tuple[ServerThread, Path], name: str) -> None:
    r = client.post("/ingest", files={"file": (name, TRIPLE)}, data={"format": "triples"})
    assert r.status_code == 202, r.text
    job = wait_for(client, r.json())
    assert job["status"] == "done", job
    shown = job["filename"]
    assert "/" not in shown and "\\" not in shown and "\x00" not in shown and not shown.startswith(".")
    assert (len(shown.encode()) <= 160 and shown.endswith(".txt")) or shown == "upload"
    assert not (site[1] / "escaped.txt").exists() and not (site[1] / "uploads" / "escaped.txt").exists()
    assert not Path("/etc/escaped.txt").exists()


def test_odd_upload_names_without_a_format_get_clear_errors(client: httpx.Client) -> None:
    for name in ("..", "", "a\x00b", "x" * 5000):
        r = client.post("/ingest", files={"file": (name, TRIPLE)})
        assert r.status_code in (400, 422), (name, r.status_code, r.text)
        err = error_of(r)
        assert len(err["message"]) < 400, err


def test_safe_filename() -> None:
    cases: dict[Any, str] = {"..": "upload", ".": "upload", None: "upload", "": "upload",
                             "../../x.ttl": "x.ttl", "C:\\dir\\x.ttl": "x.ttl", "a\x00b.ttl": "a_b.ttl",
                             ".hidden.nt": "hidden.nt", "\ud800.nt": "_.nt", "films (1).csv": "films__1_.csv",
                             "data.tar.gz": "data.tar.gz"}
    for name, safe in cases.items():
        assert safe_filename(name) == safe, name
    long = safe_filename("字" * 500 + ".jsonld")
    assert long.endswith(".jsonld") and len(long.encode()) <= 160


# -- malformed requests ---------------------------------------------------------------------------------
J = {"Content-Type": "application/json"}
MULTIPART = {"Content-Type": "multipart/form-data; boundary=xx"}
MALFORMED: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("POST", "/cypher", b"{not json", J), ("POST", "/cypher", b"[1,2]", J), ("POST", "/cypher", b"\xff\xfe", J),
    ("POST", "/cypher", b'{"query": "RETURN 1"}', {"Content-Type": "text/plain"}),
    ("POST", "/cypher", b'{"query": "RETURN $a AS a", "params": {"a": 1e999}}', J),
    ("POST", "/cypher", b'{"query": "RETURN $a AS a", "params": {"a": NaN}}', J),
    ("POST", "/cypher", b'{"query": "RETURN $a AS a", "params": {"a": 99999999999999999999999999}}', J),
    ("POST", "/cypher", b'{"query": "RETURN $a AS a", "params": {"a": [[[[[]]]]]}}', J),
    ("POST", "/cypher", b'{"query": "RETURN $a AS a", "params": {"a": [{"x": 1}, {"x": "y"}]}}', J),
    ("POST", "/cypher", b'{"query": "RETURN $a AS a", "params": {"a": "\\ud800"}}', J),
    ("POST", "/cypher", b'{"query": "RETURN 1", "timeout_s": 1e308, "limit": 99999999999999999999}', J),
    ("POST", "/cypher", b'{"query": "RETURN \\"\\ud800\\""}', J),
    ("POST", "/ask", b'{"question": "\\ud800"}', J), ("POST", "/ask", b'{"question": "x", "hops": 1e400}', J),
    ("POST", "/ingest", b"garbage", {"Content-Type": "multipart/form-data"}),
    ("POST", "/ingest", b"garbage", MULTIPART),
    ("POST", "/ingest", b'--xx\r\nContent-Disposition: form-data; name="file"\r\n\r\nFilm 5|x|y\r\n--xx--\r\n',
     MULTIPART),
    ("POST", "/ingest", b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a\r\n\r\n--xx--\r\n',
     MULTIPART),
    ("POST", "/ingest", b"a=b", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("GET", "/entities?q=%ff%fe", b"", {}), ("GET", "/entities?q=%00", b"", {}), ("GET", "/entities?q=%zz", b"", {}),
    ("GET", "/entities/%ff", b"", {}), ("GET", "/entities/%00/neighbours", b"", {}),
    ("GET", "/entities/x/neighbours?limit=99999999999999999999999", b"", {}), ("GET", "/ingest/%00", b"", {}),
    ("GET", "/static/%2e%2e/%2e%2e/pyproject.toml", b"", {}), ("GET", "/static/..%2f..%2fpyproject.toml", b"", {}),
    ("GET", "/chat/sessions/%ff", b"", {}), ("OPTIONS", "/ask", b"", {}), ("TRACE", "/", b"", {}),
    ("POST", "/chat/sessions/x/messages", b'{"text": "hi"}', {**J, "Accept": "text/event-stream"}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), MALFORMED,
                         ids=[f"{m} {p} {b[:24]!r}" for m, p, b, _ in MALFORMED])
def test_malformed_requests_get_a_clear_error_not_a_500(client: httpx.Client, method: str, path: str, body: bytes,
                                                         headers: dict[str, str]) -> None:
    r = client.request(method, path, content=body or None, headers=headers)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert error_of(r)["message"]
    assert "[project]" not in r.text                                        # no file from outside qa/web
    assert client.get("/health").status_code == 200

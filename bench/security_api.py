"""The HTTP API under attack on loopback (issue 14): attacks tried and refused per kind and endpoint, and a
seeded schemathesis run against the OpenAPI schema (requests made, failures found).

The server runs on a free loopback port over an embedded graph in a temporary folder, with a QA model (the
tests' tiny one, trained in seconds), so that ``/ask`` and chat are exercised too.

* **rebinding**: every endpoint (each operation of the schema, the page, a static file, the schema) with a
  foreign ``Host`` (``evil.example``, with a port, names that end or start like loopback ones): refused = 400.
* **cross-site**: every state-changing endpoint with a foreign ``Origin`` / ``Sec-Fetch-Site`` (another site,
  ``null``, another local port, another scheme, same-site): refused = 403. The graph is counted before and after.
* **upload names**: ``..``, ``../../x``, ``..\\x``, an absolute path, NUL, 1,000 and 5,000 characters, 300 CJK
  characters, a right-to-left override: handled = not 500 and nothing written outside the upload folder.
* **controls**: the same requests as the server's own page, curl and an ``--allowed-host`` name send them:
  they must pass (no false refusal).

    python bench/security_api.py [--examples 100] [--seed 14] [--out bench/results/security_api.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from qa.api.server import ServerThread  # noqa: E402
from qa.api.settings import ApiSettings  # noqa: E402

EVIL = "http://evil.example"
FORGED = b"Film 666|directed_by|Evil Director\n"
FORGED_CROSS_SITE = b"Film 667|directed_by|Evil Director\n"
ALLOWED = "kgqa.example.com"


def tiny_model(folder: Path) -> tuple[Path, Path]:
    """The API tests' tiny QA model (60 synthetic films, a few epochs): (checkpoint folder, its triples)."""
    import torch

    from qa.train.qa import train
    from tests.qa.test_train import synthetic_graph, tiny_config

    folder.mkdir(parents=True, exist_ok=True)
    kb, files = synthetic_graph(folder)
    cfg = tiny_config(folder, kb, files, budget_minutes=1.0)
    cfg.max_epochs = 6
    torch.set_num_threads(1)
    train(cfg)
    return Path(cfg.output_dir), kb


def endpoints(c: httpx.Client) -> list[tuple[str, str]]:
    out = [("GET", "/"), ("GET", "/static/app.js"), ("GET", "/openapi.json")]
    for path, ops in c.get("/openapi.json").json()["paths"].items():
        filled = path.replace("{session_id}", "s1").replace("{job_id}", "j1").replace("{entity_id}", "Film 1")
        out += [(m.upper(), filled) for m in ops]
    return out


BODY = {"question": "who directed [Film 1]", "text": "who directed [Film 1]", "query": "MATCH (n) RETURN count(n)"}


def send(c: httpx.Client, method: str, path: str, headers: dict[str, str], forged: bytes = FORGED) -> httpx.Response:
    if path == "/ingest" and method == "POST":
        return c.post(path, files={"file": ("forged.txt", forged)}, headers=headers)
    return c.request(method, path, headers=headers, json=BODY if method in ("POST", "PUT", "PATCH") else None)


def graph_counts(c: httpx.Client) -> tuple[int, int]:
    g = c.get("/stats").json()["graph"]
    return g["entities"], g["relations"]


def settle(c: httpx.Client, timeout_s: float = 120) -> None:
    """Wait until no ingest job is queued or running."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and any(j["status"] not in ("done", "failed")
                                         for j in c.get("/ingest").json()["jobs"]):
        time.sleep(0.2)


def attacks(c: httpx.Client, upload_dir: Path, work: Path) -> dict[str, Any]:
    port = c.base_url.port
    eps = endpoints(c)
    unsafe = [(m, p) for m, p in eps if m in ("POST", "PUT", "PATCH", "DELETE")]
    out: dict[str, Any] = {}

    start = graph_counts(c)
    hosts = ["evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "localhost.evil.example",
             f"evil.example.:{port}"]
    rows = [(h, m, p, send(c, m, p, {"Host": h}).status_code) for h in hosts for m, p in eps]
    settle(c)
    out["rebinding"] = {"tried": len(rows), "refused": sum(s == 400 for *_, s in rows), "endpoints": len(eps),
                        "server_errors": sum(s >= 500 for *_, s in rows), "graph_unchanged": graph_counts(c) == start,
                        "forged_entity_stored": c.get("/entities/Film 666").status_code == 200,
                        "not_refused": [f"{m} {p} Host: {h} -> {s}" for h, m, p, s in rows if s != 400][:20]}

    before = graph_counts(c)
    origins: list[dict[str, str]] = [
        {"Origin": EVIL}, {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"}, {"Origin": f"http://127.0.0.1:{port + 1}"}, {"Origin": f"https://127.0.0.1:{port}"},
        {"Sec-Fetch-Site": "same-site"}, {"Origin": f"http://{ALLOWED}.evil.example"}]
    rows2 = [(h, m, p, send(c, m, p, h, FORGED_CROSS_SITE).status_code) for h in origins for m, p in unsafe]
    settle(c)                           # an ingest let through would be running now
    out["cross_site"] = {"tried": len(rows2), "refused": sum(s == 403 for *_, s in rows2), "endpoints": len(unsafe),
                         "server_errors": sum(s >= 500 for *_, s in rows2),
                         "graph_unchanged": graph_counts(c) == before,
                         "forged_entity_stored": c.get("/entities/Film 667").status_code == 200,
                         "not_refused": [f"{m} {p} {h} -> {s}" for h, m, p, s in rows2 if s != 403][:20]}

    names = ["..", ".", "../../escaped.txt", "..\\..\\escaped.txt", "/etc/escaped.txt", "a\x00b.txt",
             "x" * 1000 + ".txt", "x" * 5000 + ".txt", "字" * 300 + ".txt", "\u202etxt.exe.txt", ""]
    statuses = []
    for name in names:
        r = c.post("/ingest", files={"file": (name, b"Film 93|directed_by|Director 9\n")}, data={"format": "triples"})
        statuses.append(r.status_code)
    settle(c)
    escaped = [p for p in [*work.rglob("escaped.txt"), *Path("/etc").glob("escaped.txt")]
               if not p.is_relative_to(upload_dir)]
    out["upload_names"] = {"tried": len(names), "handled": sum(s < 500 for s in statuses),
                           "accepted": sum(s == 202 for s in statuses), "statuses": statuses,
                           "written_outside_upload_folder": len(escaped)}

    own = f"http://127.0.0.1:{port}"
    controls: list[dict[str, str]] = [{}, {"Origin": own, "Sec-Fetch-Site": "same-origin"},
                                      {"Origin": f"https://{ALLOWED}", "Host": ALLOWED},
                                      {"Host": f"localhost:{port}"}, {"Host": f"[::1]:{port}"}]
    ok = [send(c, "POST", "/cypher", h).status_code for h in controls]
    out["controls"] = {"tried": len(ok), "passed": sum(s == 200 for s in ok), "statuses": ok}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=100, help="fuzz requests per operation and mode at most")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "security_api.json")
    args = ap.parse_args()

    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore
    from tests.api.schema_fuzz import fuzz

    with tempfile.TemporaryDirectory(prefix="kgqa-security-api-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        model, kb = tiny_model(work / "model")
        with EmbeddedStore(work / "graph") as store:
            ingest(store, kb, progress=False)
        extra = {"allowed_hosts": (ALLOWED,)} if "allowed_hosts" in {f.name for f in dataclasses.fields(ApiSettings)} \
            else {}
        settings = ApiSettings(store=_store(work / "graph"), model_dir=model, upload_dir=work / "uploads",
                               cypher_timeout_s=2, max_upload_bytes=1_000_000, **extra)
        with ServerThread(settings, log_level="critical") as s, httpx.Client(base_url=s.url, timeout=60) as c:
            setup_s = time.perf_counter() - t0
            found = attacks(c, work / "uploads", work)
            report = fuzz(s.url, args.examples, seed=args.seed)
            alive = c.get("/health").status_code == 200
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    result = {"attacks": found, "fuzz": {**report.as_dict(), "examples_per_operation_and_mode": args.examples,
                                         "seed": args.seed, "server_alive_after": alive},
              "setup_s": round(setup_s, 1), "peak_rss_mb": round(peak_mb), "python": platform.python_version(),
              "machine": platform.machine(), "command": "python " + " ".join(sys.argv)}
    a = found
    print("| attack | endpoints | tried | refused / handled | 5xx |")
    print("|---|---|---|---|---|")
    print(f"| foreign Host (DNS rebinding) | {a['rebinding']['endpoints']} | {a['rebinding']['tried']} | "
          f"{a['rebinding']['refused']} (400); graph unchanged: {a['rebinding']['graph_unchanged']} | "
          f"{a['rebinding']['server_errors']} |")
    print(f"| foreign Origin / Sec-Fetch-Site | {a['cross_site']['endpoints']} | {a['cross_site']['tried']} | "
          f"{a['cross_site']['refused']} (403); graph unchanged: {a['cross_site']['graph_unchanged']} | "
          f"{a['cross_site']['server_errors']} |")
    print(f"| hostile upload names | 1 | {a['upload_names']['tried']} | {a['upload_names']['handled']} "
          f"(outside the upload folder: {a['upload_names']['written_outside_upload_folder']}) | "
          f"{a['upload_names']['tried'] - a['upload_names']['handled']} |")
    print(f"| controls (own page, curl, allowed host) | 1 | {a['controls']['tried']} | "
          f"{a['controls']['passed']} passed | 0 |")
    f = result["fuzz"]
    print(f"\nschemathesis: {f['requests']} requests over {f['operations']} operations (seed {args.seed}, "
          f"{args.examples} per operation and mode) in {f['seconds']} s: {len(f['failures'])} failures; "
          f"statuses {f['statuses']}; server up after: {alive}; peak RSS {result['peak_rss_mb']} MB")
    for fail in report.failures[:10]:
        print(" ", fail)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


def _store(path: Path) -> Any:
    from kg.config import StoreConfig

    return StoreConfig(backend="embedded", path=str(path))


if __name__ == "__main__":
    main()

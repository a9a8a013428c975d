"""Security figures for the Neo4j read-only Cypher endpoint (issue 14): attacks tried and refused, per layer.

Each attack query (the issue's reproducers plus ``--fuzz`` seeded obfuscations of them: case flips,
``\\uXXXX``-escaped letters, backticked namespaces, comment and whitespace prefixes) is tried against:

* ``keyword-before``: the keyword check as it was before issue 14 (``git show BASE:kg/cypher_guard.py``);
* ``keyword``: the keyword check alone (:mod:`kg.cypher_guard`), no database;
* ``plan``: ``Neo4jStore.cypher`` with the keyword check switched off: the EXPLAIN plan check and the
  READ transaction only;
* ``store``: ``Neo4jStore.cypher`` as shipped (keyword check, then plan check);
* ``server``: the server alone (tools/neo4j configuration, a READ transaction with a 2 s timeout, no
  kgqa check). The range() reproducers are left out there: they would keep a server thread busy.

An attack "ran" when the database executed it (rows came back or the call returned); a local HTTP
listener counts the connections the database made (server-side request forgery). Then: how long a
timed-out query takes to leave the server (SHOW TRANSACTIONS), and what the EXPLAIN step costs.

    tools/neo4j/start.sh --home /tmp/kgqa-neo4j-bench --port 7698
    NEO4J_URI=bolt://127.0.0.1:7698 python bench/security_neo4j.py [--fuzz 1000] [--base 1f5e6c2]

Only runs on a database that is empty or carries the tests' marker index (tests/conftest.py): the
write attempts must never reach someone's real graph.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.errors import KGQAError, ReadOnlyViolation  # noqa: E402
from kg.models import Batch, Entity, Relation  # noqa: E402
from tests.kg.test_neo4j_readonly import ATTACKS, PAYLOADS, PREFIXES, Listener, obfuscate  # noqa: E402

LAYERS = ["keyword-before", "keyword", "plan", "store", "server"]
ROWS_FOREVER = "UNWIND range(1, 100000) AS x UNWIND range(1, 100000) AS y RETURN count(*) AS c"


def old_guard(base: str) -> Any:
    """The keyword check at commit ``base``, loaded as a module (None when git cannot show it)."""
    try:
        text = subprocess.run(["git", "show", f"{base}:kg/cypher_guard.py"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "cypher_guard_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("cypher_guard_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corpus(url: str, n_fuzz: int, seed: int) -> list[tuple[str, str]]:
    """(name, query) pairs: the reproducers, then ``n_fuzz`` seeded obfuscations."""
    out = [(name, q.replace("{url}", url)) for name, q in ATTACKS.items()]
    rng = random.Random(seed)
    for i in range(n_fuzz):
        payload = rng.choice(PAYLOADS).replace("{url}", url)
        flips = [rng.random() < 0.3 for _ in payload]
        escape_at = rng.randrange(50) if rng.random() < 0.5 else None
        out.append((f"fuzz-{i}", obfuscate(payload, rng.choice(PREFIXES), flips, escape_at, rng.random() < 0.5)))
    return out


def watch_runaway(driver: Any, database: str, seconds: float) -> dict[str, Any]:
    """Send the reduce reproducer with a 1 s server-side timeout and no kgqa check; watch the server."""
    import threading

    import neo4j

    reduce_q = ATTACKS["reduce-over-range"]
    answered: dict[str, float] = {}
    t0 = time.monotonic()

    def send() -> None:
        try:
            with driver.session(database=database, default_access_mode=neo4j.READ_ACCESS) as session, \
                    session.begin_transaction(timeout=1) as tx:
                list(tx.run(reduce_q))
        except Exception:  # any answer will do
            pass
        answered["at"] = time.monotonic() - t0

    threading.Thread(target=send, daemon=True).start()
    last, status = 0.0, ""
    while time.monotonic() - t0 < seconds:
        listed = [r for r in driver.execute_query("SHOW TRANSACTIONS YIELD currentQuery, status",
                                                  database_=database)[0] if "reduce(" in r["currentQuery"]
                  and not r["currentQuery"].startswith("SHOW")]
        if listed:
            last, status = time.monotonic() - t0, listed[0]["status"][:60]
        time.sleep(0.5)
    return {"timeout_s": 1, "watched_s": seconds, "still_listed_after_s": last, "status": status,
            "client_answer_s": f"{answered['at']:.1f} s" if "at" in answered else f"none within {seconds:g} s"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fuzz", type=int, default=1000, help="seeded obfuscated attacks beside the reproducers")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--base", default="1f5e6c2", help="commit whose keyword check is the 'before' column")
    ap.add_argument("--latency-runs", type=int, default=200)
    ap.add_argument("--runaway", type=float, default=0.0, metavar="SECONDS",
                    help="also send the reduce reproducer straight to the server (1 s timeout, no kgqa check) and "
                         "watch SHOW TRANSACTIONS for SECONDS; its thread keeps spinning: restart the server after")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "security_neo4j.json")
    args = ap.parse_args()
    logging.getLogger("neo4j").setLevel(logging.ERROR)  # the server's "insecure URL" notices, one per attack

    import neo4j

    import kg.store.neo4j as neo4j_module
    from kg.cypher_guard import check_read_only
    from kg.store.neo4j import Neo4jStore
    from tests.conftest import claim_test_database

    uri = os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")
    auth = (os.environ.get("NEO4J_USER", "neo4j"), os.environ.get("NEO4J_PASSWORD", "kgqa-test-password"))
    store = Neo4jStore(uri, *auth)
    driver = store._driver
    refusal = claim_test_database(driver, store.database)
    if refusal:
        sys.exit(f"bench/security_neo4j.py: {refusal}")
    store.clear()
    store.upsert(Batch(entities=[Entity("a", "A")], relations=[Relation("a", "knows", "b")]))
    before_graph = store.stats().as_dict()
    before = old_guard(args.base)
    listener = Listener()
    queries = corpus(listener.url, args.fuzz, args.seed)

    def run_store(query: str, guarded: bool) -> str:
        saved = neo4j_module.check_read_only
        if not guarded:
            neo4j_module.check_read_only = lambda q: None  # type: ignore[assignment]
        try:
            store.cypher(query, timeout_s=2)
            return "ran"
        except ReadOnlyViolation:
            return "refused"
        except KGQAError:
            return "error"  # did not run: a syntax error, say
        finally:
            neo4j_module.check_read_only = saved

    def run_server(query: str) -> str:
        if "range(1, 2000000000)" in query or "range(1,3000000)" in query:
            return "skipped"
        try:
            with driver.session(database=store.database, default_access_mode=neo4j.READ_ACCESS) as session, \
                    session.begin_transaction(timeout=2) as tx:
                list(tx.run(query))
            return "ran"
        except neo4j.exceptions.Neo4jError as exc:
            fetched = "ExternalResourceFailed" in (exc.code or "") and "file_urls" not in (exc.message or "")
            return "ran" if fetched else "refused"  # LOAD CSV fetched the URL, then failed on its content

    def lexical(guard: Any, query: str) -> str:
        try:
            guard(query)
            return "ran"  # passed the check: it would reach the database
        except KGQAError:
            return "refused"

    rows: list[dict[str, Any]] = []
    contacts: dict[str, int] = {}
    for layer in LAYERS:
        start_contacts = listener.connections
        for i, (name, query) in enumerate(queries):
            seen = listener.connections
            if layer == "keyword-before":
                outcome = lexical(before.check_read_only, query) if before else "skipped"
            elif layer == "keyword":
                outcome = lexical(check_read_only, query)
            elif layer in ("plan", "store"):
                outcome = run_store(query, guarded=layer == "store")
            else:
                outcome = run_server(query)
            if listener.connections > seen:
                outcome = "ran"  # the database fetched the URL (whatever it made of the answer)
            if layer == LAYERS[0]:
                rows.append({"name": name, "query": query})
            rows[i][layer] = outcome
        time.sleep(0.3)
        contacts[layer] = listener.connections - start_contacts
    listener.close()
    graph_after = store.stats().as_dict()
    store.clear()
    store.upsert(Batch(entities=[Entity("a", "A")], relations=[Relation("a", "knows", "b")]))

    # A timed-out query leaves the server (transaction timeout enforced there).
    t0 = time.monotonic()
    try:
        store.cypher(ROWS_FOREVER, timeout_s=0.5)
    except KGQAError:
        pass
    error_after = time.monotonic() - t0
    while any("UNWIND range(1, 100000)" in r["currentQuery"] and not r["currentQuery"].startswith("SHOW")
              for r in driver.execute_query("SHOW TRANSACTIONS YIELD currentQuery", database_=store.database)[0]):
        if time.monotonic() - t0 > 60:
            break
        time.sleep(0.05)
    gone_after = time.monotonic() - t0

    # What the EXPLAIN step costs: store.cypher vs the same read without any check.
    latency: dict[str, dict[str, float]] = {}
    for q in ["MATCH (n:Entity {id: 'a'}) RETURN n.name", "MATCH (a:Entity {id: 'a'})-[r]->(b) RETURN type(r), b.id"]:
        plain, checked = [], []
        for _ in range(args.latency_runs):
            t = time.perf_counter()
            driver.execute_query(q, database_=store.database, routing_=neo4j.RoutingControl.READ)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            store.cypher(q)
            checked.append(time.perf_counter() - t)
        latency[q] = {"plain_ms_p50": 1000 * statistics.median(plain),
                      "store_ms_p50": 1000 * statistics.median(checked)}
    runaway = watch_runaway(driver, store.database, args.runaway) if args.runaway else None
    store.clear()
    store.close()

    summary = {}
    for layer in LAYERS:
        outcomes = [r[layer] for r in rows]
        tried = sum(o != "skipped" for o in outcomes)
        summary[layer] = {"tried": tried, "ran": outcomes.count("ran"),
                          "stopped": tried - outcomes.count("ran"), "listener_contacts": contacts[layer]}
    reproducers = {layer: sum(r[layer] != "ran" for r in rows[:len(ATTACKS)]) for layer in LAYERS}

    print(f"Neo4j read-only endpoint, {len(ATTACKS)} reproducers + {args.fuzz} fuzzed spellings (seed {args.seed})")
    print("(for the keyword layers, 'ran' = passed the check and would reach the database)")
    print(f"{'layer':<16}{'tried':>7}{'stopped':>9}{'ran':>6}{'repro stopped':>15}{'SSRF hits':>11}")
    for layer in LAYERS:
        s = summary[layer]
        print(f"{layer:<16}{s['tried']:>7}{s['stopped']:>9}{s['ran']:>6}"
              f"{reproducers[layer]:>9}/{len(ATTACKS):<5}{s['listener_contacts']:>11}")
    print(f"graph before/after the attacks: {before_graph} / {graph_after}")
    print(f"timed-out query (timeout 0.5 s): error after {error_after:.2f} s, gone from the server after "
          f"{gone_after:.2f} s")
    for q, v in latency.items():
        print(f"p50 latency {v['plain_ms_p50']:.2f} ms plain vs {v['store_ms_p50']:.2f} ms with EXPLAIN check: {q}")
    if runaway:
        print(f"reduce reproducer sent to the server alone, timeout 1 s: client answer after "
              f"{runaway['client_answer_s']}, still in SHOW TRANSACTIONS after {runaway['still_listed_after_s']:.1f} s "
              f"({runaway['status']})")
    ran_through = [r for r in rows if r["store"] == "ran"]
    if ran_through:
        print("RAN THROUGH THE STORE:", *(r["query"] for r in ran_through[:5]), sep="\n  ")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "uri": uri, "fuzz": args.fuzz, "seed": args.seed, "base": args.base, "summary": summary,
        "reproducers_stopped": reproducers, "n_reproducers": len(ATTACKS), "graph_before": before_graph,
        "graph_after": graph_after, "timeout": {"timeout_s": 0.5, "error_after_s": error_after,
                                               "gone_from_server_after_s": gone_after},
        "latency": latency, "runaway": runaway,
        # the reproducers, and the fuzzed spellings that got past any kgqa layer (the rest are all refused)
        "attacks": rows[:len(ATTACKS)] + [r for r in rows[len(ATTACKS):]
                                          if "ran" in (r["keyword"], r["plan"], r["store"])],
    }, indent=1, ensure_ascii=False))
    print(f"wrote {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""``kill -9`` in the middle of an ingest loses at most the batch in flight.

A child process ingests a generated MetaQA-like file batch by batch and prints a
line before and after each ``store.write``. Once three batches are committed and
the fourth is being written, the test kills the child with SIGKILL, opens the
store again (the embedded database replays its write-ahead log; Neo4j rolls back
the open transaction), checks that it holds exactly the first N whole batches,
re-runs the same ingest to completion, and checks the exact counts of the file.
A third run must create nothing.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kg.ingest import IngestReport, ingest
from kg.store.base import GraphStore
from kg.store.embedded import EmbeddedStore
from tests.conftest import NEO4J_PASSWORD, NEO4J_URI, NEO4J_USER, ROOT, neo4j_store

N_MOVIES = 20_000
RELATIONS = ("directed_by", "starred_actors", "has_genre", "release_year", "written_by")
N_TRIPLES = N_MOVIES * len(RELATIONS)  # 100,000
BATCH = 5_000
KILL_AT = 4  # kill while batch 4 is being written, after batches 1-3 are committed

CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
backend, store_path, data, batch = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
from kg.ingest import IngestReport, ingest
if backend == "embedded":
    from kg.store.embedded import EmbeddedStore
    store = EmbeddedStore(store_path)
else:
    import os
    from kg.store.neo4j import Neo4jStore
    store = Neo4jStore(os.environ["NEO4J_URI"], os.environ["NEO4J_USER"], os.environ["NEO4J_PASSWORD"])
write = store.write
count = 0

def logged(prepared):
    global count
    count += 1
    print(f"begin {count}", flush=True)
    result = write(prepared)
    print(f"done {count}", flush=True)
    return result

store.write = logged
ingest(store, data, batch_size=batch, progress=False)
print("finished", flush=True)
"""


def movie_lines() -> Iterator[str]:
    """MetaQA-shaped triples, all distinct: each movie has one of each relation, to shared targets."""
    for i in range(N_MOVIES):
        movie = f"Movie {i}"
        yield f"{movie}|directed_by|Director {(i * 7) % 3001}"
        yield f"{movie}|starred_actors|Actor {(i * 13) % 9001}"
        yield f"{movie}|has_genre|Genre {i % 23}"
        yield f"{movie}|release_year|{1920 + i % 100}"
        yield f"{movie}|written_by|Writer {(i * 11) % 4001}"


@pytest.fixture(scope="module")
def triples_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kill") / "kb.txt"
    path.write_text("".join(line + "\n" for line in movie_lines()), encoding="utf-8")
    return path


def prefix_counts(path: Path) -> dict[int, tuple[int, int]]:
    """``{n: (entities, relations)}`` the store holds after exactly ``n`` whole batches."""
    out = {0: (0, 0)}
    entities: set[str] = set()
    triples: set[tuple[str, ...]] = set()
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, start in enumerate(range(0, len(lines), BATCH), 1):
        for line in lines[start:start + BATCH]:
            h, r, t = line.split("|")
            triples.add((h, r, t))
            entities.update((h, t))
        out[n] = (len(entities), len(triples))
    return out


def counts(store: GraphStore) -> tuple[int, int]:
    stats = store.stats()
    return stats.entities, stats.relations


def start_child(backend: str, store_path: Path, data: Path) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    env = {**os.environ, "NEO4J_URI": NEO4J_URI, "NEO4J_USER": NEO4J_USER, "NEO4J_PASSWORD": NEO4J_PASSWORD}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ROOT), backend, str(store_path), str(data), str(BATCH)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put("<eof>")

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_for(lines: queue.Queue[str], wanted: str, deadline: float) -> list[str]:
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"the ingest child did not print {wanted!r} in time; it printed: {seen[-20:]}")
        seen.append(line)
        if line == wanted:
            return seen
        if line in ("<eof>", "finished"):
            pytest.fail(f"the ingest child ended before {wanted!r}: {seen[-20:]}")


@dataclass
class KillRun:
    """What the test saw: counts right after the kill, after the re-run, and the re-runs' reports."""

    backend: str
    expected: dict[int, tuple[int, int]]
    after_kill: tuple[int, int]
    rerun: IngestReport
    after_rerun: tuple[int, int]
    after_reopen: tuple[int, int]
    third: IngestReport
    relation_types: dict[str, int]
    directors_of_12345: list[str]

    @property
    def full(self) -> tuple[int, int]:
        return self.expected[max(self.expected)]


def open_again(backend: str, store_path: Path) -> GraphStore:
    return EmbeddedStore(store_path) if backend == "embedded" else neo4j_store()


@pytest.fixture(scope="module", params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def killed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           triples_file: Path) -> KillRun:
    """Kill an ingest child with SIGKILL during batch KILL_AT, then re-run the ingest twice."""
    backend = request.param
    expected = prefix_counts(triples_file)
    assert max(expected) == N_TRIPLES // BATCH
    store_path = tmp_path_factory.mktemp(f"kill-{backend}") / "graph"
    if backend == "neo4j":
        fresh = neo4j_store()
        fresh.clear()
        fresh.close()

    proc, lines = start_child(backend, store_path, triples_file)
    try:
        seen = wait_for(lines, f"begin {KILL_AT}", time.monotonic() + 60)
        assert f"done {KILL_AT - 1}" in seen
        time.sleep(0.1)  # into the transaction of batch KILL_AT
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    store = open_again(backend, store_path)  # embedded: replays the write-ahead log
    try:
        after_kill = counts(store)
        rerun = ingest(store, triples_file, batch_size=BATCH, progress=False)
        after_rerun = counts(store)
    finally:
        store.close()
    store = open_again(backend, store_path)
    try:
        after_reopen = counts(store)
        third = ingest(store, triples_file, batch_size=BATCH, progress=False)
        stats = store.stats()
        directors = [r.tail for r in store.neighbours("Movie 12345", "out", ["directed_by"])]
        if backend == "neo4j":
            store.clear()
    finally:
        store.close()
    return KillRun(backend, expected, after_kill, rerun, after_rerun, after_reopen, third,
                   stats.relation_types, directors)


@pytest.mark.slow
def test_rerun_after_kill_gives_exact_counts(killed: KillRun) -> None:
    assert killed.after_rerun == killed.full
    assert killed.rerun.malformed_count == 0
    assert killed.rerun.written.relationships_created == N_TRIPLES - killed.after_kill[1]
    assert killed.rerun.written.nodes_created == killed.full[0] - killed.after_kill[0]
    # closed and opened again: still all there, and a third run creates nothing
    assert killed.after_reopen == killed.full
    assert (killed.third.written.nodes_created, killed.third.written.relationships_created) == (0, 0)
    assert killed.relation_types == {r.upper(): N_MOVIES for r in RELATIONS}
    assert killed.directors_of_12345 == [f"Director {(12345 * 7) % 3001}"]


@pytest.mark.slow
def test_kill_loses_at_most_the_batch_in_flight(killed: KillRun, request: pytest.FixtureRequest) -> None:
    # Whole batches only: the batch being written when the child died is entirely there or absent.
    ok = {KILL_AT - 1: killed.expected[KILL_AT - 1], KILL_AT: killed.expected[KILL_AT]}
    assert killed.after_kill in ok.values(), (
        f"after the kill the store holds (entities, relations) = {killed.after_kill}; "
        f"whole batches would be {ok}")


@pytest.mark.slow
def kill_when_printed(child: str, args: list[str], line: str) -> None:
    """Run Python code ``child`` (``sys.argv[1]`` is the repository) and SIGKILL it once it prints ``line``."""
    proc = subprocess.Popen([sys.executable, "-c", child, str(ROOT), *args], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout is not None
        for got in proc.stdout:
            if got.strip() == line:
                break
        else:
            raise AssertionError(f"the child ended (code {proc.wait()}) without printing {line!r}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_embedded_store_opens_after_kill_following_an_update(tmp_path: Path) -> None:
    store_path = tmp_path / "graph"
    child = (
        "import sys, time\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from kg.models import Batch, Entity\n"
        "from kg.store.embedded import EmbeddedStore\n"
        "s = EmbeddedStore(sys.argv[2])\n"
        "s.upsert(Batch(entities=[Entity(f'n{i}', f'N{i}') for i in range(1000)]))\n"
        "s.upsert(Batch(entities=[Entity(f'n{i}', f'Renamed {i}') for i in range(1000)]))\n"
        "print('written', flush=True)\n"
        "time.sleep(120)\n"
    )
    kill_when_printed(child, [str(store_path)], "written")
    # Open it in another process: a crash there must not take the test run down.
    reopen = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from kg.store.embedded import EmbeddedStore\n"
        "s = EmbeddedStore(sys.argv[2])\n"
        "e = s.get_entity('n5')\n"
        "print(s.stats().entities, e.name if e else None)\n"
    )
    done = subprocess.run([sys.executable, "-c", reopen, str(ROOT), str(store_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, f"opening the store after the kill ended with {done.returncode}: {done.stderr[-500:]}"
    assert done.stdout.split() == ["1000", "Renamed", "5"]

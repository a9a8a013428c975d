"""The scaling benchmark's graph generator (bench/kggen.py) and its power-law fit (bench/scale.py)."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


kggen = _bench("kggen")


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("kggen") / "g.nt"
    return out, kggen.generate(20_000, out, seed=3)


def _triples(path: Path) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    rel, labels = [], {}
    for line in path.read_text().splitlines():
        s, p, o = line.split(" ", 2)
        if p == kggen.LABEL:
            labels[s] = o.rsplit(" .", 1)[0].strip('"')
        else:
            rel.append((s, p, o.rsplit(" .", 1)[0]))
    return rel, labels


def test_the_generator_is_deterministic_and_the_seed_changes_it(graph: tuple[Path, object], tmp_path: Path) -> None:
    path, _info = graph
    again = tmp_path / "again.nt"
    kggen.generate(20_000, again, seed=3)
    assert again.read_bytes() == path.read_bytes()
    other = tmp_path / "other.nt"
    kggen.generate(20_000, other, seed=4)
    assert other.read_bytes() != path.read_bytes()


def test_the_graph_has_the_shape_that_costs_something(graph: tuple[Path, object]) -> None:
    path, info = graph
    rel, labels = _triples(path)
    assert 19_000 <= len(rel) == info.triples <= 20_000                      # distinct facts, about the size asked
    assert len(set(rel)) == len(rel)
    assert len({p for _, p, _ in rel}) >= 150                                 # a few hundred types (the rarest
    assert {s for s, _, _ in rel} | {o for _, _, o in rel} == set(labels)    # round to 0 at this size); every
    degree = Counter([s for s, _, _ in rel] + [o for _, _, o in rel])         # entity is named
    counts = np.array(sorted(degree.values()))
    assert counts[-1] > 50 * np.median(counts)                                # heavy-tailed: hubs
    years = Counter(o for _, _, o in rel if "/year/" in o)
    assert years.most_common(1)[0][1] > 5 * np.mean(list(years.values()))    # popular attribute values
    by_name = Counter(labels.values())
    assert sum(n for n in by_name.values() if n > 1) > 0.01 * len(labels)     # names collide, ids do not


def test_the_schema_is_the_same_at_every_size() -> None:
    small, large = kggen.schema(), kggen.schema()
    assert [r.name for r in small] == [r.name for r in large] and len(small) == 300
    assert abs(sum(r.share for r in small) - 1) < 1e-9
    counts = [kggen.entity_counts(n) for n in (10**6, 10**7)]
    fixed = [c.name for c in kggen.CLASSES if c.fixed]
    assert all(counts[0][k] == counts[1][k] for k in fixed)                  # attribute values do not grow
    assert counts[1]["person"] == 10 * counts[0]["person"]


def test_the_file_ingests_as_generated(graph: tuple[Path, object], tmp_path: Path) -> None:
    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore

    path, info = graph
    with EmbeddedStore(tmp_path / "store") as store:
        ingest(store, path, progress=False)
        stats = store.stats()
    assert (stats.entities, stats.relations) == (info.entities, info.triples)


def test_the_power_law_fit_recovers_the_exponent() -> None:
    scale = _bench("scale")
    a, b = scale.fit([10**6, 3 * 10**6, 10**7], [2.0 * s**0.8 for s in (10**6, 3 * 10**6, 10**7)])
    assert a == pytest.approx(2.0, rel=1e-6) and b == pytest.approx(0.8, abs=1e-9)
    assert scale.fit([10**6], [1.0]) is None

"""StoreConfig as files name it: where the store is, never the password."""

from __future__ import annotations

from pathlib import Path

from kg.config import StoreConfig


def test_public_dict_round_trips_without_the_password(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret")
    neo = StoreConfig(backend="neo4j", uri="bolt://db:7687", user="reader", password="s3cret", database="films")
    d = neo.public_dict()
    assert "password" not in d and "s3cret" not in str(d)
    assert StoreConfig.load(None, **d) == neo                      # the password comes back from the environment
    emb = StoreConfig(backend="embedded", path=str(tmp_path / "g"))
    assert emb.public_dict() == {"backend": "embedded", "path": str((tmp_path / "g").resolve())}

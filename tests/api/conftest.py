"""The API tests' shared pieces: one tiny QA model trained once per session (seconds, on the synthetic
film graph of the QA tests), loaded once, and servers on free loopback ports over real HTTP."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kg.config import StoreConfig
from qa.api.server import ServerThread
from qa.api.settings import ApiSettings
from tests.qa.test_train import synthetic_graph, tiny_config

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class TinyModel:
    run: Path          # the checkpoint folder
    kb: Path           # the triples it was trained on
    files: list[Path]  # its question files
    answerer: Any
    resolver: Any


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """A real KG-fused model trained for a few epochs on 60 films (Hits@1 near 1 on the 1-hop questions)."""
    import torch

    from qa.answer.answerer import load_answerer
    from qa.chat.conversation import resolver_for
    from qa.train.qa import train

    folder = tmp_path_factory.mktemp("api-model")
    kb, files = synthetic_graph(folder)
    cfg = tiny_config(folder, kb, files, budget_minutes=1.0)
    cfg.max_epochs = 6
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg)
        run = Path(cfg.output_dir)
        answerer = load_answerer(run)
        resolver = resolver_for(answerer, run)
    finally:
        torch.set_num_threads(before)
    return TinyModel(run, kb, files, answerer, resolver)


def fresh_store(folder: Path, kb: Path) -> StoreConfig:
    """An embedded store at ``folder`` holding ``kb`` (a test that writes gets its own graph)."""
    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore

    if folder.exists():
        shutil.rmtree(folder)
    with EmbeddedStore(folder) as store:
        ingest(store, kb, progress=False)
    return StoreConfig(backend="embedded", path=str(folder))


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(settings) -> ServerThread`` started; all stopped at the end of the test."""
    started: list[ServerThread] = []

    def start(settings: ApiSettings) -> ServerThread:
        server = ServerThread(settings).__enter__()
        started.append(server)
        return server

    yield start
    for s in reversed(started):
        s.__exit__(None, None, None)


def events(response: httpx.Response) -> list[tuple[str, Any]]:
    """The Server-Sent Events of a streamed response, in order: ``(event, data)``."""
    out: list[tuple[str, Any]] = []
    event, data = "message", ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif not line and data:
            out.append((event, json.loads(data)))
            event, data = "message", ""
    return out


def error_of(response: httpx.Response) -> dict[str, str]:
    """The structured error of a response (and that it has the documented shape, without a traceback)."""
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "hint"}, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]

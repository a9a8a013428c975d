"""A toy film graph in MetaQA's format and questions about it, shared by the QA tests."""

from __future__ import annotations

from pathlib import Path

from kg.ingest import ingest
from kg.store.embedded import EmbeddedStore
from qa.data.questions import Question, load_questions
from retrieval.snapshot import GraphSnapshot
from tests.conftest import write_lines

# 22 triples, ``head|relation|tail`` as MetaQA's kb.txt. Michael Mann both wrote and directed Thief.
KB = [
    "Heat|directed_by|Michael Mann", "Heat|starred_actors|Al Pacino", "Heat|starred_actors|Robert De Niro",
    "Heat|release_year|1995",
    "Collateral|directed_by|Michael Mann", "Collateral|starred_actors|Tom Cruise", "Collateral|release_year|2004",
    "Collateral|written_by|Stuart Beattie", "Collateral|has_genre|Crime", "Collateral|has_genre|Thriller",
    "Thief|directed_by|Michael Mann", "Thief|written_by|Michael Mann", "Thief|has_genre|Crime",
    "Top Gun|directed_by|Tony Scott", "Top Gun|starred_actors|Tom Cruise", "Top Gun|release_year|1986",
    "The Godfather|directed_by|Francis Ford Coppola", "The Godfather|starred_actors|Al Pacino",
    "The Godfather|release_year|1972", "The Godfather|written_by|Mario Puzo", "The Godfather|has_genre|Crime",
    "Taxi Driver|directed_by|Martin Scorsese",
]
# Training questions, MetaQA style (question with [topic] <TAB> answers), by hop count.
TRAIN = {
    1: ["who directed [Heat]\tMichael Mann",
        "who directed [Top Gun]\tTony Scott",
        "who directed [The Godfather]\tFrancis Ford Coppola"],
    2: ["which movies share a director with [Heat]\tCollateral|Thief",
        "when did the movies starring [Al Pacino] come out\t1995|1972",
        "when did the movies starring [Tom Cruise] come out\t2004|1986",
        "what genres are the films directed by [Francis Ford Coppola]\tCrime"],
}


def make_store(folder: Path) -> EmbeddedStore:
    store = EmbeddedStore(folder / "graph")
    ingest(store, write_lines(folder / "kb.txt", KB), progress=False)
    return store


def make_snapshot(store: EmbeddedStore) -> GraphSnapshot:
    return GraphSnapshot.from_store(store)


def questions(folder: Path, lines_by_hop: dict[int, list[str]], name: str = "qa") -> list[Question]:
    """The questions of ``lines_by_hop`` read through a question file per hop (``folder/2-hop/name.txt``)."""
    out: list[Question] = []
    for hop, lines in lines_by_hop.items():
        (folder / f"{hop}-hop").mkdir(parents=True, exist_ok=True)
        out += load_questions(write_lines(folder / f"{hop}-hop" / f"{name}.txt", lines))
    return out

"""Questions of every kind in everyday wording over the MetaQA graph, each with the composition that defines
its gold answer (computed from the store at run time).

    python bench/kinds_everyday.py [--checkpoint .kgqa/bench/any_graph/metaqa/supervised]

The questions were written while building :mod:`qa.kinds`: they are development questions, not a held-out
set. Prints each question with what was read and the answer, then the score; writes
``bench/results/kinds_everyday.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.store import open_store  # noqa: E402
from qa.answer.answerer import load_answerer  # noqa: E402
from qa.answer.paths import Hop  # noqa: E402
from qa.data.questions import question_from_text  # noqa: E402
from qa.kinds.answer import KindAnswerer  # noqa: E402
from qa.kinds.cypher import Composition  # noqa: E402
from qa.kinds.reading import read  # noqa: E402

D, S, W, Y, G, L = (
    Hop("DIRECTED_BY", "in"),
    Hop("STARRED_ACTORS", "in"),
    Hop("WRITTEN_BY", "in"),
    Hop("RELEASE_YEAR", "out"),
    Hop("HAS_GENRE", "out"),
    Hop("IN_LANGUAGE", "out"),
)
# (question, the composition whose Cypher gives the gold answer, its topic)
QS = [
    ("how many movies has Steven Spielberg directed", Composition((D,), aggregate="count"), "Steven Spielberg"),
    ("what's the number of films starring Meryl Streep", Composition((S,), aggregate="count"), "Meryl Streep"),
    ("count the films written by Quentin Tarantino", Composition((W,), aggregate="count"), "Quentin Tarantino"),
    ("in how many films did Harrison Ford act", Composition((S,), aggregate="count"), "Harrison Ford"),
    ("did Steven Spielberg direct Jaws", Composition((D,), aggregate="exists", target="Jaws"), "Steven Spielberg"),
    ("was Titanic directed by James Cameron", Composition((D,), aggregate="exists", target="Titanic"), "James Cameron"),
    ("did Tom Cruise act in Top Gun", Composition((S,), aggregate="exists", target="Top Gun"), "Tom Cruise"),
    (
        "does Pulp Fiction star Bruce Willis",
        Composition((S,), aggregate="exists", target="Pulp Fiction"),
        "Bruce Willis",
    ),
    ("is Alien a horror film", Composition((G, Hop("HAS_GENRE", "in")), aggregate="exists", target="Alien"), None),
    ("which horror movies did John Carpenter direct", Composition((D,), ((G, "Horror"),)), "John Carpenter"),
    ("list the comedies starring Jim Carrey", Composition((S,), ((G, "Comedy"),)), "Jim Carrey"),
    ("which French films did Luc Besson direct", Composition((D,), ((L, "French"),)), "Luc Besson"),
    (
        "which films directed by Martin Scorsese star Robert De Niro",
        Composition((D,), ((Hop("STARRED_ACTORS", "out"), "Robert De Niro"),)),
        "Martin Scorsese",
    ),
    (
        "movies with both Tom Hanks and Meg Ryan",
        Composition((S,), ((Hop("STARRED_ACTORS", "out"), "Meg Ryan"),)),
        "Tom Hanks",
    ),
    (
        "which Clint Eastwood films were released after 2000",
        Composition((S,), number=Y, comparison=read("after 2000").comparison),
        "Clint Eastwood",
    ),
    (
        "which films did Woody Allen direct before 1980",
        Composition((D,), number=Y, comparison=read("before 1980").comparison),
        "Woody Allen",
    ),
    (
        "Ridley Scott films from the 1980s",
        Composition((D,), number=Y, comparison=read("in the 1980s").comparison),
        "Ridley Scott",
    ),
    (
        "what is the latest film directed by Steven Spielberg",
        Composition((D,), number=Y, aggregate="max"),
        "Steven Spielberg",
    ),
    ("what was Stanley Kubrick's first film", Composition((D,), number=Y, aggregate="min"), "Stanley Kubrick"),
    ("which is the oldest movie starring Cary Grant", Composition((S,), number=Y, aggregate="min"), "Cary Grant"),
    ("how many comedies did Woody Allen direct", Composition((D,), ((G, "Comedy"),), aggregate="count"), "Woody Allen"),
    (
        "how many films did Alfred Hitchcock direct after 1950",
        Composition((D,), number=Y, comparison=read("after 1950").comparison, aggregate="count"),
        "Alfred Hitchcock",
    ),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=".kgqa/bench/any_graph/metaqa/supervised")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "kinds_everyday.json"))
    args = ap.parse_args()
    base = load_answerer(args.checkpoint)
    kinds = KindAnswerer(base)
    rows = []
    with open_store(base.graph.store, read_only=True) as store:
        for q, comp, topic in QS:
            [p] = kinds.predict([question_from_text(q)])
            gold = [[True]] if topic is None else store.cypher(*comp.cypher(topic)).rows
            if comp.aggregate in ("count", "exists"):
                got = [[p.value]]
            else:
                got, gold = sorted([a.entity_id] for a in p.answers), sorted([r[0]] for r in gold)
            rows.append(
                {
                    "question": q,
                    "kind": p.kind,
                    "right": got == gold,
                    "value": p.value,
                    "answers": [a.name for a in p.answers[:5]],
                    "reading": p.reading,
                    "note": p.note,
                }
            )
            print(
                f"{'ok ' if got == gold else 'BAD'} {q}  ->  {p.kind} {p.value if p.value is not None else ''} "
                f"{[a.name for a in p.answers[:3]]}  ({p.reading or p.note})"
            )
    right = sum(r["right"] for r in rows)
    print(f"{right} of {len(rows)} right")
    Path(args.out).write_text(
        json.dumps({"checkpoint": args.checkpoint, "right": right, "n": len(rows), "rows": rows}, indent=1, default=str)
    )


if __name__ == "__main__":
    main()

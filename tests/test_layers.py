"""The rooms import one way: a lower room never imports a higher one (docs/ARCHITECTURE.md).

Between the top-level rooms: kg <- encoders <- retrieval <- qa. Inside qa, the sub-packages in the
order of the qa package docstring: data <- types <- eval <- answer <- chat <- train <- api/web <- cli.
Every import counts, the lazy ones inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

ROOMS = ["kg", "encoders", "retrieval", "qa"]
QA_ROOMS = ["data", "types", "eval", "answer", "kinds", "chat", "train", "api", "web", "cli"]
QA_RANK = {**{r: i for i, r in enumerate(QA_ROOMS)}, "web": QA_ROOMS.index("api")}
EXEMPT = {"qa/__init__.py", "qa/_moved.py"}  # the package docstring and the one-release aliases of old paths


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _room(module: str) -> tuple[int, int] | None:
    """(top-level room, qa sub-room) of a dotted module name; None outside the project."""
    parts = module.split(".")
    if parts[0] not in ROOMS:
        return None
    sub = QA_RANK.get(parts[1], -1) if parts[0] == "qa" and len(parts) > 1 else -1
    return ROOMS.index(parts[0]), sub


def _violations() -> list[str]:
    out = []
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in EXEMPT:
                continue
            own = _room(rel[:-3].replace("/", "."))
            assert own is not None
            if own[0] == ROOMS.index("qa") and own[1] < 0 and path.name != "__init__.py":
                out.append(f"{rel}: a module directly in qa/ belongs in one of its sub-packages {QA_ROOMS}")
            out += [f"{rel}:{line} imports {module}" for line, module in _imports(path) if _upward(own, module)]
    return out


def _upward(own: tuple[int, int], module: str) -> bool:
    target = _room(module)
    if target is None or module.startswith("qa._moved"):
        return False
    return target[0] > own[0] or (target[0] == own[0] == ROOMS.index("qa") and target[1] > own[1] >= 0)


def test_lower_rooms_never_import_higher_ones() -> None:
    assert _violations() == []


@pytest.mark.parametrize(("source", "room"), [("kg/store/base.py", "qa"), ("qa/answer/paths.py", "qa.chat")])
def test_the_check_sees_an_upward_import(tmp_path: Path, source: str, room: str) -> None:
    """The checker itself: an upward import written into a copy of a real module is found."""
    path = tmp_path / "m.py"
    path.write_text((ROOT / source).read_text() + f"\n\ndef _f():\n    import {room}.x\n")
    own = _room(source[:-3].replace("/", "."))
    assert own is not None
    assert [m for _, m in _imports(path) if _upward(own, m)] == [f"{room}.x"]


@pytest.mark.parametrize(("old", "new", "name"), [
    ("qa.session", "qa.chat.session", "ChatSession"),
    ("qa.reply_grammar", "qa.chat.grammar", "claims"),
    ("qa.evaluate", "qa.eval.evaluate", "evaluate"),
    ("qa.data", "qa.data.questions", "Question"),
    ("qa.train", "qa.train.qa", "TrainConfig"),
])
def test_old_import_paths_still_work_for_one_release_and_say_where_to(old: str, new: str, name: str) -> None:
    import importlib
    import sys

    if old not in ("qa.data", "qa.train"):   # a moved module warns when it is first imported
        sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(new), name)


def test_one_relation_verbaliser_serves_every_stage() -> None:
    from kg.names import describe_relation
    from retrieval import catalog, subgraph

    assert describe_relation("DIRECTED_BY") == "directed by"
    assert describe_relation("place_of_death") == "place of death"
    assert describe_relation(" HAS__IMDB_RATING ") == "has imdb rating"
    assert catalog.describe_relation is describe_relation and subgraph.describe_relation is describe_relation


def test_the_command_line_starts_without_the_learning_stack() -> None:
    """`kgqa cypher`, `stats`, `ingest` and `link` must not pay for (or print the warnings of) torch:
    every command module imports the model stack lazily, inside the command that needs it."""
    import subprocess
    import sys

    code = ("import sys, qa.cli; "
            "print(sorted(m for m in ('torch', 'transformers', 'torch_geometric') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]" and "Warning" not in out.stderr, out.stdout + out.stderr


def test_importing_the_whole_model_stack_prints_nothing() -> None:
    """No library warning a user cannot act on (torch-geometric's torch.jit.script notice) on import."""
    pytest.importorskip("torch_geometric")
    import subprocess
    import sys

    code = ("import qa.answer.answerer, qa.train.qa, encoders.gnn, encoders.kge, encoders.sampling, "
            "retrieval.subgraph, qa.cli")
    out = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr

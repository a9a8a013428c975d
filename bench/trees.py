"""The trees a side-by-side bench measures: an older commit, checked out into a temporary git worktree, and
this tree. Used by ``bench/ingest_ab.py`` and ``bench/second_source.py``."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def side_by_side(base: str | None, base_name: str = "base") -> Iterator[dict[str, Path]]:
    """``{base_name: worktree of base, "this tree": ROOT}`` (only this tree when ``base`` is None); the
    worktree is removed on leaving."""
    if base is None:
        yield {"this tree": ROOT}
        return
    with tempfile.TemporaryDirectory(prefix="kgqa-base-") as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), base], cwd=ROOT, check=True)
        try:
            yield {base_name: tree, "this tree": ROOT}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)

"""Old import paths of the flat qa/ layout, kept for one release (0.1.x) and marked deprecated.

``import qa.session`` still works and gives :mod:`qa.chat.session`, with a ``DeprecationWarning``
that names the new path; ``from qa.data import Question`` and ``from qa.train import TrainConfig``
(modules that became packages) likewise. Remove this module, and the ``__getattr__`` of
:mod:`qa.data` and :mod:`qa.train`, in the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

MODULES = {
    "qa.dataset": "qa.data.examples", "qa.dialogue_data": "qa.data.dialogues",
    "qa.answering": "qa.answer.topic", "qa.paths": "qa.answer.paths", "qa.evidence": "qa.answer.evidence",
    "qa.head": "qa.answer.ranking", "qa.answerer": "qa.answer.answerer", "qa.baseline": "qa.answer.baseline",
    "qa.dialogue_train": "qa.train.dialogue", "qa.evaluate": "qa.eval.evaluate",
    "qa.conversation": "qa.chat.conversation", "qa.session": "qa.chat.session", "qa.replies": "qa.chat.replies",
    "qa.reply_grammar": "qa.chat.grammar", "qa.dialogue_head": "qa.chat.dialogue_head",
    "qa.cli_base": "qa.cli.base", "qa.cli_qa": "qa.cli.qa", "qa.cli_serve": "qa.cli.serve", "qa.demo": "qa.cli.demo",
}
# Modules that became packages of the same name: their old top-level names now live here.
PACKAGES = {"qa.data": "qa.data.questions", "qa.train": "qa.train.qa"}


def _warn(old: str, new: str, stacklevel: int = 3) -> None:
    warnings.warn(f"{old} moved to {new}; the old name is kept for this release only", DeprecationWarning,
                  stacklevel=stacklevel)


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, self) if fullname in MODULES else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        _warn(spec.name, MODULES[spec.name])
        return importlib.import_module(MODULES[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        pass


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())


def package_getattr(package: str, name: str) -> Any:
    """``from qa.data import Question``: the name from the module the package's old self became."""
    if name.startswith("__"):
        raise AttributeError(name)
    module = importlib.import_module(PACKAGES[package])
    if not hasattr(module, name):
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    _warn(f"{package}.{name}", f"{PACKAGES[package]}.{name}", stacklevel=4)
    return getattr(module, name)

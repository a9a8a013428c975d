"""Data the QA stage reads: question files and splits (:mod:`.questions`), the fusion model's precomputed
examples (:mod:`.examples`), the dialogue set (:mod:`.dialogues`). Imports nothing else of qa."""

from typing import Any


def __getattr__(name: str) -> Any:  # the flat layout's qa.data names, for one release (see qa._moved)
    from qa._moved import package_getattr

    return package_getattr(__name__, name)

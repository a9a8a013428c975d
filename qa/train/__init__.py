"""Training: the KG-fused QA model (:mod:`.qa`, ``kgqa train``; adapted to a graph whose relation types
changed by :mod:`.resume`, ``kgqa train --resume``) and the dialogue head (:mod:`.dialogue`,
``kgqa train-dialogue``). Imports :mod:`qa.types`, :mod:`qa.data`, :mod:`qa.eval`, :mod:`qa.answer` and
:mod:`qa.chat` within qa."""

from typing import Any


def __getattr__(name: str) -> Any:  # the flat layout's qa.train names, for one release (see qa._moved)
    from qa._moved import package_getattr

    return package_getattr(__name__, name)

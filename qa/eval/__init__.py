"""Scoring answers: the one definition of each metric (:mod:`.metrics`) and the evaluation harness behind
``kgqa eval`` and the benches (:mod:`.evaluate`). Imports :mod:`qa.data` and :mod:`qa.types` within qa."""

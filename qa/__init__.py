"""Answering and the user-facing surfaces: the ``kgqa`` CLI (and later the QA heads and HTTP API)."""

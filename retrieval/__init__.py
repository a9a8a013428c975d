"""FAISS indexes and subgraph retrieval around linked entities; see ARCHITECTURE.md."""

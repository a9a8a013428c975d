"""Graph and text encoders (torch-geometric GNNs, the sentence encoder, cross-attention fusion).

Reads the graph through :meth:`kg.store.GraphStore.export`; see ARCHITECTURE.md.
"""

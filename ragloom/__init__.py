"""ragloom: retrieval-augmented generation and agentic workflows."""

__version__ = "0.1.0"

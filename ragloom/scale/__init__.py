"""Scale-out: one small executor protocol with a local (threads) and a Ray implementation.

Work that is embarrassingly parallel (embedding an index's chunks, a dataset's questions, search candidates,
a batch of flow inputs) goes through :class:`Executor.map`, so the result never depends on where it ran.
"""

from ragloom.scale.executor import (
    EXECUTORS,
    Executor,
    LocalExecutor,
    first_error,
    make_executor,
)

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "first_error", "make_executor"]

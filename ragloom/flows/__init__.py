"""ragloom.flows: a lean workflow engine (builder -> compile -> invoke/stream/resume) with typed state.

The public surface is ``__all__``; modules are private implementation details.
"""

from __future__ import annotations

from ragloom.flows.builder import END, START, EdgeSpec, Flow, NodeOptions, NodeSpec, RouterSpec, node
from ragloom.flows.checkpoint import Checkpoint, Checkpointer, InMemoryCheckpointer
from ragloom.flows.compiled import CompiledFlow
from ragloom.flows.context import RunContext
from ragloom.flows.reducers import add, append, merge_dict, replace
from ragloom.flows.sqlite_checkpoint import SQLiteCheckpointer
from ragloom.flows.trace import RunResult, StepEvent, StepRecord, Trace

__all__ = [
    "END",
    "START",
    "Checkpoint",
    "Checkpointer",
    "CompiledFlow",
    "EdgeSpec",
    "Flow",
    "InMemoryCheckpointer",
    "NodeOptions",
    "NodeSpec",
    "RouterSpec",
    "RunContext",
    "RunResult",
    "SQLiteCheckpointer",
    "StepEvent",
    "StepRecord",
    "Trace",
    "add",
    "append",
    "merge_dict",
    "node",
    "replace",
]

"""ragloom.flows: a lean workflow engine (builder -> compile -> invoke/stream/resume) with typed state.

The public surface is ``__all__``; modules are private implementation details.
"""

from __future__ import annotations

from ragloom.flows.builder import END, START, EdgeSpec, Flow, NodeOptions, NodeSpec, RouterSpec, node
from ragloom.flows.checkpoint import Checkpoint, Checkpointer, InMemoryCheckpointer, TaskWrite
from ragloom.flows.compiled import CompiledFlow
from ragloom.flows.context import RunContext
from ragloom.flows.control import Interrupt, NodeInterrupt, Send, emit, get_stream_writer, interrupt
from ragloom.flows.events import StreamEvent
from ragloom.flows.node_cache import NodeCache
from ragloom.flows.reducers import RemoveMessage, add, add_messages, append, merge_dict, replace
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
    "Interrupt",
    "NodeCache",
    "NodeInterrupt",
    "NodeOptions",
    "NodeSpec",
    "RemoveMessage",
    "RouterSpec",
    "RunContext",
    "RunResult",
    "SQLiteCheckpointer",
    "Send",
    "StepEvent",
    "StepRecord",
    "StreamEvent",
    "TaskWrite",
    "Trace",
    "add",
    "add_messages",
    "append",
    "emit",
    "get_stream_writer",
    "interrupt",
    "merge_dict",
    "node",
    "replace",
]

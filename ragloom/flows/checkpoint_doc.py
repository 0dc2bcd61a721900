"""A checkpoint's payload document, shared by the SQLite and PostgreSQL checkpointers.

The document is ``[state, next, arrived, records, interrupts]`` in typed JSON (:mod:`ragloom.flows.serde`):
the state and any ``Send``/``Interrupt`` objects are user data, walked and tagged; the step records, the join
arrivals and plain node-name lists are built by ragloom from JSON types only, so they are written without a
walk. :func:`dumps_checkpoint` writes the JSON document directly, item by item, because it runs once per
step: its bytes are exactly those of ``serde.dumps(encode_doc(cp), "json")``, which stays the general path
(and the pickle one).
"""

from __future__ import annotations

from typing import Any

import orjson

from ragloom.core.types import Usage
from ragloom.flows import serde as _serde
from ragloom.flows.checkpoint import Checkpoint
from ragloom.flows.trace import StepRecord

_NONE: tuple[()] = ()  # written as []


def record_to_list(r: StepRecord) -> list[Any]:
    """A record as plain JSON lists (lists, not tuples: typed JSON writes a tuple as a tagged object, which
    costs more per step than the rest of the payload)."""
    u = r.usage
    usage = [u.prompt_tokens, u.completion_tokens, u.cost_usd, u.calls] if u.calls or u.total_tokens else None
    children = [record_to_list(c) for c in r.children] if r.children else []
    return [r.node, r.step, r.start, r.end, list(r.changed), r.error, usage, r.attempt, r.cached, children]


def record_from_list(t: Any) -> StepRecord:
    node, step, start, end, changed, error, usage, attempt, cached, children = t
    return StepRecord(
        node,
        step,
        start,
        end,
        tuple(changed),
        error,
        Usage(*usage) if usage else Usage(),
        attempt,
        cached,
        tuple(record_from_list(c) for c in children),
    )


def encode_doc(cp: Checkpoint) -> list[Any]:
    """A checkpoint's payload document, in plain JSON shapes where possible (read by ``decode_doc``)."""
    arrived = _serde.Native([[k, list(v)] for k, v in cp.arrived.items()])
    records = _serde.Native([record_to_list(r) for r in cp.records])  # JSON types only, by construction
    nxt = list(cp.next)
    return [
        cp.state,
        _serde.Native(nxt) if all(type(t) is str for t in nxt) else nxt,
        arrived,
        records,
        list(cp.interrupts),
    ]


def dumps_checkpoint(cp: Checkpoint, serde: str) -> bytes:
    """The payload of ``cp``: the bytes of ``serde.dumps(encode_doc(cp), serde)``, built without the
    intermediate document for typed JSON. TypeError when the state has a value with no JSON form.

    In the common step (node names next, no interrupt) ragloom's own parts are written by one orjson call,
    unchecked (they never hold NaN), with the state too when it is flat (``serde.is_flat``), else after it
    (the state may hold NaN, see ``serde.to_json``)."""
    if serde != "json":
        return _serde.dumps(encode_doc(cp), serde)
    flat = _serde.is_flat(cp.state)  # then the whole document is one orjson call
    state = b"" if flat else _serde.to_json(_serde.encode(cp.state))
    if not cp.interrupts:
        for task in cp.next:
            if type(task) is not str:
                break
        else:
            arrived = [[k, v] for k, v in cp.arrived.items()] if cp.arrived else _NONE
            records = [record_to_list(r) for r in cp.records]
            try:
                if flat:
                    return _serde.JSON_MAGIC + orjson.dumps((cp.state, cp.next, arrived, records, _NONE))
                rest = orjson.dumps((cp.next, arrived, records, _NONE))
            except TypeError:  # not JSON types after all: the general path below says which value
                pass
            else:
                return b"".join((_serde.JSON_LIST_START, state, b",", rest[1:]))
    if flat:
        state = _serde.to_json(cp.state)
    parts = (
        state,
        _serde.to_json(_serde.encode(list(cp.next))),
        _serde.native_json([[k, v] for k, v in cp.arrived.items()]),
        _serde.native_json([record_to_list(r) for r in cp.records]),
        _serde.to_json(_serde.encode(list(cp.interrupts))),
    )
    return _serde.json_payload(parts)


def decode_doc(
    doc: Any,
) -> tuple[Any, tuple[Any, ...], dict[int, tuple[str, ...]], tuple[StepRecord, ...], tuple]:
    state, nxt, arrived, records = doc[:4]  # rows written before interrupts were stored hold 4 items
    interrupts = tuple(doc[4]) if len(doc) > 4 else ()
    if isinstance(arrived, list):  # [[step, nodes], ...]
        arrived = {int(k): tuple(v) for k, v in arrived}
    return state, tuple(nxt), arrived, tuple(record_from_list(r) for r in records), interrupts

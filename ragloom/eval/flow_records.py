"""One JSONL record per evaluated question: built from a flow's final state and trace, appended, read back.

The records file is the evaluation's source of truth: it is appended one line per finished question (and
flushed), so a killed run loses at most the questions in flight, and a rerun skips every id already recorded.
A torn last line (the process died mid-write) is dropped on reading. Every record carries the scores, so the
summary and the HTML report are pure functions of the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ragloom.core.types import Hit
from ragloom.documents.citations import cite
from ragloom.eval.flow_metrics import ContextPassage
from ragloom.retrieval.select.sentences import KEPT_SHARE

__all__ = ["RecordWriter", "context_passages", "read_records", "trace_summary"]

#: Characters of each context passage kept in a record (enough for a person to judge the context).
PASSAGE_CHARS = 600
#: Hits listed per record (their ids and documents; the scores were computed on all of them).
HITS_KEPT = 20


def context_passages(items: Iterable[Any]) -> list[ContextPassage]:
    """Context items (Hits, Chunks, dicts with ``text``/``id``/``doc_id``, plain strings) as passages; a
    chunk keeps its span in the indexed text (the evaluator shifts gold spans onto that text)."""
    out: list[ContextPassage] = []
    for i, item in enumerate(items, 1):
        chunk = item.chunk if isinstance(item, Hit) else item
        if isinstance(item, str):
            out.append(ContextPassage(str(i), "", item))
        elif isinstance(item, dict):
            out.append(
                ContextPassage(str(item.get("id", i)), str(item.get("doc_id", "")), str(item.get("text", "")))
            )
        else:
            out.append(
                ContextPassage(
                    str(getattr(chunk, "id", i)),
                    str(getattr(chunk, "doc_id", "")),
                    str(getattr(chunk, "text", chunk)),
                    int(getattr(chunk, "start", -1)),
                    int(getattr(chunk, "end", -1)),
                    cite(item),
                    _share(chunk),
                )
            )
    return out


def _share(chunk: Any) -> float:
    """The share of its retrieved chunk a passage keeps (``kept_share`` metadata of a cut; 1.0: whole)."""
    metadata = getattr(chunk, "metadata", None)
    share = metadata.get(KEPT_SHARE, 1.0) if isinstance(metadata, dict) else 1.0
    return float(share) if isinstance(share, int | float) else 1.0


def trace_summary(trace: Any) -> dict[str, Any]:
    """Per node (in execution order, attempts and loop turns summed): ms, tokens, cost, calls; and totals."""
    nodes: dict[str, dict[str, float]] = {}
    for r in trace.records:
        n = nodes.setdefault(r.node, {"ms": 0.0, "tokens": 0, "cost_usd": 0.0, "llm_calls": 0, "runs": 0})
        n["ms"] += r.duration * 1000.0
        n["tokens"] += r.usage.total_tokens
        n["cost_usd"] += r.usage.cost_usd
        n["llm_calls"] += r.usage.calls
        n["runs"] += 1
    usage = trace.usage
    return {
        "nodes": nodes,
        "ms": trace.duration * 1000.0,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "tokens": usage.total_tokens,
        "cost_usd": usage.cost_usd,
        "llm_calls": usage.calls,
    }


def passage_dicts(passages: Sequence[ContextPassage]) -> list[dict[str, Any]]:
    return [{"id": p.id, "doc_id": p.doc_id, "text": p.text[:PASSAGE_CHARS]} for p in passages]


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """Records by question id (a later record of an id wins); a torn or blank line is skipped."""
    records: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return records
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the process was killed mid-write: that question simply runs again
            if isinstance(record, dict) and "id" in record:
                records[str(record["id"])] = record
    return records


class RecordWriter:
    """Appends records as JSON lines, flushed one by one (a kill loses nothing already finished)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair(path)
        self._file = path.open("a", encoding="utf-8")

    @staticmethod
    def _repair(path: Path) -> None:
        """End a torn last line with a newline, so the next record starts on a line of its own."""
        if path.is_file() and path.stat().st_size:
            with path.open("rb") as f:
                f.seek(-1, 2)
                last = f.read(1)
            if last != b"\n":
                with path.open("a", encoding="utf-8") as f:
                    f.write("\n")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

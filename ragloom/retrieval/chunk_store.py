"""Chunks on disk: one JSON object per line, written to a temp file, fsynced and renamed into place.

JSONL keeps an index folder inspectable with ``head``; the rename makes a write all-or-nothing, so a reader
sees the old file or the new one, never a half-written one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from ragloom.core.errors import IndexError_
from ragloom.core.types import Chunk

__all__ = ["atomic_write_text", "chunk_from_json", "chunk_to_json", "read_chunks", "write_chunks"]


def chunk_to_json(chunk: Chunk) -> str:
    return json.dumps(
        {
            "doc_id": chunk.doc_id,
            "start": chunk.start,
            "end": chunk.end,
            "text": chunk.text,
            "metadata": chunk.metadata,
        },
        ensure_ascii=False,
        default=str,
    )


def chunk_from_json(line: str) -> Chunk:
    obj = json.loads(line)
    return Chunk(obj["text"], obj["doc_id"], int(obj["start"]), int(obj["end"]), obj.get("metadata") or {})


def write_chunks(path: str | os.PathLike[str], chunks: Iterable[Chunk]) -> Path:
    """Write ``chunks`` as JSONL to ``path`` atomically (temp file + fsync + rename)."""
    target = Path(path)
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for chunk in chunks:
            f.write(chunk_to_json(chunk))
            f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target


def read_chunks(path: str | os.PathLike[str]) -> list[Chunk]:
    """Read a file written by :func:`write_chunks`; a malformed line is an error naming file and line."""
    target = Path(path)
    chunks: list[Chunk] = []
    try:
        with open(target, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    chunks.append(chunk_from_json(line))
                except (ValueError, KeyError, TypeError) as e:
                    raise IndexError_(f"{target}:{n}: malformed chunk record ({e}); rebuild the index") from e
    except FileNotFoundError as e:
        raise IndexError_(f"chunk file {target} is missing; build the index first (ragloom index ...)") from e
    return chunks


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` all-or-nothing (temp file + fsync + rename)."""
    target = Path(path)
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target

"""``CachedLLM``: a SQLite response cache in front of any LLM, for reproducible evaluation and lower cost.

The key is a SHA-256 of the model name, the messages and the call options (tools and response formats by their
JSON schema), so any change to the prompt or the options is a miss. A hit returns the stored completion and
reports no usage (nothing was spent); ``hits``/``misses`` count what happened.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ragloom.core.protocols import LLM
from ragloom.core.types import Completion, Message, ToolCall, Usage
from ragloom.llm.messages import as_messages, to_openai

# Streams store only their text (no tool calls, usage or finish reason), so they are keyed apart.
_STREAM = "__ragloom_stream__"
_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, completion TEXT)"


def _jsonable(value: Any) -> Any:
    schema = getattr(value, "model_json_schema", None)
    if callable(schema):
        return {"pydantic": getattr(value, "__name__", ""), "schema": schema()}
    for attr in ("to_openai", "openai_schema"):
        fn = getattr(value, attr, None)
        if callable(fn):
            return fn()
    return repr(value)


def cache_key(model: str, messages: Sequence[Message], options: dict[str, Any]) -> str:
    """A stable hash of what determines an LLM's answer."""
    payload = {"model": model, "messages": to_openai(messages), "options": options}
    text = json.dumps(payload, sort_keys=True, default=_jsonable, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _dump(c: Completion) -> str:
    d = asdict(c)
    d["usage"] = asdict(c.usage)
    return json.dumps(d)


def _load(text: str) -> Completion:
    d = json.loads(text)
    calls = tuple(ToolCall(**t) for t in d.get("tool_calls") or ())
    lps = tuple(d["logprobs"]) if d.get("logprobs") is not None else None
    return Completion(d["text"], Usage(**d["usage"]), calls, d.get("model", ""), d.get("finish_reason"), lps)


class CachedLLM:
    """Wraps ``llm``; completions are stored in the SQLite file ``path`` (created if missing)."""

    def __init__(self, llm: LLM, path: str | Path) -> None:
        self.llm = llm
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def model(self) -> str:
        return self.llm.model

    def __getattr__(self, name: str) -> Any:  # supports_tools, token_logprobs, … of the wrapped LLM
        if name == "llm":
            raise AttributeError(name)
        return getattr(self.llm, name)

    def __repr__(self) -> str:
        return f"CachedLLM({self.llm!r}, {str(self.path)!r})"

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
        if not row:
            return None
        try:  # JSON only (a pickle in here is not JSON and is never unpickled)
            return _load(row[0])
        except (ValueError, KeyError, TypeError) as e:  # a damaged entry is a miss: recomputed, overwritten
            warnings.warn(f"{self.path}: unreadable cache entry {key[:12]} ({e}); recomputing", stacklevel=2)
            return None

    def put(self, key: str, completion: Completion) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, self.model, _dump(completion))
            )
            self._db.commit()

    def _lookup(self, messages: Sequence[Message], options: dict[str, Any]) -> tuple[str, Completion | None]:
        key = cache_key(self.model, messages, options)
        hit = self.get(key)
        if hit is None:
            self.misses += 1
        else:
            self.hits += 1
        return key, hit

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        msgs = as_messages(messages)
        key, hit = self._lookup(msgs, options)
        if hit is not None:
            return hit
        completion = self.llm.complete(msgs, **options)
        self.put(key, completion)
        return completion

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        msgs = as_messages(messages)
        key, hit = self._lookup(msgs, options)
        if hit is not None:
            return hit
        completion = await self.llm.acomplete(msgs, **options)
        self.put(key, completion)
        return completion

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[str]:
        msgs = as_messages(messages)
        key, hit = self._lookup(msgs, {**options, _STREAM: True})  # text only: must not answer complete()
        if hit is not None:
            yield hit.text
            return
        parts: list[str] = []
        for delta in self.llm.stream(msgs, **options):
            parts.append(delta)
            yield delta
        self.put(key, Completion("".join(parts), model=self.model, finish_reason="stop"))

    async def astream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[str]:
        msgs = as_messages(messages)
        key, hit = self._lookup(msgs, {**options, _STREAM: True})
        if hit is not None:
            yield hit.text
            return
        parts: list[str] = []
        async for delta in self.llm.astream(msgs, **options):
            parts.append(delta)
            yield delta
        self.put(key, Completion("".join(parts), model=self.model, finish_reason="stop"))

    def close(self) -> None:
        with self._lock:
            self._db.close()

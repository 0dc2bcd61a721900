"""Batches of texts for a transformer embedder: grouped by *token* length, run on one or more threads.

Why by tokens: a batch is padded to its longest member, and sentence-transformers' ``encode`` groups texts by
*character* length. On docs-a's 2,185 structured chunks (prose, code, tables and SQL syntax in one corpus,
where characters per token vary from ~2 to ~6) that padded the 289k real tokens to 386k computed ones
(1.33x); grouped by token count it is 292k (1.01x), and the vectors are the same (a padded position is
masked out). Haystack's chunks, almost all cut at the 256-token window, pad 1.02x either way.

Why threads: torch's intra-op threads scale poorly for a small model on a few cores (one MiniLM batch on two
threads is ~1.2x one thread here) and spin-wait badly when other processes hold the cores; two Python
threads each running whole batches on one torch thread keep both cores busy with independent work
(torch releases the GIL inside its kernels). See :func:`run_batches`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ragloom.retrieval.torch_threads import single_thread

__all__ = ["WORKERS_ENV", "default_workers", "length_sorted_batches", "run_batches", "token_lengths"]

_LENGTH_BLOCK = 2048  # texts tokenized at once to count lengths (only the counts are kept)
#: Environment variable that sets the embedding threads of a big batch (an int >= 1).
WORKERS_ENV = "RAGLOOM_EMBED_WORKERS"
_MAX_WORKERS = 8


def default_workers() -> int:
    """Threads for a big CPU embedding job: ``$RAGLOOM_EMBED_WORKERS``, else the cores this process may
    use (at most 8)."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            from ragloom.core.errors import ConfigError

            raise ConfigError(f"{WORKERS_ENV} must be an integer >= 1, got {value!r}")
        return int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, _MAX_WORKERS))


def token_lengths(tokenizer: Any, texts: Sequence[str], limit: int | None) -> list[int]:
    """Tokens the model reads of each text (special tokens included, at most ``limit`` when given)."""
    lengths: list[int] = []
    cut = {"truncation": True, "max_length": limit} if limit else {}
    for i in range(0, len(texts), _LENGTH_BLOCK):
        enc = tokenizer(list(texts[i : i + _LENGTH_BLOCK]), add_special_tokens=True, verbose=False, **cut)
        lengths.extend(len(ids) for ids in enc["input_ids"])
    return lengths


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices into ``lengths`` in batches of at most ``batch_size`` whose members have neighbouring
    lengths, longest batch first (a memory problem shows at once, not at the end). Every index appears in
    exactly one batch; ties keep input order. Pure function."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]


def run_batches(
    batches: Sequence[Sequence[int]],
    encode: Callable[[Sequence[int]], np.ndarray],
    workers: int,
    on_done: Callable[[Sequence[int], np.ndarray], None] | None = None,
) -> list[np.ndarray]:
    """``encode(batch)`` for every batch, in batch order; with ``workers > 1`` on that many threads, each
    with one torch intra-op thread, taking the next batch as it finishes one (so uneven batches balance).

    ``on_done(batch, vectors)`` is called once per batch as it completes (under a lock, so it needs no
    locking of its own). The first exception raised by ``encode`` stops the other workers after their
    current batch and is raised here.
    """
    out: list[np.ndarray | None] = [None] * len(batches)
    lock = threading.Lock()
    upcoming = iter(range(len(batches)))
    errors: list[BaseException] = []

    def finish(i: int, vectors: np.ndarray) -> None:
        out[i] = vectors
        if on_done is not None:
            on_done(batches[i], vectors)

    if workers <= 1 or len(batches) <= 1:
        for i, batch in enumerate(batches):
            finish(i, encode(batch))
        return [v for v in out if v is not None]

    def work() -> None:
        with single_thread():
            while True:
                with lock:
                    i = next(upcoming, None)
                    if i is None or errors:
                        return
                try:
                    vectors = encode(batches[i])
                except BaseException as e:  # handed to the caller's thread below
                    with lock:
                        errors.append(e)
                    return
                with lock:
                    finish(i, vectors)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(workers, len(batches)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [v for v in out if v is not None]

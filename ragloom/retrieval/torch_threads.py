"""Torch's intra-op thread count for one-off (small-batch) work: one thread, so a query never oversubscribes.

Measured on the 2-core project machine under load (load average ~14): one MiniLM query embedding took
50-73 ms p50 with one torch thread and 780-1,890 ms with two (OpenMP workers spin waiting for a core the
other processes hold); the issue's own measurement was 13-25 ms against 97-641 ms. One text is too small a
matrix for a second thread to pay for its synchronisation. Big batches (indexing) keep torch's default.
The LLM has its own policy (:func:`ragloom.llm.local.auto_threads`).

``torch.set_num_threads`` sets the *calling* thread's OpenMP thread count (plus the count new threads start
with), so the scope is per thread: a query in one ``ragloom serve`` worker does not slow down an indexing
batch in another, and each scope restores what its own thread had.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["SMALL_BATCH", "one_thread_for_small", "single_thread"]

#: Batches up to this many texts count as one-off work (a query, a handful of entity names).
SMALL_BATCH = 16


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run the block with one torch intra-op thread in this thread, then restore its previous count."""
    import torch

    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def one_thread_for_small(n_texts: int, small: int = SMALL_BATCH) -> contextlib.AbstractContextManager[None]:
    """:func:`single_thread` for a batch of at most ``small`` texts, else a no-op context."""
    return single_thread() if n_texts <= small else contextlib.nullcontext()

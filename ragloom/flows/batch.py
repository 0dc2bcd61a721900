"""``batch``/``abatch``: many runs of one flow at once, each item's result or error on its own (one failure
does not stop the others)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ragloom.core.errors import ConfigError

if TYPE_CHECKING:
    from ragloom.flows.compiled import CompiledFlow
    from ragloom.flows.trace import RunResult


def _check(max_concurrency: int) -> None:
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ConfigError(f"batch(max_concurrency={max_concurrency!r}): use a whole number >= 1")


def run_batch(
    flow: CompiledFlow, inputs: Sequence[Any], context: Mapping[str, Any] | None, max_concurrency: int
) -> list[RunResult | BaseException]:
    _check(max_concurrency)

    def one(values: Any) -> RunResult | BaseException:
        try:
            return flow.invoke(values, context)
        except Exception as e:  # the item's outcome, returned in place
            return e

    if max_concurrency == 1 or len(inputs) <= 1:
        return [one(v) for v in inputs]
    with ThreadPoolExecutor(
        max_workers=min(max_concurrency, len(inputs)), thread_name_prefix="ragloom-batch"
    ) as pool:
        return list(pool.map(one, inputs))


async def arun_batch(
    flow: CompiledFlow, inputs: Sequence[Any], context: Mapping[str, Any] | None, max_concurrency: int
) -> list[RunResult | BaseException]:
    _check(max_concurrency)
    gate = asyncio.Semaphore(max_concurrency)

    async def one(values: Any) -> RunResult | BaseException:
        async with gate:
            try:
                return await flow.ainvoke(values, context)
            except Exception as e:
                return e

    return list(await asyncio.gather(*(one(v) for v in inputs)))

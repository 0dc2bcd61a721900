"""``CompiledFlow.batch`` on an executor: each worker compiles the flow once from its YAML, then runs inputs.

A compiled flow holds locks and live components, so it does not travel; its YAML does (flows built from
registry components round-trip through YAML by design). Results are :class:`RunResult` objects in input
order, or the exception an input raised, like the local ``batch``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ragloom.scale.executor import Executor

__all__ = ["batch_on"]


def _compile(yaml_text: str, allow_imports: tuple[str, ...]) -> Any:
    from ragloom.flows import Flow

    return Flow.from_yaml(yaml_text, allow_imports=allow_imports).compile()


def _same(flow: Any) -> Any:
    return flow


def _invoke(context: Mapping[str, Any] | None, flow: Any, values: Any) -> Any:
    return flow.invoke(values, context=context)


def batch_on(
    executor: Executor,
    flow: Any,
    inputs: Sequence[Any],
    context: Mapping[str, Any] | None = None,
    allow_imports: Iterable[str] = (),
) -> list[Any]:
    """Run ``flow`` (a CompiledFlow) on every input across ``executor``'s workers; item ``i`` is the RunResult
    of input ``i`` or its exception. ``context`` (resources, LLM) is shipped to each worker once; a local
    executor shares the flow itself."""
    if executor.name == "local":
        setup = functools.partial(_same, flow)
    else:
        setup = functools.partial(_compile, flow.to_yaml(), tuple(allow_imports))
    return executor.map(functools.partial(_invoke, context), list(inputs), setup=setup)

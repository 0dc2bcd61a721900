"""RunContext: what an opted-in node (``@node(takes_context=True)``) receives besides the state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ragloom.core.types import Usage
from ragloom.core.usage import report_usage


@dataclass(frozen=True, slots=True)
class RunContext:
    """Per-node-execution context: shared ``resources`` (LLM, budget, …), run id, flow, node and step.

    ``report_usage`` charges tokens/cost to this step's trace record (the same path LLM clients use through
    :func:`ragloom.core.usage.report_usage`, so usage also reaches any meter open around the run).
    """

    resources: Mapping[str, Any] = field(default_factory=dict)
    run_id: str = ""
    flow: str = ""
    node: str = ""
    step: int = 0
    attempt: int = 1

    def report_usage(self, usage: Usage, model: str = "") -> None:
        report_usage(usage, model)

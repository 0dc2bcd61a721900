"""Agent components for YAML flows: ``uses: agents.react``.

The LLM comes from the run's resources (``compiled.invoke(state, context={"llm": llm})``) or, when none is
given, from :func:`ragloom.llm.default_llm` (the embedded local model). Tools are named by registry
(``tools: [calculator, python]`` → ``tools.calculator``, ``tools.python``); tools that need live objects
(e.g. a retriever tool) can be passed in the resources as ``context={"tools": [...]}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ragloom.agents.react import ReActAgent
from ragloom.core import registry
from ragloom.core.errors import ConfigError
from ragloom.core.registry import register
from ragloom.tools.base import Tool


def resolve_tools(specs: Sequence[str | Mapping[str, Any]]) -> list[Tool]:
    """Tools from registry names (``calculator`` or ``tools.calculator``) or ``{uses: ..., with: {...}}``."""
    tools = []
    for spec in specs:
        if isinstance(spec, str):
            name, params = spec, {}
        elif isinstance(spec, Mapping) and "uses" in spec:
            name, params = str(spec["uses"]), dict(spec.get("with") or {})
        else:
            raise ConfigError(
                f"agents.react: a tool is a registry name or {{uses: name, with: {{...}}}}, got {spec!r}"
            )
        full = name if name.startswith("tools.") else f"tools.{name}"
        made = registry.create(full, params)
        batch = (
            list(made) if isinstance(made, list | tuple) else [made]
        )  # a toolset (e.g. tools.mcp) gives many
        for tool in batch:
            if not isinstance(tool, Tool):
                raise ConfigError(
                    f"agents.react: component {full!r} is not a tool (got {type(tool).__name__})"
                )
        tools.extend(batch)
    return tools


def _llm_from(resources: Mapping[str, Any]) -> Any:
    llm = resources.get("llm")
    if llm is not None:
        return llm
    try:
        from ragloom.llm import default_llm  # type: ignore[attr-defined]
    except ImportError as e:
        raise ConfigError("agents.react needs an LLM: pass it at run time with context={'llm': llm}") from e
    return default_llm()


@register("agents.react")
def react_agent(
    tools: Sequence[str | Mapping[str, Any]] = ("calculator",),
    max_iterations: int = 6,
    token_budget: int | None = None,
    protocol: str = "auto",
    input_key: str = "question",
    output_key: str = "answer",
    trace_key: str | None = None,
    max_tokens_per_step: int = 256,
) -> Callable[..., dict[str, Any]]:
    """A ReAct agent node: answers ``input_key`` with registry tools and the run's LLM into ``output_key``."""
    from ragloom.flows import node

    resolved = resolve_tools(tools)
    if protocol not in ("auto", "native", "text"):
        raise ConfigError(f"agents.react: protocol must be 'auto', 'native' or 'text', got {protocol!r}")

    @node(takes_context=True)
    def react_agent_node(state: Any, ctx: Any) -> dict[str, Any]:
        resources = ctx.resources
        agent = ReActAgent(
            _llm_from(resources),
            [*resolved, *resources.get("tools", ())],
            max_iterations=max_iterations,
            token_budget=token_budget,
            protocol=protocol,  # type: ignore[arg-type]
            max_tokens_per_step=max_tokens_per_step,
        )
        return agent.as_node(input_key, output_key, trace_key)(state)

    return react_agent_node

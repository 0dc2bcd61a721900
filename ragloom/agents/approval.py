"""Tool-call approval for the ReAct agent, on the flow engine's ``interrupt()``.

When a tool needs approval the agent pauses the flow run with ``{"tool": name, "arguments": {...}}``; the
human resumes it with one of:

- ``"approve"`` (or ``True``, or ``{"action": "approve"}``): run the call as proposed;
- ``{"action": "edit", "arguments": {...}}``: run it with these arguments instead;
- ``{"action": "reject", "message": "..."}`` (or ``"reject"``/``False``): do not run it; the model sees the
  message as the observation and carries on.

Like any interrupted node, the agent's node runs again from its start on resume; its earlier turns are
replayed by the LLM (the same with deterministic decoding, e.g. temperature 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ragloom.core.errors import ConfigError


@dataclass(frozen=True)
class Decision:
    """What to do with one proposed tool call: ``run`` it (with ``arguments``) or reject it (``message``)."""

    run: bool
    arguments: dict[str, Any]
    message: str = ""


def needs_approval(approve: bool | Sequence[str], tool: str) -> bool:
    return approve is True or (not isinstance(approve, bool) and tool in approve)


def ask(tool: str, arguments: dict[str, Any]) -> Decision:
    """Pause the flow for a human decision on one call (see the module docstring)."""
    from ragloom.flows.control import current_task, interrupt

    if current_task() is None:
        raise ConfigError(
            f"ReActAgent: tool {tool!r} needs approval, which pauses a flow run; run the agent as a flow "
            "node (agent.as_node()) compiled with a checkpointer, or drop approve="
        )
    return decide(interrupt({"tool": tool, "arguments": arguments}), arguments)


def decide(answer: Any, arguments: dict[str, Any]) -> Decision:
    """Read a human's answer (``resume(value=...)``) into a Decision; a malformed answer is a ConfigError."""
    if answer is True or answer == "approve":
        return Decision(True, arguments)
    if answer is False or answer == "reject":
        return Decision(False, arguments, "the user rejected this call")
    if isinstance(answer, Mapping):
        action = answer.get("action", "edit" if "arguments" in answer else None)
        if action == "approve":
            return Decision(True, arguments)
        if action == "edit" and isinstance(answer.get("arguments"), Mapping):
            return Decision(True, dict(answer["arguments"]))
        if action == "reject":
            return Decision(False, arguments, str(answer.get("message") or "the user rejected this call"))
    raise ConfigError(
        f"tool approval: cannot read the answer {answer!r}; resume with 'approve', "
        "{'action': 'edit', 'arguments': {...}} or {'action': 'reject', 'message': '...'}"
    )

"""LLM-proposed edits of a real flow (AFlow's optimizer), with the experience of past edits.

With an optimizer LLM set, each expansion of the flow search asks it two things: which of the registry-derived
edits (numbered) to try first, and a new prompt text for one LLM node (a prompt edit; the LLM nodes of the
flow take turns: the generator's ``instruction``, a critic's ``instruction``, a query rewriter's
``system_prompt``). The prompt shows
the flow's YAML, its score and the experience log (past edits and their score deltas), so the optimizer learns
from what helped and what hurt. A reply that names no valid edit is ignored (the rule-based order stands);
the search never fails because of the optimizer.

With ``propose_flows=True`` it is also asked, as AFlow's optimizer is, for a whole modified flow (nodes and
edges in a YAML block, and a line ``EDIT: <what changed>``); :func:`read_proposal` accepts it only when every
step is a registered component and the flow compiles (the reasons for refusals are kept in ``rejected``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ragloom.agents.search.flow_space import FlowEdit, node_role
from ragloom.core import registry
from ragloom.core.types import Message

__all__ = ["PROMPT_PURPOSES", "Experience", "FlowEditAdvisor", "prompt_slots", "read_proposal"]

#: What the prompt text of an LLM node of each role is for: the optimizer is told, so a rewrite keeps the job.
PROMPT_PURPOSES: dict[str, str] = {
    "generator": "answers questions from numbered passages, so that its answers are short and exact",
    "critic": "checks whether an answer is supported by the context and replies yes or no",
    "query_transform": "rewrites a question into a short search query",
}
#: The parameters that hold a component's prompt text, in the order they are looked for.
PROMPT_PARAMS: tuple[str, ...] = ("instruction", "system_prompt")

_NUMBER = re.compile(r"\d+")
_YAML = re.compile(r"```(?:yaml)?\s*\n(.*?)```", re.S)
_EDIT = re.compile(r"^\s*EDIT:\s*(.+)$", re.M)


def prompt_slots(data: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(node, parameter, current text, role)`` of every LLM node whose component takes a prompt text, in
    flow order; the current text is the node's own or its component's default."""
    out = []
    for node, spec in (data.get("nodes") or {}).items():
        role = node_role(spec)
        if role not in PROMPT_PURPOSES:
            continue
        params = inspect.signature(registry.get(spec["uses"]).factory).parameters
        name = next((p for p in PROMPT_PARAMS if p in params), None)
        if name is not None:
            current = (spec.get("with") or {}).get(name, params[name].default)
            out.append((node, name, str(current), str(role)))
    return out


def read_proposal(text: str, parent: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(flow data, edit description) of an optimizer reply proposing a whole flow; the parent's name and state
    schema are kept. Raises ConfigError saying what is wrong (no YAML block, an unregistered component, a flow
    that does not compile, no change)."""
    from ragloom.agents.search.flow_space import canonical
    from ragloom.core.errors import ConfigError
    from ragloom.flows.yaml_io import load_flow

    block = _YAML.search(text)
    if block is None:
        raise ConfigError("the reply has no ```yaml block with the modified flow")
    try:
        proposed = yaml.safe_load(block.group(1))
    except yaml.YAMLError as e:
        raise ConfigError(f"the reply's flow is not YAML: {e}") from e
    if not isinstance(proposed, dict) or not isinstance(proposed.get("nodes"), dict):
        raise ConfigError("the reply's flow has no nodes: mapping")
    for name, spec in proposed["nodes"].items():
        if not isinstance(spec, dict) or str(spec.get("uses")) not in registry.names():
            raise ConfigError(f"node {name!r} of the reply uses no registered component")
    new = {**parent, "nodes": proposed["nodes"], "edges": proposed.get("edges") or []}
    load_flow(yaml.safe_dump(new, sort_keys=False)).compile()  # raises with the flow's own error
    if canonical(new) == canonical(parent):
        raise ConfigError("the reply repeats the flow unchanged")
    found = _EDIT.search(text)
    return new, (found.group(1).strip()[:80] if found else "a new flow")


def _steps(data: dict[str, Any]) -> str:
    """The flow's steps and edges as YAML (its state schema left out: short prompts for small models)."""
    return yaml.safe_dump({"nodes": data.get("nodes"), "edges": data.get("edges")}, sort_keys=False)


@dataclass(frozen=True)
class Experience:
    """One tried edit: what it was and the objective before and after it."""

    edit: str
    before: float
    after: float

    def line(self) -> str:
        verdict = (
            "helped" if self.after > self.before else "hurt" if self.after < self.before else "no change"
        )
        return f"- {self.edit}: {self.before:.4f} -> {self.after:.4f} ({verdict})"


@dataclass
class FlowEditAdvisor:
    """Asks ``llm`` (any object with ``complete(messages, max_tokens=..., temperature=...)``) for edits."""

    llm: Any
    max_tokens: int = 48
    shown: int = 8
    experience: list[Experience] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    turns: int = 0
    propose_flows: bool = False
    flow_tokens: int = 400
    rejected: list[str] = field(default_factory=list)

    def _ask(self, prompt: str, max_tokens: int | None = None) -> str:
        tokens = max_tokens or self.max_tokens
        reply = self.llm.complete([Message("user", prompt)], max_tokens=tokens, temperature=0.0).text
        self.replies.append(reply)
        return str(reply)

    def _history(self) -> str:
        return "\n".join(e.line() for e in self.experience[-self.shown :]) or "- none yet"

    def choose(self, data: dict[str, Any], score: float, edits: Sequence[FlowEdit]) -> list[FlowEdit]:
        """``edits`` with the optimizer's choice first (unchanged when its reply names none)."""
        if not edits:
            return list(edits)
        listed = "\n".join(f"{i}. {e.describe()}" for i, e in enumerate(edits[: self.shown], 1))
        prompt = (
            "You improve a retrieval-augmented generation flow.\n"
            f"Flow (score {score:.4f}):\n```yaml\n{_steps(data)}```\n"
            f"Earlier edits and their effect:\n{self._history()}\n"
            f"Possible edits:\n{listed}\n"
            "Answer with the number of the ONE edit most likely to raise the score."
        )
        found = _NUMBER.search(self._ask(prompt))
        pick = int(found.group()) - 1 if found else -1
        if not 0 <= pick < min(len(edits), self.shown):
            return list(edits)
        return [edits[pick], *edits[:pick], *edits[pick + 1 :]]

    def prompt_edit(self, data: dict[str, Any]) -> FlowEdit | None:
        """A rewritten prompt text for one LLM node (the flow's LLM nodes take turns), or None (no such node,
        or an empty or unchanged reply)."""
        slots = prompt_slots(data)
        if not slots:
            return None
        node, param, current, role = slots[self.turns % len(slots)]
        self.turns += 1
        label = param.replace("_", " ")
        prompt = (
            f"Rewrite this {label} for a model that {PROMPT_PURPOSES[role]}.\n"
            f"{label.capitalize()}: {current}\n"
            f"Earlier edits and their effect:\n{self._history()}\nNew {label}:"
        )
        text = self._ask(prompt).strip().splitlines()
        new = text[0].strip().strip('"') if text else ""
        if not new or new == current:
            return None
        return FlowEdit("param", node, param, new)

    def propose_flow(self, data: dict[str, Any], score: float) -> FlowEdit | None:
        """A whole modified flow from the optimizer (AFlow), when ``propose_flows`` is on and the reply is a
        valid flow of registered components (else None, the reason appended to ``rejected``)."""
        if not self.propose_flows:
            return None
        from ragloom.agents.search.flow_space import canonical
        from ragloom.core.errors import RagloomError

        roles = sorted({str(e.role) for e in registry.searchable() if e.role})
        catalogue = "\n".join(f"- {r}: {', '.join(e.name for e in registry.searchable(r))}" for r in roles)
        prompt = (
            "You improve a retrieval-augmented generation flow.\n"
            f"Flow (score {score:.4f}):\n```yaml\n{_steps(data)}```\n"
            f"Components by role:\n{catalogue}\n"
            f"Earlier edits and their effect:\n{self._history()}\n"
            "Make ONE change that should raise the score. Reply with the whole modified flow (nodes and "
            "edges) in a ```yaml block and one line 'EDIT: <what you changed>'."
        )
        try:
            new, what = read_proposal(self._ask(prompt, self.flow_tokens), data)
        except (RagloomError, ValueError, TypeError) as e:
            self.rejected.append(f"{type(e).__name__}: {e}")
            return None
        return FlowEdit("flow", "", what, canonical(new))

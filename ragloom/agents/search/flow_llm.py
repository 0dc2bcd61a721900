"""LLM-proposed edits of a real flow (AFlow's optimizer), with the experience of past edits.

With an optimizer LLM set, each expansion of the flow search asks it two things: which of the registry-derived
edits (numbered) to try first, and a new instruction text for one LLM node (a prompt edit). The prompt shows
the flow's YAML, its score and the experience log (past edits and their score deltas), so the optimizer learns
from what helped and what hurt. A reply that names no valid edit is ignored (the rule-based order stands);
the search never fails because of the optimizer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ragloom.agents.search.flow_space import FlowEdit, node_role
from ragloom.core.types import Message

__all__ = ["Experience", "FlowEditAdvisor"]

_NUMBER = re.compile(r"\d+")


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

    def _ask(self, prompt: str) -> str:
        reply = self.llm.complete([Message("user", prompt)], max_tokens=self.max_tokens, temperature=0.0).text
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
        """A rewritten ``instruction`` for the first LLM (generator) node, or None (no such node, or an
        empty reply)."""
        node = next((n for n, s in (data.get("nodes") or {}).items() if node_role(s) == "generator"), None)
        if node is None:
            return None
        current = (data["nodes"][node].get("with") or {}).get("instruction", "(the default instruction)")
        prompt = (
            "Rewrite this instruction for a model that answers questions from numbered passages, so that "
            f"its answers are short and exact.\nInstruction: {current}\n"
            f"Earlier edits and their effect:\n{self._history()}\nNew instruction:"
        )
        text = self._ask(prompt).strip().splitlines()
        new = text[0].strip().strip('"') if text else ""
        if not new or new == current:
            return None
        return FlowEdit("param", node, "instruction", new)

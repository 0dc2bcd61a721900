"""AFlow-style LLM-proposed edits: the optimizer model sees the parent flow's YAML, its score, a few failed
examples and the experience of earlier edits of the same parent, and answers with a modified flow.

The answer must hold a YAML flow (in a ```yaml block) and a line ``EDIT: <what changed>``. It is parsed
by the real YAML loader, read back into a candidate of the search space (operators outside the space are
refused), canonicalised, checked and compiled. A proposal is rejected when it repeats an edit already tried
on this parent, reproduces an evaluated flow, or does not compile; the search then falls back to a
rule-based edit. Replies are kept in the search state, so a resumed search replays them without the LLM.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ragloom.agents.search.build import candidate_flow, candidate_from_flow, compile_candidate
from ragloom.agents.search.edits import canonical, check_candidate
from ragloom.agents.search.space import SearchSpace
from ragloom.core.errors import ConfigError
from ragloom.core.types import Message

__all__ = ["LLMEditProposer", "parse_reply"]

_YAML = re.compile(r"```(?:yaml)?\s*\n(.*?)```", re.S)
_EDIT = re.compile(r"^\s*EDIT:\s*(.+)$", re.M)


def parse_reply(text: str) -> tuple[str, str]:
    """(flow YAML, edit description) of an optimizer reply; raises ConfigError when either is missing."""
    block = _YAML.search(text)
    if block is None:
        raise ConfigError("optimizer reply has no ```yaml block with the modified flow")
    edit = _EDIT.search(text)
    return block.group(1), (edit.group(1).strip() if edit else "llm edit")


class LLMEditProposer:
    """Proposes one edited flow per call with ``llm`` (any :class:`ragloom.core.protocols.LLM`)."""

    def __init__(self, llm: Any, space: SearchSpace, max_tokens: int = 800, failures: int = 3) -> None:
        self.llm, self.space, self.max_tokens, self.n_failures = llm, space, max_tokens, failures
        self.rejected: list[str] = []

    def prompt(self, search: Any, parent: Any, tried: set[str]) -> str:
        flow_yaml = candidate_flow(parent.candidate, self.space, name="parent").to_yaml()
        ops = "\n".join(
            f"- {op.name} ({op.stage}, uses {op.uses}): "
            + ", ".join(f"{p.name} in {p.values()[:8]}" for p in op.params.values())
            for op in self.space.operators.values()
        )
        history = [e for e in search.experience if e["parent"] == parent.id]
        lines = [
            f"- {e['edit']}: {e['before']:.4f} -> {e['after']:.4f} ({'helped' if e['helped'] else 'hurt'})"
            for e in history
        ]
        failed = [
            f"- {f['question']} (score {f['score']:.2f})"
            for f in parent.evaluation.failures[: self.n_failures]
        ]
        return (
            "You improve a retrieval-augmented generation workflow. Stages run in this order: "
            "query, retrieve, expand, rerank, select, generate, review, format.\n"
            f"Allowed operators and parameter values:\n{ops}\n\n"
            f"Current flow (score {parent.score:.4f} on the dev set):\n```yaml\n{flow_yaml}```\n"
            f"Questions it fails on:\n{chr(10).join(failed) or '- none'}\n"
            f"Earlier edits of this flow (do not repeat them):\n{chr(10).join(lines) or '- none'}\n\n"
            "Make ONE change that should raise the score. "
            "Reply with the whole modified flow in a ```yaml block "
            "and one line 'EDIT: <what you changed>'."
        )

    def propose(
        self, search: Any, parent: Any, tried: set[str], exclude: set[str]
    ) -> tuple[Any, str, str] | None:
        prompt = self.prompt(search, parent, tried)
        key = hashlib.sha1(prompt.encode()).hexdigest()
        reply = search.store.proposals.get(key)
        if reply is None:
            reply = self.llm.complete(
                [Message("user", prompt)], max_tokens=self.max_tokens, temperature=0.7
            ).text
            search.store.proposals[key] = reply
        try:
            flow_yaml, edit = parse_reply(reply)
            if edit in tried:
                raise ConfigError(f"repeated edit {edit!r} of this parent")
            from ragloom.flows import Flow

            child = canonical(candidate_from_flow(Flow.from_yaml(flow_yaml), self.space), self.space)
            check_candidate(child, self.space)
            compile_candidate(child, self.space)
            if child.key() == parent.candidate.key() or child.key() in exclude:
                raise ConfigError("the proposed flow was already evaluated (a repeated edit)")
        except Exception as e:
            self.rejected.append(f"{type(e).__name__}: {e}")
            return None
        return child, edit, "llm"

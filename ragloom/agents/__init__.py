"""Agents: a ReAct-style tool-using agent node, and workflow search over flows (``ragloom.agents.search``)."""

from ragloom.agents.react import AgentResult, AgentStep, ReActAgent

__all__ = ["AgentResult", "AgentStep", "ReActAgent"]

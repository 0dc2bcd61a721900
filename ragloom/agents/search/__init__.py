"""Workflow search (AFlow-style) over real flows: MCTS or random search from a seed flow file, over edits
derived from the component registry, every candidate scored by the one flow evaluator
(:func:`ragloom.eval.flow_eval.evaluate_flow`); an optional optimizer LLM proposes edits and prompt rewrites
with the experience of past edits. The best flow is an ordinary flow file (``ragloom run best_flow.yaml``).
"""

from __future__ import annotations

from ragloom.agents.search.flow_llm import Experience, FlowEditAdvisor
from ragloom.agents.search.flow_parallel import DatasetResources
from ragloom.agents.search.flow_report import write_report
from ragloom.agents.search.flow_search import (
    FlowRecord,
    FlowSearchOutcome,
    default_objective,
    evaluate_candidates,
    flow_yaml,
    read_seed,
    search_flow,
    write_outcome,
)
from ragloom.agents.search.flow_space import FlowEdit, apply_edit, flow_edits
from ragloom.agents.search.kernels import pareto_front

__all__ = [
    "DatasetResources",
    "Experience",
    "FlowEdit",
    "FlowEditAdvisor",
    "FlowRecord",
    "FlowSearchOutcome",
    "apply_edit",
    "default_objective",
    "evaluate_candidates",
    "flow_edits",
    "flow_yaml",
    "pareto_front",
    "read_seed",
    "search_flow",
    "write_outcome",
    "write_report",
]

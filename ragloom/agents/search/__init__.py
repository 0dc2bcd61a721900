"""Workflow search (AFlow-style): find better flows by tree search over a space of operators, score
against cost, and compare with random search and hill-climbing under the same budget.

Importing this package registers the ``search.*`` operators (:mod:`.components`).
"""

from __future__ import annotations

from ragloom.agents.search import components as _components  # noqa: F401 - registers search.* operators
from ragloom.agents.search.api import SearchResult, search_flows
from ragloom.agents.search.build import SearchState, candidate_flow, candidate_from_flow, compile_candidate
from ragloom.agents.search.edits import Edit, canonical, check_candidate, neighbours, random_candidate
from ragloom.agents.search.evaluate import DatasetScorer, Evaluation, Scorer
from ragloom.agents.search.kernels import pareto_front, scalarise, soft_mixed_probabilities
from ragloom.agents.search.optimizer import LLMEditProposer
from ragloom.agents.search.resources import SearchResources, resources_for_dataset
from ragloom.agents.search.search import Record, SearchConfig, SearchOutcome, WorkflowSearch, run_search
from ragloom.agents.search.space import Candidate, SearchSpace, Step, load_space

__all__ = [
    "Candidate",
    "DatasetScorer",
    "Edit",
    "Evaluation",
    "LLMEditProposer",
    "Record",
    "Scorer",
    "SearchConfig",
    "SearchOutcome",
    "SearchResources",
    "SearchResult",
    "SearchSpace",
    "SearchState",
    "Step",
    "WorkflowSearch",
    "candidate_flow",
    "candidate_from_flow",
    "canonical",
    "check_candidate",
    "compile_candidate",
    "load_space",
    "neighbours",
    "pareto_front",
    "random_candidate",
    "resources_for_dataset",
    "run_search",
    "scalarise",
    "search_flows",
    "soft_mixed_probabilities",
]

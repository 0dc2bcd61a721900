"""Context selection under a token budget: which hits go into the prompt.

Every selector satisfies :class:`ragloom.core.protocols.Selector` (``select(query, hits, budget_tokens)``),
never exceeds the budget (summed per-hit tokens in the generating LLM's tokenizer by default) and returns hits
in their original order (:class:`SentenceSelector` returns sentence runs cut from the hits, best first). Flow
components ``select.topk``, ``select.greedy``, ``select.mmr``, ``select.sage``, ``select.corag`` and
``select.sentences`` wrap them as nodes (``hits`` in, ``context`` out).
"""

from ragloom.retrieval.select.corag import ChunkSetProblem, CoragSelector, CoragWeights
from ragloom.retrieval.select.greedy import GreedyDensitySelector
from ragloom.retrieval.select.mmr import MMRSelector
from ragloom.retrieval.select.sage import SageSelector
from ragloom.retrieval.select.sentences import SentenceSelector
from ragloom.retrieval.select.topk import TopKSelector

__all__ = [
    "ChunkSetProblem",
    "CoragSelector",
    "CoragWeights",
    "GreedyDensitySelector",
    "MMRSelector",
    "SageSelector",
    "SentenceSelector",
    "TopKSelector",
]

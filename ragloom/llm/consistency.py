"""``llm.self_consistency``: a generator that samples several answers and keeps the most frequent one.

Self-consistency (Wang et al., 2023, "Self-Consistency Improves Chain of Thought Reasoning in Language
Models"): sample ``samples`` answers at a temperature above zero and vote; answers are compared after SQuAD
normalisation with their ``[n]`` citation markers removed, and the winning sample keeps its own citations.
It takes every parameter of ``llm.generate`` (it runs that node ``samples`` times), so workflow search can
swap it for ``llm.generate`` (role ``generator``) and tune ``samples``. It was the private ``search.ensemble``
operator of the retired fixed-stage search.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.registry import register
from ragloom.flows import RunContext, node

__all__ = ["self_consistency", "vote"]

_CITE = re.compile(r"\s*\[\d+\]")


def vote(answers: list[str]) -> int:
    """Index of the first answer of the most frequent normalised form (ties: the form seen first)."""
    from ragloom.eval.metrics import normalize_answer

    if not answers:
        raise ConfigError("vote needs at least one answer")
    forms = [normalize_answer(_CITE.sub("", a)) for a in answers]
    counts = Counter(forms)
    best = max(counts, key=lambda f: (counts[f], -forms.index(f)))
    return forms.index(best)


@register("llm.self_consistency", role="generator", search={"samples": [3, 5]})
def self_consistency(samples: int = 3, temperature: float = 0.7, **generate: Any) -> Callable[..., Any]:
    """Sample ``samples`` answers with ``llm.generate`` (its parameters in ``generate``) at ``temperature``
    and keep the most frequent one, with its citations."""
    from ragloom.llm.components import generate as generate_node

    if samples < 1:
        raise ConfigError(f"llm.self_consistency: samples must be >= 1, got {samples}")
    one = generate_node(temperature=temperature, **generate)
    answer_key = str(generate.get("output_key", "answer"))

    @node(takes_context=True)
    def self_consistency_node(state: Any, ctx: RunContext) -> dict[str, Any]:
        outs = [one(state, ctx) for _ in range(samples)]
        return dict(outs[vote([str(o[answer_key]) for o in outs])])

    return self_consistency_node

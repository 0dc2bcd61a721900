"""Expansion priors of workflow search: which edits of a flow MCTS tries first.

MCTS expands a node's actions in the order the problem lists them, a few at a time (``branching``), so with
a budget of a handful of evaluations the order *is* the search. Two priors, both derived from the edits
themselves and from what the search has measured, never from the dataset:

- **coarse before fine, not coarse only**: edits that change what a step is or how steps connect (swap,
  insert, remove, arm, unarm, loop) lead parameter tweaks of the same flow. A swap moves the flow far, a
  parameter step refines it; refining first spends the budget on the neighbourhood of the seed (AFlow also
  favours structural modifications early). But a flow has many more coarse edits than MCTS expands per node
  (``branching``), so a strict order would never try a parameter under a small budget: every
  ``FINE_EVERY``-th untried edit is a parameter tweak (coarse, coarse, fine, ...). Each group keeps the
  search's seeded shuffle, so seeds differ.
- **experience** (in the spirit of RAVE / all-moves-as-first, Gelly & Silver, 2007): an edit that already
  raised the score of some flow (same description: same node, same component or value) is tried first
  elsewhere too, and one that lowered it goes last; untried edits keep their place in between.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from ragloom.agents.search.flow_space import FlowEdit

__all__ = ["COARSE_KINDS", "FINE_EVERY", "order_edits"]

COARSE_KINDS: frozenset[str] = frozenset({"swap", "insert", "remove", "arm", "unarm", "loop"})
#: Among untried edits, every FINE_EVERY-th is a parameter tweak (while both kinds remain).
FINE_EVERY = 3


def order_edits(
    edits: Sequence[FlowEdit], rng: random.Random, gains: Mapping[str, float] | None = None
) -> list[FlowEdit]:
    """``edits`` in expansion order: measured gains first, then untried coarse and fine edits interleaved
    (two coarse, one fine, ...), measured losses last.

    ``gains``: mean score change per edit description (child minus parent) seen so far in this search."""
    shuffled = list(edits)
    rng.shuffle(shuffled)
    seen = gains or {}

    def rank(edit: FlowEdit) -> tuple[int, float]:
        gain = seen.get(edit.describe())
        if gain is not None and gain > 0:
            return (0, -gain)
        if gain is not None:
            return (3, -gain)
        return (1 if edit.kind in COARSE_KINDS else 2, 0.0)

    ranked = sorted(shuffled, key=rank)  # stable: the seeded shuffle orders edits within a rank
    groups = [[e for e in ranked if rank(e)[0] == r] for r in range(4)]
    return groups[0] + interleave(groups[1], groups[2], FINE_EVERY) + groups[3]


def interleave(coarse: Sequence[FlowEdit], fine: Sequence[FlowEdit], every: int) -> list[FlowEdit]:
    """``coarse`` with one item of ``fine`` in every ``every``-th place, the rest of either list after."""
    out: list[FlowEdit] = []
    c, f = list(coarse), list(fine)
    while c and f:
        if len(out) % every == every - 1:
            out.append(f.pop(0))
        else:
            out.append(c.pop(0))
    return out + c + f

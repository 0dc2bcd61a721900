"""Structural edits of a flow beyond a linear chain: a parallel retriever arm with a join, and bounded loops.

All of them work on the flow's YAML data (``nodes`` / ``edges`` / ``state``) and produce ordinary flow files
made of registered components, in the engine's own spellings (``examples/flows/fan_out_join.yaml`` for the
fan-out and join, ``loop_counter.yaml`` for a counted loop with ``when:`` cases):

- ``arm``: run a second retriever (any registered component of role ``retriever``, e.g. ``graph.retrieve``)
  in parallel with an existing one, writing its own hits key, and join both with a component of role
  ``fusion`` (``retrieval.fuse``: the library's RRF) that writes the original hits key;
- ``unarm``: remove one arm of such a join, and the join (the kept arm writes the join's key again);
- ``retry``: "rewrite the query and retrieve again when the context scores low": after the selector, a
  coverage check routes to a ``query_transform`` step (``llm.rewrite_query``) and back to the retrievers,
  at most ``max_rounds`` times (a counter in state, checked first);
- ``review``: "review -> regenerate when unsupported": after the generator, a ``critic``
  (``llm.check_support``) routes to a regeneration (the generator at a higher temperature) and back to the
  review, at most ``max_rounds`` times.

The loops need an LLM at run time, so the search only proposes them when it evaluates with one.
"""

from __future__ import annotations

from typing import Any

from ragloom.core import registry
from ragloom.core.errors import ConfigError

__all__ = ["apply_structural", "arm_edits", "loop_edits", "unarm_edits"]

HITS_TYPE = {"type": "list[Hit]", "default": []}
#: Loop settings the search tries (rounds bound the loop; the threshold is the coverage that is "low").
RETRY_SETTINGS: tuple[tuple[int, float], ...] = ((1, 0.6), (1, 0.8), (2, 0.8))
REVIEW_ROUNDS: tuple[int, ...] = (1,)


def _role(spec: Any) -> str | None:
    if not isinstance(spec, dict) or not isinstance(spec.get("uses"), str):
        return None
    try:
        return registry.get(spec["uses"]).role
    except Exception:  # an import-path node is not a registered component
        return None


def _with(spec: dict[str, Any]) -> dict[str, Any]:
    return dict(spec.get("with") or {})


def _plain_in(edges: list[dict[str, Any]], node: str) -> list[dict[str, Any]]:
    """Edges into ``node`` alone (``to: node`` or a fan-out list containing it); conditional ones excluded."""
    return [e for e in edges if "when" not in e and (e.get("to") == node or node in _as_list(e.get("to")))]


def _plain_out(edges: list[dict[str, Any]], node: str) -> list[dict[str, Any]]:
    return [e for e in edges if e.get("from") == node]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _fresh(taken: Any, base: str) -> str:
    name, i = base, 2
    while name in taken:
        name, i = f"{base}{i}", i + 1
    return name


def _joins(data: dict[str, Any]) -> list[str]:
    return [n for n, s in (data.get("nodes") or {}).items() if _role(s) == "fusion"]


def _has_loop(data: dict[str, Any]) -> bool:
    return any("when" in e for e in data.get("edges") or [])


# -- parallel arm + join ----------------------------------------------------------------------------------
def arm_edits(data: dict[str, Any], exclude: Any = ()) -> list[tuple[str, str]]:
    """(retriever node, component) pairs: add ``component`` as a parallel arm of that node, joined by fusion.

    One join per flow keeps the space small; the node needs one plain in-edge and one plain out-edge."""
    if _joins(data) or not registry.searchable("fusion"):
        return []
    nodes, edges = data.get("nodes") or {}, list(data.get("edges") or [])
    out = []
    for node, spec in nodes.items():
        if _role(spec) != "retriever":
            continue
        ins, outs = _plain_in(edges, node), _plain_out(edges, node)
        if len(ins) != 1 or ins[0].get("to") != node or len(outs) != 1 or isinstance(outs[0]["to"], list):
            continue
        arms = [e.name for e in registry.searchable("retriever") if e.name not in exclude]
        out += [(node, name) for name in arms if name != spec["uses"]]
    return out


def _apply_arm(new: dict[str, Any], node: str, component: str) -> None:
    nodes, edges, state = new["nodes"], new["edges"], new.setdefault("state", {})
    spec = nodes[node]
    hits_key = _with(spec).get("output_key", "hits")
    parts = component.split(".")
    arm = _fresh(nodes, parts[0] if parts[-1] == "retrieve" else parts[-1])  # graph.retrieve -> graph
    arm_key = _fresh(state, f"{hits_key}_{arm}")
    entry = registry.get(component)
    params = {**entry.defaults, "k": _with(spec).get("k", 20), "output_key": arm_key}
    if "input_key" in _with(spec):
        params["input_key"] = _with(spec)["input_key"]
    nodes[arm] = {"uses": component, "with": params}
    join = _fresh(nodes, "fuse")
    fusion = registry.searchable("fusion")[0].name
    k = _with(spec).get("k", 20)
    nodes[join] = {"uses": fusion, "with": {"inputs": [hits_key, arm_key], "output_key": hits_key, "k": k}}
    state[arm_key] = dict(state.get(hits_key) or HITS_TYPE)
    (into,) = _plain_in(edges, node)
    into["to"] = [node, arm]
    (out,) = _plain_out(edges, node)
    at = edges.index(out)  # in place, so that unarm gives back the very same file
    edges[at : at + 1] = [{"from": [node, arm], "to": join}, {"from": join, "to": out["to"]}]


def unarm_edits(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(join node, arm to drop) pairs for every two-arm join whose arms fan out from one edge."""
    out = []
    edges = list(data.get("edges") or [])
    for join in _joins(data):
        ins = [e for e in edges if isinstance(e.get("from"), list) and e.get("to") == join]
        if len(ins) != 1 or len(ins[0]["from"]) != 2 or len(_plain_out(edges, join)) != 1:
            continue
        arms = ins[0]["from"]
        fan = [e for e in edges if sorted(_as_list(e.get("to"))) == sorted(arms)]
        if len(fan) == 1:
            out += [(join, arm) for arm in arms]
    return out


def _apply_unarm(new: dict[str, Any], join: str, drop: str) -> None:
    nodes, edges, state = new["nodes"], new["edges"], new.get("state") or {}
    (joined,) = [e for e in edges if isinstance(e.get("from"), list) and e.get("to") == join]
    (keep,) = [a for a in joined["from"] if a != drop]
    (fan,) = [e for e in edges if sorted(_as_list(e.get("to"))) == sorted(joined["from"])]
    join_key = _with(nodes[join]).get("output_key", "hits")
    dropped_key = _with(nodes[drop]).get("output_key", "hits")
    kept = _with(nodes[keep])
    kept_key = kept.get("output_key", "hits")
    kept["output_key"] = join_key
    if join_key == "hits":
        kept.pop("output_key")
    nodes[keep] = {**nodes[keep], "with": kept} if kept else {"uses": nodes[keep]["uses"]}
    (out,) = _plain_out(edges, join)
    fan["to"] = keep
    edges.remove(joined)
    out["from"] = keep
    for name in (drop, join):
        del nodes[name]
    for key in {dropped_key, kept_key} - {join_key}:
        state.pop(key, None)


# -- bounded loops ----------------------------------------------------------------------------------------
def loop_edits(data: dict[str, Any]) -> list[tuple[str, str, int, float]]:
    """(kind, node, max_rounds, threshold): ``retry`` after a selector, ``review`` after a generator."""
    if _has_loop(data):
        return []
    nodes, edges = data.get("nodes") or {}, list(data.get("edges") or [])
    out: list[tuple[str, str, int, float]] = []
    rewriters = registry.searchable("query_transform")
    critics = registry.searchable("critic")
    retrievers = [n for n, s in nodes.items() if _role(s) == "retriever"]
    for node, spec in nodes.items():
        outs = _plain_out(edges, node)
        if len(outs) != 1 or isinstance(outs[0]["to"], list):
            continue
        role = _role(spec)
        if role == "selector" and rewriters and len(retrievers) >= 1 and _first_stage_edge(data) is not None:
            out += [("retry", node, rounds, threshold) for rounds, threshold in RETRY_SETTINGS]
        if role == "generator" and critics:
            out += [("review", node, rounds, 0.0) for rounds in REVIEW_ROUNDS]
    return out


def _first_stage_edge(data: dict[str, Any]) -> dict[str, Any] | None:
    """The one plain edge that feeds the flow's retriever(s) (their common predecessor's out-edge)."""
    nodes, edges = data.get("nodes") or {}, list(data.get("edges") or [])
    retrievers = {n for n, s in nodes.items() if _role(s) == "retriever"}
    feeding = [
        e for e in edges if "when" not in e and set(_as_list(e.get("to")) or [e.get("to")]) & retrievers
    ]
    return feeding[0] if len(feeding) == 1 else None


def _bound_steps(new: dict[str, Any], rounds: int) -> None:
    """A loop needs a step limit the flow can finish within: every node once per round, plus slack."""
    need = (rounds + 1) * (len(new["nodes"]) + 2)
    new["max_steps"] = max(int(new.get("max_steps") or 0), need)


def _apply_retry(new: dict[str, Any], selector: str, rounds: int, threshold: float) -> None:
    nodes, edges, state = new["nodes"], new["edges"], new.setdefault("state", {})
    feed = _first_stage_edge(new)
    assert feed is not None
    targets = feed["to"]
    for spec in nodes.values():
        if _role(spec) == "retriever" and _with(spec).get("input_key", "question") == "question":
            spec["with"] = {**_with(spec), "input_key": "query"}
    start, check = _fresh(nodes, "start_query"), _fresh(nodes, "check_context")
    rewrite, count = _fresh(nodes, "rewrite"), _fresh(nodes, "count_retrieval")
    nodes[start] = {"uses": "flows.copy", "with": {"source": "question", "target": "query"}}
    nodes[check] = {"uses": "retrieval.coverage", "with": {"output_key": "coverage"}}
    rewriter = registry.searchable("query_transform")[0].name
    nodes[rewrite] = {
        "uses": rewriter,
        "with": {"input_key": "query", "output_key": "query", "mode": "expand"},
    }
    nodes[count] = {"uses": "flows.increment", "with": {"key": "retrieval_rounds"}}
    state.setdefault("query", {"type": "str", "default": ""})
    state.setdefault("coverage", {"type": "float", "default": 0.0})
    state.setdefault("retrieval_rounds", {"type": "int", "default": 0})
    feed["to"] = start
    (out,) = _plain_out(edges, selector)
    after = out["to"]
    out["to"] = check
    cases = [
        {"if": {"key": "retrieval_rounds", "op": ">=", "value": rounds}, "to": after},
        {"if": {"key": "coverage", "op": "<", "value": threshold}, "to": rewrite},
        {"else": after},
    ]
    edges += [
        {"from": start, "to": targets},
        {"from": check, "when": cases},
        {"from": rewrite, "to": count},
        {"from": count, "to": targets},
    ]
    _bound_steps(new, rounds)


def _apply_review(new: dict[str, Any], generator: str, rounds: int) -> None:
    nodes, edges, state = new["nodes"], new["edges"], new.setdefault("state", {})
    spec = nodes[generator]
    review, again = _fresh(nodes, "review"), _fresh(nodes, "regenerate")
    count = _fresh(nodes, "count_review")
    nodes[review] = {"uses": registry.searchable("critic")[0].name, "with": {"output_key": "supported"}}
    nodes[again] = {"uses": spec["uses"], "with": {**_with(spec), "temperature": 0.7}}
    nodes[count] = {"uses": "flows.increment", "with": {"key": "review_rounds"}}
    state.setdefault("supported", {"type": "bool", "default": True})
    state.setdefault("review_rounds", {"type": "int", "default": 0})
    (out,) = _plain_out(edges, generator)
    after = out["to"]
    out["to"] = review
    cases = [
        {"if": {"key": "review_rounds", "op": ">=", "value": rounds}, "to": after},
        {"if": {"key": "supported", "op": "falsy"}, "to": count},
        {"else": after},
    ]
    edges += [{"from": review, "when": cases}, {"from": count, "to": again}, {"from": again, "to": review}]
    _bound_steps(new, rounds)


def apply_structural(new: dict[str, Any], kind: str, node: str, name: str, value: Any) -> None:
    """Apply a structural edit in place on ``new`` (a copy the caller owns)."""
    new.setdefault("edges", [])
    if kind == "arm":
        _apply_arm(new, node, name)
    elif kind == "unarm":
        _apply_unarm(new, node, name)
    elif kind == "loop" and name == "retry":
        rounds, threshold = value
        _apply_retry(new, node, int(rounds), float(threshold))
    elif kind == "loop" and name == "review":
        _apply_review(new, node, int(value[0]))
    else:
        raise ConfigError(f"unknown structural flow edit {kind!r} {name!r}")

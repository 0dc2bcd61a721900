"""Workflow search over real flows: the edits of a flow, derived from the component registry.

A candidate is a flow's YAML data (``nodes`` / ``edges`` / ``state`` as a plain dict), kept as canonical JSON
so that candidates are hashable and deduplicated. Its edits are derived, not hand-listed: every registered
component that declared a ``role`` and ``search`` ranges (:func:`ragloom.core.registry.register`) gives

- ``param``: set a parameter of a node to another value of its declared range;
- ``swap``: replace a node's component by another registered component of the same role (parameters the new
  factory accepts are kept, so resource names, state keys and token budgets survive the swap);
- ``insert``: add a step of a role that reads and writes the same state key (a ``reranker``) after the
  retriever, rewiring the edge;
- ``remove``: remove such a step again (its in-edge is rewired to its successor);
- ``arm`` / ``unarm``: a second retriever in parallel, joined by a ``fusion`` component, and its removal;
- ``loop``: bounded "retrieve again when the context scores low" and "review -> regenerate when
  unsupported" loops (:mod:`ragloom.agents.search.flow_structure`), proposed only when the search runs LLMs.

A component's declared ``defaults`` (``register(..., defaults={"resource": "graph"})``) are set when a swap
or an arm brings it in, so ``graph.retrieve`` reads the graph resource, not the hybrid one.

So a component registered tomorrow with ``role="reranker", search={...}`` is searched with no change here.
Every edit produces an ordinary flow file: only registered components, runnable by ``ragloom run --index``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ragloom.agents.search.flow_structure import apply_structural, arm_edits, loop_edits, unarm_edits
from ragloom.core import registry
from ragloom.core.errors import ConfigError

__all__ = [
    "INPLACE_ROLES",
    "FlowEdit",
    "apply_edit",
    "canonical",
    "flow_edits",
    "node_role",
    "retrieval_only",
    "unavailable",
]

#: Roles whose steps read and write the same key (``hits`` -> ``hits``): they can be inserted and removed
#: anywhere after a retriever without breaking the state contract of the rest of the flow.
INPLACE_ROLES: tuple[str, ...] = ("reranker",)
#: Roles that need an LLM at run time (left out of retrieval-only evaluation).
LLM_ROLES: tuple[str, ...] = ("generator",)


@dataclass(frozen=True)
class FlowEdit:
    """One edit: ``kind`` (param, swap, insert, remove), the node it touches and its argument(s)."""

    kind: str
    node: str
    name: str = ""
    value: Any = None

    def describe(self) -> str:
        if self.kind == "param":
            return f"{self.node}.{self.name}={self.value!r}"
        if self.kind == "swap":
            return f"{self.node}: uses {self.name}"
        if self.kind == "insert":
            return f"insert {self.name} after {self.node}"
        if self.kind == "arm":
            return f"arm {self.name} beside {self.node}"
        if self.kind == "unarm":
            return f"unarm {self.name} from {self.node}"
        if self.kind == "loop":
            return f"loop {self.name} after {self.node} {self.value!r}"
        if self.kind == "flow":  # a whole flow proposed by the optimizer LLM (value: its canonical JSON)
            return f"llm: {self.name}"
        return f"remove {self.node}"


def canonical(data: dict[str, Any]) -> str:
    """The candidate's key: the flow data as JSON (node and parameter order kept: it is the file's order)."""
    return json.dumps(data, sort_keys=False, default=str)


def node_role(spec: Any) -> str | None:
    """The declared role of a node's component (None: an inline or unsearchable node)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("uses"), str):
        return None
    try:
        return registry.get(spec["uses"]).role
    except Exception:  # an import-path node (uses: module:function) is not a registered component
        return None


def _accepts(name: str) -> tuple[set[str], bool]:
    """Parameter names ``name``'s factory accepts, and whether it takes ``**kwargs``."""
    params = inspect.signature(registry.get(name).factory).parameters.values()
    named = {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return named, any(p.kind == p.VAR_KEYWORD for p in params)


def _defaults(name: str) -> dict[str, Any]:
    """The factory's parameter defaults: a parameter a node leaves out has its default value."""
    params = inspect.signature(registry.get(name).factory).parameters.values()
    return {p.name: p.default for p in params if p.default is not p.empty}


def _param_edits(node: str, spec: dict[str, Any]) -> list[FlowEdit]:
    # a value equal to the one in effect (given, else the default) would be the same flow: no edit
    current = {**_defaults(spec["uses"]), **(spec.get("with") or {})}
    out = []
    for param, values in registry.get(spec["uses"]).search.items():
        out += [FlowEdit("param", node, param, v) for v in values if current.get(param) != v]
    return out


def _swap_edits(node: str, spec: dict[str, Any], role: str, exclude: Collection[str]) -> list[FlowEdit]:
    named = [e.name for e in registry.searchable(role)]
    return [FlowEdit("swap", node, n) for n in named if n != spec["uses"] and n not in exclude]


def _edges(data: dict[str, Any]) -> list[dict[str, Any]]:
    return list(data.get("edges") or [])


def _single_plain(edges: list[dict[str, Any]], node: str, end: str) -> list[dict[str, Any]]:
    """The plain (unconditional) edges with ``end`` == node; conditional edges make a node not rewirable."""
    return [e for e in edges if e.get(end) == node]


def _rewirable(edges: list[dict[str, Any]], node: str) -> bool:
    ins, outs = _single_plain(edges, node, "to"), _single_plain(edges, node, "from")
    plain = all(set(e) <= {"from", "to"} for e in ins + outs)
    return plain and len(ins) == 1 and len(outs) == 1


def _structural_edits(data: dict[str, Any], exclude: Collection[str]) -> list[FlowEdit]:
    nodes, edges = data.get("nodes") or {}, _edges(data)
    out: list[FlowEdit] = []
    has_inplace = {node_role(s) for s in nodes.values()} & set(INPLACE_ROLES)
    for node, spec in nodes.items():
        role = node_role(spec)
        if role in INPLACE_ROLES and _rewirable(edges, node):
            out.append(FlowEdit("remove", node))
        if role == "retriever" and not has_inplace and len(_single_plain(edges, node, "from")) == 1:
            steps = [e.name for r in INPLACE_ROLES for e in registry.searchable(r) if e.name not in exclude]
            out += [FlowEdit("insert", node, name) for name in steps]
    return out


def flow_edits(data: dict[str, Any], exclude: Collection[str] = (), llm: bool = True) -> list[FlowEdit]:
    """Every edit of the flow ``data`` the registry allows (the search's actions), in a stable order;
    ``exclude`` names components never swapped or inserted (e.g. ones too slow for the user's machine, or
    whose run resource is missing); ``llm=False`` (an evaluation without an LLM) leaves out the loops, which
    need one, and the edits of LLM steps, which such an evaluation drops (:func:`retrieval_only`): they would
    be no-op actions taking the place of real ones in MCTS's expansions."""
    out: list[FlowEdit] = []
    for node, spec in (data.get("nodes") or {}).items():
        role = node_role(spec)
        if role is None or (not llm and role in LLM_ROLES):
            continue
        out += _param_edits(node, spec)
        out += _swap_edits(node, spec, role, exclude)
    out += _structural_edits(data, exclude)
    out += [FlowEdit("arm", node, name) for node, name in arm_edits(data, exclude)]
    out += [FlowEdit("unarm", join, arm) for join, arm in unarm_edits(data)]
    if llm:
        out += [FlowEdit("loop", n, kind, (r, t)) for kind, n, r, t in loop_edits(data)]
    return out


def unavailable(resources: Collection[str]) -> list[str]:
    """Searchable components whose declared run resource (``defaults["resource"]``) is not in
    ``resources``: the search leaves them out (e.g. ``graph.retrieve`` when the index has no graph)."""
    return [
        e.name
        for e in registry.searchable()
        if isinstance(e.defaults.get("resource"), str) and e.defaults["resource"] not in resources
    ]


def _fresh_name(nodes: dict[str, Any], base: str) -> str:
    name, i = base, 2
    while name in nodes:
        name, i = f"{base}{i}", i + 1
    return name


def apply_edit(data: dict[str, Any], edit: FlowEdit) -> dict[str, Any]:
    """A new flow data with ``edit`` applied (``data`` is not changed)."""
    if edit.kind == "flow":
        return dict(json.loads(str(edit.value)))
    new = json.loads(json.dumps(data, default=str))
    nodes: dict[str, Any] = new.setdefault("nodes", {})
    if edit.node not in nodes:
        raise ConfigError(f"flow edit {edit.describe()}: the flow has no node {edit.node!r}")
    spec = nodes[edit.node]
    if edit.kind == "param":
        spec["with"] = {**(spec.get("with") or {}), edit.name: edit.value}
    elif edit.kind == "swap":
        named, anything = _accepts(edit.name)
        old = registry.get(spec["uses"]).defaults
        kept = {
            k: v for k, v in (spec.get("with") or {}).items() if (anything or k in named) and k not in old
        }
        kept |= registry.get(edit.name).defaults
        nodes[edit.node] = {"uses": edit.name, "with": kept} if kept else {"uses": edit.name}
    elif edit.kind in ("arm", "unarm", "loop"):
        apply_structural(new, edit.kind, edit.node, edit.name, edit.value)
        new = json.loads(json.dumps(new))  # no shared sub-objects: the file has no YAML anchors
    elif edit.kind == "insert":
        step = _fresh_name(nodes, edit.name.split(".")[-1])
        nodes[step] = {"uses": edit.name}
        for e in new["edges"]:
            if e.get("from") == edit.node:
                e["from"] = step
        new["edges"].append({"from": edit.node, "to": step})
    elif edit.kind == "remove":
        (after,) = [e["to"] for e in new["edges"] if e.get("from") == edit.node]
        new["edges"] = [e for e in new["edges"] if e.get("from") != edit.node]
        for e in new["edges"]:
            if e.get("to") == edit.node:
                e["to"] = after
        del nodes[edit.node]
    else:
        raise ConfigError(
            f"unknown flow edit kind {edit.kind!r}; expected param, swap, insert, remove, arm, unarm or loop"
        )
    return new


def _names(end: Any) -> set[str]:
    """The node names at one end of an edge (a name, or a list of names for fan-out / join edges)."""
    return {n for n in end if isinstance(n, str)} if isinstance(end, list) else {end} - {None}


def retrieval_only(data: dict[str, Any]) -> dict[str, Any]:
    """The flow without its LLM steps (their in-edges go to END): what a retrieval/context objective needs,
    evaluated with no LLM at all."""
    new = json.loads(json.dumps(data, default=str))
    nodes = new.get("nodes") or {}
    drop = {n for n, s in nodes.items() if node_role(s) in LLM_ROLES}
    if not drop:
        return new
    edges = [e for e in new.get("edges") or [] if not _names(e.get("from")) & drop]
    for e in edges:
        if isinstance(e.get("to"), str) and e["to"] in drop:
            e["to"] = "END"
    new["edges"] = [dict(t) for t in {json.dumps(e, sort_keys=True): e for e in edges}.values()]
    new["nodes"] = {n: s for n, s in nodes.items() if n not in drop}
    return new

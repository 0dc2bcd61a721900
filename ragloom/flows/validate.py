"""compile()-time checks of a Flow: every problem is a FlowCompileError that says where and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ragloom.core.errors import FlowCompileError
from ragloom.flows.builder import END, START

if TYPE_CHECKING:
    from ragloom.flows.builder import Flow

ANY = "*"  # successor placeholder for a router without declared targets


def _known(flow: Flow, name: str, where: str, allow: Iterable[str] = ()) -> None:
    if name in flow.nodes or name in allow:
        return
    close = [n for n in flow.nodes if n.lower() == name.lower() or n.startswith(name[:3])]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise FlowCompileError(
        f"flow {flow.name!r}: {where} names unknown node {name!r}.{hint} Known nodes: {sorted(flow.nodes)}. "
        f"Add it with flow.add_node({name!r}, fn) or fix the name."
    )


def check_names(flow: Flow, interrupt_before: Iterable[str]) -> None:
    """Edges, routers and interrupts name existing nodes (START only as a source, END only as a target)."""
    for spec in flow.nodes.values():
        if not callable(spec.fn) and not hasattr(spec.fn, "_run_as_node"):  # a CompiledFlow is a node
            raise FlowCompileError(
                f"flow {flow.name!r}: node {spec.name!r} is {spec.fn!r}, which is not callable"
            )
    for edge in flow.edges:
        where = f"edge {list(edge.sources)} -> {edge.target!r}"
        for source in edge.sources:
            if source == END:
                raise FlowCompileError(f"flow {flow.name!r}: {where} starts at END; END has no successors")
            if source == START and len(edge.sources) > 1:
                raise FlowCompileError(f"flow {flow.name!r}: {where}: START cannot be part of a join")
            _known(flow, source, where, allow=(START,))
        if edge.target == START:
            raise FlowCompileError(f"flow {flow.name!r}: {where} points at START; START cannot be a target")
        _known(flow, edge.target, where, allow=(END,))
    for router in flow.routers:
        where = f"conditional edges from {router.source!r}"
        if router.source == END:
            raise FlowCompileError(f"flow {flow.name!r}: {where}: END has no successors")
        _known(flow, router.source, where, allow=(START,))
        for label, target in router.targets.items():
            _known(flow, target, f"{where} (label {label!r})", allow=(END,))
    for name in interrupt_before:
        _known(flow, name, "interrupt_before")


def successors(flow: Flow) -> dict[str, set[str]]:
    """Every possible successor of each node (and START); ``ANY`` for routers without declared targets."""
    out: dict[str, set[str]] = {name: set() for name in (START, *flow.nodes)}
    for edge in flow.edges:
        for source in edge.sources:
            out[source].add(edge.target)
    for router in flow.routers:
        out[router.source].update(router.targets.values() or {ANY})
    for spec in flow.nodes.values():
        out[spec.name].update(spec.sends_to)
    return out


def _reach(start: str, out: dict[str, set[str]], everything: set[str]) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in out.get(todo.pop(), ()):
            for name in everything if nxt == ANY else (nxt,):
                if name not in seen:
                    seen.add(name)
                    todo.append(name)
    return seen


def _reaching_end(out: dict[str, set[str]]) -> set[str]:
    """Every name with a path to END: one backward search from END (linear in nodes + edges).

    Searching forward from each node instead was quadratic: a 10,000-node flow took 23 s to validate.
    A router without declared targets (``ANY``) may go to END directly.
    """
    into: dict[str, list[str]] = {}
    for source, targets in out.items():
        for target in targets:
            into.setdefault(END if target == ANY else target, []).append(source)
    seen = {END}
    todo = [END]
    while todo:
        for prev in into.get(todo.pop(), ()):
            if prev not in seen:
                seen.add(prev)
                todo.append(prev)
    return seen


def check_reachability(flow: Flow, out: dict[str, set[str]]) -> None:
    """An entry exists, every node is reachable from START, and every node can reach END."""
    if not out[START]:
        first = next(iter(flow.nodes), "first_node")
        raise FlowCompileError(
            f"flow {flow.name!r} has no entry: nothing follows START. Add flow.add_edge(START, {first!r})."
        )
    everything = {*flow.nodes, END}
    reached = _reach(START, out, everything)
    for name in flow.nodes:
        if name not in reached:
            raise FlowCompileError(
                f"flow {flow.name!r}: node {name!r} is unreachable from START. Add an edge into it "
                f"(flow.add_edge('<previous node>', {name!r})) or remove the node."
            )
    for name in flow.nodes:  # first the plain omission, then the subtler "cannot get out" case
        if not out[name]:
            raise FlowCompileError(
                f"flow {flow.name!r}: node {name!r} has no outgoing edge, so a run cannot reach END from it. "
                f"Add flow.add_edge({name!r}, END) or an edge to the next node."
            )
    to_end = _reaching_end(out)
    for name in flow.nodes:
        if name not in to_end:
            raise FlowCompileError(
                f"flow {flow.name!r}: node {name!r} has no path to END (it only leads to "
                f"{sorted(out[name] - {ANY})}). Give the loop an exit: a router target END or an edge to END."
            )


def find_cycle(flow: Flow, out: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of node names (first == last), or None. A router without targets counts as one."""
    everything = sorted(flow.nodes)  # sorted once: a target-less router expands to all of them
    color: dict[str, int] = {}
    parent: dict[str, str] = {}
    for root in (START, *flow.nodes):
        if color.get(root):
            continue
        stack = [(root, iter(_expand(root, out, everything)))]
        color[root] = 1
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                color[name] = 2
                stack.pop()
                continue
            if color.get(child) == 1:
                cycle = [child, name]
                while cycle[-1] != child:
                    cycle.append(parent[cycle[-1]])
                return cycle[::-1]
            if not color.get(child):
                color[child] = 1
                parent[child] = name
                stack.append((child, iter(_expand(child, out, everything))))
    return None


def _expand(name: str, out: dict[str, set[str]], everything: list[str]) -> list[str]:
    targets: list[str] = []
    for t in sorted(out.get(name, ())):
        if t == ANY:
            targets.extend(everything)
        elif t != END:
            targets.append(t)
    return targets


def check_loops(flow: Flow, out: dict[str, set[str]]) -> None:
    """A flow with a cycle must bound its runs with ``max_steps``."""
    if flow.max_steps is not None:
        if not isinstance(flow.max_steps, int) or flow.max_steps < 1:
            raise FlowCompileError(
                f"flow {flow.name!r}: max_steps={flow.max_steps!r} must be a positive integer"
            )
        return
    cycle = find_cycle(flow, out)
    if cycle is not None:
        raise FlowCompileError(
            f"flow {flow.name!r} has a loop {' -> '.join(cycle)} but no step limit. "
            f"Pass Flow(..., max_steps=N) to bound every run (N = the most steps a run may take)."
        )


def validate(flow: Flow, interrupt_before: Iterable[str] = ()) -> None:
    """Run every check; the first problem found is raised."""
    check_names(flow, interrupt_before)
    out = successors(flow)
    check_reachability(flow, out)
    check_loops(flow, out)

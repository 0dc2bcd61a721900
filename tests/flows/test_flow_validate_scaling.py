"""Flow validation is linear in the size of the graph (it was quadratic: 10,000 nodes took 23 s).

Timing in a test is a last resort; here the property *is* time complexity, so the test compares the same
work at two sizes (best of three runs each) with a generous margin: quadratic growth would be 4x.
"""

from __future__ import annotations

import time

from pydantic import BaseModel

from ragloom.core.errors import FlowCompileError
from ragloom.flows import END, START, Flow
from ragloom.flows.validate import validate


class State(BaseModel):
    count: int = 0


def _step(state: State) -> dict[str, int]:
    return {"count": state.count + 1}


def _chain(n: int, loop_back: bool = False) -> Flow:
    """START -> n0 -> ... -> n{n-1} -> END, every node also with an edge back to n0 when ``loop_back``."""
    flow = Flow(State, name="chain", max_steps=10 * n)
    for i in range(n):
        flow.add_node(f"n{i}", _step)
    flow.add_edge(START, "n0")
    for i in range(1, n):
        flow.add_edge(f"n{i - 1}", f"n{i}")
        if loop_back:
            flow.add_edge(f"n{i}", "n0")
    flow.add_edge(f"n{n - 1}", END)
    return flow


def _best_of_three(flow: Flow) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        validate(flow)
        times.append(time.perf_counter() - started)
    return min(times)


def test_validation_time_grows_linearly() -> None:
    small, large = _chain(10_000, loop_back=True), _chain(20_000, loop_back=True)
    t_small, t_large = _best_of_three(small), _best_of_three(large)
    assert t_small < 5.0, f"10,000 nodes took {t_small:.2f}s"
    assert t_large < 3.0 * t_small + 0.05, f"10,000 nodes: {t_small:.3f}s, 20,000: {t_large:.3f}s"


def test_a_node_without_a_way_out_is_still_named() -> None:
    """The linear search still reports the first node (in definition order) that cannot reach END."""
    flow = _chain(50)
    flow.add_node("trap", _step)
    flow.add_node("trap2", _step)
    flow.add_edge("n3", "trap")
    flow.add_edge("trap", "trap2")
    flow.add_edge("trap2", "trap")
    try:
        validate(flow)
    except FlowCompileError as e:
        assert "node 'trap' has no path to END" in str(e)
    else:
        raise AssertionError("a loop without an exit must not validate")
    free = _chain(5)
    free.add_conditional_edges("n2", lambda s: "n3")  # no declared targets: may go anywhere, END included
    validate(free)

"""Engine overhead: µs per node step for ragloom vs LangGraph vs plain Python calls (same process, same run).

Shapes: a 10-node chain and a 100-iteration loop (one node routed back to itself). Modes, like for like: no
checkpointer; in memory (InMemoryCheckpointer vs InMemorySaver); SQLite with each step committed before the
next starts (ragloom's default durability="step" vs LangGraph's durability="sync"); SQLite written behind the
run (ragloom durability="async" vs LangGraph's default durability="async"); PostgreSQL likewise
(PostgresCheckpointer vs LangGraph's PostgresSaver, same server: ``--postgres DSN``, or a throwaway server
started with the tests' helper when the PostgreSQL binaries are installed; skipped otherwise).
Nodes do trivial work (``x + 1``) so the numbers are pure engine overhead. Per-step time = best-of-N wall
time of one run / number of node steps; the N batches of every system and shape are interleaved (round
robin), so a burst of load from other processes hits all of them alike.

Same durability work on both sides: LangGraph's SqliteSaver turns on WAL but leaves SQLite's default
``synchronous=FULL`` (an fsync per commit: survives power loss), while ragloom promises that a step survives a
killed process, not an OS crash (WAL, ``synchronous=NORMAL``, or its step log); the LangGraph connections
are therefore opened with ``synchronous=NORMAL`` too (``--langgraph-fsync`` keeps LangGraph's default).

Run: .venv/bin/python benchmarks/engine_overhead.py [--quick]
Writes benchmarks/results/engine_overhead.json.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict

CHAIN = 10
LOOP = 100


class S(TypedDict):
    x: int


def inc(state: Any) -> dict[str, int]:
    return {"x": state["x"] + 1}


def loop_router(state: Any) -> str:
    return "inc" if state["x"] < LOOP else "__end__"


# -- plain Python ----
def plain_chain() -> Callable[[], Any]:
    fns = [inc] * CHAIN

    def run() -> Any:
        state = {"x": 0}
        for fn in fns:
            state.update(fn(state))
        return state

    return run


def plain_loop() -> Callable[[], Any]:
    def run() -> Any:
        state = {"x": 0}
        while True:
            state.update(inc(state))
            if loop_router(state) == "__end__":
                return state

    return run


# -- ragloom ----
def ragloom_flows(checkpointer: Any) -> dict[str, Callable[[], Any]]:
    from ragloom.flows import END, START, Flow

    chain = Flow(S, name="chain")
    for i in range(CHAIN):
        chain.add_node(f"n{i}", inc)
        chain.add_edge(START if i == 0 else f"n{i - 1}", f"n{i}")
    chain.add_edge(f"n{CHAIN - 1}", END)
    loop = Flow(S, name="loop", max_steps=LOOP + 5)
    loop.add_node("inc", inc)
    loop.add_edge(START, "inc")
    loop.add_conditional_edges("inc", lambda s: "inc" if s["x"] < LOOP else END, targets=["inc", END])
    c_chain, c_loop = chain.compile(checkpointer=checkpointer()), loop.compile(checkpointer=checkpointer())

    def check(result: Any, expected: int) -> Any:
        assert result.state["x"] == expected, result.state
        return result

    return {
        "chain": lambda: check(c_chain.invoke({"x": 0}), CHAIN),
        "loop": lambda: check(c_loop.invoke({"x": 0}), LOOP),
    }


# -- LangGraph ----
def langgraph_flows(saver: Any, durability: str | None = None) -> dict[str, Callable[[], Any]]:
    from langgraph.graph import END, START, StateGraph

    chain = StateGraph(S)
    for i in range(CHAIN):
        chain.add_node(f"n{i}", inc)
        chain.add_edge(START if i == 0 else f"n{i - 1}", f"n{i}")
    chain.add_edge(f"n{CHAIN - 1}", END)
    loop = StateGraph(S)
    loop.add_node("inc", inc)
    loop.add_edge(START, "inc")
    loop.add_conditional_edges("inc", lambda s: "inc" if s["x"] < LOOP else END, ["inc", END])
    g_chain, g_loop = chain.compile(checkpointer=saver), loop.compile(checkpointer=saver)

    def call(graph: Any, expected: int) -> Any:
        config: dict[str, Any] = {"recursion_limit": LOOP + 10}
        if saver is not None:
            config["configurable"] = {"thread_id": uuid.uuid4().hex}
        options = {"durability": durability} if durability else {}
        out = graph.invoke({"x": 0}, config, **options)
        assert out["x"] == expected, out
        return out

    return {"chain": lambda: call(g_chain, CHAIN), "loop": lambda: call(g_loop, LOOP)}


def batch_size(fn: Callable[[], Any], budget_s: float, repeats: int) -> int:
    """How many runs of ``fn`` make one timed batch (``budget_s`` split over ``repeats`` batches)."""
    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(budget_s / repeats / one))


#: the in-memory checkpointers of both systems (they keep every checkpoint of every run)
MEMORY_STORES: list[Any] = []


def empty_memory_stores() -> None:
    """Empty the in-memory checkpointers, so that no batch's garbage collections walk what earlier batches (of
    any system: batches are interleaved) stored; within a batch each system pays for what it keeps."""
    for store in MEMORY_STORES:
        for name in ("_runs", "_writes", "_saved", "storage", "writes", "blobs"):  # ragloom's, LangGraph's
            value = getattr(store, name, None)
            if isinstance(value, dict):  # (ragloom's ``writes`` is a method)
                value.clear()


def time_batch(fn: Callable[[], Any], batch: int) -> tuple[float, float]:
    """(wall, cpu) seconds per run of ``fn``, the mean over ``batch`` runs.

    The garbage collector stays on (each system pays for its own garbage), but each batch starts from
    emptied in-memory checkpointers and a collected, frozen heap (``gc.freeze``): its collections walk what
    the batch allocates, not what the process held before (other systems' flows, savers, connections).
    """
    empty_memory_stores()
    gc.collect()
    gc.freeze()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(batch):
        fn()
    return (time.perf_counter() - t0) / batch, (time.process_time() - c0) / batch


def per_step_us(fn: Callable[[], Any], steps: int, budget_s: float, repeats: int) -> tuple[float, float]:
    """(wall, cpu) µs per step: the best (min) over ``repeats`` batches of the mean run time, / steps.

    The minimum is the timeit convention: on a shared machine every batch is slowed by other processes,
    never sped up, so the fastest batch is the best estimate of each system's own cost. CPU time
    (``time.process_time``, all threads of this process) is immune to being descheduled; it leaves out
    time spent waiting on I/O (fsync), which wall time includes.
    """
    batch = batch_size(fn, budget_s, repeats)
    walls, cpus = zip(*(time_batch(fn, batch) for _ in range(repeats)), strict=True)
    return min(walls) / steps * 1e6, min(cpus) / steps * 1e6


Systems = list[tuple[str, str, dict[str, Callable[[], Any]]]]


def measure_interleaved(systems: Systems, budget_s: float, repeats: int) -> list[dict[str, Any]]:
    """Every (system, shape) cell as :func:`per_step_us` measures it, but with the ``repeats`` batches of all
    cells taken round robin: load from other processes that comes and goes slows every system alike."""
    shapes = (("chain", CHAIN), ("loop", LOOP))
    cells = [(i, shape, steps) for i in range(len(systems)) for shape, steps in shapes]
    sizes = {(i, shape): batch_size(systems[i][2][shape], budget_s, repeats) for i, shape, _ in cells}
    best: dict[tuple[int, str], list[float]] = {(i, shape): [1e9, 1e9] for i, shape, _ in cells}
    for round_ in range(repeats):
        for i, shape, steps in cells:
            wall, cpu = time_batch(systems[i][2][shape], sizes[i, shape])
            cell = best[i, shape]
            cell[0], cell[1] = min(cell[0], wall / steps * 1e6), min(cell[1], cpu / steps * 1e6)
        print(f"  round {round_ + 1}/{repeats}", flush=True)
    rows = []
    for i, (system, mode, _) in enumerate(systems):
        row: dict[str, Any] = {"system": system, "checkpointer": mode}
        for shape in ("chain", "loop"):
            wall, cpu = best[i, shape]
            row[f"{shape}_wall_us"], row[f"{shape}_cpu_us"] = round(wall, 2), round(cpu, 2)
        rows.append(row)
    return rows


def postgres_systems(dsn: str) -> Systems:
    """PostgresCheckpointer vs LangGraph's PostgresSaver on one server (durability paired as for SQLite)."""
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    from ragloom.flows.postgres_checkpoint import PostgresCheckpointer

    def ours(**options: Any) -> Callable[[], Any]:
        cp = PostgresCheckpointer(dsn, table_prefix=f"b{uuid.uuid4().hex[:8]}_", **options)
        return lambda: cp

    conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    saver = PostgresSaver(conn)  # type: ignore[arg-type]
    saver.setup()
    return [
        ("ragloom", "postgres", ragloom_flows(ours())),
        ("ragloom", "postgres-async", ragloom_flows(ours(durability="async"))),
        ("langgraph", "postgres", langgraph_flows(saver, durability="sync")),
        ("langgraph", "postgres-async", langgraph_flows(saver)),
    ]


@contextlib.contextmanager
def postgres_dsn(given: str | None) -> Iterator[str | None]:
    """The DSN to use: ``--postgres``, else a throwaway server (tests/flows/pg_server.py), else None."""
    if given:
        yield given
        return
    try:
        import langgraph.checkpoint.postgres  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError:
        yield None
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "flows"))
    from pg_server import find_bindir, postgres_server

    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    with postgres_server(bindir) as dsn:
        yield dsn


def langgraph_sqlite(path: Path, fsync: bool) -> Any:
    """LangGraph's SqliteSaver on ``path``: WAL (its setup() sets it), and ``synchronous=NORMAL`` like ragloom
    (a commit survives a killed process, not an OS crash) unless ``fsync`` keeps SQLite's FULL default."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    saver = SqliteSaver(sqlite3.connect(path, check_same_thread=False))
    saver.setup()
    if not fsync:
        saver.conn.execute("PRAGMA synchronous=NORMAL")
    return saver


def remember(store: Any) -> Any:
    MEMORY_STORES.append(store)
    return store


def build_systems(tmp: Path, langgraph_fsync: bool = False) -> Systems:
    from langgraph.checkpoint.memory import InMemorySaver

    from ragloom.flows import InMemoryCheckpointer, SQLiteCheckpointer

    def sqlite(**options: Any) -> Callable[[], Any]:
        return lambda: SQLiteCheckpointer(tmp / f"r-{uuid.uuid4().hex}.sqlite", **options)

    lg_sqlite = langgraph_sqlite(tmp / "langgraph.sqlite", langgraph_fsync)
    lg_sync = langgraph_sqlite(tmp / "langgraph-sync.sqlite", langgraph_fsync)
    return [
        ("plain python", "none", {"chain": plain_chain(), "loop": plain_loop()}),
        ("ragloom", "none", ragloom_flows(lambda: None)),
        ("langgraph", "none", langgraph_flows(None)),
        ("ragloom", "memory", ragloom_flows(lambda: remember(InMemoryCheckpointer()))),
        ("ragloom", "sqlite", ragloom_flows(sqlite())),
        ("ragloom", "sqlite-async", ragloom_flows(sqlite(durability="async"))),
        ("ragloom", "sqlite-json", ragloom_flows(sqlite(serde="json"))),
        ("langgraph", "memory", langgraph_flows(remember(InMemorySaver()))),
        ("langgraph", "sqlite", langgraph_flows(lg_sync, durability="sync")),
        ("langgraph", "sqlite-async", langgraph_flows(lg_sqlite)),
    ]


#: (ragloom mode, LangGraph mode) pairs with the same guarantees; the bar applies to each of them
LIKE_FOR_LIKE = (
    ("none", "none"),
    ("memory", "memory"),
    ("sqlite", "sqlite"),
    ("sqlite-async", "sqlite-async"),
    ("postgres", "postgres"),
    ("postgres-async", "postgres-async"),
)
BAR = 1 / 50


def compute_ratios(rows: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """(bar ratios: ragloom / LangGraph like for like; other ratios: FYI, e.g. step durability vs async)."""

    def lookup(system: str, mode: str, key: str) -> float:
        return float(next(r[key] for r in rows if r["system"] == system and r["checkpointer"] == mode))

    modes = {r["checkpointer"] for r in rows}
    bar, extra = {}, {}
    for key in ("chain_wall_us", "loop_wall_us", "chain_cpu_us", "loop_cpu_us"):
        name = key.removesuffix("_us")
        for ours, theirs in LIKE_FOR_LIKE:
            if ours not in modes:  # no PostgreSQL here
                continue
            bar[f"{name} {ours}"] = lookup("ragloom", ours, key) / lookup("langgraph", theirs, key)
        extra[f"{name} sqlite vs lg sqlite-async"] = lookup("ragloom", "sqlite", key) / lookup(
            "langgraph", "sqlite-async", key
        )
        extra[f"{name} sqlite-json vs lg sqlite"] = lookup("ragloom", "sqlite-json", key) / lookup(
            "langgraph", "sqlite", key
        )
    return bar, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing budget per cell")
    parser.add_argument("--postgres", help="DSN of a PostgreSQL server (default: start a throwaway one)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "engine_overhead.json"))
    parser.add_argument(
        "--langgraph-fsync", action="store_true", help="SqliteSaver keeps synchronous=FULL (fsyncs)"
    )
    args = parser.parse_args()
    budget, repeats = (0.4, 5) if args.quick else (2.0, 10)
    import langgraph  # noqa: F401 - fail early with a clear ImportError when the bench extra is missing

    load_before = os.getloadavg()[0]
    with postgres_dsn(args.postgres) as dsn:
        systems = build_systems(Path(tempfile.mkdtemp(prefix="ragloom-bench-")), args.langgraph_fsync)
        if dsn is None:
            print("  PostgreSQL: skipped (no --postgres DSN, binaries or langgraph-checkpoint-postgres)")
        else:
            systems += postgres_systems(dsn)
        rows = measure_interleaved(systems, budget, repeats)
    bar, extra = compute_ratios(rows)
    print_table(rows, bar, extra)
    bar_met = all(v <= BAR for k, v in bar.items() if "cpu" in k)
    verdict = "MET" if bar_met else "NOT MET"
    print(f"\nbar (ragloom CPU per step <= 1/50 of LangGraph's, every like-for-like pair): {verdict}")
    meta = {
        "python": platform.python_version(),
        "langgraph": importlib.metadata.version("langgraph"),
        "cpus": os.cpu_count(),
        "load_avg_1min": [load_before, os.getloadavg()[0]],
        "langgraph_sqlite_synchronous": "FULL" if args.langgraph_fsync else "NORMAL",
        "interleaved": True,
    }
    print(f"machine: {meta['cpus']} CPUs, 1-min load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "rows": rows, "bar_ratios": bar, "other_ratios": extra, "bar_met": bar_met}
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}")


def print_table(rows: list[dict[str, Any]], ratios: dict[str, float], extra: dict[str, float]) -> None:
    keys = ("chain_wall_us", "loop_wall_us", "chain_cpu_us", "loop_cpu_us")
    print(
        f"\n{'system':<14}{'checkpointer':<14}"
        f"{'chain wall':>12}{'loop wall':>12}{'chain cpu':>12}{'loop cpu':>12}"
    )
    print(f"{'(µs per node step, best of batches)':>76}")
    for r in rows:
        print(f"{r['system']:<14}{r['checkpointer']:<14}" + "".join(f"{r[k]:>12.2f}" for k in keys))
    print("\nratio ragloom / langgraph, like for like (lower is better; bar: cpu <= 0.020):")
    for key, value in ratios.items():
        print(f"  {key:<38}{value:>8.3f}  (1/{1 / value:.0f})")
    print("other (not like for like; FYI):")
    for key, value in extra.items():
        print(f"  {key:<38}{value:>8.3f}  (1/{1 / value:.0f})")


if __name__ == "__main__":
    main()

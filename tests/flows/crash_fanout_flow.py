"""Flows run in a subprocess by test_flow_crash_fanout.py:
``python crash_fanout_flow.py SHAPE MODE DB WORKDIR``.

SHAPE ``map``: a router fans ``work`` out over five items (Send); the instance for "slow" blocks.
SHAPE ``hitl``: three parallel branches, one asks a human (``interrupt``), one finishes, one blocks.
Every node appends "name" (or "work:item") to WORKDIR/effects when it completes; a blocking node writes
WORKDIR/ready and waits while WORKDIR/block exists, so the parent can SIGKILL the process there.
MODE: plain (no checkpointer), start, resume, answer (resume with value "yes"). Prints the result as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel

from ragloom.flows import END, START, Flow, Send, SQLiteCheckpointer, append, interrupt

ITEMS = ["a", "b", "slow", "c", "d"]


class S(BaseModel):
    log: Annotated[list[str], append] = []


def build(shape: str, workdir: Path) -> Flow:
    def effect(name: str) -> None:
        with open(workdir / "effects", "a") as f:
            f.write(name + "\n")

    def block() -> None:
        (workdir / "ready").write_text("ready")
        while (workdir / "block").exists():  # the parent kills us here on the first run
            time.sleep(0.01)

    def simple(name: str) -> Any:
        def fn(state: Any) -> dict:
            effect(name)
            return {"log": [name]}

        return fn

    def work(arg: dict) -> dict:
        if arg["item"] == "slow":
            block()
        effect(f"work:{arg['item']}")
        return {"log": [f"work:{arg['item']}"]}

    def ask(state: S) -> dict:
        answer = interrupt("continue?")
        effect("ask")
        return {"log": [f"ask:{answer}"]}

    def slow(state: S) -> dict:
        block()
        effect("slow")
        return {"log": ["slow"]}

    flow = Flow(S, name=f"crash-{shape}", max_steps=20)
    flow.add_node("split", simple("split"))
    flow.add_node("combine", simple("combine"))
    flow.add_edge(START, "split")
    flow.add_edge("combine", END)
    if shape == "map":
        flow.add_node("work", work)
        flow.add_conditional_edges("split", lambda s: [Send("work", {"item": i}) for i in ITEMS], ["work"])
        flow.add_edge("work", "combine")
        return flow
    flow.add_node("ask", ask)
    flow.add_node("fast", simple("fast"))
    flow.add_node("slow", slow)
    for branch in ("ask", "fast", "slow"):
        flow.add_edge("split", branch)
    flow.add_edge(["ask", "fast", "slow"], "combine")
    return flow


def main() -> None:
    shape, mode, db, workdir = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    checkpointer = SQLiteCheckpointer(db) if mode != "plain" else None
    compiled = build(shape, workdir).compile(checkpointer=checkpointer)
    if mode == "resume":
        result = compiled.resume("crash-run")
    elif mode == "answer":
        result = compiled.resume("crash-run", value="yes")
    elif mode == "plain":
        result = compiled.invoke({})
    else:
        result = compiled.invoke({}, run_id="crash-run")
    pending = [i.node for i in result.interrupts]
    out = {"state": result.state.model_dump(), "steps": result.trace.steps, "status": result.status}
    print(json.dumps({**out, "pending": pending}))


if __name__ == "__main__":
    main()

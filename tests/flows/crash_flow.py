"""A flow run in a subprocess by test_flow_crash.py: ``python crash_flow.py start|resume|plain DB WORKDIR``
(DB: an SQLite file or a ``postgresql://`` URL).

Every node appends its name to WORKDIR/effects when it completes (the side effect counted by the test).
Node ``slow`` writes WORKDIR/ready and then blocks while WORKDIR/block exists, so the parent can SIGKILL
the process at a known point. The final state is printed as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel

from ragloom.flows import END, START, Flow, append
from ragloom.flows.checkpoint import open_checkpointer


class S(BaseModel):
    log: Annotated[list[str], append] = []
    rounds: int = 0


def build(workdir: Path) -> Flow:
    def effect(name: str) -> None:
        with open(workdir / "effects", "a") as f:
            f.write(name + "\n")

    def simple(name: str):
        def fn(state: S) -> dict:
            effect(name)
            return {"log": [name]}

        return fn

    def loop(state: S) -> dict:
        effect("loop")
        return {"log": [f"loop{state.rounds}"], "rounds": state.rounds + 1}

    def slow(state: S) -> dict:
        (workdir / "ready").write_text("ready")
        while (workdir / "block").exists():  # the parent kills us here on the first run
            time.sleep(0.01)
        effect("slow")
        return {"log": ["slow"]}

    flow = Flow(S, name="crashy", max_steps=50)
    for name in ("a", "b", "c", "join", "d"):
        flow.add_node(name, simple(name))
    flow.add_node("loop", loop)
    flow.add_node("slow", slow)
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    flow.add_edge("a", "c")
    flow.add_edge(["b", "c"], "join")
    flow.add_edge("join", "loop")
    flow.add_conditional_edges("loop", lambda s: "loop" if s.rounds < 3 else "slow", targets=["loop", "slow"])
    flow.add_edge("slow", "d")
    flow.add_edge("d", END)
    return flow


def main() -> None:
    mode, db, workdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    checkpointer = open_checkpointer(db) if mode != "plain" else None
    compiled = build(workdir).compile(checkpointer=checkpointer)
    result = compiled.resume("crash-run") if mode == "resume" else compiled.invoke({}, run_id="crash-run")
    print(json.dumps({"state": result.state.model_dump(), "steps": result.trace.steps}))


if __name__ == "__main__":
    main()

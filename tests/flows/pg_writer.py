"""Run by test_flow_postgres.py in several processes at once: ``python pg_writer.py DSN PREFIX RUN_ID``.

A 30-step loop checkpointed to PostgreSQL (tables created by whichever process comes first); prints the
final state as JSON.
"""

from __future__ import annotations

import json
import sys

from pydantic import BaseModel

from ragloom.flows import END, START, Flow
from ragloom.flows.postgres_checkpoint import PostgresCheckpointer


class S(BaseModel):
    n: int = 0
    who: str = ""


def main() -> None:
    dsn, prefix, run_id = sys.argv[1:4]
    flow = Flow(S, name="writer", max_steps=100)
    flow.add_node("tick", lambda s: {"n": s.n + 1, "who": run_id})
    flow.add_edge(START, "tick")
    flow.add_conditional_edges("tick", lambda s: "tick" if s.n < 30 else END, targets=["tick", END])
    checkpointer = PostgresCheckpointer(dsn, table_prefix=prefix)
    result = flow.compile(checkpointer=checkpointer).invoke({}, run_id=run_id)
    checkpointer.close()
    print(json.dumps(result.state.model_dump()))


if __name__ == "__main__":
    main()

"""A resumed ``ragloom search --advisor`` asks its optimizer nothing again: the replies of the first run are
read back from OUT/advisor_llm.sqlite, so even a sampling optimizer (here a server answering a random edit
number: the collaborator) leads the replay along the same trajectory, and no candidate is evaluated again."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import tiny_beir
from pydantic import BaseModel
from typer.testing import CliRunner

from ragloom.cli import app
from ragloom.flows import END, START, Flow
from ragloom.serve import serving

QA = Path(__file__).resolve().parents[3] / "examples" / "flows" / "qa.yaml"


class Chat(BaseModel):
    question: str
    answer: str = ""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    docs = [d for d in tiny_beir.DOCS if d[0] != "d4"]
    return tiny_beir.write_beir(tmp_path / "tiny", docs, tiny_beir.QUESTIONS[:3])


def test_a_resumed_advisor_search_replays_the_optimizers_replies(tiny: Path, tmp_path: Path) -> None:
    rng, asked = random.Random(), []

    def sampling_optimizer(state: Any) -> dict[str, str]:
        """FakeLLM behind a real OpenAI-compatible server: a random edit number, as a sampling model."""
        asked.append(state.question)
        return {"answer": str(rng.randint(1, 8))}

    flow = Flow(Chat, name="sampler")
    flow.add_node("reply", sampling_optimizer)
    flow.add_edge(START, "reply")
    flow.add_edge("reply", END)
    out, cli = tmp_path / "out", CliRunner()
    with serving(flow.compile()) as server:
        args = ["search", "--seed", str(QA), "--dataset", str(tiny), "--dev-fraction", "1.0", "--budget", "5"]
        args += [
            "--advisor",
            "--llm-base-url",
            server.url + "/v1",
            "--llm-model",
            "sampler",
            "--out",
            str(out),
        ]
        first = cli.invoke(app, args)
        assert first.exit_code == 0, first.output
        records = (out / "records.jsonl").read_text()
        n_asked = len(asked)
        assert n_asked > 0
        again = cli.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len(asked) == n_asked  # every reply came from the cache
    assert again.output.count("(from the journal)") == 5  # and every candidate from the journal
    rows = [json.loads(line) for line in records.splitlines()]
    replayed = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert [(r["score"], r["edits"], r["flow"]) for r in replayed] == [
        (r["score"], r["edits"], r["flow"]) for r in rows
    ]

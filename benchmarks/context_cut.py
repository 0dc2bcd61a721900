"""The honesty check of the selectors' sentence-window settings (``max_share``, ``fill_sentences``) on
hotpotqa-300: support recall of the final context AND answer-in-context (the gold answer in the text the
LLM would see), for the seed and the flows the workflow search picks, on the benchmark's dev and test splits.

A cut that keeps a stub of a passage would raise support recall (it counts documents) while the answer
vanishes from the context; answer-in-context must not drop. Splits: the 60 searched dev / 218 test questions
of ``benchmarks/workflow_search.py`` and the half/half split of ``flow_search.py --dev-fraction 0.5``.
The flows are fixed here (no search), each scored once per split, no LLM step.

    python benchmarks/context_cut.py
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import print_table, write_results

from ragloom.agents.search.flow_search import evaluate_candidates, read_seed
from ragloom.agents.search.flow_space import FlowEdit, apply_edit
from ragloom.eval.datasets import load_dataset
from ragloom.eval.files_index import resources_for_dataset

ROOT = Path(__file__).resolve().parents[1]
GRAPH = "graph.retrieve"


def flows(seed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The seed and the searched flows (as the search's own edits of the seed)."""

    def edited(*edits: FlowEdit) -> dict[str, Any]:
        data = copy.deepcopy(seed)
        for edit in edits:
            data = apply_edit(data, edit)
        return data

    graph = FlowEdit("swap", "retrieve", GRAPH)
    multihop = FlowEdit("swap", "rerank", "retrieval.multihop")
    share = FlowEdit("param", "select", "max_share", 0.5)
    return {
        "seed (qa.yaml)": seed,
        "graph + multihop": edited(graph, multihop),
        "graph + multihop, max_share 0.5": edited(graph, multihop, share),
        "graph, no rerank, max_share 0.5": edited(graph, FlowEdit("remove", "rerank"), share),
        "hybrid + graph arm (RRF), no rerank, max_share 0.5": edited(
            FlowEdit("arm", "retrieve", GRAPH), FlowEdit("remove", "rerank"), share
        ),
        "graph + multihop, fill_sentences 1": edited(
            graph, multihop, FlowEdit("param", "select", "fill_sentences", 1)
        ),
    }


def main() -> None:
    path = ROOT.parent / "shared" / "data" / "hotpotqa-300"
    data = load_dataset(path, corpus_optional=True)
    resources, _ = resources_for_dataset(data, path, graph=True)
    splits = {
        "dev 60": data.split("dev").limit(60),
        "test 218": data.split("test"),
        "dev half": data.split("dev", dev_fraction=0.5),
        "test half": data.split("test", dev_fraction=0.5),
    }
    rows = []
    for name, flow in flows(read_seed(ROOT / "examples" / "flows" / "qa.yaml")).items():
        row: list[Any] = [name]
        for split in splits.values():
            scored = evaluate_candidates([flow], split, resources, "context-support-R", concurrency=2)
            metrics = scored[0][2]
            row += [metrics["context-support-R"], metrics["answer-in-context"]]
        rows.append(row)
        print(row, flush=True)
    header = ["flow"] + [f"{s} {m}" for s in splits for m in ("support-R", "answer-in-ctx")]
    title = "Context support recall and answer-in-context under 384 tokens (hotpotqa-300)"
    table = print_table(title, header, rows)
    out = write_results("context_cut", {"rows": rows, "header": header, "table_markdown": table})
    print(f"wrote {out}; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()

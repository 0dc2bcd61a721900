"""Does prefixing a chunk's title and heading path to what retrieval sees help on docs-a?

    python benchmarks/doc_prefix.py [--dataset ../shared/data/docs-a] [--dense]

Chunks are the default structured chunks; the variant indexes ``title > section path\\n text`` instead of
``text`` (chunk spans and the text given to the LLM are unchanged). Scored on the 60 questions: answer@k (the
normalised gold answer in the top-k chunk texts), source@k (the right file in the top k) and page@k (a top-k
chunk of the right file whose page range holds the gold page; PDF questions only). BM25 always; MiniLM dense
retrieval with ``--dense`` (embeds the corpus twice: minutes on 2 cores). Writes ``results/doc_prefix.json``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import print_table, write_results

from ragloom.core.types import Chunk


def norm(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split()).lower()


def prefixed(chunk: Chunk, with_title: bool = True) -> Chunk:
    """The chunk with the prefix in its text and no ``section`` metadata (BM25Retriever would otherwise
    prefix the section itself: every variant states exactly what is indexed)."""
    parts = (chunk.metadata.get("title") if with_title else None, chunk.metadata.get("section"))
    head = " > ".join(x for x in parts if x)
    bare = {k: v for k, v in chunk.metadata.items() if k != "section"}
    return replace(chunk, text=f"{head}\n{chunk.text}" if head else chunk.text, metadata=bare)


def unprefixed(chunk: Chunk) -> Chunk:
    return replace(chunk, metadata={k: v for k, v in chunk.metadata.items() if k != "section"})


def score(ranked: list[list[Chunk]], gold: list[dict[str, Any]], k: int) -> dict[str, float]:
    answer = source = page = pages = 0
    for hits, g in zip(ranked, gold, strict=True):
        top = hits[:k]
        answer += any(norm(g["answer"]) in norm(c.text) for c in top)
        source += any(c.metadata["source"] == g["source"] for c in top)
        if g["page"] is not None:
            pages += 1
            page += any(
                c.metadata["source"] == g["source"]
                and c.metadata["page"] <= g["page"] <= c.metadata["page_end"]
                for c in top
            )
    n = len(gold)
    return {f"answer@{k}": answer / n, f"source@{k}": source / n, f"page@{k}": page / max(1, pages)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[2]
    ap.add_argument("--dataset", type=Path, default=here / "shared/data/docs-a")
    ap.add_argument("--dense", action="store_true")
    args = ap.parse_args()
    from ragloom.documents import load_folder
    from ragloom.documents.settings import ChunkSettings
    from ragloom.retrieval.bm25 import BM25Retriever

    docs, _ = load_folder(args.dataset / "files")
    chunks = ChunkSettings().chunk(docs)  # the default index's chunks
    by_id = {c.id: c for c in chunks}
    answers = {r["_id"]: r["answers"][0] for r in map(json.loads, (args.dataset / "answers.jsonl").open())}
    queries = {r["_id"]: r["text"] for r in map(json.loads, (args.dataset / "queries.jsonl").open())}
    gold = [
        {**r, "answer": answers[r["_id"]], "query": queries[r["_id"]]}
        for r in map(json.loads, (args.dataset / "evidence.jsonl").open())
    ]
    rows, results = [], {}
    variants = {
        "text": [unprefixed(c) for c in chunks],
        "section + text": [prefixed(c, with_title=False) for c in chunks],
        "title > section + text": [prefixed(c) for c in chunks],
    }
    for name, indexed in variants.items():
        bm25 = BM25Retriever(indexed)
        ranked = [[by_id[h.id] for h in bm25.retrieve(g["query"], 10)] for g in gold]
        results[f"bm25 {name}"] = s = score(ranked, gold, 5) | score(ranked, gold, 1)
        rows.append(
            [f"bm25, {name}", *(round(s[m], 3) for m in ("answer@1", "answer@5", "source@5", "page@5"))]
        )
    if args.dense:
        import numpy as np

        from ragloom.retrieval.embedders import default_embedder

        embedder = default_embedder()
        q = embedder.embed([g["query"] for g in gold])
        for name, indexed in variants.items():
            m = embedder.embed([c.text for c in indexed])
            order = np.argsort(-(q @ m.T), axis=1)[:, :10]
            ranked = [[chunks[i] for i in row] for row in order]  # scored with their metadata
            results[f"dense {name}"] = s = score(ranked, gold, 5) | score(ranked, gold, 1)
            rows.append(
                [f"dense, {name}", *(round(s[m], 3) for m in ("answer@1", "answer@5", "source@5", "page@5"))]
            )
    table = print_table(
        f"Heading-path prefix on docs-a ({len(chunks)} structured chunks, {len(gold)} questions)",
        ["retrieval, indexed text", "answer@1", "answer@5", "source@5", "page@5"],
        rows,
    )
    print(write_results("doc_prefix", {"results": results, "table": table}))


if __name__ == "__main__":
    main()

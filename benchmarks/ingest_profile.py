"""Where ragloom's document ingestion spends its time, and how many tokens each system really embeds.

Stages of ragloom's default ingestion of a files folder (what ``benchmarks/documents.py`` times as a whole):
read + parse (the loaders), chunk (StructuredChunker), model load (imports + weights), embed, index (BM25 and
the in-memory vector store). Embedding is profiled in three ways on the same chunks, interleaved: the
sentence-transformers ``encode`` call ragloom used before (batches grouped by characters, float32, torch's
threads), token-length batches in float32, and the default (token-length batches, bf16 where the CPU has AMX,
one thread per core). Token counts: the tokens MiniLM reads per chunk (special tokens included, cut at its
256-token window) and the tokens computed once batches are padded, for ragloom's chunks and, when Haystack is
installed, Haystack's default chunks (PyPDF/HTML converters, cleaner, splitter) of the same files.

    nice .venv/bin/python benchmarks/ingest_profile.py [--dataset DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from ragloom.core.paths import data_dir
from ragloom.retrieval.embed_batches import length_sorted_batches, token_lengths

BATCH = 32


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=data_dir() / "docs-a")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest_profile.json")
    return parser.parse_args()


def padded_by_chars(texts: list[str], lengths: list[int]) -> int:
    """Tokens computed when batches group texts by character count (sentence-transformers' ``encode``)."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return sum(
        max(lengths[i] for i in order[s : s + BATCH]) * len(order[s : s + BATCH])
        for s in range(0, len(order), BATCH)
    )


def padded_by_tokens(lengths: list[int]) -> int:
    return sum(max(lengths[i] for i in b) * len(b) for b in length_sorted_batches(lengths, BATCH))


def token_stats(tokenizer: Any, texts: list[str]) -> dict[str, int]:
    lengths = token_lengths(tokenizer, texts, 256)
    return {
        "chunks": len(texts),
        "unique_texts": len(set(texts)),
        "tokens_read": sum(lengths),
        "tokens_computed_char_batches": padded_by_chars(texts, lengths),
        "tokens_computed_token_batches": padded_by_tokens(lengths),
    }


def haystack_texts(files_dir: Path) -> tuple[list[str], float] | None:
    try:
        from haystack.components.converters import HTMLToDocument, PyPDFToDocument
        from haystack.components.preprocessors import DocumentCleaner, DocumentSplitter
    except ImportError:
        return None
    started = time.perf_counter()
    files = sorted(p for p in files_dir.iterdir() if p.is_file())
    docs = PyPDFToDocument().run(sources=[str(p) for p in files if p.suffix.lower() == ".pdf"])["documents"]
    docs += HTMLToDocument().run(sources=[str(p) for p in files if p.suffix.lower() in (".html", ".htm")])[
        "documents"
    ]
    splits = DocumentSplitter().run(documents=DocumentCleaner().run(documents=docs)["documents"])["documents"]
    return [d.content or "" for d in splits], time.perf_counter() - started


def embed_variants(texts: list[str]) -> dict[str, float]:
    """Seconds to embed ``texts`` three ways (no cache), in one interleaved round."""
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    default = SentenceTransformerEmbedder(cache_dir=False, show_progress=False)
    fp32 = SentenceTransformerEmbedder(cache_dir=False, show_progress=False, precision="fp32", workers=1)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    fp32.model.encode(texts, batch_size=BATCH, normalize_embeddings=True)
    seconds["before: st.encode, char batches, fp32, torch threads"] = time.perf_counter() - started
    started = time.perf_counter()
    fp32.embed(texts)
    seconds["token batches, fp32, torch threads"] = time.perf_counter() - started
    started = time.perf_counter()
    default.embed(texts)
    seconds[f"default: token batches, {default.precision}, {default._workers_for(len(texts))} workers"] = (
        time.perf_counter() - started
    )
    return seconds


def main() -> None:
    args = parse_args()
    files = args.dataset / "files"
    stages: dict[str, float] = {}
    started = time.perf_counter()
    from ragloom.documents.folder import load_folder
    from ragloom.documents.settings import ChunkSettings

    documents, _ = load_folder(files)
    stages["read + parse"] = time.perf_counter() - started
    started = time.perf_counter()
    chunks = ChunkSettings().chunk(documents)  # the default index's chunks
    stages["chunk"] = time.perf_counter() - started
    started = time.perf_counter()
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(cache_dir=False, show_progress=False)
    embedder.warm_up().join()
    stages["model load (imports, weights)"] = time.perf_counter() - started
    texts = [c.text for c in chunks]
    started = time.perf_counter()
    vectors = embedder.embed(texts)
    stages["embed (default)"] = time.perf_counter() - started
    started = time.perf_counter()
    from ragloom.retrieval.bm25 import BM25Retriever
    from ragloom.retrieval.memory_store import InMemoryVectorStore

    BM25Retriever(chunks)
    InMemoryVectorStore().add([c.id for c in chunks], vectors)
    stages["index (BM25 + vector store)"] = time.perf_counter() - started
    tokens = {"ragloom": token_stats(embedder.model.tokenizer, texts)}
    hay = haystack_texts(files)
    if hay is not None:
        tokens["haystack"] = token_stats(embedder.model.tokenizer, hay[0])
        stages["haystack: read + parse + split (for comparison)"] = hay[1]
    variants = embed_variants(texts)
    load = os.getloadavg()
    print(f"\n## Ingestion profile on {args.dataset.name} (load average {load[0]:.1f})\n")
    print("| stage | seconds |\n|---|---|")
    for name, s in stages.items():
        print(f"| {name} | {s:.2f} |")
    print("\n| embedding of ragloom's chunks | seconds |\n|---|---|")
    for name, s in variants.items():
        print(f"| {name} | {s:.2f} |")
    print("\n| system | chunks | tokens read | computed (char batches) | computed (token batches) |")
    print("|---|---|---|---|---|")
    for name, t in tokens.items():
        print(
            f"| {name} | {t['chunks']} | {t['tokens_read']:,} | {t['tokens_computed_char_batches']:,} | "
            f"{t['tokens_computed_token_batches']:,} |"
        )
    payload = {"loadavg": load, "stages": stages, "embed_variants": variants, "tokens": tokens}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

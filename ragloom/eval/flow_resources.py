"""Run resources for evaluating a flow: the dataset's corpus as an index, or the user's own index, and an LLM.

The corpus is indexed with the library's own :class:`ragloom.retrieval.index.Index` (what ``ragloom index``
builds), kept under the ragloom cache per dataset location and chunker, so the second evaluation only opens
it; the resources are those ``ragloom run --index DIR`` gives a YAML flow (``retriever``: the index's hybrid
retriever, ``index``: the index, and ``graph``: a graph retriever when the folder holds a graph index,
``DIR/graph`` as ``ragloom graph index`` writes it), so a flow evaluates exactly as it runs. With
``graph=True`` the dataset's graph index is built once into the same cache folder (minutes: spaCy over the
corpus), so workflow search can put graph retrieval in its space. Each call says what it cost and
whether the on-disk caches served it (``facts``), because a warm cache makes index times meaningless.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.eval.datasets import Dataset, indexable_documents

__all__ = [
    "GRAPH_RESOURCE",
    "dataset_index_dir",
    "dataset_resources",
    "ensure_graph",
    "index_resources",
    "make_llm",
    "run_resources",
]

#: The run resource name of the graph retriever (what ``graph.retrieve`` reads by default in searched flows).
GRAPH_RESOURCE = "graph"


def dataset_index_dir(dataset_path: str | Path, chunker: str) -> Path:
    """The cache folder of a dataset's evaluation index (one per dataset location and chunker)."""
    from ragloom.core.paths import cache_dir

    resolved = str(Path(dataset_path).resolve())
    digest = hashlib.sha1(f"{resolved}|{chunker}".encode()).hexdigest()[:12]
    return cache_dir("eval-indexes", f"{Path(resolved).name}-{digest}")


def run_resources(index: Any) -> dict[str, Any]:
    """The run resources of an opened index: ``retriever`` (hybrid), ``index``, and ``graph`` (a lazily
    opened GraphRetriever seeded by that hybrid) when the index folder holds a graph index."""
    from ragloom.retrieval.graph.store import LazyGraphRetriever, has_graph

    retriever = index.hybrid()
    out: dict[str, Any] = {"retriever": retriever, "index": index}
    if has_graph(index.path):
        out[GRAPH_RESOURCE] = LazyGraphRetriever(index.path, first_stage=retriever)
    return out


_resources_of = run_resources


def dataset_resources(
    dataset: Dataset, dataset_path: str | Path, progress: bool = False, graph: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(resources, facts) over ``dataset``'s corpus: titles prepended, long documents cut in paragraphs (the
    harness's "auto" chunker), indexed once into the cache; with ``graph`` its graph index too."""
    from ragloom.eval.build import resolve_chunker
    from ragloom.retrieval.index import Index

    if not dataset.corpus:
        raise ConfigError(
            f"dataset {dataset.name!r} has no corpus.jsonl; build an index of its documents "
            "(ragloom index FILES --store DIR) and pass --index DIR"
        )
    documents = indexable_documents(dataset, with_title=True)
    chunker = resolve_chunker(None, documents)
    folder = dataset_index_dir(dataset_path, f"{chunker.uses}{sorted(chunker.params.items())}")
    index = Index.create(folder, chunker=chunker.uses, chunker_params=chunker.params, vector_store="memory")
    computed = int(getattr(index.embedder, "computed", 0))
    started = time.perf_counter()
    report = index.update(documents, progress=progress)
    seconds = time.perf_counter() - started
    model_runs = int(getattr(index.embedder, "computed", 0)) - computed
    facts = {
        "index": str(folder),
        "index_seconds": seconds,
        "index_chunks": report.chunks,
        "index_chunks_embedded": report.embedded,
        "index_texts_computed_by_model": model_runs,
        "index_cache": _cache_note(report.embedded, model_runs),
    }
    if graph:
        facts |= ensure_graph(folder, documents, chunker.uses, chunker.params)
    return _resources_of(index), facts


def ensure_graph(
    folder: str | Path, documents: list[Any], chunker: str = "document", params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build (or bring up to date) the graph index of ``documents`` in ``folder/graph``, chunked as the flat
    index in ``folder`` is (so graph and flat hits share chunk ids); facts say what it cost and whether it
    was already there. Only new or changed documents are extracted (by content hash); a graph cut by other
    chunk settings or chunking code (``chunking.json`` beside it) is rebuilt from scratch."""
    import json

    from ragloom.documents.settings import ChunkSettings
    from ragloom.retrieval.graph.graph_index import GraphIndex
    from ragloom.retrieval.graph.store import graph_dir, has_graph
    from ragloom.retrieval.manifest import document_hash

    target = graph_dir(folder) if has_graph(folder) else Path(folder) / "graph"
    started = time.perf_counter()
    chunking = ChunkSettings(chunker, dict(params or {}))
    cut = {"chunker": chunking.chunker, "params": dict(chunking.params), "version": chunking.version}
    # a graph from before chunking.json was written is trusted for whole-document chunks only: they never
    # depended on the chunking code
    recorded = _read_json(target / "chunking.json")
    legacy = recorded is None and chunker == "document"
    same_cut = has_graph(folder) and (legacy or recorded == json.loads(json.dumps(cut)))
    if same_cut:
        known = json.loads((target / "settings.json").read_text(encoding="utf-8")).get("docs", {})
        wanted = {d.id: document_hash(d) for d in documents}
        if known == wanted:
            seconds = time.perf_counter() - started
            return {"graph": str(target), "graph_seconds": seconds, "graph_cache": "warm: already built"}
        graph = GraphIndex.load(target, chunker=_graph_chunker(chunker, params))
    else:
        graph = GraphIndex(chunker=_graph_chunker(chunker, params))
    report = graph.update(documents, delete_missing=True)
    graph.save(target)
    (target / "chunking.json").write_text(json.dumps(cut), encoding="utf-8")
    return {
        "graph": str(target),
        "graph_seconds": time.perf_counter() - started,
        "graph_cache": f"built: {report.extracted} chunks extracted, {report.embedded} entities embedded",
        "graph_nodes": report.nodes,
        "graph_edges": report.edges,
    }


def _read_json(path: Path) -> Any:
    """The JSON in ``path``, None when it is missing or unreadable."""
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _graph_chunker(chunker: str, params: dict[str, Any] | None) -> Any:
    """The flat index's chunker for the graph (None: one chunk per document, the graph's own default)."""
    if chunker == "document":
        return None
    from ragloom.retrieval.chunkers import make_chunker

    return make_chunker(chunker, dict(params or {}))


def _cache_note(embedded: int, model_runs: int) -> str:
    if embedded == 0:
        return "warm: the index was already built (index_seconds is the time to open and check it)"
    if model_runs == 0:
        return "warm: every chunk vector came from the on-disk embedding cache (index_seconds is not cold)"
    if model_runs < embedded:
        return (
            f"partly warm: {embedded - model_runs} of {embedded} chunk vectors came from the embedding cache"
        )
    return "cold: every chunk vector was computed by the model"


def index_resources(index_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(resources, facts) of a prebuilt index folder (``ragloom index ... --store DIR``)."""
    from ragloom.retrieval.index import Index

    started = time.perf_counter()
    index = Index.open(index_dir)
    resources = _resources_of(index)
    return resources, {
        "graph": str(Path(index_dir) / "graph") if GRAPH_RESOURCE in resources else None,
        "index": str(index_dir),
        "index_open_seconds": time.perf_counter() - started,
    }


def make_llm(llm: str = "local", base_url: str | None = None, model: str | None = None) -> Any:
    """The LLM resource: ``local`` (embedded SmolLM2), ``none`` (no LLM; flows without LLM nodes), or an
    OpenAI-compatible server when ``base_url`` is given (``model`` names the model it serves)."""
    if base_url is not None:
        from ragloom.llm.openai_compat import OpenAICompatibleLLM

        if not model:
            raise ConfigError("--llm-base-url needs --llm-model (the model name the server serves)")
        return OpenAICompatibleLLM(model=model, base_url=base_url)
    if llm == "none":
        return None
    if llm == "local":
        from ragloom.llm.local import default_llm

        return default_llm()
    raise ConfigError(f"--llm must be local or none (or give --llm-base-url and --llm-model), not {llm!r}")

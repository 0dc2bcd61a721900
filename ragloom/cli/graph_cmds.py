"""``ragloom graph index SOURCE --store DIR`` and ``ragloom graph query DIR "question"``.

The graph goes to ``DIR/graph`` next to the flat index, which ``graph index`` also builds or updates (unless
``--no-flat``) so that queries can seed the walk with hybrid passages. Updates are incremental: only new or
changed documents are re-extracted. With ``--llm`` triples are extracted by an LLM; a pre-flight estimate of
calls, tokens and cost is printed first and must be confirmed (``--yes`` skips the question).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ragloom.cli.errors import EXIT_BAD_INPUT, clean_errors

graph_app = typer.Typer(
    help="Graph RAG: entity/passage graph index and graph retrieval.", no_args_is_help=True
)

Source = Annotated[
    Path, typer.Argument(help="Folder of documents (PDF, HTML, ...), a BEIR corpus.jsonl or its folder.")
]
StoreDir = Annotated[Path, typer.Option("--store", help="Store folder; the graph goes to STORE/graph.")]
LLMName = Annotated[
    str | None,
    typer.Option("--llm", help="'local' (embedded SmolLM2) or a model name on --llm-base-url for triples."),
]
BaseUrl = Annotated[str | None, typer.Option(help="OpenAI-compatible server for --llm MODEL.")]


def _make_llm(name: str, base_url: str | None) -> Any:
    if name == "local":
        from ragloom.llm.local import default_llm

        return default_llm()
    from ragloom.llm.openai_compat import OpenAICompatibleLLM

    return OpenAICompatibleLLM(name, base_url)


def index(
    source: Source,
    store: StoreDir,
    llm: LLMName = None,
    llm_base_url: BaseUrl = None,
    gleanings: Annotated[int, typer.Option(help="Extra 'what did you miss' rounds per passage.")] = 1,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Skip the LLM cost confirmation.")] = False,
    flat: Annotated[bool, typer.Option(help="Also build/update the flat (BM25 + dense) index.")] = True,
    keep_missing: Annotated[bool, typer.Option(help="Keep indexed documents absent from SOURCE.")] = False,
) -> None:
    """Build or incrementally update the graph index (and the flat index) of SOURCE."""
    with clean_errors():
        from ragloom.documents.base import IngestReport
        from ragloom.retrieval.graph.graph_index import GraphIndex
        from ragloom.retrieval.graph.llm_extract import LLMTripleExtractor
        from ragloom.retrieval.graph.store import graph_dir
        from ragloom.retrieval.sources import iter_documents, require_documents

        files = IngestReport()
        docs = list(require_documents(iter_documents(source, files, progress=True), source))
        for line in files.lines():  # unreadable files are skipped, not fatal
            typer.echo(line, err=True)
        folder = graph_dir(store)
        extractor = LLMTripleExtractor(_make_llm(llm, llm_base_url), gleanings) if llm else None
        graph = (
            GraphIndex.load(folder, triple_extractor=extractor)
            if (folder / "settings.json").is_file()
            else GraphIndex(triple_extractor=extractor)
        )
        if extractor is not None:
            _preflight(graph, docs, extractor, yes)
        report = graph.update(docs, delete_missing=not keep_missing)
        graph.save(folder)
        typer.echo(
            f"graph {folder}: {report.added} added, {report.changed} changed, {report.deleted} deleted, "
            f"{report.unchanged} unchanged; {report.extracted} chunks extracted, {report.embedded} entities "
            f"embedded, {report.llm_calls} LLM calls; {report.nodes} nodes, {report.edges} edges "
            f"in {report.seconds:.1f}s"
        )
        if flat:
            from ragloom.retrieval.index import Index

            flat_report = Index.create(store).update(docs, delete_missing=not keep_missing)
            typer.echo(f"flat index {store}: {flat_report.chunks} chunks ({flat_report.embedded} embedded)")


def _preflight(graph: Any, docs: list[Any], extractor: Any, yes: bool) -> None:
    from ragloom.retrieval.graph.preflight import estimate_llm_build

    estimate = estimate_llm_build(graph, docs, extractor)
    typer.echo(estimate.summary())
    if estimate.calls and not yes and not typer.confirm("Run the LLM extraction?", default=False):
        typer.echo("aborted; nothing was changed", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)


def query(
    store: Annotated[Path, typer.Argument(help="Store folder built by `ragloom graph index`.")],
    question: Annotated[str, typer.Argument(help="The query text.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Number of hits.")] = 5,
    paths: Annotated[int, typer.Option(help="Number of reasoning paths to print.")] = 3,
    first_stage: Annotated[str, typer.Option(help="auto, none, bm25, dense or hybrid.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print hits and paths as JSON lines.")] = False,
) -> None:
    """Graph retrieval: top-k chunks and the most reliable paths between the question's entities."""
    with clean_errors():
        from ragloom.retrieval.graph.store import open_graph_retriever

        retriever = open_graph_retriever(store, first_stage=first_stage)
        seeds = retriever.seeds(question)
        hits = retriever.rank(seeds, k)
        found = retriever.paths(question, paths, seeds=seeds) if paths > 0 else []
        for rank, hit in enumerate(hits, start=1):
            if as_json:
                record = {
                    "rank": rank,
                    "id": hit.id,
                    "doc_id": hit.doc_id,
                    "score": hit.score,
                    "text": hit.text,
                }
                typer.echo(json.dumps(record, ensure_ascii=False))
            else:
                typer.echo(f"{rank:>2}. {hit.score:.4f}  {hit.doc_id}  {' '.join(hit.text.split())[:160]}")
        for p in found:
            if as_json:
                typer.echo(json.dumps({"path": p.text, "reliability": p.reliability}, ensure_ascii=False))
            else:
                typer.echo(f"path {p.reliability:.3f}: {p.text}")
        if not hits:
            typer.echo("no hits (no entity of the question is in the graph)", err=True)


def register(app: typer.Typer) -> None:
    graph_app.command("index")(index)
    graph_app.command("query")(query)
    app.add_typer(graph_app, name="graph")

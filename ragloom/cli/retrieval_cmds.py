"""``ragloom index SOURCE --store DIR`` and ``ragloom query STORE "question"``.

Indexing is incremental: run it again on the same source and only new or changed documents are embedded;
documents gone from the source are dropped (a source with no documents at all is refused, not taken as
"delete everything"). Errors print as one line and exit with code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ragloom.cli.errors import clean_errors

Source = Annotated[Path, typer.Argument(help="Folder of .txt/.md files, a BEIR corpus.jsonl or its folder.")]
StoreDir = Annotated[Path, typer.Option("--store", help="Index folder (created or updated).")]
ChunkerName = Annotated[
    str | None,
    typer.Option(help="document (default), token, sentence, recursive, semantic, window, paragraph"),
]
ChunkerArgs = Annotated[str | None, typer.Option(help='Chunker parameters as JSON, e.g. {"words": 200}.')]
StoreKind = Annotated[str | None, typer.Option(help="chroma (default, embedded), memory or http://HOST:PORT")]
LateFlag = Annotated[bool | None, typer.Option(help="Embed chunks in their document's context.")]
KeepFlag = Annotated[bool, typer.Option(help="Keep indexed documents absent from SOURCE.")]
ExecutorName = Annotated[
    str, typer.Option("--executor", help="local (default) or ray: embed on a Ray cluster's workers.")
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="auto, HOST:PORT or ray://HOST:10001 (default: $RAGLOOM_RAY_ADDRESS, else a local Ray).",
    ),
]


def index(
    source: Source,
    store: StoreDir,
    chunker: ChunkerName = None,
    chunker_args: ChunkerArgs = None,
    vector_store: StoreKind = None,
    late_chunking: LateFlag = None,
    keep_missing: KeepFlag = False,
    executor: ExecutorName = "local",
    ray_address: RayAddress = None,
) -> None:
    """Build or incrementally update an index folder from SOURCE (settings not given keep the index's own)."""
    with clean_errors():
        from ragloom.core.errors import ConfigError
        from ragloom.retrieval.index import Index
        from ragloom.retrieval.sources import iter_documents, require_documents
        from ragloom.scale import make_executor

        try:
            params = json.loads(chunker_args) if chunker_args else None
        except ValueError as e:
            raise ConfigError(f"--chunker-args must be a JSON object: {e}") from e
        if params is not None and not isinstance(params, dict):
            raise ConfigError(f"--chunker-args must be a JSON object, got {chunker_args!r}")
        idx = Index.create(
            store,
            chunker=chunker,
            chunker_params=params,
            vector_store=vector_store,
            late_chunking=late_chunking,
        )
        runner = make_executor(executor, ray_address) if executor != "local" else None
        documents = require_documents(iter_documents(source), source)
        report = idx.update(documents, delete_missing=not keep_missing, progress=True, executor=runner)
        typer.echo(
            f"indexed {store}: {report.added} added, {report.changed} changed, {report.deleted} deleted, "
            f"{report.unchanged} unchanged; {report.chunks} chunks ({report.embedded} embedded) "
            f"in {report.seconds:.1f}s"
        )


def query(
    store: Annotated[Path, typer.Argument(help="Index folder built by `ragloom index`.")],
    question: Annotated[str, typer.Argument(help="The query text.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Number of hits.")] = 5,
    mode: Annotated[str, typer.Option(help="bm25, dense or hybrid.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON lines.")] = False,
) -> None:
    """Retrieve the top-k chunks of an index for a question."""
    with clean_errors():
        from ragloom.retrieval.index import Index

        hits = Index.open(store).retriever(mode).retrieve(question, k)
        for rank, hit in enumerate(hits, start=1):
            if as_json:
                record = {"rank": rank, "id": hit.id, "doc_id": hit.doc_id, "score": hit.score}
                record["text"] = hit.text
                typer.echo(json.dumps(record, ensure_ascii=False))
            else:
                snippet = " ".join(hit.text.split())[:200]
                typer.echo(f"{rank:>2}. {hit.score:.4f}  {hit.doc_id}  {snippet}")
        if not hits:
            typer.echo("no hits", err=True)


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("query")(query)

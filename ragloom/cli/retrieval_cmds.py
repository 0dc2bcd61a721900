"""``ragloom index SOURCE --store DIR`` (or ``--delete ID``) and ``ragloom query STORE "question"``.

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

Source = Annotated[
    Path,
    typer.Argument(
        help="Folder of documents (PDF, HTML, Markdown, text, DOCX, EPUB), a BEIR corpus.jsonl or its folder."
    ),
]
StoreDir = Annotated[Path, typer.Option("--store", help="Index folder (created or updated).")]
ChunkerName = Annotated[
    str | None,
    typer.Option(
        help="structured (default for a folder of files), document (default for BEIR), token, sentence, "
        "recursive, semantic, window, paragraph"
    ),
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


OptSource = Annotated[
    Path | None,
    typer.Argument(help="Folder of .txt/.md files, a BEIR corpus.jsonl or its folder (not with --delete)."),
]
DeleteIds = Annotated[
    list[str] | None,
    typer.Option("--delete", help="Remove this document id from the index (and its graph); repeatable."),
]


def index(
    store: StoreDir,
    source: OptSource = None,
    chunker: ChunkerName = None,
    chunker_args: ChunkerArgs = None,
    vector_store: StoreKind = None,
    late_chunking: LateFlag = None,
    keep_missing: KeepFlag = False,
    delete: DeleteIds = None,
    executor: ExecutorName = "local",
    ray_address: RayAddress = None,
) -> None:
    """Build or incrementally update an index folder from SOURCE (settings not given keep the index's own),
    or remove documents by id with --delete ID (repeatable)."""
    with clean_errors():
        from ragloom.core.errors import ConfigError
        from ragloom.documents.base import IngestReport
        from ragloom.retrieval.index import Index
        from ragloom.retrieval.sources import documents_and_chunker
        from ragloom.scale import make_executor

        if delete:
            _delete(store, source, delete)
            return
        if source is None:
            raise ConfigError("give a SOURCE folder or file to index, or --delete ID to remove documents")

        try:
            params = json.loads(chunker_args) if chunker_args else None
        except ValueError as e:
            raise ConfigError(f"--chunker-args must be a JSON object: {e}") from e
        if params is not None and not isinstance(params, dict):
            raise ConfigError(f"--chunker-args must be a JSON object, got {chunker_args!r}")
        files = IngestReport()
        try:
            documents, chunker = documents_and_chunker(source, chunker, store, files)
        except ConfigError:
            for line in files.lines():  # why nothing was readable
                typer.echo(line, err=True)
            raise
        idx = Index.create(
            store,
            chunker=chunker,
            chunker_params=params,
            vector_store=vector_store,
            late_chunking=late_chunking,
        )
        runner = make_executor(executor, ray_address) if executor != "local" else None
        docs = list(documents)  # read all first: a file unreadable now keeps what it had in the index
        unreadable = [s.source for s in files.skipped]
        report = idx.update(
            docs, delete_missing=not keep_missing, progress=True, keep=unreadable, executor=runner
        )
        for line in files.lines():
            typer.echo(line, err=True)
        reading = f"{files.summary()}; " if files.loaded or files.skipped else ""
        if report.rechunked:
            typer.echo(
                f"re-chunked {report.rechunked} unchanged documents: the chunking code changed since "
                f"{store} was built (their vectors are kept where a chunk's text is the same)",
                err=True,
            )
        typer.echo(
            f"indexed {store}: {reading}{report.added} added, {report.changed} changed, {report.deleted} "
            f"deleted, {report.unchanged} unchanged; {report.chunks} chunks ({report.embedded} embedded) "
            f"in {report.seconds:.1f}s"
        )


def _delete(store: Path, source: Path | None, doc_ids: list[str]) -> None:
    from ragloom.core.errors import ConfigError
    from ragloom.retrieval.index import Index

    if source is not None:
        raise ConfigError("--delete takes document ids, not a SOURCE; run the two separately")
    report = Index.open(store).delete(doc_ids)
    typer.echo(f"deleted from {store}: {report.deleted} documents; {report.chunks} chunks remain")


WhereOption = Annotated[
    str | None,
    typer.Option(
        help='Metadata filter as JSON, e.g. \'{"source": {"$glob": "*.pdf"}, "page": {"$gte": 3}}\'.'
    ),
]


def query(
    store: Annotated[Path, typer.Argument(help="Index folder built by `ragloom index`.")],
    question: Annotated[str, typer.Argument(help="The query text.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Number of hits.")] = 5,
    mode: Annotated[str, typer.Option(help="bm25, dense or hybrid.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON lines.")] = False,
    where: WhereOption = None,
) -> None:
    """Retrieve the top-k chunks of an index for a question (only chunks matching --where, if given)."""
    with clean_errors():
        from ragloom.core.errors import ConfigError
        from ragloom.documents.citations import cite
        from ragloom.retrieval.filters import compile_filter
        from ragloom.retrieval.index import Index

        try:
            raw = json.loads(where) if where else None
        except ValueError as e:
            raise ConfigError(f"--where must be a JSON object: {e}") from e
        scope = compile_filter(raw)
        retriever = Index.open(store).retriever(mode)
        hits = retriever.retrieve(question, k) if scope is None else retriever.retrieve(question, k, scope)
        for rank, hit in enumerate(hits, start=1):
            if as_json:
                record = {"rank": rank, "id": hit.id, "doc_id": hit.doc_id, "score": hit.score}
                record["citation"], record["text"] = cite(hit), hit.text
                typer.echo(json.dumps(record, ensure_ascii=False))
            else:
                snippet = " ".join(hit.text.split())[:200]
                typer.echo(f"{rank:>2}. {hit.score:.4f}  {cite(hit)}  {snippet}")
        if not hits:
            typer.echo("no hits", err=True)


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("query")(query)

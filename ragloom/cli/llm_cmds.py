"""``ragloom serve FLOW.yaml``: serve a flow over HTTP (OpenAI-compatible chat completions + /runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

Repeated = list[str] | None


def serve(
    flow_file: Annotated[Path, typer.Argument(help="The flow file (YAML).", show_default=False)],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    input_key: Annotated[str, typer.Option(help="State key the chat question goes to.")] = "question",
    output_key: Annotated[str, typer.Option(help="State key the chat answer is read from.")] = "answer",
    llm_base_url: Annotated[
        str | None,
        typer.Option(help="Use an OpenAI-compatible server for llm.* nodes (default: the local model)."),
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model name on --llm-base-url.")] = None,
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            help="An index folder: its hybrid retriever is the `retriever` resource, its embedder "
            "serves POST /v1/embeddings.",
        ),
    ] = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            help="SQLite file or postgresql:// URL recording every run after each step "
            "(enables POST /runs/ID/resume)."
        ),
    ] = None,
    allow_import: Annotated[
        Repeated,
        typer.Option(
            "--allow-import", help="Allow `uses: module:function` for this module or path (repeatable)."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="RAGLOOM_API_KEY",
            help="Require `Authorization: Bearer KEY` (required with a --host beyond loopback).",
        ),
    ] = None,
    allow_host: Annotated[
        Repeated,
        typer.Option("--allow-host", help="A Host name clients may use besides loopback (repeatable)."),
    ] = None,
    allow_origin: Annotated[
        Repeated, typer.Option("--allow-origin", help="A browser Origin allowed to call (repeatable).")
    ] = None,
    client_key: Annotated[
        Repeated,
        typer.Option(
            "--client-key", help="A state key POST /runs may set besides the required ones (repeatable)."
        ),
    ] = None,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted (413 beyond).")] = 1
    << 20,
    max_question_chars: Annotated[int, typer.Option(help="Longest question accepted (400 beyond).")] = 32_000,
    max_concurrency: Annotated[int, typer.Option(help="Runs at once (each in a worker thread).")] = 8,
    max_queue: Annotated[int, typer.Option(help="Requests waiting for a run slot (429 beyond).")] = 64,
) -> None:
    """Serve FLOW over HTTP: POST /v1/chat/completions and /v1/embeddings (OpenAI-compatible), POST /runs."""
    import uvicorn

    from ragloom.cli.flow_cmds import _clean_errors
    from ragloom.serve import ServeConfig, check_exposure, create_app, is_loopback
    from ragloom.serve.guard import LOOPBACK_HOSTS
    from ragloom.serve.limits import run_secret

    with _clean_errors(flow_file):
        check_exposure(host, api_key)
        compiled, context = _flow_and_resources(
            flow_file, allow_import, checkpoint, index, llm_base_url, llm_model
        )
    hosts = {h.lower() for h in allow_host or ()}
    config = ServeConfig(
        api_key=api_key or None,
        allowed_hosts=frozenset(LOOPBACK_HOSTS | hosts) if is_loopback(host) else (frozenset(hosts) or None),
        allowed_origins=frozenset(allow_origin or ()),
        max_body_bytes=max_body_bytes,
        max_question_chars=max_question_chars,
        max_concurrency=max_concurrency,
        max_queue=max_queue,
        client_keys=tuple(client_key or ()),
        run_secret=run_secret(_secret_path(checkpoint)) if checkpoint is not None else None,
    )
    embedder = context["index"].embedder if "index" in context else None
    app = create_app(
        compiled, context, input_key=input_key, output_key=output_key, config=config, embedder=embedder
    )
    auth = "API key required" if api_key else "no API key (loopback only)"
    typer.echo(
        f"serving flow {flow_file} on http://{host}:{port} ({auth}; POST /v1/chat/completions, POST /runs)",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=5)


def _flow_and_resources(
    flow_file: Path,
    allow_import: Repeated,
    checkpoint: str | None,
    index: Path | None,
    llm_base_url: str | None,
    llm_model: str | None,
) -> tuple[Any, dict[str, Any]]:
    """The compiled flow and its run resources (the LLM loaded now, not on the first request)."""
    from ragloom.cli.flow_cmds import _load, _resources

    checkpointer = None
    if checkpoint is not None:
        from ragloom.flows.checkpoint import open_checkpointer

        checkpointer = open_checkpointer(checkpoint)
    compiled = _load(flow_file, allow_import, compile=True, checkpointer=checkpointer)
    context = _resources(index)
    if llm_base_url or llm_model:
        from ragloom.cli.llm_option import remote_llm

        context["llm"] = remote_llm(llm_base_url, llm_model)
    if "llm" not in context and _uses_llm(compiled):
        from ragloom.llm.local import default_llm

        typer.echo("loading the local LLM ...", err=True)
        context["llm"] = default_llm().load()
    return compiled, context


def _uses_llm(compiled: object) -> bool:
    """Whether any node of the flow is a registered llm.* or agents.* component."""
    from ragloom.core.registry import component_ref

    nodes = getattr(getattr(compiled, "builder", None), "nodes", {})
    refs = (component_ref(spec.fn) for spec in nodes.values())
    return any(ref is not None and ref.name.startswith(("llm.", "agents.")) for ref in refs)


def register(app: typer.Typer) -> None:
    app.command()(serve)


def _secret_path(checkpoint: str) -> Path:
    """Where the run secret lives: next to an SQLite file; for a postgresql:// URL, in the working folder
    (one file per database, so servers started from one folder share it)."""
    if "://" not in checkpoint:
        return Path(f"{checkpoint}.run-secret")
    import hashlib

    from ragloom.flows.postgres_checkpoint import redact

    return Path(f".ragloom-{hashlib.sha256(redact(checkpoint).encode()).hexdigest()[:12]}.run-secret")

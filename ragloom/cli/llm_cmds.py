"""``ragloom serve FLOW.yaml``: serve a flow over HTTP (OpenAI-compatible chat completions + /runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


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
        typer.Option("--index", help="An index folder; its hybrid retriever is the `retriever` resource."),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="SQLite file recording every run after each step (enables POST /runs/ID/resume)."),
    ] = None,
    allow_import: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-import", help="Allow `uses: module:function` for this module or path (repeatable)."
        ),
    ] = None,
) -> None:
    """Serve FLOW over HTTP: POST /v1/chat/completions (OpenAI-compatible), POST /runs, GET /health."""
    import uvicorn

    from ragloom.cli.flow_cmds import _clean_errors, _load, _resources
    from ragloom.serve import create_app

    with _clean_errors(flow_file):
        checkpointer = None
        if checkpoint is not None:
            from ragloom.flows.sqlite_checkpoint import SQLiteCheckpointer

            checkpointer = SQLiteCheckpointer(str(checkpoint))
        compiled = _load(flow_file, allow_import, compile=True, checkpointer=checkpointer)
        context = _resources(index)
        if llm_base_url or llm_model:
            from ragloom.llm.openai_compat import OpenAICompatibleLLM

            context["llm"] = OpenAICompatibleLLM(llm_model, llm_base_url)
        if "llm" not in context and _uses_llm(compiled):
            from ragloom.llm.local import default_llm

            typer.echo("loading the local LLM ...", err=True)
            context["llm"] = default_llm().load()  # now, not on the first request
    app = create_app(compiled, context, input_key=input_key, output_key=output_key)
    typer.echo(
        f"serving flow {flow_file} on http://{host}:{port} (POST /v1/chat/completions, POST /runs)", err=True
    )
    uvicorn.run(app, host=host, port=port, log_level="info")


def _uses_llm(compiled: object) -> bool:
    """Whether any node of the flow is a registered llm.* or agents.* component."""
    from ragloom.core.registry import component_ref

    nodes = getattr(getattr(compiled, "builder", None), "nodes", {})
    refs = (component_ref(spec.fn) for spec in nodes.values())
    return any(ref is not None and ref.name.startswith(("llm.", "agents.")) for ref in refs)


def register(app: typer.Typer) -> None:
    app.command()(serve)

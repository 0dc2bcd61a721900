"""The ``ragloom`` command. Each group of commands lives in its own module with a ``register(app)``.

Command modules import heavy libraries (torch, chromadb) inside the command functions, so ``ragloom --help``
starts fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="ragloom",
    help="ragloom: retrieval-augmented generation and agentic workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Command modules, each with ``register(app: typer.Typer) -> None``.
#: Missing ones are skipped while rooms land.
COMMAND_MODULES: tuple[str, ...] = (
    "ragloom.cli.flow_cmds",  # run, flow show
    "ragloom.cli.retrieval_cmds",  # index, query
    "ragloom.cli.eval_cmds",  # eval
    "ragloom.cli.llm_cmds",  # serve
    "ragloom.cli.demo_cmds",  # demo, ask
    "ragloom.cli.graph_cmds",  # graph index
    "ragloom.cli.search_cmds",  # search
    "ragloom.cli.mcp_cmds",  # mcp
)


@app.callback()
def _global_options(
    otel_endpoint: str | None = typer.Option(
        None,
        "--otel-endpoint",
        help="Export every flow run as OpenTelemetry spans (OTLP/HTTP, e.g. http://127.0.0.1:4318); "
        "OTEL_EXPORTER_OTLP_ENDPOINT works too.",
    ),
) -> None:
    """ragloom: retrieval-augmented generation and agentic workflows."""
    import os

    if (
        otel_endpoint
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        from ragloom.cli.errors import clean_errors
        from ragloom.flows.otel import instrument

        with clean_errors():
            instrument(otel_endpoint)


@app.command()
def version() -> None:
    """Print ragloom's version."""
    from ragloom import __version__

    typer.echo(__version__)


for _module in COMMAND_MODULES:
    try:
        importlib.import_module(_module).register(app)
    except ModuleNotFoundError as _e:
        if _e.name != _module:
            raise


def main() -> None:
    app()

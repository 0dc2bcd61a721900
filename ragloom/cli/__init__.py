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

"""``ragloom run FLOW.yaml`` and ``ragloom flow show|validate FLOW.yaml``.

Errors in the flow file or the input print as one line (``file:line:col: what, how to fix``) and exit with
code 2; a node failing at run time exits with code 1. No tracebacks: the messages already say where.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ragloom.core.errors import (
    FlowDefinitionError,
    FlowError,
    NodeExecutionError,
    RagloomError,
    StepLimitError,
)

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1

FlowFile = Annotated[Path, typer.Argument(help="The flow file (YAML).", show_default=False)]
AllowImport = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-import", help="Allow `uses: module:function` for this module or path (repeatable)."
    ),
]


def _fail(message: str, code: int) -> typer.Exit:
    """Print ``message`` as one line (pydantic's multi-line details joined, its doc links dropped)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    typer.echo(
        "error: " + " ".join(x for x in lines if not x.startswith("For further information")), err=True
    )
    return typer.Exit(code)


@contextmanager
def _clean_errors(flow_file: Path) -> Iterator[None]:
    """Turn ragloom errors into one clean stderr line and an exit code (2: bad flow/input, 1: run failed)."""
    try:
        yield
    except (NodeExecutionError, StepLimitError) as e:
        raise _fail(f"{flow_file}: {e}{_resource_hint(str(e))}", EXIT_RUN_FAILED) from None
    except FlowDefinitionError as e:
        raise _fail(str(e) if e.file is not None else f"{flow_file}: {e}", EXIT_BAD_INPUT) from None
    except RagloomError as e:
        raise _fail(f"{flow_file}: {e}", EXIT_BAD_INPUT) from None


def _resource_hint(message: str) -> str:
    """The command-line options that give a missing ``retriever``/``index`` resource, for its error."""
    if "no resource 'retriever'" in message or "no resource 'index'" in message:
        return "; from the command line: --index DIR (an index folder) or --dataset DIR (a dataset's corpus)"
    return ""


def _load(flow_file: Path, allow_import: list[str] | None, compile: bool = False, **options: Any) -> Any:
    """The Flow in ``flow_file`` (or, with ``compile=True``, the CompiledFlow, compile errors located)."""
    from ragloom.flows.yaml_io import compile_file, load_flow

    if not flow_file.is_file():
        raise FlowDefinitionError(f"flow file {str(flow_file)!r} not found; pass the path of a .yaml flow")
    allow = tuple(allow_import or ())
    return compile_file(flow_file, allow, **options) if compile else load_flow(flow_file, allow)


def _parse_input(text: str) -> dict[str, Any]:
    """``--input`` is a JSON object, or ``@path`` to a file holding one."""
    source = "--input"
    if text.startswith("@"):
        source = text[1:]
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as e:
            raise FlowDefinitionError(f"cannot read the input file {source!r}: {e.strerror or e}") from e
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise FlowDefinitionError(
            f"{source} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
            'pass an object such as \'{"question": "..."}\''
        ) from e
    if not isinstance(value, dict):
        raise FlowDefinitionError(f"{source} must be a JSON object of state keys, got {type(value).__name__}")
    return value


def _resources(index: Path | None, dataset: Path | None = None) -> dict[str, Any]:
    """Run resources from command-line options: ``retriever`` and ``index`` from --index, or from --dataset
    (its BEIR corpus or files/ folder, indexed once into the cache, as ``ragloom eval`` and ``ragloom search``
    do); the LLM defaults to the local one."""
    resources: dict[str, Any] = {}
    if index is not None:
        from ragloom.eval.flow_resources import run_resources
        from ragloom.retrieval.index import Index

        resources |= run_resources(Index.open(index))  # + `graph` when DIR holds a graph index
    elif dataset is not None:
        from ragloom.eval.datasets import load_dataset
        from ragloom.eval.files_index import resources_for_dataset

        data = load_dataset(dataset, corpus_optional=True)
        resources |= resources_for_dataset(data, dataset)[0]
    return resources


def run(
    flow_file: FlowFile,
    input: Annotated[
        str, typer.Option("--input", "-i", help="Initial state: a JSON object or @file.json.")
    ] = "{}",
    allow_import: AllowImport = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            help="SQLite file or postgresql:// URL that records state after every step.",
        ),
    ] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue this run id from the --checkpoint database.")
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id", help="Id of the new run (default: a random one); resume it with --resume ID."
        ),
    ] = None,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write the run's trace as JSONL here.")
    ] = None,
    interrupt_before: Annotated[
        list[str] | None,
        typer.Option(
            "--interrupt-before", help="Stop before this node (repeatable); continue with --resume."
        ),
    ] = None,
    interrupt_after: Annotated[
        list[str] | None,
        typer.Option("--interrupt-after", help="Stop after this node (repeatable); continue with --resume."),
    ] = None,
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            help="With --resume: the JSON answer to the pending interrupt() (or an object interrupt id -> "
            "answer when several are pending).",
        ),
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option("--index", help="An index folder; its hybrid retriever is the `retriever` resource."),
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset",
            help="A dataset folder (BEIR corpus.jsonl, or files/): indexed once into the cache, its hybrid "
            "retriever is the `retriever` resource (as in `ragloom eval` and `ragloom search`).",
        ),
    ] = None,
) -> None:
    """Run a YAML flow: prints the final state as JSON (stdout) and the trace summary (stderr).

    With --resume, --input (if given) is applied as an update to the stored state before continuing.
    """
    from pydantic_core import to_jsonable_python

    with _clean_errors(flow_file):
        checkpointer = None
        if checkpoint is not None:
            from ragloom.flows.checkpoint import open_checkpointer

            checkpointer = open_checkpointer(checkpoint)
        elif resume is not None or interrupt_before or interrupt_after:
            raise FlowDefinitionError(
                "--resume, --interrupt-before and --interrupt-after need a --checkpoint database"
            )
        if value is not None and resume is None:
            raise FlowDefinitionError("--value answers a paused run's interrupt(); pass it with --resume RUN")
        if run_id is not None and resume is not None:
            raise FlowDefinitionError("--run-id names a new run; to continue one, pass only --resume ID")
        stops = tuple(interrupt_before or ())
        compiled = _load(
            flow_file,
            allow_import,
            compile=True,
            checkpointer=checkpointer,
            interrupt_before=stops,
            interrupt_after=tuple(interrupt_after or ()),
        )
        values = _parse_input(input)
        resources = _resources(index, dataset)
        if resume:
            result = compiled.resume(resume, update=values or None, context=resources, **_answer(value))
        else:
            compiled.schema.initial(values)  # a bad --input fails here, before the run is announced
            run_id = _announce_run(run_id, flow_file, checkpoint)
            result = compiled.invoke(values, context=resources, run_id=run_id)
        if trace is not None:
            result.trace.to_jsonl(trace)
        close = getattr(checkpointer, "close", None)
        if close is not None:
            close()  # commits the run's steps to the file now, not at interpreter exit
    typer.echo(json.dumps(to_jsonable_python(result.state, fallback=repr), indent=2, ensure_ascii=False))
    sys.stderr.write(result.trace.summary())
    if result.status != "done":
        where = checkpoint if checkpoint is None or "://" not in checkpoint else _redact(checkpoint)
        _say_paused(result, f"ragloom run {flow_file} --checkpoint {where} --resume {result.run_id}")


def _answer(value: str | None) -> dict[str, Any]:
    """``--value`` as ``resume(value=...)`` keyword arguments (none when not given)."""
    if value is None:
        return {}
    try:
        return {"value": json.loads(value)}
    except json.JSONDecodeError as e:
        raise FlowDefinitionError(
            f"--value is not valid JSON ({e.msg} at column {e.colno}); quote a string: --value '\"yes\"'"
        ) from e


def _say_paused(result: Any, again: str) -> None:
    """Why the run stopped and the command that continues it (stderr)."""
    if result.interrupts:
        for pending in result.interrupts:
            shown = json.dumps(pending.value, default=repr, ensure_ascii=False)
            typer.echo(f"interrupt {pending.id} (node {pending.node!r}) asks: {shown}", err=True)
        typer.echo(f"run {result.run_id} paused; answer with: {again} --value JSON", err=True)
        return
    where = (
        f"after node {result.interrupted_after!r}"
        if result.interrupted_after
        else f"before node {result.interrupted_before!r}"
    )
    hint = f"run {result.run_id} {result.status} {where}; continue with: {again} [--input UPDATE]"
    typer.echo(hint, err=True)


def _announce_run(run_id: str | None, flow_file: Path, checkpoint: str | Path | None) -> str:
    """The run's id (``--run-id`` or a new one), printed to stderr before a checkpointed run starts: a run
    killed mid-way can then be resumed; printing it only at the end left a killed run without its id."""
    import uuid

    if run_id is not None and (not run_id.strip() or any(c.isspace() or not c.isprintable() for c in run_id)):
        raise FlowDefinitionError(f"--run-id {run_id!r} must be a non-empty id without spaces")
    run_id = run_id or uuid.uuid4().hex
    if checkpoint is not None:  # only a checkpointed run can be continued by its id
        typer.echo(
            f"run {run_id} started; if it stops, continue with: "
            f"ragloom run {flow_file} --checkpoint {checkpoint} --resume {run_id}",
            err=True,
        )
    return run_id


def show(
    flow_file: FlowFile,
    mermaid: Annotated[
        bool, typer.Option("--mermaid", help="Print a Mermaid diagram instead of text.")
    ] = False,
    allow_import: AllowImport = None,
) -> None:
    """Print a flow's state, nodes and edges (or its Mermaid diagram)."""
    with _clean_errors(flow_file):
        if mermaid:
            typer.echo(_load(flow_file, allow_import, compile=True).to_mermaid())
        else:
            typer.echo(describe_flow(_load(flow_file, allow_import)))


def validate(flow_file: FlowFile, allow_import: AllowImport = None) -> None:
    """Check a flow file: YAML, components, types and graph (compile), without running it."""
    with _clean_errors(flow_file):
        flow = _load(flow_file, allow_import, compile=True).builder
    n_edges = len(flow.edges) + len(flow.routers)
    typer.echo(f"ok: {flow_file}: flow {flow.name!r}, {len(flow.nodes)} nodes, {n_edges} edges")


def describe_flow(flow: Any) -> str:
    """A plain-text outline of a flow (what ``flow show`` prints)."""
    from ragloom.flows.typespec import MISSING, TypeSpecError, state_spec
    from ragloom.flows.yaml_io import node_to_dict

    lines = [f"flow {flow.name!r}" + (f" (max_steps {flow.max_steps})" if flow.max_steps else ""), "state:"]
    try:
        for key, spec in state_spec(flow.state_schema).items():
            reducer = "" if spec.reducer == "replace" else f" ({spec.reducer})"
            default = "" if spec.default is MISSING else f" = {json.dumps(spec.default)}"
            lines.append(f"  {key}: {spec.type}{reducer}{default}")
    except TypeSpecError:
        lines.append(f"  {flow.state_schema!r}")
    lines.append("nodes:")
    width = max((len(n) for n in flow.nodes), default=0)
    for name, node_spec in flow.nodes.items():
        try:
            what = _compact(node_to_dict(flow, node_spec))
        except FlowError:
            what = repr(node_spec.fn)
        lines.append(f"  {name:<{width}}  {what}")
    lines.append("edges:")
    names = {"__start__": "START", "__end__": "END"}
    for edge in flow.edges:
        sources = " & ".join(names.get(s, s) for s in edge.sources)
        lines.append(f"  {sources} -> {names.get(edge.target, edge.target)}")
    for router in flow.routers:
        lines += [f"  {router.source} -> {names.get(t, t)}  {why}" for why, t in _router_cases(router)]
    return "\n".join(lines)


def _compact(node: dict[str, Any]) -> str:
    if "flow" in node:
        inner = node["flow"]
        return f"subflow {inner.get('name', '')!r} with nodes {', '.join(inner.get('nodes', {}))}"
    params = ", ".join(f"{k}={json.dumps(v)}" for k, v in node.get("with", {}).items())
    options = ", ".join(f"{k}={json.dumps(v)}" for k, v in node.items() if k not in ("uses", "with"))
    return node["uses"] + (f"({params})" if params else "") + (f"  [{options}]" if options else "")


def _router_cases(router: Any) -> list[tuple[str, str]]:
    """(condition text, target) pairs of a router: the when-cases, or the labels of a Python router."""
    from ragloom.flows.when import WhenRouter

    fn = router.router
    if not isinstance(fn, WhenRouter):
        return [(f"(router returns {label!r})", target) for label, target in router.targets.items()]
    out = []
    for cond, target in fn.cases:
        test = f"{cond.key} {cond.op}" + ("" if cond.op in ("truthy", "falsy") else f" {cond.value!r}")
        out += [(f"if {test}", t) for t in ((target,) if isinstance(target, str) else target)]
    if fn.default is not None:
        out += [("else", t) for t in ((fn.default,) if isinstance(fn.default, str) else fn.default)]
    return out


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    flow_app = typer.Typer(help="Inspect and check YAML flow files.", no_args_is_help=True)
    flow_app.command("show")(show)
    flow_app.command("validate")(validate)
    app.add_typer(flow_app, name="flow")


def _redact(url: str) -> str:
    from ragloom.flows.postgres_checkpoint import redact

    return redact(url)

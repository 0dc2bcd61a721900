"""YAML flow files: ``load_flow`` builds the same Flow the Python DSL builds; ``dump_flow`` writes it back.

This module is the entry point (and the stable import path) for flow files: it reads a path or YAML text,
hands it to the pieces that do the work, and re-exports their public names.

- :mod:`ragloom.flows.yaml_marks`: the safe loader. The file is parsed with ``yaml.SafeLoader`` semantics
  (a subclass that only adds position marks), so tags such as ``!!python/object`` are refused.
- :mod:`ragloom.flows.yaml_reader`: the marked document becomes a Flow. Nodes come from the component
  registry by name (``uses: flows.increment``); a ``module:function`` path is imported only when the caller
  allow-lists it.
- :mod:`ragloom.flows.yaml_dump`: a Flow becomes YAML again.

Every error is a FlowDefinitionError carrying file, line and column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ragloom.core.errors import FlowDefinitionError, RagloomError
from ragloom.flows.builder import Flow
from ragloom.flows.yaml_dump import dump_flow, flow_to_dict, node_to_dict
from ragloom.flows.yaml_marks import (
    MAX_DEPTH,
    MAX_VALUES,
    FlowLoader,
    MarkedDict,
    MarkedList,
    decode_flow_bytes,
    parse_marked,
    plain,
    start_mark,
)
from ragloom.flows.yaml_reader import EDGE_KEYS, NODE_KEYS, TOP_KEYS, FlowReader

__all__ = [
    "EDGE_KEYS",
    "MAX_DEPTH",
    "MAX_VALUES",
    "NODE_KEYS",
    "TOP_KEYS",
    "FlowLoader",
    "FlowReader",
    "MarkedDict",
    "MarkedList",
    "compile_file",
    "compile_flow_bytes",
    "dump_flow",
    "flow_to_dict",
    "load_flow",
    "node_to_dict",
    "plain",
]

#: The flow and node a FlowCompileError message names, to find where they are written in the file.
_NAMED = re.compile(r"^flow '([^']*)'.*?(?:node|nodes) '([^']*)'")


def load_flow(source: str | os.PathLike[str], allow_imports: Iterable[str] = ()) -> Flow:
    """Build a Flow from a YAML file path or YAML text.

    ``allow_imports`` lists ``module:function`` paths (or module prefixes) that ``uses:`` may import;
    everything else must be a registered component. Raises FlowDefinitionError with file:line:column.
    """
    return _load(source, tuple(allow_imports))[0]


def compile_file(source: str | os.PathLike[str], allow_imports: Iterable[str] = (), **options: Any) -> Any:
    """Load and ``compile(**options)`` a flow file; a compile error comes back located in the file.

    The engine's FlowCompileError names the flow and node; this maps it to the line where that node (or,
    for whole-graph problems, the ``edges:`` section) is written.
    """
    text, file = _read_source(source)
    return _compile(text, file, tuple(allow_imports), options)


def compile_flow_bytes(data: bytes, file: str, allow_imports: Iterable[str] = (), **options: Any) -> Any:
    """:func:`compile_file` for the bytes of a flow file already read; ``file`` labels error positions.

    This is what ``ragloom flow validate FILE`` runs once the file is read, so tests can check many files
    in memory.
    """
    return _compile(decode_flow_bytes(data, file), file, tuple(allow_imports), options)


def _compile(text: str, file: str, allow_imports: tuple[str, ...], options: dict[str, Any]) -> Any:
    flow, reader = _parse(text, file, allow_imports)
    try:
        return flow.compile(**options)
    except FlowDefinitionError as e:
        if e.line is not None:
            raise
        raise reader.fail(str(e), reader.positions.get((flow.name, ""))) from e
    except RagloomError as e:  # FlowCompileError names the flow and node; others are about the flow
        message = str(e)
        named = _NAMED.search(message)
        key = (named.group(1), named.group(2)) if named else (flow.name, "")
        mark = reader.positions.get(key, reader.positions.get((flow.name, "")))
        raise reader.fail(message, mark) from e


def _load(source: str | os.PathLike[str], allow_imports: tuple[str, ...]) -> tuple[Flow, FlowReader]:
    """The flow and the reader that built it (its ``positions`` locate later compile errors)."""
    return _parse(*_read_source(source), allow_imports)


def _parse(text: str, file: str, allow_imports: tuple[str, ...]) -> tuple[Flow, FlowReader]:
    reader = FlowReader(file, allow_imports)
    doc = parse_marked(text, file)
    if isinstance(doc, str) and file == "<string>" and "\n" not in text.strip():
        raise reader.fail(f"{text.strip()!r} is neither an existing flow file nor YAML flow text", None)
    return reader.read_flow(doc, getattr(doc, "mark", None) or start_mark(file)), reader


def _read_source(source: str | os.PathLike[str]) -> tuple[str, str]:
    """(text, file label) for a path or a YAML string."""
    is_path = isinstance(source, os.PathLike) or (
        "\n" not in source and (source.endswith((".yaml", ".yml")) or os.path.isfile(source))
    )
    if not is_path:
        return str(source), "<string>"
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FlowDefinitionError(f"cannot read flow file: {e.strerror or e}", str(path)) from e
    return decode_flow_bytes(data, str(path)), str(path)

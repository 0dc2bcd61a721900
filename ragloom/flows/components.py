"""Generic flow components (``uses: flows.set`` …): tiny state edits for YAML flows, examples and tests.

Each factory takes its ``with:`` parameters and returns a node ``state -> partial update``. They know
nothing about RAG; they exist so a flow file can set, copy, count and format values without code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ragloom.core.registry import register
from ragloom.core.state_access import check_path, plain_fields
from ragloom.flows.when import read_key

Node = Callable[[Any], dict[str, Any]]


@register("flows.set")
def set_values(**values: Any) -> Node:
    """Set state keys to constants: ``with: {status: done, retries: 0}``."""

    def set_node(state: Any) -> dict[str, Any]:
        return dict(values)

    return set_node


@register("flows.copy")
def copy_value(source: str, target: str) -> Node:
    """Copy the value of state key ``source`` (a key path: ``doc.title``, ``hits.0``) to key ``target``."""
    check_path(source, "flows.copy source")
    check_path(target, "flows.copy target")

    def copy_node(state: Any) -> dict[str, Any]:
        return {target: read_key(state, source)}

    return copy_node


@register("flows.increment")
def increment(key: str = "count", by: int | float = 1) -> Node:
    """Add ``by`` to the number in ``key`` (a loop counter)."""
    check_path(key, "flows.increment key")

    def increment_node(state: Any) -> dict[str, Any]:
        return {key: read_key(state, key) + by}

    return increment_node


@register("flows.template")
def template(template: str, output_key: str) -> Node:
    """Write ``template.format(**state)`` to ``output_key``: ``"Q: {question}"``.

    Only plain ``{key}`` fields are allowed (no ``{a.b}``, ``{a[0]}`` or ``{_x}``), so a flow file cannot
    walk from a state value into Python internals through format-string attribute access.
    """
    fields = plain_fields(template, "flows.template")

    def template_node(state: Any) -> dict[str, Any]:
        return {output_key: template.format(**{f: read_key(state, f) for f in fields})}

    return template_node


@register("flows.ask")
def ask(question: str, output_key: str) -> Node:
    """Pause the run with ``question`` (``interrupt``) and write the human's answer to ``output_key``:
    ``ragloom run flow.yaml --checkpoint runs.sqlite`` stops here, ``--resume RUN --value '"yes"'`` goes on.
    ``{key}`` fields in the question are filled from the state, as in ``flows.template``."""
    fields = plain_fields(question, "flows.ask")

    def ask_node(state: Any) -> dict[str, Any]:
        from ragloom.flows.control import interrupt

        return {output_key: interrupt(question.format(**{f: read_key(state, f) for f in fields}))}

    return ask_node

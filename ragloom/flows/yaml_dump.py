"""Flow-to-YAML dumping: write a Flow as the plain data :func:`ragloom.flows.yaml_io.load_flow` reads back.

It exists apart from reading because it runs the other way and needs none of the position machinery:
it walks the builder (state spec, nodes, edges, ``when:`` routers) and emits plain dicts and lists. Anything
with no YAML spelling (an unregistered function, a Python router, a callable ``cache_key``) is refused with a
FlowDefinitionError that names the node and says how to make it serialisable.
"""

from __future__ import annotations

from typing import Any

import yaml

from ragloom.core import registry
from ragloom.core.errors import FlowDefinitionError
from ragloom.flows.builder import END, START, Flow, NodeSpec, node_options
from ragloom.flows.typespec import TypeSpecError, is_plain_data, state_spec
from ragloom.flows.when import StateKeys

_ENDPOINT_NAMES = {START: "START", END: "END"}


def flow_to_dict(flow: Flow) -> dict[str, Any]:
    """The flow as plain YAML data; FlowDefinitionError names anything that has no YAML spelling."""
    out: dict[str, Any] = {"name": flow.name}
    if flow.max_steps is not None:
        out["max_steps"] = flow.max_steps
    try:
        out["state"] = {k: spec.to_yaml_value() for k, spec in state_spec(flow.state_schema).items()}
    except TypeSpecError as e:
        raise FlowDefinitionError(f"flow {flow.name!r} cannot be written as YAML: {e}") from e
    out["nodes"] = {name: node_to_dict(flow, spec) for name, spec in flow.nodes.items()}
    out["edges"] = _edges_to_list(flow)
    for key in ("interrupt_before", "interrupt_after"):
        if getattr(flow, key):
            out[key] = list(getattr(flow, key))
    return out


def _edges_to_list(flow: Flow) -> list[dict[str, Any]]:
    """Plain edges (``from``/``to``, START/END by name) followed by ``when:`` routers."""
    edges: list[dict[str, Any]] = []
    for edge in flow.edges:
        sources = [_ENDPOINT_NAMES.get(s, s) for s in edge.sources]
        edges.append(
            {
                "from": sources[0] if len(sources) == 1 else sources,
                "to": _ENDPOINT_NAMES.get(edge.target, edge.target),
            }
        )
    for router in flow.routers:
        to_yaml = getattr(router.router, "to_yaml_dict", None)
        if to_yaml is None:
            raise FlowDefinitionError(
                f"flow {flow.name!r}: the router after node {router.source!r} is Python code "
                f"({router.router!r}); "
                "YAML can only write `when:` routers (ragloom.flows.when.WhenRouter)"
            )
        edges.append({"from": router.source, **_rename_endpoints(to_yaml())})
    return edges


def _rename_endpoints(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (v if k == "if" else _rename_endpoints(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_endpoints(v) for v in value]
    return _ENDPOINT_NAMES.get(value, value) if isinstance(value, str) else value


def node_to_dict(flow: Flow, spec: NodeSpec) -> dict[str, Any]:
    """One node as YAML data (``uses``/``with`` or ``flow``, plus run options that differ from defaults)."""
    inner = getattr(spec.fn, "builder", None)  # a CompiledFlow used as a subflow node
    if isinstance(inner, Flow):
        out: dict[str, Any] = {"flow": flow_to_dict(inner)}
    else:
        out = _component_to_dict(flow, spec)
    marked = node_options(spec.fn)
    defaults = {
        "retries": 0, "backoff": 0.0, "timeout": None, "cache_key": None, "takes_context": False,
        "retry_on": None, "cache_ttl": None,
    }  # fmt: skip
    for key, default in defaults.items():
        value, marked_value = getattr(spec, key), getattr(marked, key)
        if value == (marked_value if marked_value is not None else default):
            continue
        if key == "cache_key":
            if not isinstance(value, StateKeys):
                raise FlowDefinitionError(
                    f"node {spec.name!r}: its cache_key is Python code; "
                    "YAML can only write `cache_key: [state keys]`"
                )
            value = list(value.keys)
        if key == "retry_on":
            value = _exception_names(spec.name, value)
        out[key] = value
    return out


def _exception_names(node: str, classes: tuple[type[BaseException], ...]) -> list[str]:
    from ragloom.flows.yaml_reader import exception_class

    names = []
    for cls in classes:
        if exception_class(cls.__name__) is not cls:
            raise FlowDefinitionError(
                f"node {node!r}: retry_on={cls!r} has no YAML name; YAML can name builtin exceptions "
                "and those of ragloom.core.errors"
            )
        names.append(cls.__name__)
    return names


def _component_to_dict(flow: Flow, spec: NodeSpec) -> dict[str, Any]:
    ref = registry.component_ref(spec.fn)
    if ref is not None:
        if not is_plain_data(ref.params):
            raise FlowDefinitionError(
                f"node {spec.name!r}: parameters of {ref.name!r} are not plain YAML data: {ref.params!r}"
            )
        return {"uses": ref.name, "with": dict(ref.params)} if ref.params else {"uses": ref.name}
    module, qualname = getattr(spec.fn, "__module__", None), getattr(spec.fn, "__qualname__", "")
    if module and qualname and "<" not in qualname and module != "__main__":
        return {"uses": f"{module}:{qualname}"}
    raise FlowDefinitionError(
        f"flow {flow.name!r}: node {spec.name!r} ({spec.fn!r}) is not a registered component, so YAML cannot "
        "name it; build it with ragloom.core.registry.create(name, params) after @register(name) on a factory"
    )


def dump_flow(flow: Flow) -> str:
    """The flow as YAML text that :func:`load_flow` reads back into an equal flow."""
    data = flow_to_dict(flow)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
    if yaml.safe_load(text) != data:  # PyYAML mangles a few raw control characters (U+0085): escape them all
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=False)
    return text

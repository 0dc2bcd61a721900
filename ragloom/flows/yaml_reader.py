"""Flow-from-YAML compilation: turn a marked YAML document into the same Flow the Python DSL builds.

This is the schema half of flow files, kept apart from parsing (:mod:`ragloom.flows.yaml_marks`) and from
writing (:mod:`ragloom.flows.yaml_dump`). Every section is checked against its allowed keys and shapes, and
every error names the file, line and column of the offending key or value and says how to fix it.
Nodes come from the component registry by name (``uses: flows.increment``); a ``module:function`` path is
imported only when the caller allow-lists it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any

import yaml
from pydantic import BaseModel

from ragloom.core import registry
from ragloom.core.errors import FlowCompileError, FlowDefinitionError, RegistryError
from ragloom.flows.builder import END, START, Flow
from ragloom.flows.typespec import FieldSpec, TypeSpecError, build_state_model, field_spec_from_yaml
from ragloom.flows.when import Condition, StateKeys, Target, WhenRouter
from ragloom.flows.yaml_marks import MarkedDict, MarkedList, located_error, plain

TOP_KEYS = ("name", "max_steps", "state", "nodes", "edges", "interrupt_before", "interrupt_after")
NODE_KEYS = (
    "uses", "with", "flow", "retries", "backoff", "timeout", "cache_key", "takes_context", "retry_on",
    "cache_ttl",
)  # fmt: skip
EDGE_KEYS = ("from", "to", "when")
_ENDPOINTS = {"START": START, "END": END}
_NODE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")


class FlowReader:
    """Turns a marked document into a Flow; knows the file name for error positions."""

    def __init__(self, file: str, allow_imports: tuple[str, ...]) -> None:
        self.file, self.allow_imports = file, allow_imports
        #: where each flow (key ``(flow, "")``) and node (``(flow, node)``) is defined, for compile errors
        self.positions: dict[tuple[str, str], yaml.Mark] = {}

    def fail(self, message: str, mark: yaml.Mark | None) -> FlowDefinitionError:
        """The error to raise for ``message`` at ``mark`` in this reader's file."""
        return located_error(message, self.file, mark)

    def failer(self, mark: yaml.Mark | None) -> Callable[[str], FlowDefinitionError]:
        """A ``message -> error`` function bound to one position."""
        return lambda message: self.fail(message, mark)

    def mapping(self, value: Any, what: str, mark: yaml.Mark | None, allowed: Iterable[str]) -> MarkedDict:
        if not isinstance(value, MarkedDict):
            raise self.fail(f"{what} must be a mapping, got {_kind(value)}", mark)
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                raise self.fail(
                    f"unknown key {key!r} in {what}; allowed: {', '.join(allowed)}", value.key_marks[key]
                )
        return value

    def read_flow(self, doc: Any, mark: yaml.Mark | None) -> Flow:
        doc = self.mapping(doc, "a flow", mark, TOP_KEYS)
        for required in ("state", "nodes", "edges"):
            if required not in doc:
                raise self.fail(f"a flow needs a `{required}:` section", doc.mark)
        name = doc.get("name", "flow")
        max_steps = doc.get("max_steps")
        if not isinstance(name, str) or not name:
            raise self.fail("`name:` must be a non-empty string", doc.value_marks.get("name"))
        if max_steps is not None and (
            not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1
        ):
            raise self.fail(
                f"`max_steps:` must be a positive integer, got {max_steps!r}", doc.value_marks["max_steps"]
            )
        flow = Flow(
            self.read_state(name, doc["state"], doc.value_marks["state"]), name=name, max_steps=max_steps
        )
        self.positions.setdefault((name, ""), doc.key_marks.get("edges", doc.mark))
        self.read_nodes(flow, doc["nodes"], doc.value_marks["nodes"])
        self.read_edges(flow, doc["edges"], doc.value_marks["edges"])
        for key in ("interrupt_before", "interrupt_after"):
            if key in doc:
                setattr(flow, key, self.node_list(flow, doc[key], key, doc.value_marks[key]))
        return flow

    def node_list(self, flow: Flow, value: Any, key: str, mark: yaml.Mark) -> tuple[str, ...]:
        """``interrupt_before:``/``interrupt_after:``: a list of node names of this flow."""
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"`{key}:` must be a list of node names, got {value!r}", mark)
        for name in value:
            if name not in flow.nodes:
                raise self.fail(f"`{key}:` names unknown node {name!r}; nodes: {', '.join(flow.nodes)}", mark)
        return tuple(value)

    def read_state(self, flow_name: str, value: Any, mark: yaml.Mark) -> type:
        if not isinstance(value, MarkedDict):
            raise self.fail(f"`state:` must map field names to types, got {_kind(value)}", mark)
        fields: dict[str, FieldSpec] = {}
        for key, spec in value.items():
            problem = _bad_field_name(key)
            if problem:
                raise self.fail(f"state field name {key!r} {problem}; rename it", value.key_marks[key])
            fields[key] = field_spec_from_yaml(key, plain(spec), self.failer(value.value_marks[key]))
        model_name = "".join(p.capitalize() for p in flow_name.replace("-", "_").split("_") if p) + "State"
        try:
            return build_state_model(model_name if model_name.isidentifier() else "FlowState", fields)
        except (TypeSpecError, TypeError, ValueError) as e:
            raise self.fail(f"invalid state: {e}", mark) from e

    def read_nodes(self, flow: Flow, value: Any, mark: yaml.Mark) -> None:
        if not isinstance(value, MarkedDict) or not value:
            raise self.fail("`nodes:` must map node names to {uses: component, with: {...}}", mark)
        for name, spec in value.items():
            if not isinstance(name, str) or not _NODE_NAME.match(name) or name in _ENDPOINTS:
                raise self.fail(
                    f"invalid node name {name!r}: use letters, digits, '_', '-' or '.' "
                    "(START and END are reserved)",
                    value.key_marks[name],
                )
            self.positions.setdefault((flow.name, name), value.key_marks[name])
            self.read_node(flow, name, spec, value.value_marks[name])

    def read_node(self, flow: Flow, name: str, spec: Any, mark: yaml.Mark) -> None:
        if isinstance(spec, str):  # shorthand: `name: component.name`
            spec = MarkedDict(uses=spec)
            spec.mark, spec.key_marks, spec.value_marks = mark, {"uses": mark}, {"uses": mark}
        spec = self.mapping(spec, f"node {name!r}", mark, NODE_KEYS)
        if ("uses" in spec) == ("flow" in spec):
            raise self.fail(
                f"node {name!r} needs exactly one of `uses:` (a component) or `flow:` (a subflow)", mark
            )
        fn = self.read_subflow(name, spec) if "flow" in spec else self.read_component(name, spec)
        options = self.read_options(name, spec)
        try:
            flow.add_node(name, fn, **options)
        except FlowDefinitionError as e:
            raise self.fail(str(e), spec.key_marks.get("uses", mark)) from e

    def read_component(self, name: str, spec: MarkedDict) -> Any:
        uses, params = spec["uses"], spec.get("with", {})
        where = spec.value_marks["uses"]
        if not isinstance(uses, str) or not uses:
            raise self.fail(f"node {name!r}: `uses:` must be a component name like 'flows.set'", where)
        if not isinstance(params, dict):
            raise self.fail(
                f"node {name!r}: `with:` must be a mapping of parameters", spec.value_marks["with"]
            )
        if ":" in uses:
            if "with" in spec:
                raise self.fail(
                    f"node {name!r}: an imported function takes no `with:`; "
                    "register a component to pass parameters",
                    spec.key_marks["with"],
                )
            return self.import_node(uses, where)
        try:
            return registry.create(uses, plain(params))
        except RegistryError as e:
            raise self.fail(f"node {name!r}: {e}", where) from e
        except Exception as e:  # a factory refusing its `with:` values (ConfigError, ValueError, ...)
            raise self.fail(
                f"node {name!r}: component {uses!r} cannot be built from its `with:` parameters: {e}",
                spec.value_marks.get("with", where),
            ) from e

    def import_node(self, path: str, mark: yaml.Mark) -> Any:
        module_name, _, attr = path.partition(":")
        if not _import_allowed(path, self.allow_imports):
            raise self.fail(
                f"importing {path!r} is not allowed: YAML flows use registered components. If you trust this "
                f"file, allow it with --allow-import {module_name} (Python: allow_imports=[{path!r}])",
                mark,
            )
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as e:
            raise self.fail(f"cannot import {path!r}: {e}", mark) from e
        if not callable(obj):
            raise self.fail(f"{path!r} is {type(obj).__name__}, not a node function", mark)
        return obj

    def read_subflow(self, name: str, spec: MarkedDict) -> Any:
        inner = self.read_flow(spec["flow"], spec.value_marks["flow"])
        if "with" in spec:
            raise self.fail(f"node {name!r}: a subflow takes no `with:`", spec.key_marks["with"])
        try:
            return inner.compile()
        except FlowCompileError as e:
            raise self.fail(f"subflow {name!r}: {e}", spec.value_marks["flow"]) from e

    def read_options(self, name: str, spec: MarkedDict) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for key, (ok, expected) in _OPTION_CHECKS.items():
            if key in spec:
                if not ok(spec[key]):
                    raise self.fail(
                        f"node {name!r}: `{key}:` must be {expected}, got {spec[key]!r}",
                        spec.value_marks[key],
                    )
                options[key] = StateKeys(tuple(spec[key])) if key == "cache_key" else spec[key]
        if "retry_on" in options:
            options["retry_on"] = self.exceptions(name, options["retry_on"], spec.value_marks["retry_on"])
        return options

    def exceptions(self, node: str, names: list[str], mark: yaml.Mark) -> tuple[type[BaseException], ...]:
        """``retry_on: [TimeoutError, LLMTimeoutError]``: builtin or ragloom exception names."""
        out = []
        for name in names:
            cls = exception_class(name)
            if cls is None:
                raise self.fail(
                    f"node {node!r}: `retry_on:` names unknown exception {name!r}; use a builtin exception "
                    "(TimeoutError, ConnectionError, ...) or one of ragloom.core.errors (LLMTimeoutError...)",
                    mark,
                )
            out.append(cls)
        return tuple(out)

    def read_edges(self, flow: Flow, value: Any, mark: yaml.Mark) -> None:
        if not isinstance(value, MarkedList):
            raise self.fail("`edges:` must be a list of {from: A, to: B} items", mark)
        for item, item_mark in zip(value, value.item_marks, strict=True):
            edge = self.mapping(item, "an edge", item_mark, EDGE_KEYS)
            if "from" not in edge or ("to" in edge) == ("when" in edge):
                raise self.fail("an edge needs `from:` and exactly one of `to:` or `when:`", item_mark)
            if "when" in edge:
                self.read_when(flow, edge)
                continue
            sources = self.names(flow, edge, "from")
            for target in self.names(flow, edge, "to"):
                flow.add_edge(sources, target)

    def names(self, flow: Flow, edge: MarkedDict, key: str) -> list[str]:
        """Resolve ``from:``/``to:`` (one name or a list) to node names, START/END included."""
        raw, mark = edge[key], edge.value_marks[key]
        items: list[tuple[Any, yaml.Mark]] = []
        if isinstance(raw, str):
            items = [(raw, mark)]
        elif isinstance(raw, MarkedList):
            items = list(zip(raw, raw.item_marks, strict=True))
        if not items:
            raise self.fail(f"`{key}:` must be a node name or a list of node names, got {raw!r}", mark)
        return [self.node_name(flow, n, m, as_source=key == "from") for n, m in items]

    def node_name(self, flow: Flow, name: Any, mark: yaml.Mark, as_source: bool) -> str:
        if not isinstance(name, str):
            raise self.fail(f"an edge names nodes by name (a string), got {_kind(name)}", mark)
        if name == ("END" if as_source else "START"):
            raise self.fail(f"{name} cannot be an edge {'source' if as_source else 'target'}", mark)
        if name in _ENDPOINTS:
            return _ENDPOINTS[name]
        if name not in flow.nodes:
            known = ", ".join([*flow.nodes, "START", "END"])
            raise self.fail(f"unknown node {name!r} in edges; known nodes: {known}", mark)
        return str(name)

    def read_when(self, flow: Flow, edge: MarkedDict) -> None:
        if not isinstance(edge["from"], str):
            raise self.fail(
                "a `when:` edge leaves one node: `from:` must be a single name", edge.value_marks["from"]
            )
        source = self.node_name(flow, edge["from"], edge.value_marks["from"], as_source=True)
        cases, default = [], None
        items = edge["when"]
        if not isinstance(items, MarkedList) or not items:
            raise self.fail(
                "`when:` must be a list of {if: {...}, to: NODE} cases and an optional {else: NODE}",
                edge.value_marks["when"],
            )
        for i, (case, mark) in enumerate(zip(items, items.item_marks, strict=True)):
            if isinstance(case, MarkedDict) and set(case) == {"else"}:
                if i != len(items) - 1:
                    raise self.fail("`else:` must be the last case of `when:`", mark)
                default = self.target(flow, case, "else")
                continue
            case = self.mapping(case, "a when-case", mark, ("if", "to"))
            if set(case) != {"if", "to"}:
                raise self.fail(
                    "a when-case needs `if: {key, op, value}` and `to: NODE` (or is `else: NODE`)", mark
                )
            cases.append((self.condition(case["if"], case.value_marks["if"]), self.target(flow, case, "to")))
        router = WhenRouter(tuple(cases), default, source=source)
        flow.add_conditional_edges(source, router, targets=router.targets)

    def condition(self, value: Any, mark: yaml.Mark) -> Condition:
        cond = self.mapping(value, "a condition", mark, ("key", "op", "value"))
        if not isinstance(cond.get("key"), str):
            raise self.fail("a condition needs `key:` (a state key name)", mark)
        op = cond.get("op", "==" if "value" in cond else "truthy")
        try:
            return Condition(cond["key"], op, plain(cond.get("value")))
        except ValueError as e:
            raise self.fail(str(e), cond.value_marks.get("op", mark)) from e

    def target(self, flow: Flow, case: MarkedDict, key: str) -> Target:
        names = self.names(flow, case, key)
        return names[0] if isinstance(case[key], str) else tuple(names)


def _bad_field_name(key: Any) -> str:
    """Why ``key`` cannot be a field of a pydantic state model ("" when it can)."""
    if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
        return "must be an identifier that does not start with '_'"
    if key.startswith("model_") or hasattr(BaseModel, key):
        return "clashes with a pydantic BaseModel attribute"
    return ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: Run options a node may set in YAML: (is the value valid, what is expected).
_OPTION_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "retries": (lambda v: _is_number(v) and isinstance(v, int) and v >= 0, "an integer >= 0"),
    "backoff": (lambda v: _is_number(v) and v >= 0, "a number of seconds >= 0"),
    "timeout": (lambda v: v is None or (_is_number(v) and v > 0), "a number of seconds > 0"),
    "takes_context": (lambda v: isinstance(v, bool), "true or false"),
    "cache_key": (
        lambda v: isinstance(v, list) and all(isinstance(k, str) for k in v),
        "a list of state keys",
    ),
    "retry_on": (
        lambda v: isinstance(v, list) and bool(v) and all(isinstance(k, str) for k in v),
        "a list of exception names",
    ),
    "cache_ttl": (lambda v: v is None or (_is_number(v) and v > 0), "a number of seconds > 0"),
}


def exception_class(name: str) -> type[BaseException] | None:
    """The builtin or ``ragloom.core.errors`` exception class called ``name`` (None when there is none)."""
    import builtins

    from ragloom.core import errors

    for namespace in (builtins, errors):
        cls = getattr(namespace, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            return cls
    return None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _import_allowed(path: str, allow: tuple[str, ...]) -> bool:
    """``pkg.mod:fn`` is allowed by ``pkg.mod:fn`` itself or by a module prefix (``pkg`` or ``pkg.mod``)."""
    module = path.partition(":")[0]
    for entry in allow:
        if entry == path or (":" not in entry and (module == entry or module.startswith(entry + "."))):
            return True
    return False

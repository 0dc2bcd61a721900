"""The Flow builder: a mutable description of a graph (nodes, edges, routers) that ``compile()`` freezes.

The builder only records what the user said; every check happens in ``compile()`` so that a flow can be
assembled in any order (YAML loaders and workflow search build flows piece by piece).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from ragloom.core.errors import FlowDefinitionError

if TYPE_CHECKING:
    from ragloom.flows.checkpoint import Checkpointer
    from ragloom.flows.compiled import CompiledFlow

START = "__start__"
END = "__end__"
_RESERVED = (START, END)


@dataclass(frozen=True)
class NodeOptions:
    """What ``@node`` attaches to a function (``fn.__ragloom_node__``); ``None`` means "not set"."""

    name: str | None = None
    retries: int | None = None
    backoff: float | None = None
    timeout: float | None = None
    cache_key: Callable[[Any], Any] | None = None
    takes_context: bool | None = None
    retry_on: tuple[type[BaseException], ...] | None = None
    cache_ttl: float | None = None


@dataclass(frozen=True)
class NodeSpec:
    """One node of a flow: the callable and how to run it.

    ``fn`` is ``fn(state) -> dict | None`` (or ``fn(state, ctx)`` when ``takes_context``), sync or async,
    or a CompiledFlow (a subflow).
    """

    name: str
    fn: Any
    retries: int = 0
    backoff: float = 0.0
    timeout: float | None = None
    cache_key: Callable[[Any], Any] | None = None
    takes_context: bool = False
    retry_on: tuple[type[BaseException], ...] | None = None  # None: retry any non-flow error
    cache_ttl: float | None = None  # seconds in the compiled flow's cross-run NodeCache; None: not cached
    input_map: dict[str, str] | None = None  # subflow: parent key -> subflow key
    output_map: dict[str, str] | None = None  # subflow: subflow key -> parent key
    sends_to: tuple[str, ...] = ()  # nodes this node may return Send(...) to (for compile's graph checks)


@dataclass(frozen=True)
class EdgeSpec:
    """``sources -> target``; more than one source makes ``target`` a join that waits for all of them."""

    sources: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class RouterSpec:
    """After ``source`` runs, ``router(state)`` returns label(s); ``targets`` maps each label to a node."""

    source: str
    router: Callable[[Any], Any]
    targets: dict[str, str]


@overload
def node(fn: Callable[..., Any], /) -> Callable[..., Any]: ...
@overload
def node(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    retries: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
    cache_key: Callable[[Any], Any] | None = None,
    takes_context: bool | None = None,
    retry_on: Iterable[type[BaseException]] | type[BaseException] | None = None,
    cache_ttl: float | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...


def node(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
    cache_key: Callable[[Any], Any] | None = None,
    takes_context: bool | None = None,
    retry_on: Iterable[type[BaseException]] | type[BaseException] | None = None,
    cache_ttl: float | None = None,
) -> Any:
    """Mark a function as a flow node with a name and run options; the function itself is returned unchanged.

    ``retries`` extra attempts with ``backoff * 2**attempt`` seconds between them; ``timeout`` in seconds per
    attempt; ``cache_key(state)`` memoises the node's update within one run; ``takes_context=True`` passes a
    RunContext as the second argument (opt-in, so no signature inspection is needed); ``retry_on`` limits
    retries to those exception types; ``cache_ttl`` caches the node's update across runs (see NodeCache).
    """
    options = NodeOptions(
        name, retries, backoff, timeout, cache_key, takes_context, _types(retry_on), cache_ttl
    )

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        try:
            f.__ragloom_node__ = options  # type: ignore[attr-defined]
        except (AttributeError, TypeError) as e:
            raise FlowDefinitionError(
                f"@node cannot mark {f!r}: it does not accept attributes; wrap it in a function"
            ) from e
        return f

    return mark(fn) if fn is not None else mark


def _types(retry_on: Any) -> tuple[type[BaseException], ...] | None:
    if retry_on is None:
        return None
    types = (retry_on,) if isinstance(retry_on, type) else tuple(retry_on)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise FlowDefinitionError(f"retry_on={retry_on!r}: list exception classes, e.g. (TimeoutError,)")
    return types


def node_options(fn: Any) -> NodeOptions:
    """The options ``@node`` attached to ``fn`` (all unset when it was not decorated)."""
    options = getattr(fn, "__ragloom_node__", None)
    return options if isinstance(options, NodeOptions) else NodeOptions()


def _pick(explicit: Any, marked: Any, default: Any) -> Any:
    if explicit is not None:
        return explicit
    return marked if marked is not None else default


class Flow:
    """A graph under construction. ``Flow(State, name=..., max_steps=...)``; ``compile()`` validates it.

    ``max_steps`` bounds the number of supersteps of one run; a flow with a cycle must set it.
    """

    def __init__(self, state_schema: type, name: str = "flow", max_steps: int | None = None) -> None:
        self.state_schema = state_schema
        self.name = name
        self.max_steps = max_steps
        self.nodes: dict[str, NodeSpec] = {}
        self.edges: list[EdgeSpec] = []
        self.routers: list[RouterSpec] = []
        #: compile()'s defaults (YAML ``interrupt_before:``/``interrupt_after:``)
        self.interrupt_before: tuple[str, ...] = ()
        self.interrupt_after: tuple[str, ...] = ()

    def add_node(
        self,
        name_or_fn: str | Callable[..., Any] | Any,
        fn: Any = None,
        *,
        retries: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
        cache_key: Callable[[Any], Any] | None = None,
        takes_context: bool | None = None,
        retry_on: Iterable[type[BaseException]] | type[BaseException] | None = None,
        cache_ttl: float | None = None,
        input_map: Mapping[str, str] | None = None,
        output_map: Mapping[str, str] | None = None,
        sends_to: Iterable[str] = (),
    ) -> Flow:
        """Add a node: ``add_node(fn)`` (name from ``@node`` or ``fn.__name__``) or ``add_node("name", fn)``.

        Keyword options override what ``@node`` set. A CompiledFlow is accepted as ``fn`` (a subflow);
        ``input_map`` {parent key: subflow key} and ``output_map`` {subflow key: parent key} connect a subflow
        with its own state schema (without them, keys of the same name are shared). ``sends_to`` names the
        nodes a node may return ``Send`` objects for (map fan-out from a node), so compile() can check them.
        """
        if isinstance(name_or_fn, str):
            if fn is None:
                raise FlowDefinitionError(f"add_node({name_or_fn!r}) needs the node function as 2nd argument")
            name: str | None = name_or_fn
        else:
            if fn is not None:
                raise FlowDefinitionError("add_node(fn, fn2): pass either (name, fn) or just fn")
            fn, name = name_or_fn, None
        marked = node_options(fn)
        subflow_name = getattr(fn, "name", None) if hasattr(fn, "_run_as_node") else None  # a CompiledFlow
        name = name or marked.name or subflow_name or getattr(fn, "__name__", None)
        if not isinstance(name, str) or not name:
            raise FlowDefinitionError(f"cannot tell the name of node {fn!r}; use add_node('name', fn)")
        self._check_new_name(name)
        self.nodes[name] = NodeSpec(
            name=name,
            fn=fn,
            retries=int(_pick(retries, marked.retries, 0)),
            backoff=float(_pick(backoff, marked.backoff, 0.0)),
            timeout=_pick(timeout, marked.timeout, None),
            cache_key=_pick(cache_key, marked.cache_key, None),
            takes_context=bool(_pick(takes_context, marked.takes_context, False)),
            retry_on=_pick(_types(retry_on), marked.retry_on, None),
            cache_ttl=_pick(cache_ttl, marked.cache_ttl, None),
            input_map=self._subflow_map(name, fn, input_map, "input_map"),
            output_map=self._subflow_map(name, fn, output_map, "output_map"),
            sends_to=tuple(sends_to),
        )
        return self

    @staticmethod
    def _subflow_map(
        name: str, fn: Any, mapping: Mapping[str, str] | None, what: str
    ) -> dict[str, str] | None:
        if mapping is None:
            return None
        if not hasattr(fn, "_run_as_node"):
            raise FlowDefinitionError(f"node {name!r}: {what}= is for subflow nodes (a compiled Flow)")
        return {str(k): str(v) for k, v in mapping.items()}

    def _check_new_name(self, name: str) -> None:
        if name in _RESERVED:
            raise FlowDefinitionError(f"node name {name!r} is reserved for START/END; choose another name")
        if name in self.nodes:
            raise FlowDefinitionError(
                f"flow {self.name!r} already has a node named {name!r}; node names must be unique"
            )

    def add_edge(self, source: str | Iterable[str], target: str) -> Flow:
        """``add_edge("a", "b")``; ``add_edge(["a", "b"], "join")`` makes ``join`` wait for both a and b."""
        sources = (source,) if isinstance(source, str) else tuple(source)
        if not sources:
            raise FlowDefinitionError(f"add_edge(..., {target!r}) needs at least one source")
        self.edges.append(EdgeSpec(sources, target))
        return self

    def add_conditional_edges(
        self,
        source: str,
        router: Callable[[Any], Any],
        targets: Iterable[str] | Mapping[str, str] | None = None,
    ) -> Flow:
        """After ``source``, ``router(state)`` picks the next node(s): a label, or a list of labels (fan-out).

        ``targets`` lists the possible nodes (label = node name) or maps labels to nodes; it lets compile()
        check the graph and draw it. Without it the router may only return node names (checked at run time).
        """
        if targets is None:
            mapping: dict[str, str] = {}
        elif isinstance(targets, Mapping):
            mapping = {str(k): v for k, v in targets.items()}
        else:
            mapping = {t: t for t in targets}
        self.routers.append(RouterSpec(source, router, mapping))
        return self

    def compile(
        self,
        checkpointer: Checkpointer | None = None,
        interrupt_before: Iterable[str] = (),
        interrupt_after: Iterable[str] = (),
        cache: Any = None,
    ) -> CompiledFlow:
        """Validate the graph and return an immutable, runnable CompiledFlow (FlowCompileError if invalid).

        ``cache``: a NodeCache that nodes with ``cache_ttl`` read and fill across runs.
        """
        from ragloom.flows.compiled import CompiledFlow

        return CompiledFlow(
            self,
            checkpointer=checkpointer,
            interrupt_before=tuple(interrupt_before) or self.interrupt_before,
            interrupt_after=tuple(interrupt_after) or self.interrupt_after,
            cache=cache,
        )

    # -- serialization and display ----
    def to_yaml(self) -> str:
        """The flow as YAML (every node must come from the component registry)."""
        from ragloom.flows.yaml_io import dump_flow

        return dump_flow(self)

    @classmethod
    def from_yaml(cls, source: Any, allow_imports: Iterable[str] = ()) -> Flow:
        """Load a flow from a YAML path or text; ``allow_imports`` lists allowed ``module:function`` paths."""
        from ragloom.flows.yaml_io import load_flow

        return load_flow(source, allow_imports=tuple(allow_imports))

    def to_mermaid(self) -> str:
        from ragloom.flows.mermaid import flow_to_mermaid

        return flow_to_mermaid(self)

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.to_mermaid()}\n```"

    def _repr_html_(self) -> str:
        from ragloom.flows.mermaid import mermaid_html

        return mermaid_html(self.to_mermaid())

    def __repr__(self) -> str:
        return f"Flow({self.name!r}, nodes={list(self.nodes)}, edges={len(self.edges) + len(self.routers)})"

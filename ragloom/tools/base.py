"""The Tool type and the ``@tool`` decorator: a typed Python function becomes something a model can call.

Why pydantic: the function's signature already says what the arguments are; a model built from it gives
both the JSON schema the LLM sees and the validator that checks the LLM's arguments *before* the function
runs, so a malformed call becomes a readable message for the model instead of a crash deep inside the tool.

A tool's failure (bad arguments, an exception inside it or a ``sys.exit``) is a
:class:`~ragloom.core.errors.ToolError`; :meth:`Tool.observe` turns any failure into an observation string,
which agents feed back to the model.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ragloom.core.errors import ConfigError, ToolError

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Tool:
    """A named, described, schema-checked callable.

    ``args_model`` validates the arguments (unknown keys are rejected); ``parameters`` is its JSON schema
    (OpenAI's ``function.parameters``). ``fn`` is called with the validated arguments as keywords.
    """

    name: str
    description: str
    args_model: type[BaseModel]
    fn: Callable[..., Any] = field(repr=False)
    parameters_override: dict[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ConfigError(
                f"tool name {self.name!r} is invalid: use letters, digits, '_' or '-' (max 64, not starting "
                "with a digit), e.g. 'search_docs'"
            )

    @property
    def parameters(self) -> dict[str, Any]:
        """JSON schema of the arguments object (titles removed: they only repeat the names)."""
        if self.parameters_override is not None:
            return self.parameters_override
        return _strip_titles(self.args_model.model_json_schema())

    @property
    def arg_names(self) -> list[str]:
        return list(self.args_model.model_fields)

    @property
    def required_args(self) -> list[str]:
        return [n for n, f in self.args_model.model_fields.items() if f.is_required()]

    def validate(self, args: dict[str, Any] | None) -> BaseModel:
        """Check ``args`` against the schema; a mismatch raises a ToolError that says what to send instead."""
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ToolError(
                f"tool {self.name!r}: arguments must be a JSON object like {self.example_args()}, "
                f"got {type(args).__name__} {args!r:.200}"
            )
        try:
            return self.args_model.model_validate(args)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}" for err in e.errors()
            )
            raise ToolError(
                f"tool {self.name!r}: invalid arguments {json.dumps(args, default=str)[:200]}: {problems}. "
                f"Expected an object like {self.example_args()}"
            ) from e

    def invoke(self, args: dict[str, Any] | None = None) -> Any:
        """Validate ``args``, then call the function. Any failure is raised as a ToolError naming the tool."""
        model = self.validate(args)
        kwargs = _arguments(model)
        try:
            result = self.fn(**kwargs)
            if inspect.isawaitable(result):
                result = _run_coroutine(result)
        except ToolError:
            raise
        except (Exception, SystemExit) as e:
            raise _failure(self.name, e) from e
        return result

    async def ainvoke(self, args: dict[str, Any] | None = None) -> Any:
        """Async twin of :meth:`invoke`: awaits coroutine tools, runs sync ones in a worker thread."""
        model = self.validate(args)
        kwargs = _arguments(model)
        try:
            if inspect.iscoroutinefunction(self.fn):
                return await self.fn(**kwargs)
            result = await asyncio.to_thread(self.fn, **kwargs)
            return await result if inspect.isawaitable(result) else result  # e.g. an async __call__
        except ToolError:
            raise
        except (Exception, SystemExit) as e:
            raise _failure(self.name, e) from e

    def observe(self, args: dict[str, Any] | None = None, max_chars: int = 4000) -> tuple[bool, str]:
        """Run the tool for a model: ``(ok, text)``; never raises for tool failures (the text says why)."""
        try:
            result = self.invoke(args)
        except ToolError as e:
            return False, truncate(f"Error: {e}", max_chars)
        try:
            text = format_output(result)
        except (Exception, SystemExit) as e:  # a result whose str()/JSON form raises: the tool's fault
            text = (
                f"Error: tool {self.name!r} returned a {type(result).__name__} that cannot be shown as text: "
            )
            return False, truncate(text + f"{type(e).__name__}: {e}", max_chars)
        return True, truncate(text, max_chars)

    def example_args(self) -> str:
        """A short JSON-ish example of the expected arguments object, for error messages and prompts."""
        props = self.parameters.get("properties", {})
        parts = [f'"{name}": <{spec.get("type", "value")}>' for name, spec in props.items()]
        return "{" + ", ".join(parts) + "}"

    def to_openai(self) -> dict[str, Any]:
        """OpenAI ``tools`` entry: ``{"type": "function", "function": {name, description, parameters}}``."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def __call__(self, **kwargs: Any) -> Any:
        return self.invoke(kwargs)


def _arguments(model: BaseModel) -> dict[str, Any]:
    """The validated arguments as keywords: declared fields, plus the extra ones of a pass-through schema
    (tools whose schema is published as JSON, e.g. MCP or langchain JSON-schema tools, validate remotely)."""
    kwargs = {name: getattr(model, name) for name in type(model).model_fields}
    kwargs.update(model.model_extra or {})
    return kwargs


def _failure(name: str, error: BaseException) -> ToolError:
    """The ToolError for an exception a tool raised. Why SystemExit too: a tool that calls ``sys.exit`` (a
    wrapped CLI script) is a failing tool, not a request to end the agent run or the server hosting it.
    KeyboardInterrupt is never caught: it is the user stopping everything."""
    if isinstance(error, SystemExit):
        return ToolError(f"tool {name!r} failed: it called sys.exit({error.code!r})")
    return ToolError(f"tool {name!r} failed: {type(error).__name__}: {error}")


def format_output(result: Any) -> str:
    """A tool result as text for the model: strings as they are, containers as JSON, others via ``str``."""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    if isinstance(result, dict | list | tuple | int | float | bool) or result is None:
        try:
            return json.dumps(result, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, saying how much was cut when there is room to."""
    if len(text) <= max_chars:
        return text
    room = max_chars - len(f"… [{len(text)} chars cut]")  # the longest the marker can be
    if room < 0:
        return text[: max(0, max_chars)]
    return text[:room] + f"… [{len(text) - room} chars cut]"


def _run_coroutine(awaitable: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(awaitable))
    raise ToolError("an async tool was invoked synchronously inside a running event loop; use ainvoke()")


async def _await(awaitable: Any) -> Any:
    return await awaitable


_SCHEMA_VALUES = frozenset({"default", "enum", "const", "examples"})  # user data, not schema: left as is
_SCHEMA_MAPS = frozenset(
    {"properties", "$defs", "patternProperties"}
)  # {name: schema}: names are not keywords


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k == "title" and isinstance(v, str):
            continue
        if k in _SCHEMA_VALUES:
            out[k] = v
        elif k in _SCHEMA_MAPS and isinstance(v, dict):
            out[k] = {name: _strip_titles(sub) for name, sub in v.items()}
        else:
            out[k] = _strip_titles(v)
    return out


_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:\s*$")
_ARG_LINE = re.compile(r"^\s+(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {arg: description}).

    The description is everything before the ``Args:`` section, with paragraphs kept.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    i = 0
    while i < len(lines) and not _ARGS_HEADER.match(lines[i]):
        description.append(lines[i])
        i += 1
    current = None
    for line in lines[i + 1 :]:
        if line.strip() and not line.startswith((" ", "\t")):
            break  # next section (Returns:, Raises:, …)
        m = _ARG_LINE.match(line)
        if m:
            current = m.group(1).lstrip("*")
            args[current] = m.group(2).strip()
        elif current and line.strip():
            args[current] += " " + line.strip()
    return "\n".join(description).strip(), args


def args_model_from_signature(fn: Callable[..., Any], model_name: str) -> type[BaseModel]:
    """A pydantic model of ``fn``'s parameters (annotations required; defaults kept; extra keys forbidden)."""
    label = _label(fn)
    sig = inspect.signature(fn)
    try:
        hints = inspect.get_annotations(_annotated(fn), eval_str=True)
    except Exception as e:
        raise ConfigError(
            f"@tool {label}: cannot resolve its type annotations: {e}; wrap it in a typed function"
        ) from e
    _, arg_docs = parse_docstring(fn.__doc__)
    fields: dict[str, Any] = {}
    for name, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(
                f"@tool {label}: *{name} / **{name} cannot be described by a JSON schema; "
                "declare each argument explicitly"
            )
        if param.kind is param.POSITIONAL_ONLY:  # the tool is called with keywords (the model names them)
            raise ConfigError(
                f"@tool {label}: argument {name!r} is positional-only; remove the '/' so it can be passed "
                "by name"
            )
        if name.startswith("_"):  # pydantic treats it as private and drops it from the schema
            raise ConfigError(
                f"@tool {label}: argument {name!r} starts with an underscore, which a JSON schema field "
                f"cannot; rename it (e.g. {name.lstrip('_') or 'value'!r})"
            )
        if name not in hints:
            raise ConfigError(
                f"@tool {label}: argument {name!r} has no type annotation; annotate it "
                f"(e.g. `{name}: str`) so the model knows what to send"
            )
        default = ... if param.default is inspect.Parameter.empty else param.default
        doc = arg_docs.get(name)
        fields[name] = (hints[name], Field(default, description=doc) if doc else default)
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


@overload
def tool(fn: Callable[..., Any], /, *, name: str | None = None, description: str | None = None) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None, description: str | None = None
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed function into a :class:`Tool`: ``@tool`` or ``@tool(name=..., description=...)``.

    The description defaults to the docstring (before its ``Args:`` section); argument descriptions come
    from the ``Args:`` section or from ``Annotated[T, Field(description=...)]``.
    """

    def build(f: Callable[..., Any]) -> Tool:
        tool_name = name or getattr(f, "__name__", None)
        if not tool_name:  # functools.partial, callable objects
            raise ConfigError(f"@tool {_label(f)}: it has no __name__; pass name=... (and description=...)")
        # a partial's or a callable object's __doc__ is its class's, not a description of this tool
        doc_description, _ = parse_docstring(f.__doc__) if inspect.isroutine(f) else ("", {})
        text = description or doc_description
        if not text:
            raise ConfigError(
                f"@tool {_label(f)}: no description; write a docstring saying what the tool does "
                "(the model chooses tools by it) or pass description=..."
            )
        model = args_model_from_signature(f, f"{_camel(tool_name)}Args")
        return Tool(name=tool_name, description=text, args_model=model, fn=f)

    if fn is not None:
        return build(fn)
    return build


def _label(fn: Any) -> str:
    """A name for ``fn`` in error messages (partials and callable objects have no ``__qualname__``)."""
    return getattr(fn, "__qualname__", None) or repr(fn)


def _annotated(fn: Any) -> Any:
    """What holds ``fn``'s annotations: a partial's function, a callable object's ``__call__``."""
    if isinstance(fn, functools.partial):
        return _annotated(fn.func)
    if not (inspect.isroutine(fn) or inspect.isclass(fn)) and callable(fn):
        return type(fn).__call__
    return fn


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_\-]+", name) if part) or "Tool"

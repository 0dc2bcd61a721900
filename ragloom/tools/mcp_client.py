"""Tools of any MCP server (Model Context Protocol) as ragloom :class:`~ragloom.tools.base.Tool` objects.

Why a private event loop thread: the MCP SDK is async (anyio) and its transports are context managers that
must be entered and left by one task, while ragloom tools are called from sync code (agents, flow nodes,
worker threads). :class:`MCPClient` keeps one session per server alive in a background loop and submits
each ``tools/call`` to it; sync and async callers share the session, and the SDK multiplexes requests.

Only this module imports ``mcp`` (the ``mcp`` extra), so the rest of ragloom does not depend on its API.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, create_model

from ragloom.core.errors import ConfigError, ToolError
from ragloom.tools.base import Tool

__all__ = ["MCPClient", "MCPServerSpec", "close_mcp_clients", "mcp_tools"]

_INSTALL_HINT = "MCP support needs the `mcp` extra: pip install 'ragloom[mcp]'"


@dataclass(frozen=True, eq=False)
class MCPServerSpec:
    """Where an MCP server lives: a command to spawn (stdio) or a streamable-HTTP ``url``, never both."""

    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if (self.command is None) == (self.url is None):
            raise ConfigError(
                "an MCP server needs exactly one of `command` (a stdio server to spawn, e.g. "
                "command: python, args: [server.py]) or `url` (streamable HTTP, e.g. http://127.0.0.1:8000/mcp)"
            )
        if self.timeout_s <= 0:
            raise ConfigError(f"MCP timeout_s must be > 0, got {self.timeout_s}")

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> MCPServerSpec:
        """From YAML/JSON: ``{command, args, env, cwd}`` or ``{url, headers}``, plus ``timeout_s``."""
        known = {"command", "args", "env", "cwd", "url", "headers", "timeout_s"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError(f"MCP server: unknown field(s) {unknown}; allowed: {sorted(known)}")
        return cls(
            command=spec.get("command"),
            args=tuple(str(a) for a in spec.get("args") or ()),
            env=dict(spec["env"]) if spec.get("env") else None,
            cwd=spec.get("cwd"),
            url=spec.get("url"),
            headers=dict(spec.get("headers") or {}),
            timeout_s=float(spec.get("timeout_s", 60.0)),
        )

    @property
    def key(self) -> tuple[Any, ...]:
        """A hashable identity (the mappings are not hashable)."""
        env = tuple(sorted((self.env or {}).items()))
        return (self.command, self.args, env, self.cwd, self.url, tuple(sorted(self.headers.items())))

    @property
    def label(self) -> str:
        return self.url or " ".join([str(self.command), *self.args])


class MCPClient:
    """One live session with one MCP server, usable from sync and async code; close it (or use ``with``)."""

    def __init__(self, spec: MCPServerSpec) -> None:
        try:
            import mcp  # noqa: F401
        except ImportError as e:
            raise ConfigError(_INSTALL_HINT) from e
        self.spec = spec
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ragloom-mcp", daemon=True)
        self._thread.start()
        self._stop = asyncio.Event()  # bound to self._loop on first wait (Python >= 3.10)
        self._session: Any = None
        self._ready: Future[None] = Future()
        self._owner: Future[None] = asyncio.run_coroutine_threadsafe(self._own_session(), self._loop)
        self._owner.add_done_callback(self._owner_ended)
        try:
            self._ready.result(timeout=spec.timeout_s)
        except Exception as e:
            self.close()
            raise ConfigError(f"cannot connect to MCP server {spec.label}: {type(e).__name__}: {e}") from e

    async def _own_session(self) -> None:
        """Enter transport and session in this one task, keep them open until :meth:`close`."""
        from mcp import ClientSession

        try:
            async with self._transport() as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                self._session = session
                self._ready.set_result(None)
                await self._stop.wait()
        except BaseException as e:
            if not self._ready.done():
                self._ready.set_exception(e)
            raise

    def _owner_ended(self, future: Future[None]) -> None:
        self._session = None
        if not self._ready.done():
            self._ready.set_exception(RuntimeError("the MCP session ended before it was ready"))

    def _transport(self) -> Any:
        if self.spec.url is not None:
            from mcp.client.streamable_http import streamable_http_client

            if not self.spec.headers:
                return streamable_http_client(self.spec.url)
            import httpx2  # type: ignore[import-not-found]  # the HTTP client the mcp SDK ships with

            client = httpx2.AsyncClient(headers=dict(self.spec.headers), timeout=self.spec.timeout_s)
            return streamable_http_client(self.spec.url, http_client=client)
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(
            command=str(self.spec.command),
            args=list(self.spec.args),
            env=dict(self.spec.env) if self.spec.env else None,
            cwd=self.spec.cwd,
        )
        return stdio_client(params)

    def _submit(self, coro: Any) -> Any:
        if self._session is None:
            coro.close()
            raise ToolError(f"the MCP server {self.spec.label} is not connected (it exited or was closed)")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=self.spec.timeout_s)

    def list_tools(self) -> list[Any]:
        """The server's tool descriptions (all pages)."""

        from mcp.types import PaginatedRequestParams

        async def listing() -> list[Any]:
            tools: list[Any] = []
            cursor: str | None = None
            while True:
                params = PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await self._session.list_tools(params=params)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    return tools

        return list(self._submit(listing()))

    def call(self, name: str, arguments: Mapping[str, Any]) -> str:
        """Call tool ``name``; its text (or structured) output. A tool-side error raises ToolError."""
        try:
            result = self._submit(self._session.call_tool(name, dict(arguments)))
        except ToolError:
            raise
        except TimeoutError as e:
            raise ToolError(f"MCP tool {name!r} timed out after {self.spec.timeout_s:g} s") from e
        except Exception as e:  # protocol errors (unknown tool, invalid params) are the tool's failure
            raise ToolError(f"MCP tool {name!r} failed: {e}") from e
        text = _result_text(result)
        if getattr(result, "is_error", False):
            raise ToolError(f"MCP tool {name!r} reported an error: {text}")
        return text

    def tools(self, include: Sequence[str] | None = None) -> list[Tool]:
        """The server's tools as ragloom Tools (JSON schema published as the server gave it)."""
        listed = self.list_tools()
        names = [t.name for t in listed]
        missing = sorted(set(include or ()) - set(names))
        if missing:
            raise ConfigError(f"MCP server {self.spec.label} has no tool(s) {missing}; it offers {names}")
        return [self._as_tool(t) for t in listed if include is None or t.name in include]

    def _as_tool(self, info: Any) -> Tool:
        schema = dict(info.input_schema or {"type": "object", "properties": {}})
        # the server validates arguments against its schema; we pass them through and publish the schema
        model = create_model(f"{info.name}_mcp_args", __config__=ConfigDict(extra="allow"))
        name = info.name

        def call(**kwargs: Any) -> str:
            return self.call(name, kwargs)

        return Tool(
            name=_tool_name(name),
            description=info.description or info.title or name,
            args_model=model,
            fn=call,
            parameters_override=schema,
        )

    def close(self) -> None:
        """End the session (stops a spawned server) and the loop thread; safe to call twice."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        with contextlib.suppress(Exception):
            self._owner.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> MCPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tool_name(name: str) -> str:
    """MCP names may hold characters our Tool names refuse (``.``, ``/``): map them to ``_``."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64] or "tool"


def _result_text(result: Any) -> str:
    """Text blocks joined; structured content as JSON when there is no text; other blocks by type."""
    import json

    parts = []
    for block in getattr(result, "content", None) or ():
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and hasattr(getattr(block, "resource", None), "text"):
            parts.append(block.resource.text)
        else:
            parts.append(f"[{kind} content]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        return json.dumps(structured, ensure_ascii=False, default=str)
    return "\n".join(parts)


_CLIENTS: dict[tuple[Any, ...], MCPClient] = {}
_CLIENTS_LOCK = threading.Lock()


def shared_client(spec: MCPServerSpec) -> MCPClient:
    """One client per server spec per process (YAML flows name servers; runs share the session)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(spec.key)
        if client is None or client._session is None:
            client = _CLIENTS[spec.key] = MCPClient(spec)
        return client


@atexit.register
def close_mcp_clients() -> None:
    """Close every shared MCP session (spawned servers stop); later use reconnects."""
    for client in list(_CLIENTS.values()):
        with contextlib.suppress(Exception):
            client.close()
    _CLIENTS.clear()


def mcp_tools(
    command: str | None = None,
    args: Sequence[str] = (),
    *,
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    include: Sequence[str] | None = None,
    timeout_s: float = 60.0,
) -> list[Tool]:
    """Tools of an MCP server (stdio ``command``+``args`` or streamable-HTTP ``url``), sharing one session."""
    spec = MCPServerSpec(
        command=command, args=tuple(args), env=env, url=url, headers=dict(headers or {}), timeout_s=timeout_s
    )
    return shared_client(spec).tools(include)


def iter_specs(servers: Any) -> Iterator[MCPServerSpec]:
    """Specs from one mapping or a list of them (YAML ``server:`` / ``servers:``)."""
    items = [servers] if isinstance(servers, Mapping) else list(servers or ())
    for item in items:
        if not isinstance(item, Mapping):
            raise ConfigError(f"an MCP server is a mapping like {{command: ..., args: [...]}}, got {item!r}")
        yield MCPServerSpec.from_mapping(item)

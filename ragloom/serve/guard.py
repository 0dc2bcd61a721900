"""Who may call the server, checked before any route runs (a pure ASGI middleware, so nothing is read first):

- ``Host`` must name this server (DNS rebinding: a page on ``evil.example`` that re-resolves its name to
  127.0.0.1 still sends ``Host: evil.example``);
- a browser's ``Origin`` must be an allowed one (CSRF: a cross-site ``fetch`` or form POST carries it);
- ``Authorization: Bearer KEY`` when an API key is set (required when listening beyond loopback);
- POST bodies are ``application/json`` (a cross-site form cannot send that type without a CORS preflight,
  which this server never grants), and a declared ``Content-Length`` over the limit is refused unread.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers

from ragloom.core.errors import ConfigError
from ragloom.serve.body import too_large
from ragloom.serve.errors import ApiError

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: Paths anyone may read without the API key (no data behind them).
PUBLIC_PATHS = frozenset({"/health"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to bind) is reachable only from this machine."""
    if host.strip("[]") in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: str | None) -> None:
    """Refuse to serve beyond loopback without an API key: anyone on the network could run the flow."""
    if not api_key and not is_loopback(host):
        raise ConfigError(
            f"--host {host} makes the server reachable from other machines, so it needs an API key: pass "
            "--api-key KEY or set RAGLOOM_API_KEY (clients send `Authorization: Bearer KEY`), or bind to "
            "127.0.0.1"
        )


@dataclass(frozen=True)
class GuardPolicy:
    """``allowed_hosts`` None = any Host (with an API key: beyond loopback, names are not known ahead)."""

    api_key: str | None = None
    allowed_hosts: frozenset[str] | None = LOOPBACK_HOSTS
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    max_body_bytes: int = 1 << 20

    def problem(self, method: str, path: str, headers: Headers) -> ApiError | None:
        """The error this request gets before routing, or None when it may go on."""
        host = _hostname(headers.get("host", ""))
        if (
            self.allowed_hosts is not None
            and headers.get("host") is not None
            and host not in self.allowed_hosts
        ):
            return ApiError(403, f"Host {headers.get('host', '')[:80]!r} is not served here", code="bad_host")
        origin = headers.get("origin")
        if origin is not None and not self._origin_ok(origin, host):
            message = (
                f"cross-origin requests from {origin[:80]!r} are refused (allow one with --allow-origin)"
            )
            return ApiError(403, message, code="bad_origin")
        if self.api_key and path not in PUBLIC_PATHS and not self._authorized(headers):
            message = "missing or wrong API key: send `Authorization: Bearer KEY`"
            return ApiError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        if method in ("POST", "PUT", "PATCH") and _has_body(headers):
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                shown = kind or "none"
                return ApiError(
                    415, f"Content-Type must be application/json, got {shown[:80]!r}", code="bad_type"
                )
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                return too_large(int(declared), self.max_body_bytes)
        return None

    def _origin_ok(self, origin: str, host: str) -> bool:
        if origin in self.allowed_origins:
            return True
        origin_host = _hostname(urlsplit(origin).netloc) if "://" in origin else None
        if origin_host is None:
            return False  # "null" (sandboxed frames, file://) or garbage
        if self.allowed_hosts is not None:
            return origin_host in self.allowed_hosts
        return origin_host == host

    def _authorized(self, headers: Headers) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        expected = (self.api_key or "").encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)


def _hostname(netloc: str) -> str:
    """``host:port`` / ``[v6]:port`` -> the lower-case host."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


class GuardMiddleware:
    """Applies a :class:`GuardPolicy` to every HTTP request before the application sees it."""

    def __init__(self, app: ASGIApp, policy: GuardPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            problem = self.policy.problem(scope["method"], scope["path"], Headers(scope=scope))
            if problem is not None:
                await problem.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)

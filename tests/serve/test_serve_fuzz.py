"""The bar of issue 15: a fuzz of malformed and oversized requests against a live ``ragloom serve`` process
(bad JSON, deep nesting, wrong types, methods, paths, content types and headers, invalid UTF-8, oversized and
chunked bodies, half-sent bodies) gets no 5xx and no crash, and the server's RSS returns to within 10 % of
its baseline. Seeded, loopback only, about 20 s."""

from __future__ import annotations

import json
import random
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_fakes import CliServer

PATHS = [
    "/v1/chat/completions",
    "/runs",
    "/v1/embeddings",
    "/runs/abc/resume",
    "/v1/models",
    "/v1/models/echo",
]
VALUES: list[Any] = [None, 0, -1, 10**30, 1.5, float("nan"), "", "x" * 300, True, [], {}, [None], {"a": [1]}]
FIELDS = [
    "messages",
    "model",
    "stream",
    "max_tokens",
    "temperature",
    "stop",
    "n",
    "tools",
    "question",
    "input",
    "stream_options",
    "response_format",
    "encoding_format",
    "answer",
    "top_p",
    "seed",
]
LIMIT = 65536


def _bad_json(rng: random.Random) -> bytes:
    valid = json.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}).encode()
    choice = rng.randrange(4)
    if choice == 0:
        return valid[: rng.randrange(len(valid))]
    if choice == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if choice == 2:
        return rng.choice([b"NaN", b"[", b"{'a': 1}", b"nul", b'"\\ud800"', b"1e999999", b"9" * 5000])
    return valid.replace(b":", b"", 1)


def _deep(rng: random.Random) -> bytes:
    depth = rng.choice([33, 64, 500, 5000, 50_000])
    opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
    return b'{"messages": ' + opener * depth + b"1" + closer * depth + b"}"


def _wrong_types(rng: random.Random) -> bytes:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]} if rng.random() < 0.5 else {}
    for _ in range(rng.randrange(1, 4)):
        key = rng.choice(FIELDS) if rng.random() < 0.9 else "k" * rng.randrange(1, 500)
        body[key] = rng.choice(VALUES)
    if rng.random() < 0.3:
        body["messages"] = [{"role": rng.choice(["user", "x", None, 3]), "content": rng.choice(VALUES)}]
    return json.dumps(body).encode()


def _bad_utf8(rng: random.Random) -> bytes:
    return (
        b'{"messages": [{"role": "user", "content": "' + bytes([0xFF, 0xC3, 0x28, 0xED, 0xA0, 0x80]) + b'"}]}'
    )


def _http_case(rng: random.Random) -> dict[str, Any]:
    """One request for httpx: method, path, headers, body."""
    kind = rng.choice(["json", "deep", "types", "utf8", "method", "ctype", "header", "valid"])
    body = {"json": _bad_json, "deep": _deep, "types": _wrong_types, "utf8": _bad_utf8}.get(
        kind, _wrong_types
    )(rng)
    headers = {"Content-Type": "application/json"}
    method, path = "POST", rng.choice(PATHS[:4])
    if kind == "method":
        method = rng.choice(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "POST"])
        path = rng.choice([*PATHS, "/", "/v2/x", "/%00", "/" + "a" * 3000, "/runs/../../etc/passwd"])
    elif kind == "ctype":
        headers["Content-Type"] = rng.choice(
            [
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "",
                "application/jsonx",
                "application/json; charset=latin-1",
            ]
        )
    elif kind == "header":
        headers |= rng.choice(
            [
                {"Host": "evil.example"},
                {"Origin": "http://evil.example"},
                {"Origin": "null"},
                {"Authorization": "Bearer " + "z" * 500},
                {"X-Ragloom-Run-Token": "1"},
                {"Accept": "*/*" * 50},
            ]
        )
    elif kind == "valid":
        body = json.dumps(
            {"model": "echo", "messages": [{"role": "user", "content": f"q{rng.random()}"}]}
        ).encode()
        path = "/v1/chat/completions"
    return {"kind": kind, "method": method, "path": path, "headers": headers, "body": body}


def _raw(port: int, data: bytes, wait: float = 2.0, close_after: float | None = None) -> bytes:
    """Send ``data`` on a fresh socket; the first bytes of the answer ('' when the server just closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        try:
            sock.sendall(data)
            if close_after is not None:
                time.sleep(close_after)
                return b""
            return sock.recv(256)
        except OSError:  # the server closed on us after answering early: fine
            return b""


def _raw_case(rng: random.Random, port: int) -> bytes:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    kind = rng.randrange(5)
    if kind == 0:  # oversized, declared: answered before it is read
        size = rng.choice([LIMIT + 1, 10 * 2**20, 100 * 2**20, 10**15])
        return _raw(port, head + f"Content-Length: {size}\r\n\r\n".encode() + b"{" * 1000)
    if kind == 1:  # oversized, chunked: refused while reading
        chunk = b"1000\r\n" + b"a" * 4096 + b"\r\n"
        return _raw(port, head + b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 20)
    if kind == 2:  # slowloris-lite: half a body, then gone
        return _raw(port, head + b'Content-Length: 1000\r\n\r\n{"messages"', close_after=0.02)
    if kind == 3:  # garbage request line / headers
        return _raw(
            port,
            rng.choice(
                [
                    b"GARBAGE\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n",
                    b"\x16\x03\x01" * 50,
                    b"POST /runs HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                ]
            ),
        )
    return _raw(port, head + b"Content-Length: abc\r\n\r\n{}")


def _status(answer: bytes) -> int | None:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and answer.startswith(b"HTTP/") and parts[1].isdigit() else None


def _fuzz(server: CliServer, n_http: int, n_raw: int, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    seen: Counter[str] = Counter()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for _ in range(n_http):
            case = _http_case(rng)
            r = http.request(case["method"], case["path"], headers=case["headers"], content=case["body"])
            seen[f"{r.status_code}"] += 1
            assert r.status_code < 500, (case["kind"], case["path"], r.status_code, r.text[:300])
    for _ in range(n_raw):
        status = _status(_raw_case(rng, server.port))
        seen["raw-closed" if status is None else f"raw-{status}"] += 1
        assert status is None or status < 500
    return seen


def _settled_rss(server: CliServer, probe: Callable[[], None]) -> int:
    """RSS (kB) once it stops moving after a few ordinary requests."""
    values = []
    for _ in range(5):
        probe()
        time.sleep(0.2)
        values.append(server.status("VmRSS"))
    return min(values[-3:])


@pytest.mark.integration
def test_2000_malformed_requests_no_5xx_and_memory_returns(echo_yaml: Path) -> None:
    server = CliServer(echo_yaml, "--max-body-bytes", str(LIMIT)).wait()
    try:

        def probe() -> None:
            r = httpx.post(
                server.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
            )
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "You asked: x"

        _fuzz(server, 150, 30, seed=1)  # warm-up: every code path imported and its caches filled
        baseline = _settled_rss(server, probe)
        start = time.monotonic()
        seen = _fuzz(server, 2000, 200, seed=2)
        took = time.monotonic() - start
        after = _settled_rss(server, probe)
        assert server.proc.poll() is None, server.output()
        print(f"\nfuzz: {sum(seen.values())} requests in {took:.1f} s; statuses {dict(sorted(seen.items()))}")
        print(
            f"server RSS: baseline {baseline} kB, after {after} kB "
            f"({100 * (after - baseline) / baseline:+.1f} %)"
        )
        assert after <= baseline * 1.10
        assert sum(v for k, v in seen.items() if k.startswith("4") or k.startswith("raw-4")) > 1500
    finally:
        server.stop()

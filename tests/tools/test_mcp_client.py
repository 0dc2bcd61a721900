"""ragloom's MCP client against a real MCP server process written with the official SDK (stdio and HTTP)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from ragloom.agents.react import ReActAgent
from ragloom.core.errors import ConfigError, ToolError
from ragloom.flows.yaml_io import load_flow
from ragloom.tools.mcp_client import MCPClient, MCPServerSpec, close_mcp_clients, mcp_tools
from tests.agents.test_react_agent import FakeLLM

pytestmark = pytest.mark.integration

SERVER = str(Path(__file__).with_name("mcp_test_server.py"))


@pytest.fixture(scope="module")
def stdio_client():
    with MCPClient(MCPServerSpec(command=sys.executable, args=(SERVER,))) as client:
        yield client


def test_tools_keep_the_servers_json_schemas(stdio_client: MCPClient) -> None:
    tools = {t.name: t for t in stdio_client.tools()}
    assert set(tools) == {"add", "shout", "fail", "kb_lookup"}  # "kb.lookup" mapped to a valid tool name
    assert tools["add"].parameters["properties"]["a"]["type"] == "integer"
    assert tools["add"].parameters["required"] == ["a", "b"]
    assert tools["add"].to_openai()["function"]["description"] == "Add two integers."


def test_calls_return_the_tools_output(stdio_client: MCPClient) -> None:
    tools = {t.name: t for t in stdio_client.tools()}
    assert tools["add"].invoke({"a": 2, "b": 40}) == "42"
    assert tools["kb_lookup"].invoke({"term": "RRF"}) == "reciprocal rank fusion"


def test_tool_errors_become_observations_not_crashes(stdio_client: MCPClient) -> None:
    tools = {t.name: t for t in stdio_client.tools()}
    ok, text = tools["fail"].observe({"reason": "boom"})
    assert not ok and text.startswith("Error:") and "fail" in text
    ok, text = tools["add"].observe({"a": "not a number", "b": 1})  # the server validates its own schema
    assert not ok and "a" in text
    with pytest.raises(ToolError):
        tools["add"].invoke({"a": 1})


def test_include_names_missing_tools(stdio_client: MCPClient) -> None:
    assert [t.name for t in stdio_client.tools(include=["shout"])] == ["shout"]
    with pytest.raises(ConfigError, match="no tool"):
        stdio_client.tools(include=["nope"])


def test_react_agent_uses_mcp_tools(stdio_client: MCPClient) -> None:
    llm = FakeLLM(  # the scripted model is the collaborator; the tool call goes to the real server
        [
            'Thought: add them\nAction: add\nAction Input: {"a": 19, "b": 23}',
            "Thought: done\nFinal Answer: 42",
        ]
    )
    result = ReActAgent(llm, stdio_client.tools()).run("What is 19 + 23?")
    assert result.answer == "42"
    observation = llm.calls[1][0][-1].content
    assert "42" in observation


def test_yaml_flow_node_calls_an_mcp_tool(tmp_path: Path) -> None:
    flow_file = tmp_path / "shout.yaml"
    flow_file.write_text(
        f"""
name: shout
state:
  text: str
  loud: {{type: str, default: ''}}
nodes:
  call:
    uses: tools.call
    with:
      tool:
        uses: tools.mcp
        with: {{server: {{command: {sys.executable!r}, args: [{SERVER!r}]}}, include: [shout]}}
      args: {{text: text}}
      output_key: loud
edges:
  - {{from: START, to: call}}
  - {{from: call, to: END}}
""",
        encoding="utf-8",
    )
    result = load_flow(flow_file).compile().invoke({"text": "late chunking"})
    assert result.state.loud == "LATE CHUNKING"


def test_bad_server_spec_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        MCPServerSpec()
    with pytest.raises(ConfigError, match="cannot connect"):
        MCPClient(MCPServerSpec(command=sys.executable, args=("-c", "import sys; sys.exit(3)"), timeout_s=20))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"MCP HTTP server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("MCP HTTP server did not start")


def test_streamable_http_server() -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, SERVER, "http", str(port)], stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        tools = {t.name: t for t in mcp_tools(url=f"http://127.0.0.1:{port}/mcp", timeout_s=20)}
        assert tools["add"].invoke({"a": 1, "b": 2}) == "3"
        assert tools["shout"].observe({"text": "hi"}) == (True, "HI")
    finally:
        close_mcp_clients()
        proc.terminate()
        proc.wait(timeout=10)

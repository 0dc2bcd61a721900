"""Flow files read state keys and items only, never attributes: the attribute walk of issue 13 (``flows.copy``
from ``__class__.__init__.__globals__.sys.modules.os.environ.OPENAI_API_KEY``) and its cousins in every
component that takes a key path or a template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from ragloom.cli import app
from ragloom.core.errors import ConfigError, FlowDefinitionError, FlowError, StateUpdateError
from ragloom.core.state_access import MISSING, read_key, read_path
from ragloom.core.types import Chunk, Hit
from ragloom.flows.components import copy_value, increment, template
from ragloom.flows.when import Condition, StateKeys
from ragloom.flows.yaml_io import load_flow

WALK = "__class__.__init__.__globals__.sys.modules.os.environ.OPENAI_API_KEY"
SECRET = "sk-fake-0123456789-do-not-leak"


class S(BaseModel):
    question: str = "why?"
    out: Any = None
    hits: list[Hit] = []
    meta: dict[str, Any] = {}


def _state() -> S:
    chunk = Chunk("Paris is in France.", "d1", 0, 19, {"page": 3})
    return S(hits=[Hit(chunk, 0.5)], meta={"lang": "en", "tags": ["a", "b"]})


def _flow_yaml(node: str, extra_edge: str = "") -> str:
    return f"""
name: steal
state:
  question: {{type: str, default: ""}}
  out: {{type: str, default: ""}}
nodes:
  grab: {node}
edges:
  - {{from: START, to: grab}}
  - {extra_edge or "{from: grab, to: END}"}
"""


def test_the_issue_flow_is_refused_by_validate_and_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    flow = tmp_path / "steal.yaml"
    flow.write_text(_flow_yaml(f"{{uses: flows.copy, with: {{source: {WALK}, target: out}}}}"))
    cli = CliRunner()
    for args in (["flow", "validate", str(flow)], ["run", str(flow), "--input", "{}"]):
        result = cli.invoke(app, args)
        assert result.exit_code != 0, result.output
        assert SECRET not in result.output
        assert "not a state key path" in result.output


@pytest.mark.parametrize(
    "node",
    [
        f"{{uses: flows.copy, with: {{source: {WALK}, target: out}}}}",
        "{uses: flows.copy, with: {source: question, target: __dict__}}",
        "{uses: flows.increment, with: {key: __class__}}",
        "{uses: flows.template, with: {template: '{question.__class__}', output_key: out}}",
        "{uses: flows.template, with: {template: '{question[0]}', output_key: out}}",
        "{uses: flows.template, with: {template: '{__class__}', output_key: out}}",
        "{uses: flows.template, with: {template: '{question:{question}}', output_key: out}}",
        "{uses: flows.set, with: {out: x}, cache_key: [question.__class__]}",
    ],
)
def test_every_path_taking_component_refuses_attribute_walks_at_load(node: str) -> None:
    with pytest.raises((ConfigError, FlowDefinitionError), match=r"not a (state key path|plain state key)"):
        load_flow(_flow_yaml(node))


def test_when_condition_key_is_a_state_path() -> None:
    edge = "{from: grab, when: [{if: {key: question.__len__, op: truthy}, to: END}, {else: END}]}"
    with pytest.raises(
        FlowDefinitionError, match=r"<string>:10:\d+: when-condition key.*not a state key path"
    ):
        load_flow(_flow_yaml("{uses: flows.set, with: {out: x}}", edge))
    with pytest.raises(ConfigError, match="not a state key path"):
        Condition("question.__class__")


def test_paths_read_keys_items_and_declared_fields_only() -> None:
    state = _state()
    assert read_path(state, "meta.lang") == "en" and read_path(state, "meta.tags.1") == "b"
    assert read_path(state, "hits.0.chunk.metadata.page") == 3  # dataclass fields, dict keys, list index
    assert read_path(state, "hits.0.score") == 0.5
    for path in ("hits.0.text", "question.upper", "model_dump", "hits.0.chunk.id", "meta.tags.9", "hits.x"):
        assert read_path(state, path) is MISSING, path  # a property, a method, out of range, not an index
    assert Condition("hits.0.chunk.doc_id", "==", "d1").holds(state)
    with pytest.raises(FlowError, match=r"state has no key 'hits\.0\.text'"):
        Condition("hits.0.text", "truthy").holds(state)
    assert StateKeys(("meta.lang",))(state) == ("'en'",)


def test_components_read_only_declared_keys_at_run_time() -> None:
    state = _state()
    assert copy_value("hits.0.chunk.text", "out")(state) == {"out": "Paris is in France."}
    assert template("Q: {question}", "out")(state) == {"out": "Q: why?"}
    assert increment("n")({"n": 1}) == {"n": 2}
    with pytest.raises(FlowError):
        copy_value("question.upper", "out")(state)


def test_adapters_read_key_refuses_dunders_and_non_fields() -> None:
    state = _state()
    assert read_key(state, "question", "test") == "why?"
    for key in ("__class__", "__dict__", "model_fields", "model_dump"):
        with pytest.raises(StateUpdateError, match="has no key"):
            read_key(state, key, "test")
    with pytest.raises(StateUpdateError):
        read_key({"a": 1}, "__class__", "test")


def test_uses_templates_are_plain_fields() -> None:
    from ragloom.core.state_access import plain_fields

    assert plain_fields("retrieval.{retriever}", "op") == ["retriever"]
    with pytest.raises(ConfigError, match="not a plain state key"):
        plain_fields("retrieval.{retriever.__class__.__init__.__globals__}", "op")

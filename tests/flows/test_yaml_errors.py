"""Bad flow files: every error is a FlowDefinitionError with file, line and column, and says how to fix it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ragloom.core.errors import FlowDefinitionError
from ragloom.core.registry import names
from ragloom.flows.yaml_io import load_flow

GOOD = """\
name: demo
state:
  count: {type: int, default: 0}
nodes:
  tick: {uses: flows.increment, with: {key: count}}
edges:
  - {from: START, to: tick}
  - {from: tick, to: END}
"""


def _pos(text: str, token: str) -> tuple[int, int]:
    """1-based (line, column) of the first ``token`` in ``text``."""
    before = textwrap.dedent(text)[: textwrap.dedent(text).index(token)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _error(text: str, tmp_path: Path, **kwargs: object) -> FlowDefinitionError:
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(FlowDefinitionError) as info:
        load_flow(path, **kwargs)  # type: ignore[arg-type]
    assert info.value.file == str(path)
    return info.value


def test_good_flow_loads(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(GOOD, encoding="utf-8")
    flow = load_flow(path)
    assert list(flow.nodes) == ["tick"] and flow.name == "demo"
    assert load_flow(GOOD).nodes.keys() == flow.nodes.keys()  # text works as well as a path


def test_malformed_yaml_reports_line_and_column(tmp_path: Path) -> None:
    err = _error(GOOD.replace("  - {from: tick, to: END}", "  - {from: tick, to: END"), tmp_path)
    assert "invalid YAML" in str(err)
    assert err.line == 9 and err.column is not None  # the parser notices at the end of the file
    err = _error(GOOD.replace("count: {type", "count {type"), tmp_path)
    assert err.line is not None and "invalid YAML" in str(err)


def test_unknown_component_lists_valid_names(tmp_path: Path) -> None:
    text = GOOD.replace("flows.increment", "flows.incremnt")
    err = _error(text, tmp_path)
    assert (err.line, err.column) == _pos(text, "flows.incremnt")
    assert "unknown component 'flows.incremnt'" in str(err)
    for name in ("flows.copy", "flows.increment", "flows.set", "flows.template"):
        assert name in names() and name in str(err)


@pytest.mark.parametrize(
    "payload",
    [
        "!!python/object/apply:os.system [echo pwned]",
        "!!python/object:collections.OrderedDict {}",
        "!!python/name:os.system",
        "!custom {}",
    ],
)
def test_python_tags_are_refused(tmp_path: Path, payload: str) -> None:
    block = "  tick:\n    uses: flows.increment\n    with:\n      key: PAYLOAD"
    text = GOOD.replace("  tick: {uses: flows.increment, with: {key: count}}", block).replace(
        "PAYLOAD", payload
    )
    err = _error(text, tmp_path)
    assert (err.line, err.column) == _pos(text, payload[0:2])
    assert "is not allowed: flow files are plain data" in str(err)


HELPERS = """
def bump(state):
    return {"count": state.count + 1}
"""


@pytest.fixture
def helpers_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module ``yamlhelp.nodes`` with a node function ``bump``, importable for this test only."""
    package = tmp_path / "lib" / "yamlhelp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nodes.py").write_text(HELPERS)
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    return "yamlhelp.nodes"


def test_imports_need_an_explicit_allow_list(tmp_path: Path, helpers_module: str) -> None:
    text = GOOD.replace("{uses: flows.increment, with: {key: count}}", "{uses: 'yamlhelp.nodes:bump'}")
    err = _error(text, tmp_path)
    assert (err.line, err.column) == _pos(text, "'yamlhelp")
    assert "not allowed" in str(err) and "--allow-import yamlhelp.nodes" in str(err)
    err = _error(text, tmp_path, allow_imports=["yamlhelp.nodes:other"])  # a different function
    assert "not allowed" in str(err)
    err = _error(text, tmp_path, allow_imports=["yamlhel"])  # not a module prefix
    assert "not allowed" in str(err)
    for allow in ("yamlhelp.nodes:bump", "yamlhelp.nodes", "yamlhelp"):
        flow = load_flow(textwrap.dedent(text), allow_imports=[allow])
        assert flow.nodes["tick"].fn.__name__ == "bump"
    err = _error(text.replace(":bump", ":nope"), tmp_path, allow_imports=["yamlhelp"])
    assert "cannot import" in str(err)
    err = _error(text.replace("'}", "', with: {a: 1}}"), tmp_path, allow_imports=["yamlhelp"])
    assert "an imported function takes no `with:`" in str(err)


def test_unknown_node_in_edges_has_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("{from: tick, to: END}", "{from: tikc, to: END}")
    err = _error(text, tmp_path)
    assert (err.line, err.column) == _pos(text, "tikc")
    assert "unknown node 'tikc' in edges; known nodes: tick, START, END" in str(err)
    err = _error(GOOD.replace("{from: tick, to: END}", "{from: END, to: tick}"), tmp_path)
    assert "END cannot be an edge source" in str(err)


@pytest.mark.parametrize(
    ("old", "new", "line", "needle"),
    [
        (
            "name: demo",
            "name: demo\nmaxsteps: 3",
            2,
            "unknown key 'maxsteps' in a flow; allowed: name, max_steps",
        ),
        ("{type: int, default: 0}", "{type: integer}", 3, "unknown type name 'integer'"),
        ("{type: int, default: 0}", "{type: int, reducer: sum}", 3, "unknown reducer 'sum'"),
        ("{key: count}}", "{key: count}, retries: -1}", 5, "`retries:` must be an integer >= 0"),
        ("{key: count}}", "{key: count}, flow: {}}", 5, "exactly one of `uses:`"),
        ("{key: count}}", "{nope: 1}}", 5, "rejected its parameters ['nope']"),
        ("  - {from: tick, to: END}", "  - {from: tick}", 8, "exactly one of `to:` or `when:`"),
        ("  count: {type", "  count: {type: int}\n  count: {type", 4, "duplicate key 'count'"),
        ("  count: {type", "  json: str\n  count: {type", 3, "'json' clashes with a pydantic BaseModel"),
        ("  count: {type", "  model_config: str\n  count: {type", 3, "'model_config' clashes with"),
        ("  count: {type", "  _x: str\n  count: {type", 3, "must be an identifier"),
    ],
)
def test_definition_errors_are_located(tmp_path: Path, old: str, new: str, line: int, needle: str) -> None:
    assert old in GOOD
    err = _error(GOOD.replace(old, new), tmp_path)
    assert needle in str(err)
    assert err.line == line
    assert str(err).startswith(f"{tmp_path / 'flow.yaml'}:{line}:")


def test_when_errors(tmp_path: Path) -> None:
    base = GOOD.replace("  - {from: tick, to: END}", "  - from: tick\n    when:\n{cases}")
    cases = "      - else: END\n      - {if: {key: count}, to: tick}\n"
    err = _error(base.replace("{cases}", cases), tmp_path)
    assert "`else:` must be the last case" in str(err) and err.line == 10
    cases = "      - {if: {key: count, op: '=~', value: 1}, to: tick}\n"
    err = _error(base.replace("{cases}", cases), tmp_path)
    assert "unknown operator '=~'" in str(err) and err.line == 10
    cases = "      - {if: {key: count, op: '<', value: 3}, to: tock}\n"
    err = _error(base.replace("{cases}", cases), tmp_path)
    assert "unknown node 'tock'" in str(err)
    assert (err.line, err.column) == _pos(base.replace("{cases}", cases), "tock")


def test_missing_file_and_text_input_positions(tmp_path: Path) -> None:
    with pytest.raises(FlowDefinitionError, match="cannot read flow file"):
        load_flow(tmp_path / "absent.yaml")
    with pytest.raises(FlowDefinitionError) as info:
        load_flow(GOOD.replace("flows.increment", "nope.nope"))
    assert info.value.file == "<string>" and info.value.line == 5


def test_compile_errors_point_at_the_node_or_the_edges(tmp_path: Path) -> None:
    from ragloom.flows.yaml_io import compile_file

    lonely = GOOD.replace("edges:", "  lonely: {uses: flows.increment}\nedges:")
    path = tmp_path / "flow.yaml"
    path.write_text(lonely)
    with pytest.raises(FlowDefinitionError) as info:
        compile_file(path)
    assert (info.value.line, info.value.column) == _pos(lonely, "lonely")
    assert "node 'lonely' is unreachable from START" in str(info.value)
    no_entry = GOOD.replace("  - {from: START, to: tick}\n", "")
    path.write_text(no_entry)
    with pytest.raises(FlowDefinitionError) as info:
        compile_file(path)
    assert (info.value.line, info.value.column) == _pos(no_entry, "edges:")
    path.write_text(GOOD)
    assert compile_file(path).invoke({}).state.count == 1


def test_alias_bombs_and_recursive_aliases_are_refused(tmp_path: Path) -> None:
    levels = "\n".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 7))
    bomb = GOOD.replace(
        "name: demo", "name: demo\nx-bomb:\n  l0: &l0 [lol]\n" + textwrap.indent(levels, "  ")
    )
    err = _error(bomb, tmp_path)
    assert "expands to more than 100000 values" in str(err) and err.line == 1
    err = _error(GOOD.replace("{key: count}", "&loop {key: [*loop]}"), tmp_path)
    assert "invalid YAML" in str(err) and "recursive" in str(err) and err.line == 5
    with pytest.raises(FlowDefinitionError, match="neither an existing flow file nor YAML flow text"):
        load_flow("no_such_flow")


def test_retry_on_and_interrupt_lists_are_checked(tmp_path: Path) -> None:
    base = """\
    name: f
    state: {n: {type: int, default: 0}}
    nodes:
      a: {uses: flows.increment, with: {key: n}, retry_on: [NoSuchError]}
    edges:
      - {from: START, to: a}
      - {from: a, to: END}
    """
    err = _error(base, tmp_path)
    assert "unknown exception 'NoSuchError'" in str(err) and err.line == 4
    err = _error(base.replace("[NoSuchError]", "[TimeoutError]") + "interrupt_after: [b]\n", tmp_path)
    assert "`interrupt_after:` names unknown node 'b'" in str(err)
    err = _error(base.replace("retry_on: [NoSuchError]", "cache_ttl: -1"), tmp_path)
    assert "`cache_ttl:` must be a number of seconds > 0" in str(err)


def _located(data: bytes, tmp_path: Path) -> FlowDefinitionError:
    """The error of the flow file holding ``data``, checked to carry file, line and column."""
    from ragloom.flows.yaml_io import compile_file

    path = tmp_path / "flow.yaml"
    path.write_bytes(data)
    with pytest.raises(FlowDefinitionError) as info:
        compile_file(path)
    err = info.value
    assert err.file == str(path) and err.line is not None and err.column is not None, str(err)
    assert str(err).startswith(f"{path}:{err.line}:{err.column}: ")
    return err


@pytest.mark.parametrize(
    ("data", "line", "needle"),
    [
        (GOOD.encode().replace(b"demo", b"d\xffmo"), 1, "not valid UTF-8"),
        (GOOD.encode().replace(b"count}}", b"count\xc3}}"), 5, "not valid UTF-8"),
        (GOOD.replace("count: {", "count: \x00{").encode(), 3, "U+0000 (NUL) is not allowed"),
        (GOOD.replace("tick: {", "tick: \x1b{").encode(), 5, "U+001B (ESC)"),
        (GOOD.replace("{key: count}", "[" * 5000 + "]" * 5000).encode(), 5, "nest"),
        (GOOD.replace("to: END}", "to: [[END]]}", 1).encode(), 8, "got a list"),
        (GOOD.replace("{key: count}", "{key: 2001-02-30}").encode(), 5, "day is out of range"),
        (GOOD.replace("{key: count}", "{key: !!int abc}").encode(), 5, "cannot read the value tagged"),
        (GOOD.replace("{key: count}", "{key: " + "9" * 5000 + "}").encode(), 5, "cannot read the value"),
        (GOOD.replace("to: END}", "to: !!seq {a: 1}}").encode(), 8, "a !!seq tag needs a list"),
        (b"", 1, "a flow must be a mapping"),
        (b"42\n", 1, "a flow must be a mapping"),
        (GOOD.replace("{key: count}", "[" * 100 + "]" * 100).encode(), 5, "nest more than 64 levels"),
        (
            GOOD.replace("{key: count}}", "{template: '{x.y}', output_key: count}}")
            .replace("flows.increment", "flows.template")
            .encode(),
            5,
            "cannot be built from its `with:`",
        ),
    ],
)
def test_malformed_bytes_give_located_errors(tmp_path: Path, data: bytes, line: int, needle: str) -> None:
    err = _located(data, tmp_path)
    assert needle in str(err) and err.line == line, str(err)


def test_utf16_and_utf32_files_with_a_byte_order_mark_load(tmp_path: Path) -> None:
    from ragloom.flows.yaml_io import compile_file

    for codec in ("utf-16", "utf-32", "utf-8-sig"):
        path = tmp_path / f"flow-{codec}.yaml"
        path.write_bytes(GOOD.encode(codec))
        assert compile_file(path).invoke({}).state.count == 1
    broken = GOOD.encode("utf-16")[:-1]  # an odd number of bytes: truncated UTF-16
    assert "not valid UTF-16" in str(_located(broken, tmp_path))


def test_a_big_flow_without_aliases_is_not_an_alias_bomb() -> None:
    nodes = "".join(f"  n{i}: flows.increment\n" for i in range(40_000))
    edges = "".join(f"  - {{from: n{i - 1}, to: n{i}}}\n" for i in range(1, 40_000))
    text = f"name: big\nstate: {{count: {{type: int, default: 0}}}}\nnodes:\n{nodes}edges:\n"
    text += f"  - {{from: START, to: n0}}\n{edges}  - {{from: n39999, to: END}}\n"
    assert len(load_flow(text).nodes) == 40_000  # 200,000 values, none of them aliased

"""The safe YAML layer under flow files: parse text into containers that remember file positions.

It exists apart from the flow logic so the safety rules live in one small place: the loader is a
``yaml.SafeLoader`` subclass that only adds position marks, so tags such as ``!!python/object`` are refused,
duplicate keys are an error instead of a silent overwrite, and alias expansion ("billion laughs") is bounded.
Every problem comes back as a FlowDefinitionError carrying file, line and column (see :func:`located_error`).
"""

from __future__ import annotations

from typing import Any

import yaml

from ragloom.core.errors import FlowDefinitionError

MAX_VALUES = 100_000  # bound on a file's size after alias expansion ("billion laughs")


class MarkedDict(dict[Any, Any]):
    """A YAML mapping with the position of itself, each key and each value."""

    mark: yaml.Mark | None = None
    key_marks: dict[Any, yaml.Mark]
    value_marks: dict[Any, yaml.Mark]


class MarkedList(list[Any]):
    """A YAML sequence with the position of itself and each item."""

    mark: yaml.Mark | None = None
    item_marks: list[yaml.Mark]


class FlowLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus position marks; unknown tags (``!!python/...``) raise a clear error."""


def _construct_map(loader: FlowLoader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    data = MarkedDict()
    data.mark, data.key_marks, data.value_marks = node.start_mark, {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain", key_node.start_mark
            )
        if key in data:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (the first one would be silently lost)",
                key_node.start_mark,
            )
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_marks[key], data.value_marks[key] = key_node.start_mark, value_node.start_mark
    return data


def _construct_seq(loader: FlowLoader, node: yaml.SequenceNode) -> MarkedList:
    data = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    data.mark, data.item_marks = node.start_mark, [child.start_mark for child in node.value]
    return data


def _refuse_tag(loader: FlowLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"the tag {node.tag!r} is not allowed: flow files are plain data (yaml.safe_load); "
        "name code with `uses:` and a registered component instead",
        node.start_mark,
    )


FlowLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
FlowLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
FlowLoader.add_constructor(None, _refuse_tag)


def plain(value: Any) -> Any:
    """Marked containers back to plain dicts/lists (what components and ``yaml.safe_dump`` expect)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def located_error(message: str, file: str, mark: yaml.Mark | None) -> FlowDefinitionError:
    """A FlowDefinitionError at ``file:line:column`` (1-based) of ``mark``, or at ``file`` when it is None."""
    if mark is None:
        return FlowDefinitionError(message, file)
    return FlowDefinitionError(message, file, mark.line + 1, mark.column + 1)


def parse_marked(text: str, file: str) -> Any:
    """``text`` parsed with :class:`FlowLoader`: marked containers, or a located FlowDefinitionError.

    ``file`` only labels error positions. Refuses documents that alias-expand past :data:`MAX_VALUES`.
    """
    try:
        doc = yaml.load(text, Loader=FlowLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = " ".join(p for p in (e.context, e.problem) if p)
        raise located_error(f"invalid YAML: {what}", file, mark) from None
    except yaml.YAMLError as e:
        raise located_error(f"invalid YAML: {e}", file, None) from None
    if _expanded_size(doc, {}) > MAX_VALUES:
        raise located_error(
            f"the file expands to more than {MAX_VALUES} values through YAML aliases (&anchor/*alias); "
            "write the values out or use fewer nested aliases",
            file,
            getattr(doc, "mark", None),
        )
    return doc


def _expanded_size(value: Any, memo: dict[int, int]) -> int:
    """How many values ``value`` holds once aliases are expanded (memoised per object: linear time)."""
    if not isinstance(value, dict | list):
        return 1
    if id(value) not in memo:
        children = value.values() if isinstance(value, dict) else value
        memo[id(value)] = 1 + sum(_expanded_size(child, memo) for child in children)
    return memo[id(value)]

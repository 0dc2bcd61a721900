"""The safe YAML layer under flow files: parse text into containers that remember file positions.

It exists apart from the flow logic so the safety rules live in one small place: the loader is a
``yaml.SafeLoader`` subclass that only adds position marks, so tags such as ``!!python/object`` are refused,
duplicate keys are an error instead of a silent overwrite, and alias expansion ("billion laughs") is bounded.
Every problem comes back as a FlowDefinitionError carrying file, line and column (see :func:`located_error`).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from ragloom.core.errors import FlowDefinitionError

MAX_VALUES = 100_000  # bound on a file's size after alias expansion ("billion laughs")
MAX_DEPTH = 64  # bound on how deeply mappings and lists nest (a flow needs a handful of levels)
_BOMS = (  # YAML allows UTF-16 and UTF-32 with a byte order mark (Windows tools write UTF-16 by default)
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
)


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
    """``yaml.SafeLoader`` plus position marks; unknown tags (``!!python/...``) raise a clear error.

    Two guards make every malformed file a located error rather than a crash: nesting deeper than
    :data:`MAX_DEPTH` stops the composer (PyYAML composes and constructs recursively, so ``[[[[...`` ten
    thousand deep was a RecursionError), and a value its tag's constructor cannot build (``2001-02-30``,
    ``!!int abc``, ``!!seq {a: 1}``, an integer of 5,000 digits) becomes a ConstructorError at that value.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"mappings and lists nest more than {MAX_DEPTH} levels deep here; flatten the file",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, LookupError) as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value tagged {node.tag!r}: {e}", node.start_mark
            ) from None


def _construct_map(loader: FlowLoader, node: yaml.MappingNode) -> MarkedDict:
    if not isinstance(node, yaml.MappingNode):
        raise yaml.constructor.ConstructorError(None, None, "a !!map tag needs a mapping", node.start_mark)
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
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(None, None, "a !!seq tag needs a list", node.start_mark)
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

_CParser: Any = getattr(getattr(yaml, "_yaml", None), "CParser", None) if yaml.__with_libyaml__ else None
if _CParser is not None:

    class _LibyamlFlowLoader(_CParser, FlowLoader):  # type: ignore[misc,valid-type]
        """:class:`FlowLoader` reading events with libyaml's parser (about 5x faster than pure Python).

        Only scanning and parsing move to C: nodes are still composed by PyYAML's Python composer (with
        the depth guard) and built by the same safe constructors.
        """

        get_single_node = Composer.get_single_node
        compose_document = Composer.compose_document
        compose_scalar_node = Composer.compose_scalar_node
        compose_sequence_node = Composer.compose_sequence_node
        compose_mapping_node = Composer.compose_mapping_node

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            Composer.__init__(self)

    _LOADER: type = _LibyamlFlowLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _LOADER = FlowLoader


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


def decode_flow_bytes(data: bytes, file: str) -> str:
    """The text of a flow file's bytes: UTF-8 (or UTF-16/32 with a byte order mark), else a located error.

    A byte that is not UTF-8 is reported at its line and column ("convert the file to UTF-8"), instead of
    the UnicodeDecodeError that used to escape.
    """
    encoding = next((codec for bom, codec in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        head = data[: e.start]
        line_start = head.rfind(b"\n") + 1
        column = len(head[line_start:].decode(encoding, errors="replace"))
        mark = yaml.Mark(file, e.start, head.count(b"\n"), column, None, None)  # type: ignore[arg-type]
        raise located_error(
            f"the file is not valid {encoding.upper().replace('-SIG', '')} ({e.reason}: byte "
            f"{data[e.start : e.start + 1]!r}); save it as UTF-8",
            file,
            mark,
        ) from None


def start_mark(file: str) -> yaml.Mark:
    """The position of a file's first character (for problems with the file as a whole)."""
    return yaml.Mark(file, 0, 0, 0, None, None)  # type: ignore[arg-type]


def parse_marked(text: str, file: str) -> Any:
    """``text`` parsed with :class:`FlowLoader`: marked containers, or a located FlowDefinitionError.

    ``file`` only labels error positions. Refuses documents that alias-expand past :data:`MAX_VALUES`
    values (or one per character of text, for big files) or nest deeper than :data:`MAX_DEPTH`.
    """
    try:
        doc = yaml.load(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark or start_mark(file)
        what = " ".join(p for p in (e.context, e.problem) if p)
        raise located_error(f"invalid YAML: {what}", file, mark) from None
    except yaml.reader.ReaderError as e:  # a character YAML does not allow (NUL, other controls)
        position = e.position
        if _LOADER is not FlowLoader:  # libyaml counts bytes of the UTF-8 text
            position = len(text.encode("utf-8", "surrogatepass")[:position].decode("utf-8", "ignore"))
        raise located_error(_reader_problem(e), file, _mark_at(text, position, file)) from None
    except yaml.YAMLError as e:
        raise located_error(f"invalid YAML: {e}", file, start_mark(file)) from None
    except UnicodeEncodeError as e:  # text (not a file) holding a lone surrogate such as "\ud800"
        raise located_error(
            f"invalid text: {e.reason} ({e.object[e.start]!r})", file, _mark_at(text, e.start, file)
        ) from None
    limit = max(MAX_VALUES, len(text))  # a value takes at least a character of text unless aliased
    size, depth = _expanded_size(doc, {}, limit)
    if size > limit or depth > MAX_DEPTH:
        what = f"more than {limit} values" if size > limit else f"more than {MAX_DEPTH} levels deep"
        raise located_error(
            f"the file expands to {what} through YAML aliases (&anchor/*alias); "
            "write the values out or use fewer nested aliases",
            file,
            getattr(doc, "mark", None) or start_mark(file),
        )
    return doc


def _reader_problem(e: yaml.reader.ReaderError) -> str:
    if isinstance(e.character, int):
        code = f"U+{e.character:04X}"
        name = {0: " (NUL)", 0x1B: " (ESC)", 0x7F: " (DEL)"}.get(e.character, "")
        return f"invalid YAML: the character {code}{name} is not allowed in a YAML file; remove it"
    return f"invalid YAML: {e.reason}"


def _mark_at(text: str, position: int, file: str) -> yaml.Mark:
    """The mark of character ``position`` of ``text``."""
    position = max(0, min(position, len(text)))
    line = text.count("\n", 0, position)
    column = position - (text.rfind("\n", 0, position) + 1)
    return yaml.Mark(file, position, line, column, None, None)  # type: ignore[arg-type]


def _expanded_size(value: Any, memo: dict[int, tuple[int, int]], limit: int) -> tuple[int, int]:
    """(values, nesting depth) of ``value`` once aliases are expanded (memoised per object: linear time).

    Recursion is bounded: the composer refuses text nested past :data:`MAX_DEPTH`, and an alias only
    points at a node composed before it, which the memo already holds.
    """
    if not isinstance(value, dict | list):
        return 1, 0
    if id(value) not in memo:
        children = value.values() if isinstance(value, dict) else value
        size, depth = 1, 0
        for child in children:
            child_size, child_depth = _expanded_size(child, memo, limit)
            size, depth = size + child_size, max(depth, child_depth)
            if size > limit or depth > MAX_DEPTH:
                break
        memo[id(value)] = (size, depth + 1)
    return memo[id(value)]

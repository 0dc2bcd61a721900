"""Checkpoint payloads as typed JSON, so that opening a checkpoint file never runs code.

Why not pickle: unpickling calls whatever the file names (``os.system`` included), so a tampered checkpoint
would run code on ``ragloom run --resume`` or in ``serve``. JSON cannot name code; the few non-JSON values a
flow state holds are written as tagged objects (``{"__rl__": tag, ...}``): tuples, sets, bytes, dates,
dicts with non-string keys, and dataclasses / pydantic models. Those are rebuilt only from an allowlist of
classes: ragloom's own (already imported), and those declared in a flow's state type (registered when the
state schema is built) or with :func:`register_type`. A file naming any other class is refused.

Pickle stays available for states that need it, only when the user opts in (``serde="pickle"``), with a
warning; a pickled payload met without that opt-in is refused with an error saying how to opt in.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import math
import pickle
import sys
import typing
import warnings
from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import BaseModel

from ragloom.core.errors import ConfigError

#: ``RAGLOOM_CHECKPOINT_SERDE=pickle`` opts into pickled checkpoints where no code is written (the CLI).
SERDE_ENV = "RAGLOOM_CHECKPOINT_SERDE"
_TAG = "__rl__"
_JSON_MAGIC = b"RLJ1"  # typed JSON; plain JSON (older rows) starts with "[" or "{", pickle with 0x80
JSON_MAGIC = _JSON_MAGIC
JSON_LIST_START = _JSON_MAGIC + b"["  # how a typed-JSON payload holding a list starts
_ALLOWED: dict[str, type] = {}


def type_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def register_type(cls: type) -> type:
    """Allow checkpoints to rebuild ``cls`` (a dataclass or pydantic model); returns ``cls``."""
    if dataclasses.is_dataclass(cls) or (isinstance(cls, type) and issubclass(cls, BaseModel)):
        _ALLOWED[type_name(cls)] = cls
    return cls


def register_annotation_types(annotations: Iterable[Any]) -> None:
    """Register every dataclass / pydantic model named in state annotations (``list[Hit]``, ``X | None``),
    and those their fields name in turn."""
    todo = list(annotations)
    seen: set[int] = set()
    while todo:
        tp = todo.pop()
        if id(tp) in seen:
            continue
        seen.add(id(tp))
        todo.extend(typing.get_args(tp))
        if isinstance(tp, type) and type_name(tp) not in _ALLOWED:
            register_type(tp)
            if type_name(tp) in _ALLOWED:
                todo.extend(_field_types(tp))


def _field_types(cls: type) -> list[Any]:
    if issubclass(cls, BaseModel):
        return [info.annotation for info in cls.model_fields.values()]
    try:
        return list(typing.get_type_hints(cls).values())
    except Exception:  # unresolvable forward references: the fields' own types are simply not registered
        return []


def _resolve(name: str, where: str) -> type:
    cls = _ALLOWED.get(name)
    if cls is not None:
        return cls
    module_name, _, qualname = name.partition(":")
    module = sys.modules.get(module_name) if module_name.split(".")[0] == "ragloom" else None
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None) if part.isidentifier() and not part.startswith("_") else None
    if isinstance(found, type) and (dataclasses.is_dataclass(found) or issubclass(found, BaseModel)):
        return found
    raise ConfigError(
        f"{where}: the checkpoint names type {name!r}, which is not a declared state type; ragloom rebuilds "
        "only ragloom's types and those in a flow's state declaration (or ragloom.flows.serde.register_type)"
    )


_NATIVE = frozenset({str, int, float, bool, type(None)})  # exact types: JSON keeps them as they are


@dataclasses.dataclass(frozen=True, slots=True)
class Native:
    """A value ragloom itself built from JSON types only (a checkpoint's step records, its join arrivals):
    :func:`encode` passes it through without walking it. Never wrap user state in it."""

    value: Any


def encode(value: Any) -> Any:
    """``value`` as JSON-able data; TypeError names the first value that has no JSON form.

    Why the exact-type checks first: a checkpoint is encoded once per step, and most state is plain JSON
    (strings, numbers, lists and dicts of them); those pass through without a copy or an isinstance chain.
    """
    kind = type(value)
    if kind in _NATIVE:
        return value
    if kind is Native:
        return value.value
    if kind is list:
        return value if all(type(v) in _NATIVE for v in value) else [encode(v) for v in value]
    if kind is dict and _TAG not in value:
        flat = True  # every value JSON-native: the dict is written as it is
        for k, v in value.items():
            if type(k) is not str:
                return _encode_other(value)
            if flat and type(v) not in _NATIVE:
                flat = False
        return value if flat else {k: encode(v) for k, v in value.items()}
    return _encode_other(value)


def is_flat(value: Any) -> bool:
    """Whether ``value`` is a dict of string keys to JSON scalars with finite floats: :func:`encode` returns
    it unchanged and orjson writes it exactly as the json module reads it back (no check needed after)."""
    if type(value) is not dict or _TAG in value:
        return False
    for k, v in value.items():
        kind = type(v)
        if type(k) is not str or kind not in _NATIVE or (kind is float and v - v != 0):  # NaN, inf
            return False
    return True


def _encode_other(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: encode(v) for k, v in value.items()}
        return {_TAG: "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple | set | frozenset):
        return {_TAG: type(value).__name__, "items": [encode(v) for v in value]}
    if isinstance(value, bytes):
        return {_TAG: "bytes", "b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return {_TAG: type(value).__name__, "iso": value.isoformat()}
    if isinstance(value, BaseModel):
        fields = {k: encode(getattr(value, k)) for k in type(value).model_fields}
        return {_TAG: "obj", "type": type_name(type(value)), "fields": fields}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return {_TAG: "obj", "type": type_name(type(value)), "fields": fields}
    raise TypeError(f"a {type(value).__module__}.{type(value).__qualname__} value has no JSON form")


_SIMPLE = {"tuple": tuple, "set": set, "frozenset": frozenset}
_DATES: dict[str, Any] = {"datetime": dt.datetime, "date": dt.date, "time": dt.time}


def decode(data: Any, where: str = "checkpoint") -> Any:
    """The inverse of :func:`encode`; ConfigError for a tag or class it does not know."""
    if isinstance(data, list):
        return [decode(v, where) for v in data]
    if not isinstance(data, dict):
        return data
    tag = data.get(_TAG)
    if tag is None:
        return {k: decode(v, where) for k, v in data.items()}
    try:
        if tag in _SIMPLE:
            return _SIMPLE[tag](decode(v, where) for v in data["items"])
        if tag == "dict":
            return {_hashable(decode(k, where)): decode(v, where) for k, v in data["items"]}
        if tag == "bytes":
            return base64.b64decode(data["b64"], validate=True)
        if tag in _DATES:
            return _DATES[tag].fromisoformat(data["iso"])
        if tag == "obj":
            cls = _resolve(str(data["type"]), where)
            fields = {str(k): decode(v, where) for k, v in data["fields"].items()}
            return cls.model_validate(fields) if issubclass(cls, BaseModel) else cls(**fields)
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"{where}: malformed {tag!r} value in the checkpoint ({e})") from e
    raise ConfigError(f"{where}: unknown value tag {tag!r} in the checkpoint")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def dumps(doc: Any, serde: str) -> bytes:
    """A payload: typed JSON, or a pickle when the user opted into ``serde="pickle"``.

    A top-level list (a checkpoint document) is written item by item: ragloom's own ``Native`` items skip
    the walk and the non-finite check of :func:`to_json`, so a step's encoding costs mostly its state.
    """
    if serde == "pickle":
        if type(doc) is list:  # top-level Native markers are a JSON-encoding shortcut, not data
            doc = [d.value if type(d) is Native else d for d in doc]
        return pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL)
    if type(doc) is list:
        return json_payload([native_json(d.value) if type(d) is Native else to_json(encode(d)) for d in doc])
    return _JSON_MAGIC + to_json(encode(doc))


def json_payload(items: Iterable[bytes]) -> bytes:
    """A typed-JSON payload holding a list of items already written as JSON (:func:`to_json`)."""
    return b"".join((_JSON_MAGIC, b"[", b",".join(items), b"]"))


def to_json(value: Any) -> bytes:
    """``value`` (already :func:`encode`-d) as compact UTF-8 JSON that ``json.loads`` reads back unchanged.

    Why orjson first: it writes a step's small document ~10x faster than ``json.dumps``. It writes NaN and
    infinities as ``null`` and refuses integers beyond 64 bits, so output with a ``null`` in it is checked for
    non-finite floats, and those documents (and the big integers) are written by the json module as before
    (``NaN``, ``Infinity``: read back as they were).
    """
    try:
        out = orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits, or a lone surrogate (which the json path refuses too)
        return _slow_json(value)
    if b"null" in out and _has_nonfinite(value):
        return _slow_json(value)
    return out


def native_json(value: Any) -> bytes:
    """ragloom's own JSON-typed values (records, arrivals, node names; tuples are written as lists): finite
    floats by construction, so no check for them."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return _slow_json(value)


def _slow_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _has_nonfinite(value: Any) -> bool:
    """Whether an encoded value holds a NaN or an infinity (an explicit stack: no recursion limit)."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, dict):
            todo.extend(item.values())
    return False


def loads(payload: bytes, serde: str, where: str) -> Any:
    """Read a payload written by :func:`dumps` (or an older plain-JSON row); pickle only when opted in."""
    data = bytes(payload)
    if data.startswith(_JSON_MAGIC):
        return decode(json.loads(data[len(_JSON_MAGIC) :]), where)
    if data[:1] in (b"[", b"{"):
        return json.loads(data)  # written by the plain-JSON serde of earlier versions
    if serde != "pickle":
        raise ConfigError(
            f"{where} is pickled (written by an older ragloom, or with serde='pickle'); loading a pickle "
            "runs any code the file names, so ragloom does not read it by default. Only if you wrote this "
            "file yourself and trust it, open it with SQLiteCheckpointer(path, serde='pickle') (CLI: "
            f"{SERDE_ENV}=pickle)"
        )
    return pickle.loads(data)


def warn_pickle(path: str) -> None:
    """The loud warning for the opted-into pickle format."""
    warnings.warn(
        f"SQLiteCheckpointer({path!r}, serde='pickle'): checkpoints are pickled; opening a tampered file "
        "runs code. Use it only for files you trust; the default serde='json' never runs code.",
        RuntimeWarning,
        stacklevel=3,
    )

"""Structured output: make an LLM answer with an instance of a pydantic model.

How: the JSON schema goes into the prompt (and into ``response_format`` when the server supports it); the
reply's JSON object is validated; on failure the model sees its reply and the validation error once and
tries again; a second failure raises :class:`StructuredOutputError` with both errors and the raw text.

Why guided filling for small local models: a 135M model rarely writes a whole valid JSON object, but it fills
in single values well. For LLMs that accept an assistant ``prefill`` and flat schemas (string, number,
integer, boolean and enum fields) we write the JSON skeleton ourselves and let the model generate only each
value, stopping at the closing quote or delimiter (the idea behind guidance/outlines-style constrained
decoding, done here with prefill + stop strings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ragloom.core.errors import LLMHTTPError, StructuredOutputError
from ragloom.core.protocols import LLM
from ragloom.core.types import Message
from ragloom.llm.messages import as_messages
from ragloom.llm.toolcalls import repair_json

M = TypeVar("M", bound=BaseModel)

_SCALARS = {"string", "integer", "number", "boolean"}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def complete_structured(
    llm: LLM, messages: Sequence[Message] | str, model: type[M], *, max_repairs: int = 1, **options: Any
) -> M:
    """Ask ``llm`` for an instance of ``model``; one repair attempt with the validation error by default."""
    schema = model.model_json_schema()
    guided = getattr(llm, "supports_prefill", False) and is_flat_schema(schema)
    msgs = list(with_schema_instruction(as_messages(messages), schema, compact=guided))
    if getattr(llm, "supports_response_format", False) and "response_format" not in options:
        options = {**options, "response_format": model, "_auto_format": True}
    errors: list[str] = []
    text = ""
    for attempt in range(max_repairs + 1):
        if attempt:
            msgs += [
                Message("assistant", text),
                Message(
                    "user",
                    f"That reply is invalid: {errors[-1]}\nReply again with only the corrected JSON object.",
                ),
            ]
        text = _attempt(llm, msgs, schema, options)
        try:
            return model.model_validate(extract_json(text))
        except (ValueError, ValidationError) as e:
            errors.append(_short(e))
    raise StructuredOutputError(
        f"{llm.model} did not produce a valid {model.__name__} after {max_repairs} repair attempt(s): "
        f"{' | then: '.join(errors)}. Last reply: {text[:300]!r}. Try a larger model, a simpler schema, or "
        "more max_tokens."
    )


def with_schema_instruction(
    messages: Sequence[Message], schema: dict[str, Any], compact: bool = False
) -> tuple[Message, ...]:
    """The messages with an instruction to reply with JSON matching ``schema`` added to the system message.

    ``compact`` lists only field names and types (short prompts for small models filled by guided_json).
    """
    if compact:
        fields = ", ".join(f"{n} ({_field_kind(p)})" for n, p in schema["properties"].items())
        instruction = f"Reply with a JSON object with the fields: {fields}."
    else:
        instruction = (
            "Reply with only a JSON object (no prose, no code fence) that matches this JSON schema:\n"
            + json.dumps(schema, separators=(",", ":"))
        )
    if messages and messages[0].role == "system":
        first = messages[0]
        return (Message("system", f"{first.content}\n\n{instruction}"), *messages[1:])
    return (Message("system", instruction), *messages)


def extract_json(text: str) -> Any:
    """The first JSON object in ``text`` (code fences and prose around it are ignored; slips repaired)."""
    start = text.find("{")
    if start < 0:
        raise ValueError(f"no JSON object in the reply: {text[:200]!r}")
    end = text.rfind("}")
    candidates = [text[start : end + 1]] if end > start else []
    candidates.append(repair_json(text[start:]))
    last: Exception | None = None
    for c in candidates:
        try:
            return json.loads(c)
        except json.JSONDecodeError as e:
            last = e
    raise ValueError(f"the reply is not valid JSON ({last}): {text[:200]!r}")


def _short(e: Exception) -> str:
    if isinstance(e, ValidationError):
        return "; ".join(f"{'.'.join(map(str, err['loc'])) or 'value'}: {err['msg']}" for err in e.errors())
    return str(e)


def _attempt(llm: LLM, msgs: Sequence[Message], schema: dict[str, Any], options: dict[str, Any]) -> str:
    """One reply. A server that rejects the ``response_format`` we added steps down: ``json_schema`` →
    ``json_object`` → none (the schema is in the prompt anyway, and the reply is validated and repaired).
    Rejection is a 400/422 (older llama.cpp, Ollama) or a 500/501 (llama-cpp-python's server on
    ``json_schema``); once a step is rejected, the later calls of this request skip it."""
    if getattr(llm, "supports_prefill", False) and is_flat_schema(schema):
        return guided_json(llm, msgs, schema, options)
    auto = options.pop("_auto_format", False)
    while True:
        try:
            return llm.complete(msgs, **options).text
        except LLMHTTPError as e:
            if not auto or e.status_code not in _REJECTED or "response_format" not in options:
                raise
            fmt = options.pop("response_format")  # `options` is reused by the repair attempts
            if not (isinstance(fmt, dict) and fmt.get("type") == "json_object"):
                options["response_format"] = {"type": "json_object"}


_REJECTED = frozenset({400, 422, 500, 501})


def is_flat_schema(schema: dict[str, Any]) -> bool:
    """True when every property is a scalar or an enum of scalars (no nesting, no arrays, no refs)."""
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        return False
    return all(_field_kind(p) is not None for p in props.values())


def _field_kind(prop: dict[str, Any]) -> str | None:
    if "enum" in prop or "const" in prop:
        return "enum"
    t = prop.get("type")
    return t if t in _SCALARS else None


def guided_json(llm: LLM, msgs: Sequence[Message], schema: dict[str, Any], options: dict[str, Any]) -> str:
    """Write the JSON skeleton and let the model fill each value (needs an LLM with ``prefill``)."""
    prefix = "{"
    opts = {k: v for k, v in options.items() if k not in ("stop", "max_tokens", "prefill")}
    for i, (name, prop) in enumerate(schema["properties"].items()):
        prefix += ("" if i == 0 else ", ") + json.dumps(name) + ": "
        prefix += _fill_value(llm, msgs, prefix, prop, opts)
    return prefix + "}"


def _fill_value(
    llm: LLM, msgs: Sequence[Message], prefix: str, prop: dict[str, Any], opts: dict[str, Any]
) -> str:
    kind = _field_kind(prop)
    if kind == "string":
        raw = llm.complete(msgs, prefill=prefix + '"', stop=['"', "\n"], max_tokens=48, **opts).text
        return json.dumps(raw.strip())
    if kind in ("integer", "number"):
        raw = llm.complete(msgs, prefill=prefix, stop=[",", "}", "\n"], max_tokens=8, **opts).text
        match = _NUMBER.search(raw)
        value = (
            match.group(0) if match else json.dumps(raw.strip())
        )  # invalid on purpose: validation says why
        return str(int(float(value))) if kind == "integer" and match else value
    if kind == "boolean":
        raw = (
            llm.complete(msgs, prefill=prefix, stop=[",", "}", "\n"], max_tokens=3, **opts)
            .text.strip()
            .lower()
        )
        return "false" if raw.startswith(("f", "n", "0")) else "true"
    choices = prop.get("enum") or [prop.get("const")]
    raw = (
        llm.complete(msgs, prefill=prefix, stop=[",", "}", "\n"], max_tokens=12, **opts)
        .text.strip()
        .strip('"')
    )
    best = next((c for c in choices if str(c).lower() == raw.lower()), None)
    best = best or next(
        (c for c in choices if str(c).lower().startswith(raw.lower()[:3] or "\0")), choices[0]
    )
    return json.dumps(best)

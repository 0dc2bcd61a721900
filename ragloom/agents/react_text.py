"""The ReAct text protocol for models without native tool calling: the prompt and a forgiving parser.

Format (Yao et al. 2023, "ReAct: Synergizing Reasoning and Acting in Language Models")::

    Thought: what to do next
    Action: tool_name
    Action Input: {"arg": "value"}
    Observation: (written by us, never by the model)
    ...
    Final Answer: the answer

Why forgiving: small local models wrap JSON in code fences, use single quotes, write ``calculator(2+3)``,
bold the markers or keep talking after the input. Each of those is recovered deterministically here; what
cannot be recovered becomes a :class:`ReActParse` with ``error`` set, which the agent feeds back to the model.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragloom.core.errors import RagloomError
from ragloom.core.types import Message
from ragloom.tools.base import Tool

_MARKER = re.compile(
    r"^[ \t>*_#-]*(thought|action[ \t]*input|action|final[ \t]*answer|observation|question)"
    r"[ \t]*\d*[ \t]*[*_]*[ \t]*[:：][ \t]*[*_]*",
    re.IGNORECASE | re.MULTILINE,
)
_LOOSE_OBJECT = re.compile(r"^\{\s*[\"']?(\w+)[\"']?\s*:\s*([^{}]*?)\s*,?\s*\}$", re.DOTALL)
_FENCE = re.compile(r"```(?:json|python|text)?", re.IGNORECASE)


@dataclass(frozen=True)
class ReActParse:
    """One model turn, parsed: an action (tool + arguments), a final answer, or an error to feed back."""

    thought: str = ""
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    final_answer: str | None = None
    error: str | None = None
    text: str = ""  # the part of the output that was used (cut before any hallucinated Observation)


def render_tools(tools: Sequence[Tool]) -> str:
    lines = []
    for t in tools:
        description = " ".join(t.description.split())
        lines.append(f"- {t.name}: {description} Arguments: {t.example_args()}")
    return "\n".join(lines)


def short_instructions(tools: Sequence[Tool]) -> str:
    """The tool list and a one-line reminder of the format (the worked examples show the rest)."""
    return (
        f"You can use these tools:\n{render_tools(tools)}\n\n"
        "Reply with Thought, Action and Action Input lines to use a tool, or with Final Answer when you know "
        "the answer."
    )


def instructions(tools: Sequence[Tool]) -> str:
    """The protocol and the tool list, spelled out (used when there are no worked examples)."""
    names = ", ".join(t.name for t in tools)
    return (
        "Answer the question. You can use these tools:\n"
        f"{render_tools(tools)}\n\n"
        "To use a tool, reply with exactly these lines and stop:\n"
        "Thought: what you will do\n"
        f"Action: one of [{names}]\n"
        "Action Input: a JSON object with the tool's arguments\n\n"
        "You will then get an Observation with the tool's result. When you know the answer, reply:\n"
        "Thought: I know the answer\n"
        "Final Answer: the answer"
    )


def build_messages(
    question: str, tools: Sequence[Tool], examples: Sequence[Message], system: str | None = None
) -> list[Message]:
    """The opening chat: [system], instructions + the first example turn, the example, then the question.

    Why short instructions in the first *user* turn and two worked examples: SmolLM2-135M ignores a format
    described in a long (system) prompt and writes ``Action: 17 * 23 = 341``, but copies the format from
    worked examples (measured on three arithmetic questions: 3/3 well-formed first turns with two examples
    vs 0/3 with the long system prompt); larger models follow either.
    """
    messages = [Message("system", system)] if system else []
    if examples:
        first, *rest = examples
        messages.append(Message(first.role, f"{short_instructions(tools)}\n\n{first.content}"))
        messages.extend(rest)
        messages.append(Message("user", f"Question: {question}"))
    else:
        messages.append(Message("user", f"{instructions(tools)}\n\nQuestion: {question}"))
    return messages


def build_scratchpad_prompt(
    question: str, tools: Sequence[Tool], examples: Sequence[Message], system: str | None = None
) -> list[Message]:
    """The opening for scratchpad mode: one user message (instructions, examples as text, the question).

    In scratchpad mode the model's whole Thought/Action/Observation trail is the *assistant prefill*, so each
    turn continues one text whose format the examples just showed, as in the original ReAct prompts. Why:
    SmolLM2-135M, given observations as separate chat turns, keeps calling tools forever (3/3 runs hit
    max_iterations); continuing the scratchpad it writes ``Final Answer`` right after the observation
    (3/3 measured).
    """
    messages = [Message("system", system)] if system else []
    if examples:
        intro = f"{short_instructions(tools)}\n\nExamples:\n\n{examples_text(examples)}"
    else:
        intro = instructions(tools)
    messages.append(Message("user", f"{intro}\n\nQuestion: {question}"))
    return messages


def examples_text(examples: Sequence[Message]) -> str:
    """Chat-turn examples as one ReAct transcript (a blank line before each new question)."""
    blocks: list[list[str]] = []
    for m in examples:
        if (m.role == "user" and m.content.startswith("Question:")) or not blocks:
            blocks.append([])
        blocks[-1].append(m.content.strip())
    return "\n\n".join("\n".join(b) for b in blocks)


def default_examples(tools: Sequence[Tool]) -> list[Message]:
    """Worked examples as chat turns (small models follow a shown exchange far better than a description).

    Only the calculator has built-in examples; pass ``examples=`` to the agent for other tools.
    """
    if not any(t.name == "calculator" for t in tools):
        return []
    return [
        *_calculator_example("What is 12 times 7?", "multiply", "12 * 7", "84"),
        *_calculator_example("What is 100 - 58?", "subtract", "100 - 58", "42"),
    ]


def _calculator_example(question: str, verb: str, expression: str, result: str) -> list[Message]:
    action = (
        f"Thought: I will {verb} with the calculator.\nAction: calculator\n"
        f'Action Input: {{"expression": "{expression}"}}'
    )
    return [
        Message("user", f"Question: {question}"),
        Message("assistant", action),
        Message("user", f"Observation: {result}"),
        Message("assistant", f"Thought: I know the answer\nFinal Answer: {result}"),
    ]


def parse_react(text: str, tools: Sequence[Tool]) -> ReActParse:
    """Parse a model turn in the ReAct text format (see the module docstring for what is tolerated)."""
    sections = _sections(text)
    used = text[: sections[-1][2]] if sections else text
    thought = next((body for key, body, _ in sections if key == "thought"), "")
    if not sections:
        before = text.strip()
        return ReActParse(thought=before, error="no 'Action:' or 'Final Answer:' line found", text=before)
    for i, (key, body, _) in enumerate(sections):
        if key == "final answer":
            return ReActParse(thought=thought, final_answer=_strip_fences(body).strip(), text=used.strip())
        if key == "action":
            return _parse_action(text, sections, i, thought, tools)
    return ReActParse(thought=thought, error="no 'Action:' or 'Final Answer:' line found", text=used.strip())


def _sections(text: str) -> list[tuple[str, str, int]]:
    """(marker, body, end offset) in order, stopping at the first Observation (never the model's to write)
    or at a new Question after the turn began (the model ran on into a new example); a leading echo of the
    question is skipped."""
    matches = list(_MARKER.finditer(text))
    out: list[tuple[str, str, int]] = []
    for i, m in enumerate(matches):
        key = " ".join(m.group(1).lower().split()).replace("actioninput", "action input")
        key = "final answer" if key.startswith("final") else key
        if key == "question" and not out:
            continue
        if key in ("observation", "question"):
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        out.append((key, text[m.end() : end].strip(), end))
    return out


def _parse_action(
    text: str, sections: list[tuple[str, str, int]], at: int, thought: str, tools: Sequence[Tool]
) -> ReActParse:
    """The action of ``sections[at]`` and its input. ``text`` (kept in the transcript) ends with this
    action's input: only this action runs, and a transcript showing further actions (or a Final Answer)
    would make the model believe they ran too."""
    body, end = sections[at][1], sections[at][2]
    first_line, _, rest = body.partition("\n")
    name, inline = _split_call(first_line.strip())
    raw = None
    for key, value, value_end in sections[at + 1 :]:
        if key in ("action", "final answer"):
            break
        if key == "action input":
            raw, end = value, value_end
            break
    if raw is None:
        raw = inline if inline is not None else rest
    used = text[:end].strip()
    tool = match_tool(name, tools)
    if tool is None and not _negated(name):  # ``Action: add`` with calculator arguments, but no refusal
        tool = _tool_by_arguments(raw, tools)
    if tool is None:
        names = ", ".join(t.name for t in tools)
        return ReActParse(thought=thought, error=f"unknown tool {name!r}; use one of: {names}", text=used)
    args, error = parse_action_input(raw, tool)
    return ReActParse(thought=thought, tool=tool.name, arguments=args, error=error, text=used)


def _tool_by_arguments(raw: str, tools: Sequence[Tool]) -> Tool | None:
    """The one tool whose schema accepts the JSON object in ``raw`` (small models often name the operation,
    ``Action: add``, instead of the tool, yet write the tool's arguments); None when zero or several fit."""
    candidate = _first_object(_strip_fences(raw))
    value = _loads(candidate) if candidate else None
    if not isinstance(value, dict) or not value:
        return None
    fitting = []
    for t in tools:
        try:
            t.validate(value)
        except RagloomError:
            continue
        fitting.append(t)
    return fitting[0] if len(fitting) == 1 else None


def _split_call(value: str) -> tuple[str, str | None]:
    """``calculator`` → (calculator, None); ``calculator(2 + 3)`` → (calculator, "2 + 3")."""
    value = value.strip().strip("`*_\"'[]").rstrip(".")
    m = re.match(r"^([\w\- ]+?)\s*\((.*)\)\s*$", value, re.DOTALL)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    return value, None


_QUOTES = "`*_\"'[]()<>"
_TRAILING = ".,;:!?"
# Words that turn a mention of a tool into a refusal ("I will not use the calculator"); checked in the clause
# before the mention (a clause ends at punctuation or "but").
_NEGATION = re.compile(
    r"\b(?:not|no|never|without|nor|neither|avoid|skip|instead\s+of|rather\s+than)\b|n't\b|\bcannot\b",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[.,;:!?()]|\bbut\b", re.IGNORECASE)


def match_tool(name: str, tools: Sequence[Tool], fuzzy: bool = True) -> Tool | None:
    """The tool ``name`` names: exactly, or ignoring case, surrounding quotes/backticks/markdown, trailing
    punctuation, and spaces/hyphens for underscores.

    ``fuzzy`` (the text protocol's action line): when nothing matches so, the one tool the text mentions
    outside a negated clause. Why keep that fallback: SmolLM2-class models write ``Action: use the calculator
    tool``; but a mention in a refusal ("I will not use the calculator") must never run the tool.
    """
    exact = next((t for t in tools if t.name == name), None)
    if exact is not None:
        return exact
    key = _norm(name)
    by_norm = {_norm(t.name): t for t in tools}
    if key in by_norm:
        return by_norm[key]
    if not fuzzy:
        return None
    mentioned = [t for t in tools if _mentioned_plainly(t.name, name)]
    return mentioned[0] if len(mentioned) == 1 else None


def _norm(name: str) -> str:
    value = name.strip()
    while value and (value[0] in _QUOTES or value[-1] in _QUOTES + _TRAILING):
        value = value.strip(_QUOTES).rstrip(_TRAILING).strip()
    return re.sub(r"[\s\-]+", "_", value.lower())


def _mentions(tool_name: str, text: str) -> list[re.Match[str]]:
    return list(re.finditer(rf"(?<![a-z0-9]){re.escape(tool_name.lower())}(?![a-z0-9])", text.lower()))


def _mentioned_plainly(tool_name: str, text: str) -> bool:
    """Whether ``text`` mentions ``tool_name`` at least once outside a negated clause."""
    for m in _mentions(tool_name, text):
        before = text[: m.start()]
        clause = _CLAUSE_END.split(before)[-1]
        if not _NEGATION.search(clause):
            return True
    return False


def _negated(text: str) -> bool:
    """Whether an action line reads as a refusal (then no fallback guesses a tool from it)."""
    return _NEGATION.search(text) is not None


def parse_action_input(raw: str, tool: Tool) -> tuple[dict[str, Any] | None, str | None]:
    """Arguments from an ``Action Input`` body: JSON (fenced, single-quoted, with trailing text), or, for a
    one-argument tool, the bare value. Returns (arguments, None) or (None, error)."""
    text = _strip_fences(raw).strip()
    candidate = _first_object(text)
    if candidate is not None:
        value = _loads(candidate)
        if isinstance(value, dict):
            return _fit_single_argument(value, tool), None
    single = _single_argument(tool)
    if single is not None and text and candidate is None:
        value = text.splitlines()[0].strip() if "\n" in text else text
        loaded = _loads(value)
        if isinstance(loaded, str | int | float):
            value = str(loaded)
        return {single: value}, None
    return None, (
        f"Action Input for {tool.name!r} must be a JSON object like {tool.example_args()}, "
        f"got {raw.strip()[:200]!r}"
    )


def _single_argument(tool: Tool) -> str | None:
    names = tool.arg_names
    required = tool.required_args
    if len(names) == 1:
        return names[0]
    if len(required) == 1:
        return required[0]
    return None


def _fit_single_argument(args: dict[str, Any], tool: Tool) -> dict[str, Any]:
    """``{"input": "2+3"}`` for a tool whose only argument is ``expression`` → ``{"expression": "2+3"}``."""
    single = _single_argument(tool)
    if single is not None and len(args) == 1 and single not in args and not set(args) & set(tool.arg_names):
        return {single: next(iter(args.values()))}
    return args


def _strip_fences(text: str) -> str:
    return _FENCE.sub("\n", text)


def _first_object(text: str) -> str | None:
    """The first balanced ``{...}`` in ``text`` (quotes of both kinds respected), or None."""
    start = text.find("{")
    if start < 0:
        return None
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return text[start:]  # unbalanced: let the JSON repair close it


def _loads(text: str) -> Any:
    from ragloom.llm.toolcalls import repair_json

    for attempt in (text, repair_json(text)):
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            pass
    try:  # Python literal: single quotes, True/None
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        pass
    loose = _LOOSE_OBJECT.match(text.strip())  # {"expression": 345 + 678}: an unquoted value
    if loose:
        return {loose.group(1): loose.group(2).strip().strip("\"'")}
    return None

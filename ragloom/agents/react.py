"""A ReAct-style agent: the model alternates reasoning and tool calls until it gives a final answer.

Two protocols, one loop:
- ``native``: the server returns structured ``tool_calls`` (OpenAI-compatible servers: vLLM, Ollama, OpenAI);
  results go back as ``tool`` messages.
- ``text``: for small local models without tool calling, the Thought / Action / Action Input / Final Answer
  format of Yao et al. 2023 (ReAct), parsed forgivingly by :mod:`ragloom.agents.react_text`.
``auto`` picks ``native`` when the LLM says ``supports_tools`` and ``text`` otherwise; in text mode, tool
calls a server returns anyway are still honoured.

The loop never raises for what the model or a tool does wrong: a bad tool name, invalid arguments or a tool's
exception become an Observation the model sees; the run stops at ``max_iterations`` or ``token_budget`` with a
status saying so. Every LLM turn is an :class:`AgentStep` in :attr:`AgentResult.steps`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ragloom.agents.approval import ask, needs_approval
from ragloom.agents.react_text import (
    ReActParse,
    build_messages,
    build_scratchpad_prompt,
    default_examples,
    match_tool,
    parse_react,
)
from ragloom.core.errors import ConfigError, FlowError
from ragloom.core.protocols import LLM
from ragloom.core.types import Completion, Message, ToolCall, Usage
from ragloom.llm.toolcalls import ToolCallParseError
from ragloom.tools.base import Tool

ProtocolName = Literal["auto", "native", "text"]
Status = Literal["finished", "max_iterations", "token_budget"]

NATIVE_SYSTEM_PROMPT = (
    "Answer the question. Call the provided tools when they help (for example, use a calculator for "
    "arithmetic instead of computing in your head). When you know the answer, reply with it directly."
)
TEXT_STOP = ["\nObservation:", "Observation:", "\nQuestion:"]
THOUGHT_PREFILL = "Thought:"
EMPTY_REPLY_REMINDER = "Your reply was empty. Answer the question, or call one of the tools."


@dataclass(frozen=True)
class AgentAction:
    """One tool call and what came back; ``ok`` is False when the observation reports an error."""

    tool: str
    arguments: dict[str, Any]
    observation: str
    ok: bool
    call_id: str = ""


@dataclass(frozen=True)
class AgentStep:
    """One LLM turn: the thought, the actions it asked for (with observations) or its final answer.

    ``error`` is set when the turn could not be used as is (bad format, unknown tool); it was fed back to
    the model as the observation.
    """

    index: int
    thought: str
    actions: tuple[AgentAction, ...] = ()
    final_answer: str | None = None
    error: str | None = None
    raw: str = ""
    usage: Usage = field(default_factory=Usage)


@dataclass
class AgentResult:
    """The outcome of a run: ``answer`` is None unless ``status == "finished"``."""

    answer: str | None
    status: Status
    steps: list[AgentStep]
    usage: Usage
    protocol: Literal["native", "text"]
    messages: list[Message] = field(default_factory=list, repr=False)

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def actions(self) -> list[AgentAction]:
        return [a for s in self.steps for a in s.actions]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for flow state, checkpoints and logs); messages are left out."""
        steps = [asdict(s) for s in self.steps]
        return {
            "answer": self.answer,
            "status": self.status,
            "protocol": self.protocol,
            "usage": asdict(self.usage),
            "steps": steps,
        }

    def format_trace(self) -> str:
        """A readable transcript: thoughts, actions, observations and the outcome."""
        lines = []
        for s in self.steps:
            lines.append(f"[{s.index}] Thought: {s.thought}" if s.thought else f"[{s.index}]")
            for a in s.actions:
                lines.append(f"    Action: {a.tool} {a.arguments}")
                lines.append(f"    Observation: {a.observation}")
            if s.error:
                lines.append(f"    Error: {s.error}")
            if s.final_answer is not None:
                lines.append(f"    Final Answer: {s.final_answer}")
        lines.append(f"status: {self.status}, tokens: {self.usage.total_tokens}, turns: {len(self.steps)}")
        return "\n".join(lines)


class ReActAgent:
    """Answer a question with ``llm`` and ``tools`` in a Thought → Action → Observation loop.

    ``max_iterations`` bounds the LLM turns; ``token_budget`` the total tokens (prompt + completion, as the
    LLM reports them, else estimated), and each turn's ``max_tokens`` never exceeds what is left.
    ``protocol``: see the module docstring. ``examples`` replace the built-in worked examples (chat turns:
    user "Question: …", assistant "Thought/Action/Action Input", user "Observation: …", …); ``prefill``
    forces scratchpad mode on or off (default: on when the LLM has ``supports_prefill``). ``approve`` (True,
    or tool names) pauses the flow run before those tool calls for a human to approve, edit or reject them
    (see ragloom.agents.approval).
    """

    def __init__(
        self,
        llm: LLM,
        tools: Sequence[Tool],
        max_iterations: int = 6,
        token_budget: int | None = None,
        protocol: ProtocolName = "auto",
        max_tokens_per_step: int = 256,
        max_observation_chars: int = 2000,
        system: str | None = None,
        examples: Sequence[Message] | None = None,
        llm_options: Mapping[str, Any] | None = None,
        prefill: bool | None = None,
        approve: bool | Sequence[str] = False,
    ) -> None:
        if max_iterations < 1:
            raise ConfigError(f"ReActAgent: max_iterations must be >= 1, got {max_iterations}")
        if token_budget is not None and token_budget < 1:
            raise ConfigError(f"ReActAgent: token_budget must be >= 1 or None, got {token_budget}")
        if protocol not in ("auto", "native", "text"):
            raise ConfigError(f"ReActAgent: protocol must be 'auto', 'native' or 'text', got {protocol!r}")
        for param, value in (
            ("max_tokens_per_step", max_tokens_per_step),
            ("max_observation_chars", max_observation_chars),
        ):
            if value < 1:
                raise ConfigError(f"ReActAgent: {param} must be >= 1, got {value}")
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ConfigError(f"ReActAgent: tool names must be unique, got {names}")
        self.llm, self.tools = llm, list(tools)
        self.max_iterations, self.token_budget = max_iterations, token_budget
        self.protocol = protocol
        self.max_tokens_per_step, self.max_observation_chars = max_tokens_per_step, max_observation_chars
        self.system, self.examples = system, examples
        self.llm_options = dict(llm_options or {})
        # Where the backend can prefill the assistant's answer (LocalLLM), text mode keeps the whole ReAct
        # trail in the prefill (scratchpad mode, see react_text.build_scratchpad_prompt): small models follow
        # the format far better when they continue one transcript than across chat turns.
        self._prefill = bool(getattr(llm, "supports_prefill", False)) if prefill is None else prefill
        # tool calls that pause the flow run for a human (ragloom/agents/approval.py): True = every tool
        self.approve = approve if isinstance(approve, bool) else tuple(approve)

    @property
    def resolved_protocol(self) -> Literal["native", "text"]:
        if self.protocol == "auto":
            return "native" if getattr(self.llm, "supports_tools", False) else "text"
        return self.protocol

    def run(self, question: str) -> AgentResult:
        """Loop on ``question`` until a final answer, ``max_iterations`` turns, or the token budget."""
        mode = self.resolved_protocol
        transcript = self._start(question, mode)
        steps: list[AgentStep] = []
        used = Usage()
        status: Status = "max_iterations"
        for index in range(self.max_iterations):
            remaining = None if self.token_budget is None else self.token_budget - used.total_tokens
            if remaining is not None and remaining <= 0:
                status = "token_budget"
                break
            completion = self._complete(transcript, mode, remaining)
            used = used + _usage_of(completion, transcript.messages)
            step = self._handle(index, completion, mode, transcript)
            steps.append(step)
            if step.final_answer is not None:
                return AgentResult(step.final_answer, "finished", steps, used, mode, transcript.final())
        return AgentResult(None, status, steps, used, mode, transcript.final())

    def __call__(self, question: str) -> AgentResult:
        return self.run(question)

    # -- one turn -------------------------------------------------------------------------------------------

    def _start(self, question: str, mode: str) -> _Transcript:
        if mode == "native":
            return _Transcript(
                [Message("system", self.system or NATIVE_SYSTEM_PROMPT), Message("user", question)]
            )
        examples = default_examples(self.tools) if self.examples is None else list(self.examples)
        if self._prefill:
            return _Transcript(build_scratchpad_prompt(question, self.tools, examples, self.system), "")
        return _Transcript(build_messages(question, self.tools, examples, self.system))

    def _complete(self, transcript: _Transcript, mode: str, remaining: int | None) -> Completion:
        options: dict[str, Any] = {"max_tokens": self.max_tokens_per_step, **self.llm_options}
        if remaining is not None:
            options["max_tokens"] = max(1, min(int(options["max_tokens"]), remaining))
        if mode == "native":
            options["tools"] = [t.to_openai() for t in self.tools]
        else:
            options.setdefault("stop", TEXT_STOP)
            if transcript.scratchpad is not None:
                options["prefill"] = transcript.scratchpad + THOUGHT_PREFILL
        try:
            return self.llm.complete(transcript.messages, **options)
        except ToolCallParseError as e:  # malformed tool-call JSON from the server: tell the model, go on
            return Completion(text="", tool_calls=(ToolCall("invalid", e.tool, {"__error__": str(e)}),))

    def _handle(self, index: int, completion: Completion, mode: str, transcript: _Transcript) -> AgentStep:
        """Act on one completion and record it (and any observations) in ``transcript``."""
        if completion.tool_calls:
            step, replies = self._handle_tool_calls(index, completion)
            transcript.messages.extend(replies)
            return step
        if mode == "native":
            transcript.messages.append(Message("assistant", completion.text))
            if not completion.text.strip():  # e.g. cut by max_tokens: no answer yet, say so and go on
                error = "empty reply"
                transcript.messages.append(Message("user", EMPTY_REPLY_REMINDER))
                return AgentStep(index, "", error=error, raw=completion.text, usage=completion.usage)
            return AgentStep(
                index, "", final_answer=completion.text.strip(), raw=completion.text, usage=completion.usage
            )
        if transcript.scratchpad is not None:
            completion = replace(completion, text=THOUGHT_PREFILL + completion.text)
        step, said, observation = self._handle_text(index, completion)
        transcript.add(said, observation)
        return step

    def _handle_tool_calls(self, index: int, completion: Completion) -> tuple[AgentStep, list[Message]]:
        actions = []
        # Servers that send no call ids (Ollama) get ids made up here, in the replayed assistant turn too:
        # each tool message must answer a call id the assistant turn holds, or OpenAI servers reject it.
        calls = tuple(replace(c, id=c.id or f"call_{index}_{n}") for n, c in enumerate(completion.tool_calls))
        replies = [Message("assistant", completion.text, tool_calls=calls)]
        used = []  # the calls as run: a human may have edited their arguments
        for proposed in calls:
            call, call_id = proposed, proposed.id
            if "__error__" in call.arguments:
                ok, observation = False, f"Error: {call.arguments['__error__']}"
            else:
                arguments, ok, observation = self._approved_call(call.name, dict(call.arguments))
                call = replace(call, arguments=arguments)
            used.append(call)
            actions.append(AgentAction(call.name, dict(call.arguments), observation, ok, call_id))
            replies.append(Message("tool", observation, name=call.name or None, tool_call_id=call_id))
        replies[0] = Message("assistant", completion.text, tool_calls=tuple(used))
        step = AgentStep(
            index, completion.text.strip(), tuple(actions), raw=completion.text, usage=completion.usage
        )
        return step, replies

    def _handle_text(self, index: int, completion: Completion) -> tuple[AgentStep, str, str | None]:
        """(step, what the model said that we keep, the observation to show it next or None when done)."""
        parsed: ReActParse = parse_react(completion.text, self.tools)
        said = parsed.text or completion.text.strip()
        base = AgentStep(index, parsed.thought, raw=completion.text, usage=completion.usage)
        if parsed.final_answer and parsed.error is None:
            return replace(base, final_answer=parsed.final_answer), said, None
        if parsed.error is not None or parsed.tool is None or parsed.arguments is None:
            empty = parsed.final_answer == ""  # e.g. cut by max_tokens right after the marker
            error = parsed.error or ("the Final Answer is empty" if empty else "could not read the action")
            reminder = (
                f"Invalid format: {error}. Reply with 'Action: <tool name>' and "
                "'Action Input: <JSON object>', or with 'Final Answer: <answer>'."
            )
            return replace(base, error=error), said, reminder
        arguments, ok, observation = self._approved_call(parsed.tool, parsed.arguments)
        action = AgentAction(parsed.tool, arguments, observation, ok)
        return replace(base, actions=(action,)), said, observation

    def _approved_call(self, name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], bool, str]:
        """(arguments used, ok, observation): the call, after a human's decision when it needs approval."""
        if self.approve and needs_approval(self.approve, name):
            decision = ask(name, arguments)
            if not decision.run:
                return arguments, False, f"Rejected: {decision.message}"
            arguments = decision.arguments
        ok, observation = self._run_tool(name, arguments)
        return arguments, ok, observation

    def _run_tool(self, name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        # No mention fallback here: native calls carry a name field, not prose, and text-mode names were
        # already resolved by the parser.
        tool = match_tool(name, self.tools, fuzzy=False)
        if tool is None:
            names = ", ".join(t.name for t in self.tools)
            return False, f"Error: unknown tool {name!r}; available tools: {names}"
        return tool.observe(arguments, max_chars=self.max_observation_chars)

    # -- flow integration -----------------------------------------------------------------------------------

    def as_node(
        self, input_key: str = "question", output_key: str = "answer", trace_key: str | None = None
    ) -> Callable[[Any], dict[str, Any]]:
        """A flow node: reads the question from ``input_key``, writes the answer (``""`` when the run did not
        finish) to ``output_key`` and, when ``trace_key`` is given, :meth:`AgentResult.to_dict` there."""

        def react_agent(state: Any) -> dict[str, Any]:
            question = read_state(state, input_key, "ReActAgent.as_node")
            result = self.run(str(question))
            update: dict[str, Any] = {output_key: result.answer or ""}
            if trace_key:
                update[trace_key] = result.to_dict()
            return update

        return react_agent


@dataclass
class _Transcript:
    """The conversation so far: chat messages and, in scratchpad mode, the assistant's running ReAct text."""

    messages: list[Message]
    scratchpad: str | None = None  # None: chat mode (observations are user turns)

    def add(self, said: str, observation: str | None) -> None:
        if self.scratchpad is None:
            self.messages.append(Message("assistant", said))
            if observation is not None:
                self.messages.append(Message("user", f"Observation: {observation}"))
        else:
            self.scratchpad += said.strip() + "\n"
            if observation is not None:
                self.scratchpad += f"Observation: {observation}\n"

    def final(self) -> list[Message]:
        if self.scratchpad:
            return [*self.messages, Message("assistant", self.scratchpad.rstrip())]
        return list(self.messages)


def read_state(state: Any, key: str, owner: str) -> Any:
    """``state[key]`` for mappings, ``state.key`` for models; a missing key names the owner and the fix."""
    value = state.get(key, _MISSING) if isinstance(state, Mapping) else getattr(state, key, _MISSING)
    if value is _MISSING:
        raise FlowError(
            f"{owner}: the flow state has no key {key!r}; add it to the state or pass "
            "input_key=<the key holding the question>"
        )
    if value is None:  # an optional key left unset: asking the model about "None" would waste a run
        raise FlowError(
            f"{owner}: the flow state key {key!r} is None; set it to the question before this node runs or "
            "pass input_key=<the key holding the question>"
        )
    return value


_MISSING = object()


def _usage_of(completion: Completion, messages: Sequence[Message]) -> Usage:
    """The call's usage, or a 4-characters-per-token estimate when the backend reports none (for budgets)."""
    usage = completion.usage
    if usage.total_tokens > 0:
        return usage
    prompt = sum(len(m.content) for m in messages) // 4 + 1
    return Usage(prompt, len(completion.text) // 4 + 1, 0.0, 1)

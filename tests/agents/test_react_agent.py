"""The ReAct loop with a scripted FakeLLM: success paths, limits, errors fed back, and use in a real flow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from agent_fakes import CompleteOnlyFakeLLM
from pydantic import BaseModel

from ragloom.agents.react import ReActAgent
from ragloom.core import registry
from ragloom.core.errors import ConfigError, FlowError
from ragloom.core.protocols import LLM
from ragloom.core.types import Completion, Message, ToolCall, Usage
from ragloom.flows import END, START, Flow
from ragloom.llm.toolcalls import ToolCallParseError
from ragloom.tools import calculator, tool

ACTION = (
    'Thought: I will use the calculator.\nAction: calculator\nAction Input: {"expression": "(17 + 25) * 3"}'
)
FINAL = "Thought: I know the answer\nFinal Answer: 126"


class FakeLLM(CompleteOnlyFakeLLM):
    """Replays scripted responses (strings, Completions or exceptions) and records every call."""

    def __init__(
        self, responses: Sequence[str | Completion | Exception], supports_tools: bool = False
    ) -> None:
        self.responses = list(responses)
        self.supports_tools = supports_tools
        self.calls: list[tuple[list[Message], dict[str, Any]]] = []

    @property
    def model(self) -> str:
        return "fake"

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        self.calls.append((list(messages), options))
        if not self.responses:
            raise AssertionError("FakeLLM ran out of scripted responses")
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        if isinstance(item, str):
            return Completion(item, Usage(10, 5, 0.0, 1))
        return item


def test_fake_satisfies_the_llm_protocol() -> None:
    assert isinstance(FakeLLM([]), LLM)


def test_text_protocol_success_path() -> None:
    llm = FakeLLM([ACTION, FINAL])
    result = ReActAgent(llm, [calculator]).run("What is (17 + 25) * 3?")
    assert result.status == "finished" and result.finished
    assert result.answer == "126"
    assert result.protocol == "text"
    first, second = result.steps
    assert first.thought == "I will use the calculator."
    assert first.actions[0].tool == "calculator"
    assert first.actions[0].arguments == {"expression": "(17 + 25) * 3"}
    assert first.actions[0].observation == "126" and first.actions[0].ok
    assert second.final_answer == "126"
    assert result.usage == Usage(20, 10, 0.0, 2)
    # the model saw the tool list, a worked example, the question, then the observation
    messages, options = llm.calls[1]
    assert messages[0].role == "user" and "- calculator:" in messages[0].content
    assert messages[0].content.endswith("Question: What is 12 times 7?")  # instructions, then the example
    assert messages[-1] == Message("user", "Observation: 126")
    assert messages[-3] == Message("user", "Question: What is (17 + 25) * 3?")
    assert "Observation:" in options["stop"] and options["max_tokens"] == 256
    assert "tools" not in options
    assert "Final Answer: 126" in result.format_trace()


def test_scratchpad_mode_when_the_backend_can_prefill() -> None:
    """The ReAct trail grows in the assistant prefill; the chat itself stays one user message."""
    action = ACTION.removeprefix("Thought:") + "\nObservation: 1"
    llm = FakeLLM([action, " I know the answer\nFinal Answer: 126\n\nQuestion: What is 1 + 1?"])
    llm.supports_prefill = True  # type: ignore[attr-defined]
    result = ReActAgent(llm, [calculator], system="Be brief.").run("What is (17 + 25) * 3?")
    assert result.answer == "126" and result.steps[0].thought == "I will use the calculator."
    (first_messages, first), (second_messages, second) = llm.calls
    assert first["prefill"] == "Thought:"
    assert second["prefill"] == ACTION + "\nObservation: 126\nThought:"
    assert first_messages == second_messages
    assert [m.role for m in first_messages] == ["system", "user"]
    prompt = first_messages[1].content
    assert "Examples:" in prompt and prompt.endswith("Question: What is (17 + 25) * 3?")
    assert (
        "Observation: 84\nThought: I know the answer\nFinal Answer: 84\n\nQuestion: What is 100 - 58?"
        in prompt
    )
    assert result.messages[-1].content.endswith("Final Answer: 126")


def test_hallucinated_observation_is_not_trusted() -> None:
    llm = FakeLLM([ACTION + "\nObservation: 999\nFinal Answer: 999", FINAL])
    result = ReActAgent(llm, [calculator]).run("q")
    assert result.answer == "126"
    assert result.steps[0].actions[0].observation == "126"
    assert "999" not in llm.calls[1][0][-2].content  # the assistant turn we kept was cut before "Observation"


def test_stops_at_max_iterations() -> None:
    llm = FakeLLM([ACTION] * 3)
    result = ReActAgent(llm, [calculator], max_iterations=3).run("q")
    assert result.status == "max_iterations" and result.answer is None
    assert len(result.steps) == 3 and len(llm.calls) == 3
    assert not llm.responses


def test_stops_at_token_budget() -> None:
    step = Completion(ACTION, Usage(100, 20, 0.0, 1))
    llm = FakeLLM([step, step, step, step])
    result = ReActAgent(llm, [calculator], token_budget=250, max_iterations=10).run("q")
    assert result.status == "token_budget" and result.answer is None
    assert len(result.steps) == 3 and result.usage.total_tokens == 360
    assert [opts["max_tokens"] for _, opts in llm.calls] == [250, 130, 10]  # never more than what is left


def test_budget_estimated_when_backend_reports_no_usage() -> None:
    llm = FakeLLM([Completion(ACTION)] * 5)
    result = ReActAgent(llm, [calculator], token_budget=200, max_iterations=5).run("q")
    assert result.status == "token_budget" and result.usage.total_tokens >= 200


def test_format_errors_are_fed_back_and_the_model_recovers() -> None:
    llm = FakeLLM(["The answer is probably 126.", FINAL])
    result = ReActAgent(llm, [calculator]).run("q")
    assert result.answer == "126"
    assert result.steps[0].error == "no 'Action:' or 'Final Answer:' line found"
    reminder = llm.calls[1][0][-1]
    assert reminder.role == "user" and reminder.content.startswith("Observation: Invalid format")


def test_unknown_tool_and_tool_errors_become_observations() -> None:
    @tool
    def flaky(x: int) -> int:
        """Fails."""
        raise RuntimeError("disk on fire")

    llm = FakeLLM(
        [
            'Action: weather\nAction Input: {"city": "Paris"}',
            'Action: flaky\nAction Input: {"x": 1}',
            'Action: calculator\nAction Input: {"expression": "__import__(\'os\')"}',
            'Action: flaky\nAction Input: {"x": "one"}',
            "Final Answer: gave up",
        ]
    )
    result = ReActAgent(llm, [calculator, flaky], max_iterations=5).run("q")
    assert result.status == "finished" and result.answer == "gave up"
    unknown, crashed, refused, invalid = (s for s in result.steps[:4])
    assert unknown.error == "unknown tool 'weather'; use one of: calculator, flaky"
    assert crashed.actions[0].observation == "Error: tool 'flaky' failed: RuntimeError: disk on fire"
    assert not refused.actions[0].ok and "not allowed" in refused.actions[0].observation
    assert "invalid arguments" in invalid.actions[0].observation
    assert [m.content for m in llm.calls[2][0] if m.content.startswith("Observation: Error: tool 'flaky'")]


def test_native_protocol() -> None:
    call = ToolCall("call_1", "calculator", {"expression": "2 + 3"})
    llm = FakeLLM([Completion("", Usage(30, 5), (call,)), Completion("The answer is 5.", Usage(40, 6))], True)
    result = ReActAgent(llm, [calculator]).run("What is 2 + 3?")
    assert result.protocol == "native" and result.answer == "The answer is 5."
    assert result.steps[0].actions[0].observation == "5" and result.steps[0].actions[0].call_id == "call_1"
    messages, options = llm.calls[1]
    assert options["tools"] == [calculator.to_openai()] and "stop" not in options
    assert messages[-2].role == "assistant" and messages[-2].tool_calls == (call,)
    assert messages[-1] == Message("tool", "5", name="calculator", tool_call_id="call_1")


def test_native_parallel_calls_and_malformed_arguments() -> None:
    calls = (
        ToolCall("a", "calculator", {"expression": "1+1"}),
        ToolCall("b", "calculator", {"expression": "2*3"}),
    )
    bad = ToolCallParseError("tool call 'calculator': arguments are not valid JSON", "calculator", "{1+")
    llm = FakeLLM([Completion("", tool_calls=calls), bad, Completion("2 and 6")], supports_tools=True)
    result = ReActAgent(llm, [calculator]).run("q")
    assert [a.observation for a in result.steps[0].actions] == ["2", "6"]
    assert result.steps[1].actions[0].observation.startswith("Error: tool call 'calculator'")
    assert result.answer == "2 and 6"


def test_text_mode_still_honours_tool_calls() -> None:
    call = ToolCall("x", "calculator", {"expression": "6*7"})
    llm = FakeLLM([Completion("", tool_calls=(call,)), FINAL])
    result = ReActAgent(llm, [calculator], protocol="text").run("q")
    assert result.steps[0].actions[0].observation == "42" and result.finished


def test_protocol_choice() -> None:
    assert ReActAgent(FakeLLM([], supports_tools=True), [calculator]).resolved_protocol == "native"
    assert ReActAgent(FakeLLM([]), [calculator]).resolved_protocol == "text"
    assert (
        ReActAgent(FakeLLM([], supports_tools=True), [calculator], protocol="text").resolved_protocol
        == "text"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_iterations": 0}, "max_iterations"),
        ({"token_budget": 0}, "token_budget"),
        ({"protocol": "json"}, "protocol"),
        ({"tools": [calculator, calculator]}, "unique"),
        ({"max_tokens_per_step": 0}, "max_tokens_per_step must be >= 1, got 0"),
        ({"max_observation_chars": -1}, "max_observation_chars must be >= 1, got -1"),
    ],
)
def test_config_errors(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"tools": [calculator], **kwargs}
    with pytest.raises(ConfigError, match=message):
        ReActAgent(FakeLLM([]), **args)


class QA(BaseModel):
    question: str
    answer: str = ""
    agent_trace: dict[str, Any] = {}


def test_as_node_in_a_flow() -> None:
    agent = ReActAgent(FakeLLM([ACTION, FINAL]), [calculator])
    flow = Flow(QA, name="agent")
    flow.add_node("agent", agent.as_node("question", "answer", trace_key="agent_trace"))
    flow.add_edge(START, "agent")
    flow.add_edge("agent", END)
    result = flow.compile().invoke({"question": "What is (17 + 25) * 3?"})
    assert result.state.answer == "126"
    assert result.state.agent_trace["status"] == "finished"
    assert result.state.agent_trace["steps"][0]["actions"][0]["observation"] == "126"


def test_registered_component_uses_the_run_llm() -> None:
    node = registry.create("agents.react", {"tools": ["calculator"], "max_iterations": 2})
    flow = Flow(QA, name="agent")
    flow.add_node("agent", node)
    flow.add_edge(START, "agent")
    flow.add_edge("agent", END)
    llm = FakeLLM([ACTION, FINAL])
    result = flow.compile().invoke({"question": "q"}, context={"llm": llm})
    assert result.state.answer == "126" and len(llm.calls) == 2
    assert "agents.react" in registry.names()


def test_native_calls_without_ids_get_matching_ids_in_the_replayed_assistant_turn() -> None:
    """Servers such as Ollama send tool calls without ids; the ids we make up must match on both sides."""
    calls = (
        ToolCall("", "calculator", {"expression": "1+1"}),
        ToolCall("", "calculator", {"expression": "2*3"}),
    )
    llm = FakeLLM([Completion("", tool_calls=calls), Completion("2 and 6")], supports_tools=True)
    result = ReActAgent(llm, [calculator]).run("q")
    assert [a.call_id for a in result.steps[0].actions] == ["call_0_0", "call_0_1"]
    messages = llm.calls[1][0]
    assistant, *tool_replies = messages[-3:]
    assert (
        [c.id for c in assistant.tool_calls]
        == [m.tool_call_id for m in tool_replies]
        == ["call_0_0", "call_0_1"]
    )


def test_native_empty_reply_is_not_a_final_answer() -> None:
    """An empty completion (e.g. cut by max_tokens) is fed back, not reported as a finished empty answer."""
    empty = Completion("", Usage(10, 0, 0.0, 1), finish_reason="length")
    llm = FakeLLM([empty, Completion("5", Usage(10, 1, 0.0, 1))], supports_tools=True)
    result = ReActAgent(llm, [calculator]).run("q")
    assert result.answer == "5" and len(result.steps) == 2
    assert result.steps[0].final_answer is None and "empty" in (result.steps[0].error or "")
    assert llm.calls[1][0][-1].role == "user" and "empty" in llm.calls[1][0][-1].content


def test_text_empty_final_answer_is_fed_back() -> None:
    llm = FakeLLM(["Thought: I know it\nFinal Answer:", FINAL])
    result = ReActAgent(llm, [calculator]).run("q")
    assert result.answer == "126" and result.steps[0].error == "the Final Answer is empty"
    assert llm.calls[1][0][-1].content.startswith("Observation: Invalid format: the Final Answer is empty")


def test_as_node_refuses_a_missing_question_instead_of_asking_about_none() -> None:
    llm = FakeLLM([FINAL])
    node = ReActAgent(llm, [calculator]).as_node()
    with pytest.raises(FlowError, match=r"'question'.*None"):
        node({"question": None})
    assert not llm.calls


def test_a_tool_result_that_cannot_be_shown_becomes_an_error_observation() -> None:
    class Opaque:
        def __str__(self) -> str:
            raise ValueError("no text form")

    @tool
    def opaque() -> object:
        """Returns something without a text form."""
        return Opaque()

    llm = FakeLLM(["Action: opaque\nAction Input: {}", FINAL])
    result = ReActAgent(llm, [opaque]).run("q")
    action = result.steps[0].actions[0]
    assert not action.ok and "opaque" in action.observation and "no text form" in action.observation
    assert result.answer == "126"


@tool
def bail_out(code: int) -> int:
    """Calls sys.exit (e.g. a CLI script wrapped as a tool)."""
    raise SystemExit(code)


def test_a_tool_calling_sys_exit_is_an_error_observation_not_the_end_of_the_run() -> None:
    """Only Exception used to be caught: SystemExit ended the run (and could end a serve worker)."""
    llm = FakeLLM(['Action: bail_out\nAction Input: {"code": 2}', FINAL])
    result = ReActAgent(llm, [calculator, bail_out]).run("q")
    action = result.steps[0].actions[0]
    assert not action.ok and action.observation == "Error: tool 'bail_out' failed: it called sys.exit(2)"
    assert result.answer == "126" and llm.calls[1][0][-1].content == f"Observation: {action.observation}"
    native = FakeLLM([Completion("", tool_calls=(ToolCall("c", "bail_out", {"code": 1}),)), "done"], True)
    result = ReActAgent(native, [bail_out]).run("q")
    assert not result.actions[0].ok and "sys.exit(1)" in result.actions[0].observation
    assert result.answer == "done"


def test_ctrl_c_during_a_tool_stops_the_run() -> None:
    @tool
    def slow() -> int:
        """Interrupted by the user."""
        raise KeyboardInterrupt

    llm = FakeLLM(["Action: slow\nAction Input: {}", FINAL])
    with pytest.raises(KeyboardInterrupt):
        ReActAgent(llm, [slow]).run("q")
    assert len(llm.calls) == 1


def test_only_the_first_of_several_actions_is_kept_in_the_transcript() -> None:
    """The model wrote two actions; only the first ran, so the kept assistant text must show only it."""
    second = '\nThought: now the other\nAction: calculator\nAction Input: {"expression": "1 + 1"}'
    llm = FakeLLM([ACTION + second, FINAL])
    result = ReActAgent(llm, [calculator]).run("q")
    assert [a.observation for a in result.actions] == ["126"]
    assistant, observation = llm.calls[1][0][-2:]
    assert assistant == Message("assistant", ACTION) and observation.content == "Observation: 126"


def test_scratchpad_keeps_only_the_first_action() -> None:
    first = ACTION.removeprefix("Thought:")
    llm = FakeLLM([first + '\nAction: calculator\nAction Input: {"expression": "2"}\nFinal Answer: 2', FINAL])
    llm.supports_prefill = True  # type: ignore[attr-defined]
    ReActAgent(llm, [calculator]).run("q")
    assert llm.calls[1][1]["prefill"] == ACTION + "\nObservation: 126\nThought:"


def test_a_tool_named_only_in_negated_prose_is_not_run() -> None:
    llm = FakeLLM(['Action: I will not use the calculator\nAction Input: {"expression": "6 * 7"}', FINAL])
    result = ReActAgent(llm, [calculator]).run("q")
    assert result.actions == [] and "unknown tool" in (result.steps[0].error or "")
    assert result.answer == "126"


def test_native_tool_names_are_matched_by_name_not_by_mention() -> None:
    calls = (
        ToolCall("a", "Calculator", {"expression": "1+1"}),
        ToolCall("b", "not_calculator", {"expression": "2*3"}),
    )
    llm = FakeLLM([Completion("", tool_calls=calls), Completion("2")], supports_tools=True)
    result = ReActAgent(llm, [calculator]).run("q")
    assert [a.ok for a in result.actions] == [True, False]
    assert result.actions[1].observation.startswith("Error: unknown tool 'not_calculator'")

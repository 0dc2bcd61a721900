"""The ReAct text-protocol parser: what small models really write, and what it makes of it."""

from __future__ import annotations

import pytest

from ragloom.agents.react_text import match_tool, parse_action_input, parse_react
from ragloom.tools import calculator, python_tool, tool


@tool
def lookup(query: str, k: int = 3) -> str:
    """Look something up."""
    return query * k


TOOLS = [calculator, lookup]


@pytest.mark.parametrize(
    "text",
    [
        'Thought: multiply\nAction: calculator\nAction Input: {"expression": "12 * 7"}',
        "Thought: multiply\nAction: calculator\nAction Input: {'expression': '12 * 7'}",
        'Thought: x\nAction: calculator\nAction Input: ```json\n{"expression": "12 * 7"}\n```',
        'Action: calculator\nAction Input: {"expression": "12 * 7"} and then I will read the result.',
        'Thought: x\nAction: `calculator`\nAction Input: {"expression": "12 * 7"}\n'
        "Observation: 84\nFinal Answer: 84",
        '**Thought:** x\n**Action:** Calculator\n**Action Input:** {"expression": "12 * 7"}',
        "Thought: x\nAction: calculator\nAction Input: 12 * 7",
        'Thought: x\nAction: calculator\nAction Input: "12 * 7"',
        "Action: calculator(12 * 7)",
        'Action: [calculator]\nAction Input: {"input": "12 * 7"}',
        'Action 1: calculator\nAction Input 1: {"expression": "12 * 7",}',
        'Action: calculator\nAction Input: {"expression": "12 * 7"',
        'Action: use the calculator tool\nAction Input: {"expression": "12 * 7"}',
    ],
)
def test_actions_are_recovered(text: str) -> None:
    parsed = parse_react(text, TOOLS)
    assert parsed.error is None, parsed.error
    assert parsed.tool == "calculator"
    assert parsed.arguments == {"expression": "12 * 7"}
    assert parsed.final_answer is None
    assert calculator.invoke(parsed.arguments) == "84"


def test_hallucinated_observation_is_cut() -> None:
    text = (
        'Thought: t\nAction: calculator\nAction Input: {"expression": "1+1"}\nObservation: 3\nFinal Answer: 3'
    )
    parsed = parse_react(text, TOOLS)
    assert parsed.tool == "calculator" and parsed.final_answer is None
    assert "Observation" not in parsed.text and parsed.text.endswith('{"expression": "1+1"}')


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Thought: I know the answer\nFinal Answer: 84", "84"),
        ("final answer: Paris is the capital.\n", "Paris is the capital."),
        ("Thought: done\n**Final Answer:** 42", "42"),
        ("Final Answer: first line\nsecond line", "first line\nsecond line"),
    ],
)
def test_final_answers(text: str, answer: str) -> None:
    parsed = parse_react(text, TOOLS)
    assert parsed.error is None and parsed.final_answer == answer and parsed.tool is None


def test_final_answer_before_action_wins_and_vice_versa() -> None:
    assert parse_react("Final Answer: 5\nAction: calculator\nAction Input: {}", TOOLS).final_answer == "5"
    first_action = parse_react(
        'Action: calculator\nAction Input: {"expression": "2"}\nFinal Answer: 5', TOOLS
    )
    assert first_action.tool == "calculator" and first_action.final_answer is None


def test_thought_is_kept() -> None:
    parsed = parse_react(
        'Thought: I should add\nthese numbers.\nAction: calculator\nAction Input: {"expression": "1"}', TOOLS
    )
    assert parsed.thought == "I should add\nthese numbers."


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("The answer is 84.", "no 'Action:' or 'Final Answer:' line found"),
        ("", "no 'Action:' or 'Final Answer:' line found"),
        (
            'Action: weather\nAction Input: {"city": "Paris"}',
            "unknown tool 'weather'; use one of: calculator, lookup",
        ),
        ("Thought: hmm, let me think", "no 'Action:' or 'Final Answer:' line found"),
    ],
)
def test_unusable_turns_say_why(text: str, error: str) -> None:
    parsed = parse_react(text, TOOLS)
    assert parsed.error is not None and error in parsed.error


def test_bare_input_for_a_two_argument_tool_is_an_error() -> None:
    @tool
    def pair(a: int, b: int) -> int:
        """Add a pair."""
        return a + b

    parsed = parse_react("Action: pair\nAction Input: [1, 2]", [pair])
    assert (
        parsed.error is not None
        and 'must be a JSON object like {"a": <integer>, "b": <integer>}' in parsed.error
    )


def test_multi_argument_tool_and_single_required() -> None:
    parsed = parse_react("Action: lookup\nAction Input: {'query': 'cats', 'k': 2}", TOOLS)
    assert parsed.arguments == {"query": "cats", "k": 2}
    # one required argument: a bare value fills it
    assert parse_action_input("dogs", lookup) == ({"query": "dogs"}, None)


def test_match_tool() -> None:
    tools = [calculator, python_tool()]
    assert match_tool("Python", tools) is tools[1]
    assert match_tool(" calculator ", tools) is calculator
    assert match_tool("calculator or python", tools) is None  # ambiguous
    assert match_tool("search", tools) is None


def test_nested_json_and_braces_in_strings() -> None:
    args, error = parse_action_input('{"query": "a {b} c", "k": 1} trailing', lookup)
    assert error is None and args == {"query": "a {b} c", "k": 1}
    args, error = parse_action_input('{"query": "say \\"hi\\"", "k": 1}', lookup)
    assert error is None and args == {"query": 'say "hi"', "k": 1}


def test_operation_name_is_routed_to_the_tool_whose_schema_fits() -> None:
    """SmolLM2 writes ``Action: add`` with calculator arguments; only one tool accepts them."""
    parsed = parse_react('Thought: add\nAction: add\nAction Input: {"expression": "345 + 678"}', TOOLS)
    assert parsed.tool == "calculator" and parsed.arguments == {"expression": "345 + 678"}
    routed = parse_react('Action: add\nAction Input: {"query": "x"}', [lookup, python_tool(name="other")])
    assert routed.error is None and routed.tool == "lookup"
    nothing = parse_react('Action: add\nAction Input: {"city": "x"}', TOOLS)
    assert nothing.error is not None and "unknown tool 'add'" in nothing.error


def test_unquoted_value_in_a_one_key_object() -> None:
    assert parse_action_input('{"expression": 345 + 678}', calculator) == ({"expression": "345 + 678"}, None)
    assert parse_action_input("{expression: 2 * (3 + 4)}", calculator) == (
        {"expression": "2 * (3 + 4)"},
        None,
    )


def test_question_echo_is_skipped_and_a_new_question_ends_the_turn() -> None:
    echoed = parse_react(
        'Question: What is 2 + 2?\nThought: add\nAction: calculator\nAction Input: {"expression": "2+2"}',
        TOOLS,
    )
    assert echoed.tool == "calculator" and echoed.thought == "add"
    ran_on = parse_react(
        "Thought: I know the answer\nFinal Answer: 4\n\nQuestion: What is 1 + 1?\nFinal Answer: 2", TOOLS
    )
    assert ran_on.final_answer == "4" and "1 + 1" not in ran_on.text


@pytest.mark.parametrize(
    "name",
    [
        "calculator",
        "CALCULATOR",
        "`calculator`",
        '"calculator"',
        "'Calculator'.",
        "calculator:",
        "**calculator**,",
    ],
)
def test_match_tool_takes_the_name_with_quotes_case_and_punctuation(name: str) -> None:
    assert match_tool(name, TOOLS) is calculator
    assert match_tool(name, TOOLS, fuzzy=False) is calculator


@pytest.mark.parametrize(
    "name",
    [
        "I will not use the calculator",
        "I don't need the calculator",
        "no calculator needed",
        "without the calculator",
        "instead of the calculator, think",
        "never the calculator",
    ],
)
def test_a_negated_mention_picks_no_tool(name: str) -> None:
    """The mention fallback (for small models' ``Action: use the calculator tool``) must not read a refusal
    as a call; neither may the schema fallback route the arguments to the tool the line refuses."""
    assert match_tool(name, TOOLS) is None
    parsed = parse_react(f'Action: {name}\nAction Input: {{"expression": "6 * 7"}}', TOOLS)
    assert parsed.tool is None and parsed.error is not None and "unknown tool" in parsed.error


def test_the_mention_fallback_is_only_a_fallback() -> None:
    tools = [calculator, lookup]
    assert match_tool("use the calculator tool", tools) is calculator  # small models' prose, kept
    assert match_tool("use the calculator tool", tools, fuzzy=False) is None
    assert match_tool("the calculator, not lookup", tools) is calculator  # lookup is the negated one
    assert match_tool("not the calculator but lookup", tools) is lookup


def test_several_actions_keep_only_the_first_in_the_text() -> None:
    text = (
        'Thought: a\nAction: calculator\nAction Input: {"expression": "1+1"}\n'
        'Thought: b\nAction: lookup\nAction Input: {"query": "x"}\nFinal Answer: 2'
    )
    parsed = parse_react(text, TOOLS)
    assert parsed.tool == "calculator" and parsed.arguments == {"expression": "1+1"}
    assert parsed.text == 'Thought: a\nAction: calculator\nAction Input: {"expression": "1+1"}'
    no_input = parse_react("Action: calculator(2 + 2)\nAction: lookup\nAction Input: {'query': 'x'}", TOOLS)
    assert no_input.tool == "calculator" and no_input.arguments == {"expression": "2 + 2"}
    assert no_input.text == "Action: calculator(2 + 2)"

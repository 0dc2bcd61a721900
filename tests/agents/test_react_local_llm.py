"""The ReAct agent with the REAL embedded LLM (SmolLM2-135M, greedy) on arithmetic through the calculator.

What SmolLM2-135M really does (measured, scratchpad mode): on one-operation questions it calls the
calculator with a well-formed JSON argument and then copies the observation into ``Final Answer``; on
two-operation questions it computes only the first step. The tests assert the one-step success path and,
for any question, that the loop terminates with well-formed tool calls.
"""

from __future__ import annotations

import pytest

from ragloom.agents.react import ReActAgent
from ragloom.tools import calculator, safe_eval

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm():  # type: ignore[no-untyped-def]
    from ragloom.llm import default_llm

    return default_llm().load()


def test_local_llm_multiplies_with_the_calculator(llm) -> None:  # type: ignore[no-untyped-def]
    agent = ReActAgent(llm, [calculator], max_iterations=3, max_tokens_per_step=48)
    result = agent.run("What is 17 times 23?")
    assert result.protocol == "text"
    assert result.status == "finished", result.format_trace()
    first = result.actions[0]
    assert first.tool == "calculator" and first.ok
    assert safe_eval(first.arguments["expression"]) == 391
    assert first.observation == "391"
    assert "391" in (result.answer or "")
    assert result.usage.total_tokens > 0 and len(result.steps) <= 3


def test_local_llm_loop_terminates_with_well_formed_calls(llm) -> None:  # type: ignore[no-untyped-def]
    agent = ReActAgent(llm, [calculator], max_iterations=2, max_tokens_per_step=48, token_budget=2000)
    result = agent.run("What is (12 + 8) * 5?")
    assert result.status in ("finished", "max_iterations", "token_budget")
    assert 1 <= len(result.steps) <= 2
    for action in result.actions:
        calculator.validate(action.arguments)  # every call the model made fits the tool's schema
        assert action.ok, action.observation

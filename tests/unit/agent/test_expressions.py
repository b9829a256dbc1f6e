"""Playbook conditions: a small safe language that evaluates data and refuses everything else."""

from __future__ import annotations

import pytest

from naksha.domain.expressions import ExpressionError, compile_expression, evaluate

STATE = {
    "state": {"replicas": 4, "anomalous": True, "latency": {"p99": 0.8}, "pods": ["a", "b"]},
    "limit": 10,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state.anomalous and state.replicas < 10", True),
        ("state.replicas * 2 + 1", 9),
        ("state.latency.p99 > 0.5", True),
        ("state['latency']['p99'] <= 0.5", False),
        ("'a' in state.pods and len(state.pods) == 2", True),
        ("min(state.replicas + 2, limit)", 6),
        ("state.missing == null", True),
        ("not state.anomalous or state.replicas >= limit", False),
        ("'up' if state.replicas > 3 else 'down'", "up"),
        ("2 ** 10", 1024),
        ("1 < state.replicas < 5", True),
    ],
)
def test_data_expressions_evaluate(text, expected):
    assert evaluate(text, STATE) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("__import__('os').system('id')", "only these functions can be called"),
        ("__builtins__", "names starting with '_' are not allowed"),
        ("state.__class__", "'.__class__' is not allowed"),
        ("().__class__.__bases__[0].__subclasses__()", "only these functions can be called"),
        ("state.pods.__len__", "'.__len__' is not allowed"),
        ("open('/etc/passwd').read()", "only these functions can be called"),
        ("[x for x in state.pods]", "ListComp is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("state.pods[0:1]", "slices are not allowed"),
        ("state.replicas is None", "'is' comparisons are not allowed"),
        ("max(state.pods, key=len)", "keyword arguments are not allowed"),
        ("{1: 2}", "Dict is not allowed"),
    ],
)
def test_malicious_or_unsupported_expressions_are_refused_when_compiled(text, why):
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert why in str(caught.value)


@pytest.mark.parametrize("text", ["10 ** 100000", "9 ** 9 ** 9", "'x' * 10 ** 8", "[0] * 100000000"])
def test_huge_results_are_refused_while_evaluating(text):
    with pytest.raises(ExpressionError, match="limited"):
        evaluate(text, {})


def test_a_dotted_name_is_a_key_lookup_never_a_python_attribute():
    assert evaluate("text.upper", {"text": {"upper": "value"}}) == "value"
    with pytest.raises(ExpressionError, match="cannot look up"):
        evaluate("text.upper", {"text": "a string"})


def test_syntax_errors_name_the_column():
    with pytest.raises(ExpressionError, match="column"):
        compile_expression("state.replicas <")


def test_runtime_errors_are_expression_errors():
    with pytest.raises(ExpressionError, match="ZeroDivisionError"):
        evaluate("1 / 0", {})
    with pytest.raises(ExpressionError, match="unknown name"):
        evaluate("nothing + 1", {})

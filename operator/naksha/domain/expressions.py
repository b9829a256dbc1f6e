"""A small, safe expression language for playbook conditions (never ``eval``).

Expressions are parsed with Python's ``ast`` and only a whitelist of node types is accepted:
literals, names, dotted lookups and ``[...]`` indexing into the run's *data* (dicts and lists;
a dot is a key lookup, never a Python attribute), comparisons (including ``in``), ``and``/``or``/
``not``, arithmetic (``+ - * / // %`` and ``**`` with a bounded exponent), conditional
expressions, and calls of a few pure functions (``min max abs len round``). Anything else —
imports, attribute access on objects, dunder names, lambdas, comprehensions, calls of anything
else — is refused when the playbook is loaded, with the position and the reason. Evaluation is
bounded too: string and collection sizes, exponents and recursion depth.

    compile_expression("state.replicas < 10 and state.anomalous")(
        {"state": {"replicas": 4, "anomalous": True}}
    )  # -> True
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from naksha.errors import NakshaError

MAX_LENGTH = 1_000
MAX_EXPONENT = 64
MAX_SIZE = 10_000  # characters of a string or items of a collection produced by an operation
MAX_DEPTH = 32

Evaluator = Callable[[Mapping[str, Any]], Any]


class ExpressionError(NakshaError, ValueError):
    """The expression is not allowed or could not be evaluated; the message says why."""


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs, "len": len, "round": round}
_CONSTANTS = {"true": True, "false": False, "null": None, "none": None}


def compile_expression(text: str) -> Evaluator:
    """Check ``text`` and return a function of the variables; raises ExpressionError."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("an expression must be a non-empty string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"syntax error at column {error.offset}: {error.msg}") from None
    _check(tree.body, 0)
    body = tree.body

    def evaluate(variables: Mapping[str, Any]) -> Any:
        try:
            return _eval(body, variables, 0)
        except ExpressionError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError, KeyError, IndexError) as error:
            raise ExpressionError(f"{text!r}: {type(error).__name__}: {error}") from None

    return evaluate


def evaluate(text: str, variables: Mapping[str, Any]) -> Any:
    return compile_expression(text)(variables)


def _refuse(node: ast.AST, why: str) -> ExpressionError:
    return ExpressionError(f"column {getattr(node, 'col_offset', 0) + 1}: {why}")


def _check(node: ast.AST, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _refuse(node, "the expression is nested too deeply")
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, bool | int | float | str | type(None)):
            raise _refuse(node, f"{type(node.value).__name__} literals are not allowed")
        return
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise _refuse(node, f"names starting with '_' are not allowed: {node.id}")
        return
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            raise _refuse(node, f"'.{node.attr}' is not allowed: only data keys can be looked up")
        _check(node.value, depth + 1)
        return
    if isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Slice):
            raise _refuse(node, "slices are not allowed")
        _check(node.value, depth + 1)
        _check(node.slice, depth + 1)
        return
    if isinstance(node, ast.BoolOp | ast.Compare):
        children = node.values if isinstance(node, ast.BoolOp) else [node.left, *node.comparators]
        if isinstance(node, ast.Compare) and not all(type(op) in _COMPARE for op in node.ops):
            raise _refuse(node, "'is' comparisons are not allowed; use == or !=")
        for child in children:
            _check(child, depth + 1)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise _refuse(node, f"the operator {type(node.op).__name__} is not allowed")
        _check(node.left, depth + 1)
        _check(node.right, depth + 1)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.Not | ast.USub | ast.UAdd):
            raise _refuse(node, f"the operator {type(node.op).__name__} is not allowed")
        _check(node.operand, depth + 1)
        return
    if isinstance(node, ast.IfExp):
        for child in (node.test, node.body, node.orelse):
            _check(child, depth + 1)
        return
    if isinstance(node, ast.List | ast.Tuple):
        for child in node.elts:
            _check(child, depth + 1)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise _refuse(node, f"only these functions can be called: {', '.join(sorted(_FUNCTIONS))}")
        if node.keywords:
            raise _refuse(node, "keyword arguments are not allowed")
        for child in node.args:
            _check(child, depth + 1)
        return
    raise _refuse(node, f"{type(node).__name__} is not allowed in an expression")


def _eval(node: ast.AST, variables: Mapping[str, Any], depth: int) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in variables:
            return variables[node.id]
        if node.id.lower() in _CONSTANTS:
            return _CONSTANTS[node.id.lower()]
        raise ExpressionError(f"unknown name {node.id!r}")
    if isinstance(node, ast.Attribute):
        return _lookup(_eval(node.value, variables, depth + 1), node.attr)
    if isinstance(node, ast.Subscript):
        return _lookup(_eval(node.value, variables, depth + 1), _eval(node.slice, variables, depth + 1))
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for child in node.values:
                result = _eval(child, variables, depth + 1)
                if not result:
                    return result
            return result
        result = False
        for child in node.values:
            result = _eval(child, variables, depth + 1)
            if result:
                return result
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, variables, depth + 1)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, variables, depth + 1)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, variables, depth + 1), _eval(node.right, variables, depth + 1)
        return _binary(node, left, right)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, variables, depth + 1)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.IfExp):
        test = _eval(node.test, variables, depth + 1)
        return _eval(node.body if test else node.orelse, variables, depth + 1)
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(child, variables, depth + 1) for child in node.elts]
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](*(_eval(arg, variables, depth + 1) for arg in node.args))
    raise _refuse(node, f"{type(node).__name__} is not allowed in an expression")


def _lookup(container: Any, key: Any) -> Any:
    """Keys of dicts and positions of lists only: never a Python attribute."""
    if isinstance(container, Mapping):
        return container.get(key)
    if isinstance(container, list | tuple) and isinstance(key, int) and not isinstance(key, bool):
        return container[key] if -len(container) <= key < len(container) else None
    if container is None:
        return None
    raise ExpressionError(f"cannot look up {key!r} in a {type(container).__name__}")


def _binary(node: ast.BinOp, left: Any, right: Any) -> Any:
    if isinstance(node.op, ast.Pow):
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right)):
            raise ExpressionError("** takes numbers")
        if abs(right) > MAX_EXPONENT or (abs(left) > 1e6 and right > 4):
            raise ExpressionError(f"exponents are limited to {MAX_EXPONENT} (and small bases)")
    if isinstance(node.op, ast.Mult):
        # "x" * 10**9 or [0] * 10**9 would exhaust memory.
        for sequence, count in ((left, right), (right, left)):
            if (
                isinstance(sequence, str | list)
                and isinstance(count, int)
                and len(sequence) * count > MAX_SIZE
            ):
                raise ExpressionError(f"results are limited to {MAX_SIZE} items")
    result = _BINARY[type(node.op)](left, right)
    if isinstance(result, str | list) and len(result) > MAX_SIZE:
        raise ExpressionError(f"results are limited to {MAX_SIZE} items")
    if isinstance(result, float) and not math.isfinite(result):
        raise ExpressionError("the result is not a finite number")
    return result

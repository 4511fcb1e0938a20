"""Computed columns: a small arithmetic language over a row's cells, parsed without ``eval``.

Grammar (a subset of Python expression syntax, parsed with :mod:`ast` and checked node by node)::

    expr   := expr ("+" | "-" | "*" | "/") expr | "-" expr | "(" expr ")" | number | column | call
    column := an identifier (``loan_amount``, ``合同金额``) or col("any header text")
    call   := min(expr, expr, ...) | max(expr, expr, ...) | round(expr, places)

Numbers are decimal literals (``12``, ``0.5``); no exponents, strings, attributes, subscripts,
comparisons, names other than columns, or functions other than the four above. Values are
:class:`decimal.Decimal`, computed exactly for ``+ - *`` and to 34 significant digits for ``/``; ``round``
rounds half to even (banker's rounding) to a whole number of ``places`` (0 to 12). A column whose cell is
missing makes the whole expression missing (``None``): the mapping decides whether that is allowed.
"""

from __future__ import annotations

import ast
import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

_CONTEXT = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])
_FUNCTIONS = frozenset({"min", "max", "round", "col"})
_MAX_LENGTH = 1000
_MAX_NODES = 200

Value = Decimal | None
Evaluator = Callable[[Mapping[str, Value]], Value]


class ExpressionError(ValueError):
    """An expression is not in the language; the message says which construct is not allowed."""


class EvaluationError(ValueError):
    """An expression cannot be evaluated on a row (division by zero); the message says why."""


@dataclass(frozen=True)
class Expression:
    """A parsed computed-column expression: its text, the columns it reads and its evaluator."""

    text: str
    columns: tuple[str, ...]
    evaluate: Evaluator


def parse_expression(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression`; raises :class:`ExpressionError` naming the problem."""
    if len(text) > _MAX_LENGTH:
        raise ExpressionError(f"longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"not a valid expression ({e.msg})") from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise ExpressionError(f"more than {_MAX_NODES} parts")
    columns: list[str] = []
    fn = _compile(tree.body, text, columns)
    return Expression(text, tuple(dict.fromkeys(columns)), fn)


def _compile(node: ast.expr, text: str, columns: list[str]) -> Evaluator:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError("only numbers, columns, + - * /, min, max and round are allowed")
        literal = ast.get_source_segment(text.strip(), node) or ""
        if not literal.replace(".", "", 1).isdigit():
            raise ExpressionError(f"number {literal!r} must be written as plain digits (no exponent)")
        const = Decimal(literal)
        return lambda _row: const
    if isinstance(node, ast.Name):
        name = node.id
        columns.append(name)
        return lambda row: row[name]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _compile(node.operand, text, columns)

        def negate(row: Mapping[str, Value]) -> Value:
            v = inner(row)
            return None if v is None else -v

        return negate
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        left, right = _compile(node.left, text, columns), _compile(node.right, text, columns)
        op = node.op

        def binary(row: Mapping[str, Value]) -> Value:
            a, b = left(row), right(row)
            if a is None or b is None:
                return None
            if isinstance(op, ast.Add):
                return a + b  # exact: Decimal addition of finite operands is exact at our sizes
            if isinstance(op, ast.Sub):
                return a - b
            if isinstance(op, ast.Mult):
                return a * b
            if b == 0:
                raise EvaluationError("division by zero")
            return _CONTEXT.divide(a, b)

        return binary
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.keywords:
            raise ExpressionError(f"{node.func.id}() takes no keyword arguments")
        return _call(node.func.id, node.args, text, columns)
    what = type(node).__name__
    raise ExpressionError(f"{what} is not allowed (only numbers, columns, + - * /, min, max, round, col)")


def _call(name: str, args: list[ast.expr], text: str, columns: list[str]) -> Evaluator:
    if name == "col":
        if len(args) != 1 or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
            raise ExpressionError('col() takes one quoted column name: col("Loan Amount")')
        column = args[0].value
        columns.append(column)
        return lambda row: row[column]
    if name == "round":
        if len(args) != 2:
            raise ExpressionError("round() takes two arguments: round(value, places)")
        places_node = args[1]
        if not (
            isinstance(places_node, ast.Constant)
            and type(places_node.value) is int
            and 0 <= places_node.value <= 12
        ):
            raise ExpressionError("round()'s places must be a whole number from 0 to 12")
        inner = _compile(args[0], text, columns)
        quantum = Decimal(1).scaleb(-places_node.value)

        def rounded(row: Mapping[str, Value]) -> Value:
            v = inner(row)
            return None if v is None else v.quantize(quantum, rounding=decimal.ROUND_HALF_EVEN)

        return rounded
    if not args:
        raise ExpressionError(f"{name}() needs at least one argument")
    parts = [_compile(a, text, columns) for a in args]
    pick = min if name == "min" else max

    def extreme(row: Mapping[str, Value]) -> Value:
        values = [p(row) for p in parts]
        if any(v is None for v in values):
            return None
        return pick(v for v in values if v is not None)

    return extreme

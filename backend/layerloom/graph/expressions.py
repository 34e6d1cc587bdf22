"""Lambda's expression language: a small, typed, documented grammar over the Lambda's inputs.

    text --tokens()--> tokens --parse()--> AST --infer()--> output shape --emit()--> fx calls

Nothing here evaluates user text: the tokenizer knows a handful of token kinds, the parser builds
frozen AST nodes from them, and emission maps each node to a call from the ``FUNCTIONS`` table.
Length and nesting are bounded before anything recursive can run away, and every refusal is an
``ExpressionError`` carrying the 1-based column where the problem starts.

Grammar (docs/graph-format.md, "Lambda expressions"):

    expression := term (('+' | '-') term)*
    term       := unary (('*' | '/') unary)*
    unary      := '-' unary | power
    power      := primary ['**' unary]            # right-associative; -x**2 is -(x**2), as in Python
    primary    := NUMBER | NAME | NAME '(' arguments ')' | '(' expression ')'
    arguments  := expression (',' expression)* (',' keyword)*
    keyword    := 'axis' '=' axes | 'keepdims' '=' BOOLEAN
    axes       := INTEGER | '(' INTEGER (',' INTEGER)* [','] ')'   # each INTEGER may have a leading '-'

Shapes are per sample (no batch axis) and broadcast by NumPy's rules; a number broadcasts with
anything. ``axis`` counts the batch axis as 0, as Keras does, and may not name it.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from .lazy import F, torch

MAX_LENGTH = 1_000  # characters
MAX_DEPTH = 40  # nesting of parentheses, calls and operators
MAX_INPUTS = 16  # several inputs are named a .. p, so 'x' always means the single input

Shape = tuple[int, ...]


class ExpressionError(ValueError):
    """A refused expression. ``code`` is ``bad_param`` (the text itself) or ``shape`` (its inputs)."""

    def __init__(self, message: str, column: int, code: str = "bad_param") -> None:
        super().__init__(f"column {column}: {message}")
        self.message, self.column, self.code = message, column, code


@dataclass(frozen=True, slots=True)
class Limits:
    max_length: int = MAX_LENGTH
    max_depth: int = MAX_DEPTH


# ---- the function table (the only calls an expression can make) -----------------------------


def _softplus(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    kind: str  # "unary" (element-wise), "binary" (element-wise, broadcasting), "clip", "reduce"
    doc: str
    fold: Callable[..., float] | None  # the same function on plain numbers, for constant folding
    torch_name: str  # attribute of torch (or of torch.nn.functional when it starts with "F.")

    @property
    def arity(self) -> int:
        return {"unary": 1, "binary": 2, "clip": 3, "reduce": 1}[self.kind]

    def torch_fn(self) -> Any:
        if self.torch_name.startswith("F."):
            return getattr(F, self.torch_name[2:])
        return getattr(torch, self.torch_name)


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("abs", "unary", "absolute value", abs, "abs"),
    Function("exp", "unary", "e to the power x", math.exp, "exp"),
    Function("log", "unary", "natural logarithm", math.log, "log"),
    Function("sqrt", "unary", "square root", math.sqrt, "sqrt"),
    Function("square", "unary", "x * x", lambda v: v * v, "square"),
    Function("tanh", "unary", "hyperbolic tangent", math.tanh, "tanh"),
    Function("sigmoid", "unary", "1 / (1 + exp(-x))", lambda v: 0.5 * (1.0 + math.tanh(0.5 * v)), "sigmoid"),
    Function("relu", "unary", "max(x, 0)", lambda v: max(v, 0.0), "relu"),
    Function("softplus", "unary", "log(1 + exp(x))", _softplus, "F.softplus"),
    Function("minimum", "binary", "element-wise minimum of two values", min, "minimum"),
    Function("maximum", "binary", "element-wise maximum of two values", max, "maximum"),
    Function("clip", "clip", "clip(x, lo, hi): x limited to [lo, hi] (lo and hi are numbers)", None, "clamp"),
    Function("mean", "reduce", "mean over axis", None, "mean"),
    Function("sum", "reduce", "sum over axis", None, "sum"),
    Function("max", "reduce", "maximum over axis", None, "amax"),
    Function("min", "reduce", "minimum over axis", None, "amin"),
)}
KEYWORDS = ("axis", "keepdims")
BOOLEANS = {"True": True, "False": False, "true": True, "false": False}
INPUT_NAMES = tuple("abcdefghijklmnop")[:MAX_INPUTS]
SINGLE_INPUT = "x"


def input_names(count: int) -> tuple[str, ...]:
    """The names of a Lambda's inputs in port order: x for one, a, b, c, ... for several."""
    return (SINGLE_INPUT,) if count == 1 else INPUT_NAMES[:count]


# ---- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "number", "name", "op", "end"
    text: str
    start: int  # 0-based index into the expression

    @property
    def column(self) -> int:
        return self.start + 1


_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("**", "+", "-", "*", "/", "(", ")", ",", "=")
_WHITESPACE = " \t\r\n"
# Characters that mean the writer expects Python; each gets a message saying what is not supported.
_NOT_SUPPORTED = {
    "'": "strings are not part of the expression language",
    '"': "strings are not part of the expression language",
    ".": "attribute access ('.') is not part of the expression language",
    "[": "subscripts ('[') are not part of the expression language",
    "]": "subscripts (']') are not part of the expression language",
    ":": "':' (lambdas, slices) is not part of the expression language",
    "{": "braces are not part of the expression language",
    "}": "braces are not part of the expression language",
}


def tokens(text: str) -> Iterator[Token]:
    """The tokens of ``text``, ending with an "end" token; refuses any other character."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _WHITESPACE:
            i += 1
            continue
        if ch.isascii() and (ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isascii() and text[i + 1].isdigit())):
            m = _NUMBER.match(text, i)
            assert m is not None
            yield Token("number", m.group(), i)
            i = m.end()
            continue
        m = _NAME.match(text, i)
        if m:
            yield Token("name", m.group(), i)
            i = m.end()
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            yield Token("op", op, i)
            i += len(op)
            continue
        reason = _NOT_SUPPORTED.get(ch, f"unexpected character {ascii(ch)}")
        raise ExpressionError(reason, i + 1)
    yield Token("end", "", n)


# ---- the AST --------------------------------------------------------------------------------
# Positions and heights do not take part in equality: two trees are equal when they mean the same.


@dataclass(frozen=True, slots=True)
class Num:
    value: float
    start: int = field(compare=False)
    end: int = field(compare=False)
    height: int = field(default=1, compare=False)


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    start: int = field(compare=False)
    end: int = field(compare=False)
    height: int = field(default=1, compare=False)


@dataclass(frozen=True, slots=True)
class Neg:
    operand: "Node"
    start: int = field(compare=False)
    end: int = field(compare=False)
    height: int = field(default=1, compare=False)


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # + - * / **
    left: "Node"
    right: "Node"
    start: int = field(compare=False)
    end: int = field(compare=False)
    height: int = field(default=1, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple["Node", ...]
    axis: tuple[int, ...] | None  # reductions only
    keepdims: bool
    start: int = field(compare=False)
    end: int = field(compare=False)
    height: int = field(default=1, compare=False)


Node = Num | Var | Neg | BinOp | Call


# ---- the parser -----------------------------------------------------------------------------


def parse(text: str, limits: Limits = Limits()) -> Node:
    """Parse an expression into its AST, or raise ExpressionError with the column."""
    if not isinstance(text, str):
        raise ExpressionError("the expression must be a string", 1)
    if len(text) > limits.max_length:
        raise ExpressionError(f"the expression is {len(text):,} characters long; the limit is {limits.max_length:,}",
                              limits.max_length + 1)
    if limits == Limits():
        return _parse_cached(text)
    return _Parser(text, limits).parse()


@lru_cache(maxsize=512)
def _parse_cached(text: str) -> Node:
    return _Parser(text, Limits()).parse()


class _Parser:
    """Recursive descent with one token of lookahead. ``depth`` counts the open levels of nesting
    and is checked before every descent, so no input can exhaust Python's stack."""

    def __init__(self, text: str, limits: Limits) -> None:
        self.text, self.limits = text, limits
        self.stream = tokens(text)
        self.token = next(self.stream)
        self.depth = 0

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise ExpressionError("the expression is empty; write e.g. 'x * 2'", 1)
        node = self.expression()
        if self.token.kind != "end":
            raise self.unexpected("an operator or the end of the expression")
        return node

    # -- helpers

    def advance(self) -> Token:
        token = self.token
        self.token = next(self.stream)
        return token

    def at(self, text: str) -> bool:
        return self.token.kind == "op" and self.token.text == text

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            raise self.unexpected(what)
        return self.advance()

    def unexpected(self, expected: str) -> ExpressionError:
        t = self.token
        if t.kind == "end":
            return ExpressionError(f"the expression ends early; expected {expected}", t.column)
        if t.kind == "name" and t.text == "lambda":
            return ExpressionError("lambdas are not part of the expression language", t.column)
        shown = t.text if len(t.text) <= 20 else t.text[:20] + "…"
        return ExpressionError(f"unexpected '{shown}'; expected {expected}", t.column)

    def descend(self, token: Token) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise ExpressionError(f"the expression nests more than {self.limits.max_depth} levels deep", token.column)

    def node(self, cls: type, *fields: Any, start: int, end: int, children: tuple[Node, ...] = ()) -> Any:
        height = 1 + max((c.height for c in children), default=0)
        if height > self.limits.max_depth:
            raise ExpressionError(f"the expression nests more than {self.limits.max_depth} levels deep "
                                  "(split a long chain with a second Lambda)", start + 1)
        return cls(*fields, start, end, height)

    # -- grammar rules

    def expression(self) -> Node:
        left = self.term()
        while self.at("+") or self.at("-"):
            op = self.advance().text
            right = self.term()
            left = self.node(BinOp, op, left, right, start=left.start, end=right.end, children=(left, right))
        return left

    def term(self) -> Node:
        left = self.unary()
        while self.at("*") or self.at("/"):
            op = self.advance().text
            right = self.unary()
            left = self.node(BinOp, op, left, right, start=left.start, end=right.end, children=(left, right))
        return left

    def unary(self) -> Node:
        if self.at("-"):
            minus = self.advance()
            self.descend(minus)
            operand = self.unary()
            self.depth -= 1
            return self.node(Neg, operand, start=minus.start, end=operand.end, children=(operand,))
        return self.power()

    def power(self) -> Node:
        base = self.primary()
        if self.at("**"):
            op = self.advance()
            self.descend(op)
            exponent = self.unary()
            self.depth -= 1
            return self.node(BinOp, "**", base, exponent, start=base.start, end=exponent.end, children=(base, exponent))
        return base

    def primary(self) -> Node:
        t = self.token
        if t.kind == "number":
            self.advance()
            value = float(t.text)
            if not math.isfinite(value):
                raise ExpressionError(f"the number {t.text[:20]} is too large", t.column)
            return Num(value, t.start, t.start + len(t.text))
        if t.kind == "name":
            if t.text == "lambda":  # say so before the ':' that follows trips the tokenizer
                raise ExpressionError("lambdas are not part of the expression language", t.column)
            self.advance()
            if self.at("("):
                return self.call(t)
            return self.variable(t)
        if self.at("("):
            self.advance()
            self.descend(t)
            inner = self.expression()
            self.depth -= 1
            closing = self.expect(")", "')' to close the '(' at column " + str(t.column))
            return replace(inner, start=t.start, end=closing.start + 1)  # errors quote it with its parentheses
        raise self.unexpected("a number, an input name, a function call or '('")

    def variable(self, t: Token) -> Var:
        if t.text == SINGLE_INPUT or t.text in INPUT_NAMES:
            return Var(t.text, t.start, t.start + len(t.text))
        if t.text == "lambda":
            raise ExpressionError("lambdas are not part of the expression language", t.column)
        if t.text in FUNCTIONS:
            raise ExpressionError(f"'{t.text}' is a function; call it, e.g. {t.text}(x)", t.column)
        raise ExpressionError(f"unknown name '{_short(t.text)}': the inputs are x (a Lambda with one input) "
                              f"or a, b, c, … (several inputs, in port order)", t.column)

    def call(self, name: Token) -> Call:
        fn = FUNCTIONS.get(name.text)
        if fn is None:
            close = difflib.get_close_matches(name.text, list(FUNCTIONS), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else f"; the functions are {', '.join(FUNCTIONS)}"
            raise ExpressionError(f"unknown function '{_short(name.text)}'{hint}", name.column)
        opening = self.advance()
        self.descend(opening)
        args: list[Node] = []
        keywords: dict[str, Any] = {}
        while not self.at(")"):
            if args or keywords:
                self.expect(",", f"',' or ')' to close {fn.name}(")
                if self.at(")"):
                    break  # a trailing comma
            if self.token.kind == "name" and self.token.text in KEYWORDS:
                keyword = self.advance()
                self.expect("=", f"'=' after {keyword.text}")
                if fn.kind != "reduce":
                    raise ExpressionError(f"{fn.name} takes no keyword arguments", keyword.column)
                if keyword.text in keywords:
                    raise ExpressionError(f"{keyword.text} is given twice", keyword.column)
                keywords[keyword.text] = self.axes() if keyword.text == "axis" else self.boolean()
                continue
            if keywords:
                raise ExpressionError(f"a positional argument of {fn.name} follows a keyword argument", self.token.column)
            args.append(self.expression())
        closing = self.advance()
        self.depth -= 1
        if len(args) != fn.arity:
            raise ExpressionError(f"{fn.name} takes {fn.arity} argument{'s' if fn.arity > 1 else ''} "
                                  f"({fn.doc}), got {len(args)}", name.column)
        if fn.kind == "reduce" and "axis" not in keywords:
            raise ExpressionError(f"{fn.name} needs axis=…: the axis (or axes) of each sample to reduce, counting the "
                                  "batch axis as 0 (which cannot be reduced); e.g. axis=-1", name.column)
        return self.node(Call, fn.name, tuple(args), keywords.get("axis"), keywords.get("keepdims", False),
                         start=name.start, end=closing.start + 1, children=tuple(args))

    def integer(self) -> int:
        sign = -1 if self.at("-") else 1
        if sign < 0:
            self.advance()
        t = self.token
        if t.kind != "number" or not t.text.isdigit() or len(t.text) > 2:
            raise self.unexpected("an axis number such as 1 or -1")
        self.advance()
        return sign * int(t.text)

    def axes(self) -> tuple[int, ...]:
        if not self.at("("):
            return (self.integer(),)
        opening = self.advance()
        values = [self.integer()]
        while self.at(","):
            self.advance()
            if self.at(")"):
                break
            values.append(self.integer())
        self.expect(")", f"')' to close the axes opened at column {opening.column}")
        return tuple(values)

    def boolean(self) -> bool:
        t = self.token
        if t.kind != "name" or t.text not in BOOLEANS:
            raise self.unexpected("True or False")
        self.advance()
        return BOOLEANS[t.text]


def _short(text: str) -> str:
    return text if len(text) <= 30 else text[:30] + "…"


# ---- printing -------------------------------------------------------------------------------


def to_source(node: Node) -> str:
    """A canonical, fully parenthesized spelling of ``node``; ``parse(to_source(n)) == n``."""
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Neg):
        return f"(-{to_source(node.operand)})"
    if isinstance(node, BinOp):
        return f"({to_source(node.left)} {node.op} {to_source(node.right)})"
    parts = [to_source(a) for a in node.args]
    if node.axis is not None:
        axis = str(node.axis[0]) if len(node.axis) == 1 else "(" + ", ".join(map(str, node.axis)) + ")"
        parts.append(f"axis={axis}")
        parts.append(f"keepdims={node.keepdims}")
    return f"{node.name}({', '.join(parts)})"


# ---- shapes and emission --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Value:
    """A sub-expression's value: a constant number (shape None), or a tensor with a per-sample shape."""

    shape: Shape | None
    constant: float | None = None
    fx: Any = None  # the fx node when emitting


def infer(expression: str, input_shapes: list[Shape]) -> Shape:
    """The per-sample output shape; raises ExpressionError (code "shape" for shape mismatches)."""
    return _Evaluator(expression, input_shapes).result().shape  # type: ignore[return-value]


def emit(expression: str, input_shapes: list[Shape], call: Any, args: list[Any]) -> Any:
    """Write the expression's calls through a builder CallSite; returns the result's fx node."""
    return _Evaluator(expression, input_shapes, call, args).result().fx


def _format(shape: Shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """NumPy broadcasting of two shapes, or None when they do not broadcast."""
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(out)


class _Evaluator:
    """Walks the AST once, computing each sub-expression's shape (and its fx call when emitting).
    Constant sub-expressions are folded with Python floats; a constant that cannot be computed
    (1/0, log(-1), an overflow) is refused with its column."""

    def __init__(self, text: str, input_shapes: list[Shape], call: Any = None, args: list[Any] | None = None) -> None:
        self.text, self.input_shapes, self.call, self.args = text, input_shapes, call, args
        self.tree = parse(text)

    def result(self) -> _Value:
        value = self.visit(self.tree)
        if value.shape is None:
            raise ExpressionError(f"the expression uses no input; use {self._names_hint()}", 1)
        if value.shape == ():
            raise ExpressionError("the result has no axis left per sample; keep one with keepdims=True", 1, "shape")
        return value

    def quote(self, node: Node) -> str:
        snippet = self.text[node.start:node.end]
        if len(snippet) > 60:
            snippet = snippet[:57] + "..."
        return f"'{snippet}'"

    def fail(self, node: Node, message: str, code: str = "shape") -> ExpressionError:
        return ExpressionError(f"in {self.quote(node)}: {message}", node.start + 1, code)

    def _names_hint(self) -> str:
        names = input_names(len(self.input_shapes))
        return "x" if names == ("x",) else ", ".join(names)

    def fold(self, node: Node, fn: Callable[..., Any], *values: float) -> _Value:
        try:
            result = fn(*values)
        except (ArithmeticError, ValueError):
            result = None
        if not isinstance(result, (int, float)) or not math.isfinite(result):
            raise self.fail(node, "this constant cannot be computed (it is undefined or too large)", "bad_param")
        return _Value(None, float(result))

    def emit(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return None if self.call is None else self.call.function(fn, *args, **kwargs)

    def operand(self, value: _Value) -> Any:
        return value.constant if value.shape is None else value.fx

    def lift(self, value: _Value, rank: int) -> Any:
        """A tensor whose per-sample rank is below ``rank`` gets leading axes of size 1 after the batch
        axis, so broadcasting matches per-sample shapes (torch would align the batch axis instead)."""
        if value.shape is None or len(value.shape) == rank or self.call is None:
            return self.operand(value)
        new_shape = (1,) * (rank - len(value.shape)) + value.shape
        return self.call.method("reshape", value.fx, -1, *new_shape)

    def visit(self, node: Node) -> _Value:
        if isinstance(node, Num):
            return _Value(None, node.value)
        if isinstance(node, Var):
            return self.variable(node)
        if isinstance(node, Neg):
            inner = self.visit(node.operand)
            if inner.shape is None:
                return _Value(None, -inner.constant)  # type: ignore[operator]
            return _Value(inner.shape, None, self.emit(_OPS["neg"], inner.fx))
        if isinstance(node, BinOp):
            return self.binary(node, node.op, self.visit(node.left), self.visit(node.right))
        return self.function(node)

    def variable(self, node: Var) -> _Value:
        names = input_names(len(self.input_shapes))
        if node.name not in names:
            count = len(self.input_shapes)
            have = "one input, called x" if count == 1 else f"{count} inputs, called {', '.join(names)} in port order"
            raise ExpressionError(f"unknown name '{node.name}': this Lambda has {have}", node.start + 1)
        index = names.index(node.name)
        return _Value(tuple(self.input_shapes[index]), None, None if self.args is None else self.args[index])

    def binary(self, node: Node, op: str, left: _Value, right: _Value) -> _Value:
        if left.shape is None and right.shape is None:
            return self.fold(node, _FOLD[op], left.constant, right.constant)  # type: ignore[arg-type]
        shape = self.broadcast_or_fail(node, left, right)
        if self.call is None:
            return _Value(shape)
        rank = len(shape)
        return _Value(shape, None, self.emit(_OPS[op], self.lift(left, rank), self.lift(right, rank)))

    def broadcast_or_fail(self, node: Node, *values: _Value) -> Shape:
        shapes = [v.shape for v in values if v.shape is not None]
        out: Shape = shapes[0]
        for shape in shapes[1:]:
            merged = broadcast(out, shape)
            if merged is None:
                got = " and ".join(_format(s) for s in shapes)
                raise self.fail(node, f"shapes {got} do not broadcast: aligned from the right, each pair of sizes "
                                      "must be equal or one of them 1")
            out = merged
        return out

    def function(self, node: Call) -> _Value:
        fn = FUNCTIONS[node.name]
        values = [self.visit(a) for a in node.args]
        if fn.kind == "reduce":
            return self.reduce(node, fn, values[0])
        if fn.kind == "clip":
            return self.clip(node, fn, *values)
        if all(v.shape is None for v in values):
            return self.fold(node, fn.fold, *(v.constant for v in values))  # type: ignore[arg-type]
        if fn.kind == "unary":
            return _Value(values[0].shape, None, self.emit(fn.torch_fn(), values[0].fx) if self.call else None)
        shape = self.broadcast_or_fail(node, *values)
        if self.call is None:
            return _Value(shape)
        tensors = [v for v in values if v.shape is not None]
        if len(tensors) == 1:  # torch.minimum/maximum need two tensors; a number bound is a clamp
            bound = next(v.constant for v in values if v.shape is None)
            side = "max" if fn.name == "minimum" else "min"
            return _Value(shape, None, self.emit(torch.clamp, tensors[0].fx, **{side: bound}))
        rank = len(shape)
        return _Value(shape, None, self.emit(fn.torch_fn(), self.lift(values[0], rank), self.lift(values[1], rank)))

    def clip(self, node: Call, fn: Function, x: _Value, lo: _Value, hi: _Value) -> _Value:
        if lo.shape is not None or hi.shape is not None:
            raise self.fail(node, "clip's bounds lo and hi must be numbers; use minimum() and maximum() for tensors",
                            "bad_param")
        if lo.constant > hi.constant:  # type: ignore[operator]
            raise self.fail(node, f"clip's lower bound {lo.constant:g} is above its upper bound {hi.constant:g}",
                            "bad_param")
        if x.shape is None:
            return _Value(None, min(max(x.constant, lo.constant), hi.constant))  # type: ignore[type-var]
        return _Value(x.shape, None, self.emit(fn.torch_fn(), x.fx, lo.constant, hi.constant))

    def reduce(self, node: Call, fn: Function, x: _Value) -> _Value:
        if x.shape is None:
            raise self.fail(node, f"{fn.name} reduces a tensor, not a number", "bad_param")
        rank = len(x.shape) + 1  # with the batch axis, as Keras counts
        dims = []
        for axis in node.axis or ():
            resolved = axis + rank if axis < 0 else axis
            valid = (f"1..{rank - 1} or -1..-{rank - 1}" if rank > 2 else "1 or -1" if rank == 2
                     else "none: each sample has no axis left")
            if resolved == 0:
                raise self.fail(node, f"axis {axis} is the batch axis, which a Lambda cannot reduce; use {valid}")
            if not 0 < resolved < rank:
                raise self.fail(node, f"axis {axis} is out of range for a tensor of shape {_format(x.shape)} "
                                      f"(axes count the batch as 0; valid: {valid})")
            if resolved in dims:
                raise self.fail(node, f"axis {axis} is named twice")
            dims.append(resolved)
        kept = [1 if d + 1 in dims else n for d, n in enumerate(x.shape)] if node.keepdims else \
            [n for d, n in enumerate(x.shape) if d + 1 not in dims]
        shape = tuple(kept)
        if self.call is None:
            return _Value(shape)
        return _Value(shape, None, self.emit(fn.torch_fn(), x.fx, dim=tuple(sorted(dims)), keepdim=node.keepdims))


_FOLD: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
}
# fx writes these as ``a + b`` in the generated code.
_OPS: dict[str, Any] = {**_FOLD, "neg": operator.neg}

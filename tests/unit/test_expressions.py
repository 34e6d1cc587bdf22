"""Lambda's expression language: every accepted construct (shape and numerics against plain torch),
every refusal (a bad_param on params.expression with the column), broadcasting, and a fuzz test."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from graph_helpers import random_inputs, real_output_shapes
from layerloom.graph import analyze, build_model
from layerloom.graph import expressions
from layerloom.graph.expressions import FUNCTIONS, ExpressionError, Limits, parse, to_source


def lambda_graph(expression, *shapes, node_id="lam"):
    """Inputs i0, i1, ... feeding one Lambda on ports 0, 1, ..., and one Output."""
    nodes = [{"id": f"i{k}", "type": "Input", "params": {"shape": list(s)}} for k, s in enumerate(shapes)]
    nodes += [{"id": node_id, "type": "Lambda", "params": {"expression": expression}},
              {"id": "out", "type": "Output", "params": {"loss": "mse"}}]
    edges = [{"source": f"i{k}", "target": node_id, "target_port": k} for k in range(len(shapes))]
    edges.append({"source": node_id, "target": "out"})
    return {"format": "layerloom.graph", "version": 1, "name": "lambda", "nodes": nodes, "edges": edges}


# ---- accepted constructs: shape inferred = shape built, values = plain torch ----------------

# (construct, expression, input shapes, reference on the batched tensors, inferred per-sample shape)
ACCEPTED = [
    ("identity", "x", [(3,)], lambda x: x, (3,)),
    ("integer", "x + 2", [(3,)], lambda x: x + 2, (3,)),
    ("decimal", "x * 0.5", [(3,)], lambda x: x * 0.5, (3,)),
    ("leading-dot", "x * .25", [(3,)], lambda x: x * 0.25, (3,)),
    ("exponent", "x * 1e-3 + 2.5E+1", [(3,)], lambda x: x * 1e-3 + 25.0, (3,)),
    ("add", "a + b", [(2, 3), (2, 3)], lambda a, b: a + b, (2, 3)),
    ("subtract", "a - b", [(2, 3), (2, 3)], lambda a, b: a - b, (2, 3)),
    ("multiply", "a * b", [(2, 3), (2, 3)], lambda a, b: a * b, (2, 3)),
    ("divide", "a / (abs(b) + 1)", [(2, 3), (2, 3)], lambda a, b: a / (b.abs() + 1), (2, 3)),
    ("power", "abs(x) ** 1.5", [(4,)], lambda x: x.abs() ** 1.5, (4,)),
    ("power-right-assoc", "2 ** x ** 2", [(4,)], lambda x: 2 ** (x ** 2), (4,)),
    ("power-negative-exponent", "(abs(x) + 1) ** -2", [(4,)], lambda x: (x.abs() + 1) ** -2, (4,)),
    ("unary-minus", "-x", [(4,)], lambda x: -x, (4,)),
    ("unary-minus-binds-below-power", "-x ** 2", [(4,)], lambda x: -(x ** 2), (4,)),
    ("double-minus", "- -x", [(4,)], lambda x: x, (4,)),
    ("precedence", "1 + 2 * x - x / 4", [(4,)], lambda x: 1 + 2 * x - x / 4, (4,)),
    ("parentheses", "(1 + 2) * (x - 1)", [(4,)], lambda x: 3 * (x - 1), (4,)),
    ("whitespace", " x\t*\n2 ", [(4,)], lambda x: x * 2, (4,)),
    ("constant-folding", "x * (1 / 255) + 2 ** 3", [(4,)], lambda x: x / 255 + 8, (4,)),
    ("abs", "abs(x)", [(4,)], torch.abs, (4,)),
    ("exp", "exp(x)", [(4,)], torch.exp, (4,)),
    ("log", "log(abs(x) + 1)", [(4,)], lambda x: torch.log(x.abs() + 1), (4,)),
    ("sqrt", "sqrt(abs(x))", [(4,)], lambda x: x.abs().sqrt(), (4,)),
    ("square", "square(x)", [(4,)], torch.square, (4,)),
    ("tanh", "tanh(x)", [(4,)], torch.tanh, (4,)),
    ("sigmoid", "a * sigmoid(b)", [(2, 3), (2, 3)], lambda a, b: a * torch.sigmoid(b), (2, 3)),
    ("relu", "relu(x)", [(4,)], torch.relu, (4,)),
    ("softplus", "softplus(x)", [(4,)], F.softplus, (4,)),
    ("clip", "clip(x, -0.5, 0.5)", [(4,)], lambda x: x.clamp(-0.5, 0.5), (4,)),
    ("minimum-tensors", "minimum(a, b)", [(2, 3), (2, 3)], torch.minimum, (2, 3)),
    ("maximum-tensors", "maximum(a, b)", [(2, 3), (2, 3)], torch.maximum, (2, 3)),
    ("minimum-number", "minimum(x, 0)", [(4,)], lambda x: x.clamp(max=0), (4,)),
    ("maximum-number-first", "maximum(0.1, x)", [(4,)], lambda x: x.clamp(min=0.1), (4,)),
    ("mean-axis", "mean(x, axis=-1)", [(3, 4)], lambda x: x.mean(-1), (3,)),
    ("sum-axis", "sum(x, axis=1)", [(3, 4)], lambda x: x.sum(1), (4,)),
    ("max-axis", "max(x, axis=2)", [(3, 4)], lambda x: x.amax(2), (3,)),
    ("min-axis", "min(x, axis=1)", [(3, 4)], lambda x: x.amin(1), (4,)),
    ("axis-tuple", "sum(x, axis=(1, -1))", [(2, 3, 4)], lambda x: x.sum((1, 3)), (3,)),
    ("axis-tuple-trailing-comma", "mean(x, axis=(2,))", [(2, 3, 4)], lambda x: x.mean(2), (2, 4)),
    ("keepdims", "x - mean(x, axis=-1, keepdims=True)", [(3, 4)], lambda x: x - x.mean(-1, keepdim=True), (3, 4)),
    ("keepdims-lowercase", "max(x, axis=1, keepdims=true)", [(3, 4)], lambda x: x.amax(1, keepdim=True), (1, 4)),
    ("keepdims-false", "min(x, axis=1, keepdims=False)", [(3, 4)], lambda x: x.amin(1), (4,)),
    ("trailing-comma-in-call", "abs(x,)", [(4,)], torch.abs, (4,)),
    ("three-inputs", "a * b + c", [(4,), (4,), (4,)], lambda a, b, c: a * b + c, (4,)),
    ("broadcast-squeeze-excitation", "a * b", [(3, 1, 1), (3, 4, 5)], lambda a, b: a * b, (3, 4, 5)),
    ("broadcast-lower-rank", "a + b", [(5,), (3, 4, 5)], lambda a, b: a[:, None, None, :] + b, (3, 4, 5)),
    ("broadcast-both-ways", "a - b", [(3, 1), (1, 4)], lambda a, b: a - b, (3, 4)),
    ("broadcast-reduced-scalar", "x / sum(abs(x), axis=(1, 2))", [(3, 4)],
     lambda x: x / x.abs().sum((1, 2))[:, None, None], (3, 4)),
    ("nested-calls", "tanh(softplus(exp(-square(x))))", [(4,)], lambda x: torch.tanh(F.softplus(torch.exp(-x * x))), (4,)),
]


@pytest.mark.parametrize("construct,expression,shapes,reference,expected", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted_construct_infers_its_shape_and_computes_what_torch_computes(construct, expression, shapes, reference, expected):
    analysis = analyze(lambda_graph(expression, *shapes))
    assert analysis.ok, [i.message for i in analysis.issues]
    assert analysis.nodes["lam"].output.shape == expected
    assert analysis.total_params == 0
    model = build_model(analysis, seed=0)
    inputs = random_inputs(analysis, batch=3)
    assert real_output_shapes(model, analysis, inputs)["lam"] == expected
    with torch.no_grad():
        got = model(inputs)["out"]
        want = reference(*(inputs[f"i{k}"] for k in range(len(shapes))))
    assert got.shape == (3, *expected)
    torch.testing.assert_close(got, want.expand_as(got), rtol=1e-6, atol=1e-6, equal_nan=True)


def test_the_generated_code_is_plain_torch_calls():
    model = build_model(analyze(lambda_graph("a * sigmoid(b) - mean(a, axis=-1, keepdims=True)", (3,), (3,))))
    code = model.code
    assert "torch.sigmoid(" in code and "torch.mean(" in code and " * " in code and " - " in code
    assert "eval" not in code and "exec" not in code


def test_the_expression_module_never_evaluates_text():
    """The language is parsed by our own grammar: no eval, exec, compile, or Python's ast module."""
    for name in ("graph/expressions.py", "graph/layers/lambda_layer.py"):
        source = (Path(expressions.__file__).parents[1] / name).read_text()
        assert not re.search(r"(?<![.\w])(eval|exec|compile|__import__)\s*\(", source), name
        assert not re.search(r"^\s*(import ast|from ast )", source, re.M), name


# ---- refusals: a bad_param (or shape) issue on params.expression with the column ------------

ONE_MB = "x+" * (512 * 1024)
# (case, expression, number of inputs, code, column, words in the message)
REFUSED = [
    ("dunder-import", "__import__('os')", 1, "bad_param", 1, "unknown function '__import__'"),
    ("import-in-sum", "x + __import__('os').system('ls')", 1, "bad_param", 5, "unknown function"),
    ("attribute", "x.real", 1, "bad_param", 2, "attribute access"),
    ("dunder-attribute", "x.__class__", 1, "bad_param", 2, "attribute access"),
    ("subscript", "x[0]", 1, "bad_param", 2, "subscripts"),
    ("lambda", "lambda y: y", 1, "bad_param", 1, "lambdas"),
    ("string-single", "'abc'", 1, "bad_param", 1, "strings"),
    ("string-double", 'x + "abc"', 1, "bad_param", 5, "strings"),
    ("nested-parentheses-10000", "(" * 10_000 + "x" + ")" * 10_000, 1, "bad_param", 1001, "20,001 characters"),
    ("deep-but-short", "(" * 50 + "x" + ")" * 50, 1, "bad_param", 41, "nests more than 40"),
    ("deep-unary-minus", "-" * 60 + "x", 1, "bad_param", 41, "nests more than 40"),
    ("long-chain", "+".join(["x"] * 60), 1, "bad_param", 1, "nests more than 40"),
    ("one-megabyte", ONE_MB, 1, "bad_param", 1001, "1,048,576 characters"),
    ("unknown-name", "x + y", 1, "bad_param", 5, "unknown name 'y'"),
    ("unknown-long-name", "x + weights", 1, "bad_param", 5, "unknown name 'weights'"),
    ("function-without-call", "exp + x", 1, "bad_param", 1, "'exp' is a function"),
    ("unknown-function", "foo(x)", 1, "bad_param", 1, "unknown function 'foo'"),
    ("misspelled-function", "sigmod(x)", 1, "bad_param", 1, "did you mean sigmoid"),
    ("builtin-eval", "eval(x)", 1, "bad_param", 1, "unknown function 'eval'"),
    ("builtin-open", "open(x)", 1, "bad_param", 1, "unknown function 'open'"),
    ("arity-too-many", "abs(x, x)", 1, "bad_param", 1, "abs takes 1 argument"),
    ("arity-too-few", "clip(x, 1)", 1, "bad_param", 1, "clip takes 3 arguments"),
    ("arity-none", "maximum()", 1, "bad_param", 1, "maximum takes 2 arguments"),
    ("second-input-of-one", "x * b", 1, "bad_param", 5, "this Lambda has one input, called x"),
    ("x-with-several-inputs", "a + x", 2, "bad_param", 5, "2 inputs, called a, b"),
    ("input-beyond-ports", "a + c", 2, "bad_param", 5, "unknown name 'c'"),
    ("reduce-without-axis", "mean(x)", 1, "bad_param", 1, "mean needs axis="),
    ("reduce-batch-axis", "sum(x, axis=0)", 1, "shape", 1, "batch axis"),
    ("reduce-batch-axis-negative", "sum(x, axis=-3)", 1, "shape", 1, "batch axis"),
    ("reduce-axis-out-of-range", "max(x, axis=3)", 1, "shape", 1, "out of range"),
    ("reduce-axis-twice", "min(x, axis=(1, -2))", 1, "shape", 1, "named twice"),
    ("reduce-to-nothing", "sum(x, axis=(1, 2))", 1, "shape", 1, "keepdims=True"),
    ("keyword-on-elementwise", "abs(x, axis=1)", 1, "bad_param", 8, "takes no keyword"),
    ("unknown-keyword", "mean(x, dim=1)", 1, "bad_param", 9, "unknown name 'dim'"),
    ("keyword-twice", "mean(x, axis=1, axis=1)", 1, "bad_param", 17, "given twice"),
    ("positional-after-keyword", "mean(axis=1, x)", 1, "bad_param", 14, "follows a keyword"),
    ("axis-not-integer", "mean(x, axis=1.5)", 1, "bad_param", 14, "an axis number"),
    ("keepdims-not-boolean", "mean(x, axis=1, keepdims=1)", 1, "bad_param", 26, "True or False"),
    ("empty", "", 1, "bad_param", 1, "empty"),
    ("only-spaces", "   ", 1, "bad_param", 1, "empty"),
    ("dangling-operator", "x +", 1, "bad_param", 4, "ends early"),
    ("unclosed-parenthesis", "(x + 1", 1, "bad_param", 7, "')' to close the '(' at column 1"),
    ("extra-parenthesis", "x + 1)", 1, "bad_param", 6, "unexpected ')'"),
    ("juxtaposition", "2x", 1, "bad_param", 2, "unexpected 'x'"),
    ("floor-division", "x // 2", 1, "bad_param", 4, "unexpected '/'"),
    ("modulo", "x % 2", 1, "bad_param", 3, "unexpected character '%'"),
    ("matmul", "x @ x", 1, "bad_param", 3, "unexpected character '@'"),
    ("assignment", "x = 1", 1, "bad_param", 3, "unexpected '='"),
    ("comparison", "x < 1", 1, "bad_param", 3, "unexpected character '<'"),
    ("unary-plus", "+x", 1, "bad_param", 1, "unexpected '+'"),
    ("non-ascii", "x × 2", 1, "bad_param", 3, "unexpected character '\\xd7'"),
    ("nul-byte", "x\x00", 1, "bad_param", 2, "unexpected character '\\x00'"),
    ("constant-only", "2 * 3", 1, "bad_param", 1, "uses no input"),
    ("division-by-zero-constant", "x + 1 / 0", 1, "bad_param", 5, "cannot be computed"),
    ("overflowing-constant", "x * 10 ** 400", 1, "bad_param", 5, "cannot be computed"),
    ("huge-number", "x * 1e999", 1, "bad_param", 5, "too large"),
    ("log-of-negative-constant", "x + log(-1)", 1, "bad_param", 5, "cannot be computed"),
    ("complex-constant", "x + (-8) ** (1 / 3)", 1, "bad_param", 5, "in '(-8) ** (1 / 3)'"),
    ("clip-tensor-bounds", "clip(a, b, 1)", 2, "bad_param", 1, "must be numbers"),
    ("clip-bounds-reversed", "clip(x, 1, -1)", 1, "bad_param", 1, "above its upper bound"),
    ("reduce-a-number", "x + mean(2, axis=1)", 1, "bad_param", 5, "reduces a tensor"),
]


@pytest.mark.parametrize("case,expression,n_inputs,code,column,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_expression_is_an_issue_on_params_expression_with_its_column(case, expression, n_inputs, code, column, words):
    analysis = analyze(lambda_graph(expression, *[(2, 3)] * n_inputs))
    assert not analysis.ok
    issues = [i for i in analysis.errors if i.node == "lam"]
    assert len(issues) == 1, [i.message for i in analysis.errors]
    issue = issues[0]
    assert (issue.code, issue.field) == (code, "params.expression")
    assert f"column {column}:" in issue.message and words in issue.message, issue.message
    assert issue.message.startswith("lam: ")
    assert len(issue.message) < 400  # a 1 MB expression is not echoed back


def test_an_expression_that_is_not_a_string_is_a_bad_param():
    analysis = analyze(lambda_graph(12, (3,)))
    assert [(i.code, i.field) for i in analysis.errors] == [("bad_param", "params.expression")]


# ---- shapes and broadcasting ------------------------------------------------------------------

@pytest.mark.parametrize("expression,shapes,expected", [
    ("a + b", [(3, 1, 1), (3, 4, 5)], (3, 4, 5)),
    ("a + b", [(1,), (4, 5)], (4, 5)),
    ("a * b * c", [(4, 1), (1, 5), (5,)], (4, 5)),
    ("maximum(a, b)", [(2, 1, 3), (4, 1)], (2, 4, 3)),
    ("a + mean(b, axis=-1, keepdims=True)", [(6, 2), (6, 9)], (6, 2)),
    ("sum(a, axis=1) + b", [(7, 3), (3,)], (3,)),
])
def test_output_shapes_follow_numpy_broadcasting(expression, shapes, expected):
    analysis = analyze(lambda_graph(expression, *shapes))
    assert analysis.ok, [i.message for i in analysis.issues]
    assert analysis.nodes["lam"].output.shape == expected
    model = build_model(analysis, seed=0)
    assert real_output_shapes(model, analysis, random_inputs(analysis, batch=2))["lam"] == expected


@pytest.mark.parametrize("expression,shapes,column,sub_expression,shown", [
    ("a + b", [(3,), (4,)], 1, "'a + b'", "(3,) and (4,)"),
    ("exp(a * b) + 1", [(2, 3), (3, 2)], 5, "'a * b'", "(2, 3) and (3, 2)"),
    ("a + sum(b, axis=1)", [(4,), (3, 5)], 1, "'a + sum(b, axis=1)'", "(4,) and (5,)"),
    ("minimum(a, b)", [(3, 4), (5, 4)], 1, "'minimum(a, b)'", "(3, 4) and (5, 4)"),
])
def test_a_broadcast_error_names_the_node_and_the_sub_expression(expression, shapes, column, sub_expression, shown):
    analysis = analyze(lambda_graph(expression, *shapes, node_id="gate"))
    [issue] = analysis.errors
    assert (issue.code, issue.node, issue.field) == ("shape", "gate", "params.expression")
    assert issue.message.startswith("gate: ")
    assert f"column {column}: in {sub_expression}" in issue.message and shown in issue.message, issue.message


def test_lambda_takes_one_to_sixteen_inputs():
    shapes = [(2,)] * 16
    names = "abcdefghijklmnop"
    analysis = analyze(lambda_graph(" + ".join(names), *shapes))
    assert analysis.ok, [i.message for i in analysis.issues]
    too_many = analyze(lambda_graph("a", *[(2,)] * 17))
    assert [i.code for i in too_many.errors] == ["port_out_of_range"]


# ---- fuzz: nothing escapes, and nothing outside the grammar is accepted -----------------------

NAMES = sorted(FUNCTIONS) + ["x", "a", "b", "axis", "keepdims", "True", "False", "true", "false"]
HOSTILE = ["__import__", "os", "system", "eval", "exec", "lambda", "open", "getattr", "__class__", "self", "import",
           "y", "inputs", "torch", "None"]
PIECES = NAMES * 3 + HOSTILE + ["+", "-", "*", "/", "**", "(", "(", ")", ")", ",", "=", "0", "1", "2", "-1", "0.5",
                                ".5", "1e3", "1e999", "10", "'", '"', ".", "[", "]", ":", "{", "}", "%", "@", "//",
                                "<", "\\", "#", "\n", " ", "  ", "\t", "\x00", "é", "²", "٣", "\U0001f600"]
OK_CHARS = re.compile(r"[0-9A-Za-z_+\-*/().,= \t\r\n]*")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GRAMMAR_WORDS = set(FUNCTIONS) | {"x", "a", "b", "axis", "keepdims", "True", "False", "true", "false"}


def random_expression(rng: random.Random, names: list[str]) -> str:
    kind = rng.random()
    if kind < 0.45:  # a plausible expression, then mutated
        text = well_formed(rng, 4, names)
        for _ in range(rng.choice([0, 0, 1, 2])):
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice(PIECES) + text[i + rng.choice([0, 0, 1]):]
        return text
    if kind < 0.85:  # random tokens
        return " ".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 12)))
    raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))  # random bytes
    return raw.decode("latin-1")


def well_formed(rng: random.Random, depth: int, names: list[str]) -> str:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(names + names + ["2", "0.5", "y"])
    choice = rng.random()
    if choice < 0.4:
        return f"{well_formed(rng, depth - 1, names)} {rng.choice(['+', '-', '*', '/', '**'])} {well_formed(rng, depth - 1, names)}"
    if choice < 0.5:
        return f"-{well_formed(rng, depth - 1, names)}"
    if choice < 0.6:
        return f"({well_formed(rng, depth - 1, names)})"
    fn = rng.choice(sorted(FUNCTIONS))
    spec = FUNCTIONS[fn]
    args = [well_formed(rng, depth - 1, names) for _ in range(spec.arity)]
    if spec.kind == "reduce":
        args.append(f"axis={rng.choice(['1', '-1', '2', '(1, 2)', '(2,)', '0', '3'])}")
        if rng.random() < 0.5:
            args.append(f"keepdims={rng.choice(['True', 'False'])}")
    return f"{fn}({', '.join(args)})"


def test_fuzz_random_strings_never_escape_and_only_grammar_is_accepted():
    rng = random.Random(20261130)
    accepted, built, checked = [], 0, 0
    for _ in range(2_500):
        n_inputs = rng.choice([1, 2])
        text = random_expression(rng, ["x"] if n_inputs == 1 else ["a", "b"])
        analysis = analyze(lambda_graph(text, *[(2, 3)] * n_inputs))  # must never raise
        checked += 1
        lam = [i for i in analysis.errors if i.node == "lam"]
        if analysis.ok:
            # An independent check of the grammar's alphabet: only these characters and these words.
            assert OK_CHARS.fullmatch(text), repr(text)
            assert set(IDENT.findall(re.sub(r"[0-9.]+[eE][+-]?[0-9]+|[0-9]*\.?[0-9]+", " ", text))) <= GRAMMAR_WORDS, repr(text)
            # The AST re-parses from its canonical spelling to the same tree.
            tree = parse(text)
            assert parse(to_source(tree), Limits(max_length=100_000, max_depth=1_000)) == tree, repr(text)
            accepted.append(text)
            if built < 40:  # building runs the emitter on the same trees; its shapes must agree
                model = build_model(analysis, seed=0)
                real = real_output_shapes(model, analysis, random_inputs(analysis, batch=2))
                assert real["lam"] == analysis.nodes["lam"].output.shape, repr(text)
                built += 1
        else:
            assert lam, [i.message for i in analysis.errors]
            assert all(i.field == "params.expression" and "column " in i.message for i in lam), [i.message for i in lam]
    assert checked == 2_500
    assert len(accepted) >= 200, len(accepted)  # the fuzz reaches deep into the accepted language too
    assert len(set(accepted)) >= 120, len(set(accepted))


def test_parse_refuses_text_over_the_limits_before_reading_it():
    with pytest.raises(ExpressionError) as err:
        parse("x" * (expressions.MAX_LENGTH + 1))
    assert err.value.column == expressions.MAX_LENGTH + 1
    assert parse("x" + "+x" * 20) == parse(to_source(parse("x" + "+x" * 20)), Limits(10_000, 1_000))
    assert math.isclose(parse("1e-3").value, 0.001)

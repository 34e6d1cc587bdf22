"""Lambda: an element-wise or reducing expression over one or more inputs, in the small language of
``graph/expressions.py`` (parsed by our own grammar, never evaluated as Python)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from ..catalog import Layer, Params, ShapeError, TensorSpec, register_layer
from ..expressions import MAX_INPUTS, MAX_LENGTH, ExpressionError, emit, infer, parse

EXPRESSION_FIELD = "params.expression"


class LambdaParams(Params):
    expression: str = Field(
        ..., description=(
            "An expression over the inputs: x for one input; a, b, c, … for several, in port order. "
            "Numbers, + - * / **, unary minus, parentheses and the functions abs, exp, log, sqrt, square, tanh, "
            "sigmoid, relu, softplus, clip(x, lo, hi), minimum, maximum, and mean/sum/max/min(x, axis=…, "
            f"keepdims=…) (axis counts the batch as 0). Shapes broadcast as in NumPy. At most {MAX_LENGTH} characters."),
        json_schema_extra={"examples": ["a * sigmoid(b)", "x - mean(x, axis=-1, keepdims=True)"]},
    )

    @field_validator("expression")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse(value)
        except ExpressionError as err:
            raise PydanticCustomError("expression", "{reason}", {"reason": str(err)}) from None
        return value


@register_layer
class Lambda(Layer):
    type = "Lambda"
    category = "Core"
    doc = ("Computes an expression of its inputs, e.g. a * sigmoid(b); the output shape follows NumPy broadcasting. "
           "No weights.")
    params_model = LambdaParams
    mask_role = "pass"  # as Keras's Lambda passes its input's mask (merged by the merge rule for several inputs)
    min_inputs = 1
    max_inputs = MAX_INPUTS
    example_params = ({"expression": "x * sigmoid(x)"}, {"expression": "clip(x, -1, 1) ** 2 / 2"},
                      {"expression": "x - mean(x, axis=-1, keepdims=True)"}, {"expression": "sum(exp(x), axis=(1, 2))"})

    def output(self, p: LambdaParams, inputs: list[TensorSpec]) -> TensorSpec:
        try:
            shape = infer(p.expression, [spec.shape for spec in inputs])
        except ExpressionError as err:
            raise ShapeError(f"Lambda expression, {err}", code=err.code, field=EXPRESSION_FIELD) from None
        return TensorSpec(shape)

    def emit(self, call, p: LambdaParams, args):
        return emit(p.expression, [spec.shape for spec in call.input_specs], call, args)

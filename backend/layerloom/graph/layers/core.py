"""Inputs, outputs and the core layers (Dense, Activation, Dropout, reshaping, Embedding)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..catalog import Layer, Params, ShapeError, TensorSpec, Weight, format_shape, register_layer
from ..lazy import nn, torch, torch_ops
from ._common import ActivationName, PositiveInt, channels_note, require_rank

# Loss and metric names a head may use; the trainer implements exactly these (a test keeps both in step).
Loss = Literal[
    "mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "kl_divergence", "cosine_similarity",
]
Metric = Literal["accuracy", "top_k_accuracy", "mae", "mse", "rmse", "r2", "auc"]

MAX_DIM = 10_000_000


class InputParams(Params):
    shape: list[Annotated[int, Field(ge=1, le=MAX_DIM)]] = Field(
        ..., min_length=1, max_length=4,
        description="Shape of one sample, without the batch dimension, channels first: [100], [3, 32, 32], [20] token ids.",
    )
    dtype: Literal["float32", "int64", "int32"] = Field(
        "float32", description="int64 / int32 for token ids feeding an Embedding; float32 otherwise."
    )


@register_layer
class Input(Layer):
    type = "Input"
    category = "Inputs/Outputs"
    doc = "A named model input; its id is the name of the array fed to it."
    params_model = InputParams
    min_inputs = 0
    max_inputs = 0
    example_params = ({"shape": [100]}, {"shape": [3, 8, 8]}, {"shape": [12], "dtype": "int64"})

    def output(self, p: InputParams, inputs: list[TensorSpec]) -> TensorSpec:
        return TensorSpec(tuple(p.shape), "float" if p.dtype == "float32" else "int")

    def emit(self, call, p, args):
        return call.graph_input()


class OutputParams(Params):
    loss: Loss = Field("categorical_crossentropy", description="Loss this head is trained with.")
    loss_weight: float = Field(1.0, ge=0.0, le=1e6, description="Weight of this head's loss in the total loss.")
    metrics: list[Metric] = Field(default_factory=list, description="Metrics reported for this head.")
    top_k: int = Field(5, ge=1, le=1000, description="k for the top_k_accuracy metric.")


@register_layer
class Output(Layer):
    type = "Output"
    category = "Inputs/Outputs"
    doc = "A model output (head) with its own loss, loss weight and metrics; its id names the target array."
    params_model = OutputParams
    num_outputs = 0
    accepts_int = True
    # A sequence head's loss skips the masked steps: it keeps a mask covering its first axis
    # (and ignores, with a warning, one made for another axis, which the loss could not apply).
    mask_role = "consume"

    def keeps_mask(self, p):
        return True
    example_params = ({"loss": "categorical_crossentropy", "metrics": ["accuracy"]}, {"loss": "mse", "loss_weight": 0.5})

    def output(self, p, inputs):
        return inputs[0]

    def emit(self, call, p, args):
        return args[0]


class DenseParams(Params):
    units: PositiveInt = Field(..., description="Number of output features.")
    activation: ActivationName = Field("linear", description="Activation applied to the output.")
    use_bias: bool = True


@register_layer
class Dense(Layer):
    type = "Dense"
    category = "Core"
    doc = "Fully connected layer on the last axis: units outputs, each a weighted sum of all inputs."
    params_model = DenseParams
    mask_role = "pass"
    example_params = ({"units": 8}, {"units": 3, "activation": "softmax"}, {"units": 5, "use_bias": False, "activation": "tanh"})

    def _features(self, spec: TensorSpec) -> int:
        require_rank("Dense", spec, (1, 2, 3, 4), "an input with at least one dimension")
        return spec.shape[-1]

    def output(self, p: DenseParams, inputs):
        self._features(inputs[0])
        return TensorSpec(inputs[0].shape[:-1] + (p.units,))

    def weights(self, p: DenseParams, inputs):
        n_in = self._features(inputs[0])
        w = [Weight("weight", (p.units, n_in))]
        return w + ([Weight("bias", (p.units,))] if p.use_bias else [])

    def notes(self, p: DenseParams, inputs):
        return channels_note("Dense", inputs[0], "use a 1x1 Conv2D with filters = units instead", "inputs")

    def make_module(self, p: DenseParams, inputs):
        return nn.Linear(inputs[0].shape[-1], p.units, bias=p.use_bias)

    def emit(self, call, p: DenseParams, args):
        return call.activation(p.activation, call.module(*args), dim=-1)


class ActivationParams(Params):
    activation: ActivationName = Field("relu", description="Function applied element-wise (softmax: over the last axis).")


@register_layer
class Activation(Layer):
    type = "Activation"
    category = "Core"
    doc = "Applies an activation function; softmax and log_softmax work over the last axis, as in Keras."
    params_model = ActivationParams
    mask_role = "pass"
    example_params = ({"activation": "relu"}, {"activation": "softmax"}, {"activation": "leaky_relu"}, {"activation": "gelu"})

    def output(self, p, inputs):
        return inputs[0]

    def emit(self, call, p: ActivationParams, args):
        return call.activation(p.activation, args[0], dim=-1)


class DropoutParams(Params):
    rate: float = Field(0.5, ge=0.0, lt=1.0, description="Fraction of inputs set to zero during training.")
    noise_shape: list[Annotated[int, Field(ge=1, le=MAX_DIM)] | None] | None = Field(
        None, min_length=2, max_length=5, description=(
            "Shape of the keep/drop mask, batch axis first, as in Keras; null entries take the input's size "
            "and 1 shares one draw along that axis ([null, null, 1, 1] drops whole channels of an image)."))


@register_layer
class Dropout(Layer):
    type = "Dropout"
    category = "Regularization"
    doc = "Randomly zeroes a fraction of its inputs during training (scaling the rest); identity at inference."
    params_model = DropoutParams
    mask_role = "pass"
    example_params = ({"rate": 0.25}, {"rate": 0.5, "noise_shape": [None, 1, None]})

    def output(self, p: DropoutParams, inputs):
        x = inputs[0]
        if p.noise_shape is not None:
            full = (None, *x.shape)
            if len(p.noise_shape) != len(full) or any(
                    n not in (None, 1, d) for n, d in zip(p.noise_shape, full)):
                raise ShapeError(
                    f"Dropout noise_shape {p.noise_shape} does not fit the input (batch, {', '.join(map(str, x.shape))}): "
                    f"give {len(full)} entries, batch axis first, each null, 1 or the input's size on that axis.",
                    field="params.noise_shape")
        return x

    def make_module(self, p: DropoutParams, inputs):
        if p.noise_shape is None:
            return nn.Dropout(p.rate)
        return torch_ops.NoiseShapeDropout(p.rate, tuple(p.noise_shape))


class ActivityRegularizationParams(Params):
    l1: float = Field(0.0, ge=0.0, le=1e6, description="Weight of the L1 penalty on the activations.")
    l2: float = Field(0.0, ge=0.0, le=1e6, description="Weight of the L2 penalty on the activations.")


@register_layer
class ActivityRegularization(Layer):
    type = "ActivityRegularization"
    category = "Regularization"
    doc = "Passes its input through and adds l1·Σ|x| + l2·Σx² (per sample, batch-averaged) to the training loss."
    params_model = ActivityRegularizationParams
    mask_role = "pass"
    example_params = ({"l1": 0.01}, {"l2": 0.001})

    def output(self, p, inputs):
        return inputs[0]

    def emit(self, call, p: ActivityRegularizationParams, args):
        if p.l1 or p.l2:
            call.add_penalty(torch_ops.activity_penalty, args[0], p.l1, p.l2)
        return args[0]


@register_layer
class Flatten(Layer):
    type = "Flatten"
    category = "Core"
    doc = "Flattens each sample to one dimension (channels-first order, as PyTorch)."
    example_params = ({},)

    def output(self, p, inputs):
        return TensorSpec((math.prod(inputs[0].shape),))

    def emit(self, call, p, args):
        return call.function(torch.flatten, args[0], 1)


class ReshapeParams(Params):
    target_shape: list[Annotated[int, Field(ge=-1, le=MAX_DIM)]] = Field(
        ..., min_length=1, max_length=4,
        description="New per-sample shape; one entry may be -1 to take what is left.",
    )

    @model_validator(mode="after")
    def _one_unknown(self):
        if self.target_shape.count(-1) > 1:
            raise ValueError("target_shape may contain -1 at most once")
        if 0 in self.target_shape:
            raise ValueError("target_shape entries must be positive (or a single -1)")
        return self


@register_layer
class Reshape(Layer):
    type = "Reshape"
    category = "Core"
    doc = "Reshapes each sample to target_shape (same number of elements)."
    params_model = ReshapeParams
    example_params = ({"target_shape": [-1]}, {"target_shape": [2, -1]})

    def _resolve(self, p: ReshapeParams, spec: TensorSpec) -> tuple[int, ...]:
        size = math.prod(spec.shape)
        known = math.prod(d for d in p.target_shape if d != -1)
        if -1 in p.target_shape:
            if size % known:
                raise ShapeError(
                    f"Reshape cannot fit {size} elements from shape {spec} into {p.target_shape}: "
                    f"{size} is not a multiple of {known}."
                )
            return tuple(size // known if d == -1 else d for d in p.target_shape)
        if known != size:
            raise ShapeError(
                f"Reshape needs the same number of elements: input {spec} has {size}, "
                f"target_shape {format_shape(tuple(p.target_shape))} has {known}."
            )
        return tuple(p.target_shape)

    def output(self, p, inputs):
        return TensorSpec(self._resolve(p, inputs[0]), inputs[0].dtype)

    def emit(self, call, p, args):
        return call.method("reshape", args[0], -1, *self._resolve(p, call.input_specs[0]))


class PermuteParams(Params):
    dims: list[Annotated[int, Field(ge=1, le=4)]] = Field(
        ..., min_length=1, max_length=4,
        description="Permutation of the sample axes, numbered from 1 as in Keras (the batch axis stays first).",
    )


@register_layer
class Permute(Layer):
    type = "Permute"
    category = "Core"
    doc = "Reorders the axes of each sample; dims counts from 1, e.g. [2, 1] swaps the two axes of a sequence."
    params_model = PermuteParams
    # Keras's Permute drops masks; here it passes them, because it is how a (time, features) sequence
    # reaches the channels-first 1D layers (GlobalAveragePooling1D steps over the last axis).
    mask_role = "pass"
    example_params = ({"dims": [1]},)

    def output(self, p: PermuteParams, inputs):
        shape = inputs[0].shape
        if sorted(p.dims) != list(range(1, len(shape) + 1)):
            raise ShapeError(
                f"Permute dims {p.dims} must be a permutation of 1..{len(shape)} for input shape {inputs[0]}."
            )
        return TensorSpec(tuple(shape[d - 1] for d in p.dims), inputs[0].dtype)

    def emit(self, call, p: PermuteParams, args):
        return call.method("permute", args[0], 0, *p.dims)


class RepeatVectorParams(Params):
    n: PositiveInt = Field(..., description="Number of repetitions.")


@register_layer
class RepeatVector(Layer):
    type = "RepeatVector"
    category = "Core"
    doc = "Repeats a feature vector n times: (features,) becomes (n, features)."
    params_model = RepeatVectorParams
    example_params = ({"n": 3},)

    def output(self, p, inputs):
        require_rank("RepeatVector", inputs[0], (1,), "a feature vector (one dimension)")
        return TensorSpec((p.n, inputs[0].shape[0]))

    def emit(self, call, p, args):
        return call.function(torch_ops.repeat_vector, args[0], p.n)


class EmbeddingParams(Params):
    input_dim: PositiveInt = Field(..., description="Vocabulary size: token ids run from 0 to input_dim - 1.")
    output_dim: PositiveInt = Field(..., description="Size of each token's vector.")
    mask_zero: bool = Field(False, description="Token id 0 is padding: the output carries a mask of the other steps "
                            "(skipped by recurrent layers, masked pooling, attention and sequence losses).")


@register_layer
class Embedding(Layer):
    type = "Embedding"
    category = "Core"
    doc = "Turns integer token ids into learned vectors: (length,) becomes (length, output_dim)."
    params_model = EmbeddingParams
    accepts_int = True
    mask_role = "produce"
    example_params = ({"input_dim": 50, "output_dim": 4}, {"input_dim": 50, "output_dim": 4, "mask_zero": True})

    def produces_mask(self, p: EmbeddingParams, inputs):
        return inputs[0].shape[0] if p.mask_zero else None

    def emit_mask(self, call, p, args):
        return call.function(torch.ne, args[0], 0)

    def output(self, p, inputs):
        if inputs[0].dtype != "int":
            raise ShapeError(
                "Embedding takes integer token ids but gets float values; set the Input's dtype to int64.",
                code="dtype",
            )
        if p.mask_zero:
            require_rank("Embedding with mask_zero", inputs[0], (1,), "a (length,) sequence of token ids")
        return TensorSpec(inputs[0].shape + (p.output_dim,))

    def weights(self, p, inputs):
        return [Weight("weight", (p.input_dim, p.output_dim))]

    def make_module(self, p, inputs):
        return nn.Embedding(p.input_dim, p.output_dim)


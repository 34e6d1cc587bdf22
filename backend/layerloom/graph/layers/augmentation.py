"""Image augmentation, the Keras 3 way: RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
RandomCrop, RandomContrast, RandomBrightness, on channels-first (channels, height, width) images.

Parameter names, defaults and ranges are Keras 3.15's, and so is what they mean, including the
quirks (a float ``factor`` of RandomContrast gives contrast factors in [1, 1 + factor], because
Keras clips the lower bound at 0). Keras's ``seed`` is not a parameter: the draws come from the
job's seed and the node id (graph/augment_ops.py), so a resumed job replays them exactly.

Active only in training. The training graph calls the module, which is the identity in eval mode
(validation and test); the inference graph, which prediction and the ONNX, torch.export and
PyTorch-source exports use, never calls it, so no export holds randomness. RandomCrop is the one
layer that changes the shape: in inference it center crops the largest window of the target
aspect ratio and resizes it to (height, width), as Keras documents (Keras 3.15's code returns its
input unchanged there, which would break every layer after it), so both graphs give (C, height, width).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from pydantic import model_validator

from ..catalog import Layer, Params, ShapeError, register_layer
from ..lazy import augment_ops, torch_ops
from ._common import PositiveInt, require_rank

FillMode = Literal["reflect", "wrap", "constant", "nearest"]
Interpolation = Literal["nearest", "bilinear"]
Bound = Annotated[float, Field(ge=-1e6, le=1e6)]
Factor = Bound | Annotated[list[Bound], Field(min_length=2, max_length=2)]
ValueRange = Annotated[list[Bound], Field(min_length=2, max_length=2)]


def keras_factor(layer: str, field: str, factor: float | list[float], bounds: tuple[float, float]) -> tuple[float, float]:
    """Keras's ``_set_factor``: a float f means (max(-|f|, low), |f|), a pair is sorted; out of bounds is an error."""
    low, high = bounds
    if isinstance(factor, list):
        if factor[0] > high or factor[1] < low:
            raise ValueError(f"{layer} {field} {factor} is outside [{low}, {high}]")
        lower, upper = sorted(factor)
        return float(lower), float(upper)
    if not low <= factor <= high:
        raise ValueError(f"{layer} {field} {factor} is outside [{low}, {high}]")
    return float(max(-abs(factor), low)), float(abs(factor))


def _pair_in(layer: str, field: str, factor: float | list[float]) -> tuple[float, float]:
    """Zoom and translation: a float f is (-f, f), a pair is taken as given; every bound within [-1, 1]."""
    lower, upper = (-abs(factor), abs(factor)) if isinstance(factor, (int, float)) else (factor[0], factor[1])
    if upper < lower:
        raise ValueError(f"{layer} {field} {factor}: the lower bound must not exceed the upper one")
    if abs(lower) > 1 or abs(upper) > 1:
        raise ValueError(f"{layer} {field} {factor}: each bound must be within [-1, 1]")
    return float(lower), float(upper)


class _Augmentation(Layer):
    category = "Augmentation"

    def output(self, p, inputs):
        require_rank(self.type, inputs[0], (3,), "a (channels, height, width) image")
        return inputs[0]

    def emit(self, call, p, args):
        # Only the training graph calls the module; inference and exports see the identity.
        return call.module(*args) if call.for_training else args[0]


class FlipParams(Params):
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = Field(
        "horizontal_and_vertical", description="Which flips: horizontal (left-right), vertical (up-down) or both, "
                                               "each with probability 0.5 per image.")


@register_layer
class RandomFlip(_Augmentation):
    type = "RandomFlip"
    doc = "Flips each training image left-right and/or up-down with probability 0.5; identity at inference."
    params_model = FlipParams
    example_params = ({}, {"mode": "horizontal"})

    def make_module(self, p: FlipParams, inputs):
        return augment_ops.RandomFlip(p.mode)


class _FillParams(Params):
    fill_mode: FillMode = Field("reflect", description="How points outside the image are filled: reflect "
                                "(d c b a | a b c d | d c b a), wrap, constant (fill_value) or nearest.")
    interpolation: Interpolation = Field("bilinear", description="Sampling: bilinear or nearest.")
    fill_value: float = Field(0.0, ge=-1e6, le=1e6, description="The value outside the image with fill_mode constant.")


class RotationParams(_FillParams):
    factor: Factor = Field(..., description="Rotation as a fraction of 2π: a float f draws from [-f, f], a pair "
                                            "[lower, upper] from that range; positive is counter-clockwise.")


@register_layer
class RandomRotation(_Augmentation):
    type = "RandomRotation"
    doc = "Rotates each training image about its centre by a random angle; identity at inference."
    params_model = RotationParams
    example_params = ({"factor": 0.1}, {"factor": [-0.25, 0.25], "fill_mode": "constant", "interpolation": "nearest"})

    def output(self, p: RotationParams, inputs):
        self._factor(p)
        return super().output(p, inputs)

    def _factor(self, p: RotationParams) -> tuple[float, float]:
        return _checked(lambda: keras_factor(self.type, "factor", p.factor, (-1.0, 1.0)), "params.factor")

    def make_module(self, p: RotationParams, inputs):
        return augment_ops.RandomRotation(*self._factor(p), p.fill_mode, p.interpolation, p.fill_value)


class ZoomParams(_FillParams):
    height_factor: Factor = Field(..., description="Vertical zoom as a fraction: a float f draws from [-f, f]; "
                                                   "positive zooms out, negative zooms in; bounds within [-1, 1].")
    width_factor: Factor | None = Field(None, description="Horizontal zoom, likewise; unset: the same draw as the "
                                                          "height (the aspect ratio is kept).")


@register_layer
class RandomZoom(_Augmentation):
    type = "RandomZoom"
    doc = "Zooms each training image in or out about its centre by a random factor per axis; identity at inference."
    params_model = ZoomParams
    example_params = ({"height_factor": 0.2}, {"height_factor": [-0.3, -0.1], "width_factor": 0.2,
                                               "fill_mode": "constant"})

    def output(self, p: ZoomParams, inputs):
        self._factors(p)
        return super().output(p, inputs)

    def _factors(self, p: ZoomParams):
        height = _checked(lambda: _pair_in(self.type, "height_factor", p.height_factor), "params.height_factor")
        width = None if p.width_factor is None else _checked(
            lambda: _pair_in(self.type, "width_factor", p.width_factor), "params.width_factor")
        return height, width

    def make_module(self, p: ZoomParams, inputs):
        return augment_ops.RandomZoom(*self._factors(p), p.fill_mode, p.interpolation, p.fill_value)


class TranslationParams(_FillParams):
    height_factor: Factor = Field(..., description="Vertical shift as a fraction of the height: a float f draws "
                                                   "from [-f, f]; positive moves down; bounds within [-1, 1].")
    width_factor: Factor = Field(..., description="Horizontal shift as a fraction of the width, likewise; positive "
                                                  "moves right.")


@register_layer
class RandomTranslation(_Augmentation):
    type = "RandomTranslation"
    doc = "Shifts each training image by a random fraction of its height and width; identity at inference."
    params_model = TranslationParams
    example_params = ({"height_factor": 0.1, "width_factor": 0.1},
                      {"height_factor": [-0.2, 0.0], "width_factor": 0.3, "fill_mode": "nearest"})

    def output(self, p: TranslationParams, inputs):
        self._factors(p)
        return super().output(p, inputs)

    def _factors(self, p: TranslationParams):
        return (_checked(lambda: _pair_in(self.type, "height_factor", p.height_factor), "params.height_factor"),
                _checked(lambda: _pair_in(self.type, "width_factor", p.width_factor), "params.width_factor"))

    def make_module(self, p: TranslationParams, inputs):
        return augment_ops.RandomTranslation(*self._factors(p), p.fill_mode, p.interpolation, p.fill_value)


class CropParams(Params):
    height: PositiveInt = Field(..., description="Height of the output.")
    width: PositiveInt = Field(..., description="Width of the output.")


@register_layer
class RandomCrop(_Augmentation):
    type = "RandomCrop"
    doc = ("Crops a random (height, width) window of the training batch (one location per batch); at inference, "
           "and for images not larger than the window, crops the centre to that aspect ratio and resizes.")
    params_model = CropParams
    example_params = ({"height": 4, "width": 4},)

    def output(self, p: CropParams, inputs):
        super().output(p, inputs)
        return type(inputs[0])((inputs[0].shape[0], p.height, p.width), inputs[0].dtype)

    def emit(self, call, p: CropParams, args):
        if call.for_training:
            return call.module(*args)
        return call.function(torch_ops.keras_center_crop, args[0], p.height, p.width)

    def make_module(self, p: CropParams, inputs):
        return augment_ops.RandomCrop(p.height, p.width)


class _RangeParams(Params):
    @model_validator(mode="after")
    def _ordered(self):
        low, high = self.value_range
        if not low < high:
            raise ValueError(f"value_range must be [low, high] with low < high, got {list(self.value_range)}")
        return self


class ContrastParams(_RangeParams):
    factor: Factor = Field(..., description="Contrast factors are drawn from [1 - lower, 1 + upper]; a float f is "
                                            "(0, f) as in Keras (the lower bound is clipped at 0); within [0, 1].")
    value_range: ValueRange = Field([0, 255], description="[low, high] of the pixel values; the output is clipped to it.")


@register_layer
class RandomContrast(_Augmentation):
    type = "RandomContrast"
    doc = "Scales each training image's deviation from its per-channel mean by a random factor; identity at inference."
    params_model = ContrastParams
    example_params = ({"factor": 0.2}, {"factor": [0.1, 0.4], "value_range": [0, 1]})

    def output(self, p: ContrastParams, inputs):
        self._factor(p)
        return super().output(p, inputs)

    def _factor(self, p: ContrastParams):
        return _checked(lambda: keras_factor(self.type, "factor", p.factor, (0.0, 1.0)), "params.factor")

    def make_module(self, p: ContrastParams, inputs):
        return augment_ops.RandomContrast(*self._factor(p), tuple(p.value_range))


class BrightnessParams(_RangeParams):
    factor: Factor = Field(..., description="The added delta as a fraction of the value range: a float f draws from "
                                            "[-f, f], a pair from [lower, upper]; within [-1, 1].")
    value_range: ValueRange = Field([0, 255], description="[low, high] of the pixel values; the output is clipped to it.")


@register_layer
class RandomBrightness(_Augmentation):
    type = "RandomBrightness"
    doc = "Adds a random delta (a fraction of the value range) to each training image; identity at inference."
    params_model = BrightnessParams
    example_params = ({"factor": 0.2}, {"factor": [-0.1, 0.3], "value_range": [0, 1]})

    def output(self, p: BrightnessParams, inputs):
        self._factor(p)
        return super().output(p, inputs)

    def _factor(self, p: BrightnessParams):
        return _checked(lambda: keras_factor(self.type, "factor", p.factor, (-1.0, 1.0)), "params.factor")

    def make_module(self, p: BrightnessParams, inputs):
        return augment_ops.RandomBrightness(*self._factor(p), tuple(p.value_range))


def _checked(compute, field: str):
    """A factor Keras would refuse, as a ShapeError on the field (the analysis reports it on the node)."""
    try:
        return compute()
    except ValueError as err:
        raise ShapeError(f"{err}.", code="params", field=field) from None

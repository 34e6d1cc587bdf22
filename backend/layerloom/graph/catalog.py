"""The layer catalog: every layer type is declared once, here and in ``graph/layers/``.

A layer answers a few small questions: which parameters it takes (a pydantic model with Keras 3
names, defaults, ranges and docs), how many inputs it has, what output shape it produces from its
input shapes, which weights it holds, which ``torch.nn`` module implements it, and how its call is
written into the generated ``forward``. ``GET /api/layers`` publishes this catalog; the editor's
palette and inspector are generated from it.

Shapes never include the batch dimension and are channels-first, as in PyTorch.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # analysis never imports torch; only building a module does
    from torch import nn

DType = Literal["float", "int"]
#: What a layer does with a Keras mask (the rules are in graph/masking.py): "drop" ignores it and the
#: mask stops there (the analysis warns, as Keras does); "pass" keeps it on the output (element-wise
#: layers; merges combine their inputs' masks); "consume" uses it (skipped recurrent steps, masked
#: pooling, attention); "produce" makes one (Masking, Embedding with mask_zero).
MaskRole = Literal["drop", "pass", "consume", "produce"]


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor's per-sample shape (no batch dimension) and its kind of dtype."""

    shape: tuple[int, ...]
    dtype: DType = "float"

    def __str__(self) -> str:
        return format_shape(self.shape)


def format_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class ShapeError(ValueError):
    """A layer cannot take the shapes it is given; the message states the rule and what came in.
    ``field`` is what the issue points at: the inputs, or a parameter such as ``params.expression``."""

    def __init__(self, message: str, code: str = "shape", field: str = "inputs") -> None:
        super().__init__(message)
        self.code, self.field = code, field


@dataclass(frozen=True, slots=True)
class Weight:
    """One weight tensor a layer holds: its state_dict name, shape, and whether training updates it."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


class Params(BaseModel):
    """Base of every layer's parameter model: unknown parameter names are errors, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Layer:
    """Base of every catalog entry. Subclasses set the class attributes and override what applies."""

    type: ClassVar[str]
    category: ClassVar[str]
    doc: ClassVar[str]
    params_model: ClassVar[type[Params]] = Params
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1  # None: any number of ordered input ports (merges)
    num_outputs: ClassVar[int] = 1
    accepts_int: ClassVar[bool] = False  # only Embedding (and Input/Output) take integer tensors
    mask_role: ClassVar[MaskRole] = "drop"
    #: Sequence of example params for tests and the palette's defaults.
    example_params: ClassVar[tuple[dict[str, Any], ...]] = ({},)

    def output(self, p: Any, inputs: list[TensorSpec]) -> TensorSpec:
        raise NotImplementedError

    def infer(self, p: Any, inputs: list[TensorSpec], sources: list[str]) -> TensorSpec:
        """Output spec for inputs coming from the nodes ``sources``; merges use the names in errors."""
        return self.output(p, inputs)

    def weights(self, p: Any, inputs: list[TensorSpec]) -> list[Weight]:
        """The weights a module built for these inputs holds (parameters and float buffers)."""
        return []

    def notes(self, p: Any, inputs: list[TensorSpec]) -> list[tuple[str, str, str]]:
        """Warnings about a valid but likely unintended use, as (code, field, message)."""
        return []

    def make_module(self, p: Any, inputs: list[TensorSpec]) -> nn.Module | None:
        """The torch module that implements this layer, or None when it is a plain function."""
        return None

    def emit(self, call: "CallSite", p: Any, args: list[Any]) -> Any:
        """Record this layer's call in the generated forward; by default, call its module.
        A layer whose ``mask_role`` is "consume" finds its inputs' masks in ``call.input_masks``."""
        return call.module(*args)

    # Masks: see MaskRole and graph/masking.py.
    def mask_steps(self, p: Any, inputs: list[TensorSpec]) -> list[int | None]:
        """A consumer: the number of steps each input port's mask must cover (None: that port takes no mask)."""
        return [inputs[0].shape[0]] + [None] * (len(inputs) - 1)

    def keeps_mask(self, p: Any) -> bool:
        """A consumer whose output still carries its first input's mask (return_sequences, attention)."""
        return False

    def produces_mask(self, p: Any, inputs: list[TensorSpec]) -> int | None:
        """A producer: the number of steps of the mask it makes with these params, or None for no mask."""
        return None

    def emit_mask(self, call: "CallSite", p: Any, args: list[Any]) -> Any:
        """A producer: record the computation of its (batch, steps) boolean mask."""
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The catalog entry as published by the API (params as JSON Schema)."""
        return {
            "type": cls.type,
            "category": cls.category,
            "doc": cls.doc,
            "params_schema": cls.params_model.model_json_schema(),
            "inputs": {"min": cls.min_inputs, "max": cls.max_inputs},
            "outputs": cls.num_outputs,
            "mask": cls.mask_role,
        }


class CallSite:
    """What a layer's ``emit`` may use to write its call into the generated code.

    Implemented by the builder; declared here so the catalog does not import the builder.
    """

    #: Per input port, the (batch, steps) boolean mask that travels with it, or None.
    input_masks: list[Any] = []
    #: True while writing the training graph; the inference graph (prediction, exports) skips augmentation.
    for_training: bool = True

    def module(self, *args: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def function(self, fn: Any, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def method(self, name: str, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def submodule(self, name: str, *args: Any) -> Any:  # pragma: no cover - interface
        """Call a child of this node's module (a wrapper's inner layer: ``td.layer``)."""
        raise NotImplementedError


CATEGORIES = (
    "Inputs/Outputs",
    "Core",
    "Convolution",
    "Pooling",
    "Recurrent",
    "Activation",
    "Attention",
    "Normalization",
    "Preprocessing",
    "Augmentation",
    "Merge",
    "Regularization",
)

_REGISTRY: dict[str, Layer] = {}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator that adds a layer type to the catalog; incomplete or duplicate entries fail."""
    for attr in ("type", "category", "doc"):
        if not getattr(cls, attr, None):
            raise TypeError(f"layer {cls.__name__} must set '{attr}'")
    if cls.category not in CATEGORIES:
        raise TypeError(f"layer {cls.type}: unknown category {cls.category!r}")
    if cls.type in _REGISTRY:
        raise TypeError(f"layer type {cls.type!r} is registered twice")
    if cls.output is Layer.output:
        raise TypeError(f"layer {cls.type} must define output()")
    _REGISTRY[cls.type] = cls()
    return cls


def get_layer(type_name: str) -> Layer | None:
    _ensure_loaded()
    return _REGISTRY.get(type_name)


def layer_types() -> list[str]:
    _ensure_loaded()
    return list(_REGISTRY)


def all_layers() -> list[Layer]:
    _ensure_loaded()
    return list(_REGISTRY.values())


def suggest_type(name: str) -> str | None:
    _ensure_loaded()
    by_lower = {t.lower(): t for t in _REGISTRY}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    close = difflib.get_close_matches(name, list(_REGISTRY), n=1, cutoff=0.6)
    return close[0] if close else None


def catalog_json() -> list[dict[str, Any]]:
    """The whole catalog in category order, as ``GET /api/layers`` returns it."""
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return [type(layer).describe() for layer in sorted(all_layers(), key=lambda l: order[l.category])]


_loaded = False


def _ensure_loaded() -> None:
    # The layer modules register themselves on import. The flag keeps this off the per-node path
    # (an import statement per get_layer call cost 15 µs a node).
    global _loaded
    if not _loaded:
        from . import layers  # noqa: F401

        _loaded = True

"""Keras images are channels-last, Layerloom's are channels-first. Every converted tensor records
whether its axes are Keras's own (``cf=False``) or Keras's with the last (channel) axis moved to
axis 1 (``cf=True``). Layers that need one or the other get a Permute inserted; axes in params
(Concatenate.axis, BatchNormalization.axis, reductions) are remapped for ``cf`` tensors.

The rule for the model's own Inputs and Outputs: rank ≥ 3 per sample (images, volumes) is
channels-first, as Layerloom's image datasets are; vectors and (time, features) sequences keep
Keras's order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tensor:
    node: str  # the Layerloom node producing it
    cf: bool = False
    port: int = 0  # which output of the node (a Block call has one per output of its block)


def keras_shape_to_ours(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[-1], *shape[:-1]) if len(shape) >= 3 else tuple(shape)


def boundary_cf(rank: int) -> bool:
    """Whether a model Input or Output of this per-sample rank is channels-first."""
    return rank >= 3


def to_keras_dims(rank: int) -> list[int]:
    """Permute dims (1-based, as Layerloom's Permute) taking a cf tensor back to Keras's order."""
    return [*range(2, rank + 1), 1]


def to_cf_dims(rank: int) -> list[int]:
    return [rank, *range(1, rank)]


def resolve_axis(axis: int, rank: int) -> int | None:
    """A Keras axis (batch = 0, negatives from the end) as 1..rank, or None when out of range."""
    resolved = axis + rank + 1 if axis < 0 else axis
    return resolved if 1 <= resolved <= rank else None


def our_axis(keras_axis: int, rank: int, cf: bool) -> int:
    """A resolved Keras axis (1..rank) as the same axis of our tensor."""
    if not cf:
        return keras_axis
    return 1 if keras_axis == rank else keras_axis + 1

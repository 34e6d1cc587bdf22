"""Torch modules and functions that give PyTorch layers Keras's semantics where the two differ.

The generated forward calls these by name (``layerloom.graph.torch_ops.batch_dot(a, b, ...)``), so
each is small, pure and documented. State_dict names match PyTorch's own layers (``weight``,
``bias``, ``weight_ih_l0`` ...) so trained weights load into plain PyTorch code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Keras/TensorFlow 'same' padding for one dimension: output ceil(length / stride), the extra
    padding (when the total is odd) goes at the end."""
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - length, 0)
    return total // 2, total - total // 2


def _pad_arg(spatial: tuple[int, ...], kernel, stride, dilation) -> list[int]:
    # F.pad takes (last_left, last_right, second_last_left, ...).
    pads: list[int] = []
    for length, k, s, d in reversed(list(zip(spatial, kernel, stride, dilation))):
        pads.extend(same_padding(length, k, s, d))
    return pads


class StridedSameConv1d(nn.Conv1d):
    """Conv1d with Keras 'same' padding for any stride (PyTorch's 'same' allows stride 1 only)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = _pad_arg(tuple(x.shape[2:]), self.kernel_size, self.stride, self.dilation)
        return super().forward(F.pad(x, pads))


class StridedSameConv2d(nn.Conv2d):
    """Conv2d with Keras 'same' padding for any stride or an even kernel (asymmetric padding)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = _pad_arg(tuple(x.shape[2:]), self.kernel_size, self.stride, self.dilation)
        return super().forward(F.pad(x, pads))


class CroppedConvTranspose2d(nn.ConvTranspose2d):
    """ConvTranspose2d whose output is cropped at the end, for 'same' cases output_padding cannot
    express (an even kernel with stride 1)."""

    def __init__(self, *args, crop: tuple[int, int] = (0, 0), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.crop = crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        ch, cw = self.crop
        return y[..., : y.shape[-2] - ch, : y.shape[-1] - cw]


class SamePool(nn.Module):
    """Max or average pooling with Keras 'same' padding: padded cells never win a max and are not
    counted in an average (TensorFlow's behaviour)."""

    def __init__(self, kind: str, pool_size: tuple[int, ...], strides: tuple[int, ...]) -> None:
        super().__init__()
        self.kind = kind
        self.pool_size = pool_size
        self.strides = strides

    def extra_repr(self) -> str:
        return f"kind={self.kind}, pool_size={self.pool_size}, strides={self.strides}, padding='same'"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = len(self.pool_size)
        pads = _pad_arg(tuple(x.shape[2:]), self.pool_size, self.strides, (1,) * dims)
        max_pool = F.max_pool1d if dims == 1 else F.max_pool2d
        avg_pool = F.avg_pool1d if dims == 1 else F.avg_pool2d
        if self.kind == "max":
            return max_pool(F.pad(x, pads, value=-math.inf), self.pool_size, self.strides)
        total = avg_pool(F.pad(x, pads), self.pool_size, self.strides)
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        counted = avg_pool(F.pad(ones, pads), self.pool_size, self.strides)
        return total / counted


class _KerasRecurrent:
    """Mixin for PyTorch's RNN classes over (batch, time, features) that returns the whole sequence
    or the last output like Keras's ``return_sequences``; bidirectional outputs are concatenated.
    Subclassing (not wrapping) keeps PyTorch's state_dict names: ``lstm1.weight_ih_l0``."""

    def __init__(self, input_size: int, units: int, *, return_sequences: bool, bidirectional: bool) -> None:
        super().__init__(input_size, units, batch_first=True, bidirectional=bidirectional)
        self.return_sequences = return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence, state = super().forward(x)
        if self.return_sequences:
            return sequence
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
        if self.bidirectional:
            return torch.cat([h_n[-2], h_n[-1]], dim=-1)
        return h_n[-1]


class KerasSimpleRNN(_KerasRecurrent, nn.RNN):
    pass


class KerasLSTM(_KerasRecurrent, nn.LSTM):
    pass


class KerasGRU(_KerasRecurrent, nn.GRU):
    pass


def repeat_vector(x: torch.Tensor, n: int) -> torch.Tensor:
    """(batch, features) -> (batch, n, features), as Keras RepeatVector."""
    return x.unsqueeze(1).repeat(1, n, 1)


def batch_dot(a: torch.Tensor, b: torch.Tensor, axes: tuple[int, int], normalize: bool = False) -> torch.Tensor:
    """Keras ``Dot``: per-sample dot product of ``a`` and ``b`` along ``axes`` (axes count the batch
    dimension). A result with no dimension left becomes (batch, 1), as in Keras."""
    axis_a, axis_b = axes
    if normalize:
        a = F.normalize(a, dim=axis_a)
        b = F.normalize(b, dim=axis_b)
    a_moved = a.movedim(axis_a, -1)
    b_moved = b.movedim(axis_b, 1)
    rest_a, rest_b = a_moved.shape[1:-1], b_moved.shape[2:]
    batch, n = a.shape[0], a_moved.shape[-1]
    out = torch.bmm(a_moved.reshape(batch, -1, n), b_moved.reshape(batch, n, -1))
    shape = (*rest_a, *rest_b) or (1,)
    return out.reshape(batch, *shape)


def average(*xs: torch.Tensor) -> torch.Tensor:
    """Keras ``Average``: element-wise mean of its inputs."""
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total / len(xs)


def activity_penalty(x: torch.Tensor, l1: float, l2: float) -> torch.Tensor:
    """ActivityRegularization's loss term: (l1·Σ|x| + l2·Σx²) averaged over the batch, as Keras
    divides activity penalties by the batch size."""
    penalty = x.new_zeros(())
    if l1:
        penalty = penalty + l1 * x.abs().sum()
    if l2:
        penalty = penalty + l2 * x.square().sum()
    return penalty / x.shape[0]



class KerasNormalization(nn.Module):
    """Keras ``Normalization``: ``(x - mean) / max(sqrt(variance), 1e-7)`` (or, inverted,
    ``mean + x * max(sqrt(variance), 1e-7)``), with one mean and variance per index of the kept axes.

    Given statistics are constants (non-persistent buffers, already in a broadcastable shape), as
    Keras keeps them out of its weights. Adapted ones are Keras's three non-trainable weights,
    ``mean`` and ``variance`` (shaped like the kept axes) and ``count`` (how many values they
    summarise; 0 until ``adapt`` runs), so they are saved with the model and a resumed run does not
    recompute them.
    """

    EPSILON = 1e-7  # keras.backend.epsilon()

    def __init__(self, input_shape: tuple[int, ...], kept_axes: tuple[int, ...], *, mean: list[float] | None = None,
                 variance: list[float] | None = None, given_shape: tuple[int, ...] | None = None,
                 invert: bool = False) -> None:
        super().__init__()
        full = (1, *input_shape)  # axes count the batch as 0, as in Keras
        self.broadcast_shape = tuple(n if d in kept_axes else 1 for d, n in enumerate(full))
        self.reduce_dims = tuple(d for d in range(len(full)) if d not in kept_axes)
        self.invert = invert
        self.adapts = mean is None
        if self.adapts:
            stats_shape = tuple(full[d] for d in kept_axes)
            self.register_buffer("mean", torch.zeros(stats_shape))
            self.register_buffer("variance", torch.ones(stats_shape))
            self.register_buffer("count", torch.zeros(()))
        else:
            self.register_buffer("mean", torch.tensor(mean).reshape(given_shape), persistent=False)
            self.register_buffer("variance", torch.tensor(variance).reshape(given_shape), persistent=False)

    def extra_repr(self) -> str:
        return f"broadcast_shape={self.broadcast_shape}, adapts={self.adapts}, invert={self.invert}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, variance = self.mean, self.variance
        if self.adapts:
            mean, variance = mean.reshape(self.broadcast_shape), variance.reshape(self.broadcast_shape)
        scale = torch.sqrt(variance).clamp_min(self.EPSILON)
        return mean + x * scale if self.invert else (x - mean) / scale

    @property
    def adapted(self) -> bool:
        """Whether the statistics are known (given, adapted, or loaded from saved weights)."""
        return not self.adapts or bool(self.count > 0)

    @torch.no_grad()
    def adapt(self, batches) -> None:
        """Mean and variance over the batches of this layer's input, combined batch by batch in
        float64 exactly as Keras's ``adapt`` combines them (the lack-of-fit sum of squares)."""
        total_mean = total_var = None
        total_count = 0
        for batch in batches:
            batch = batch.double()
            batch_mean = batch.mean(dim=self.reduce_dims).reshape(self.mean.shape)
            batch_var = batch.var(dim=self.reduce_dims, correction=0).reshape(self.mean.shape)
            batch_count = math.prod(batch.shape[d] for d in self.reduce_dims)
            if batch_count == 0:
                continue
            if total_mean is None:
                total_mean, total_var, total_count = batch_mean, batch_var, batch_count
                continue
            total_count += batch_count
            weight = batch_count / total_count
            new_mean = total_mean * (1 - weight) + batch_mean * weight
            total_var = ((total_var + (total_mean - new_mean) ** 2) * (1 - weight)
                         + (batch_var + (batch_mean - new_mean) ** 2) * weight)
            total_mean = new_mean
        if total_mean is None:
            raise ValueError("Normalization cannot adapt: the training split has no samples.")
        self.mean.copy_(total_mean)
        self.variance.copy_(total_var)
        self.count.fill_(total_count)

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


class _StridedSame:
    """Mixin for a ConvNd: Keras 'same' padding for any stride or an even kernel (asymmetric
    padding; PyTorch's own 'same' allows stride 1 only)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = _pad_arg(tuple(x.shape[2:]), self.kernel_size, self.stride, self.dilation)
        return super().forward(F.pad(x, pads))


class StridedSameConv1d(_StridedSame, nn.Conv1d):
    pass


class StridedSameConv2d(_StridedSame, nn.Conv2d):
    pass


class StridedSameConv3d(_StridedSame, nn.Conv3d):
    pass


class SeparableConv(nn.Module):
    """Keras's SeparableConv: a depthwise convolution (no bias) then a 1x1 pointwise one; state_dict
    ``depthwise.weight``, ``pointwise.weight``, ``pointwise.bias``."""

    def __init__(self, depthwise: nn.Module, pointwise: nn.Module) -> None:
        super().__init__()
        self.depthwise = depthwise
        self.pointwise = pointwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class _CroppedTranspose:
    """Mixin for a ConvTransposeNd whose output is cropped at the end of each spatial axis, for
    'same' cases output_padding cannot express (an even kernel with stride 1)."""

    def __init__(self, *args, crop: tuple[int, ...], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.crop = tuple(crop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        for axis, amount in enumerate(self.crop, start=2):
            if amount:
                y = y.narrow(axis, 0, y.shape[axis] - amount)
        return y


class CroppedConvTranspose1d(_CroppedTranspose, nn.ConvTranspose1d):
    pass


class CroppedConvTranspose2d(_CroppedTranspose, nn.ConvTranspose2d):
    pass


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
        if self.kind == "max":
            max_pool = getattr(F, f"max_pool{dims}d")
            return max_pool(F.pad(x, pads, value=-math.inf), self.pool_size, self.strides)
        avg_pool = getattr(F, f"avg_pool{dims}d")
        total = avg_pool(F.pad(x, pads), self.pool_size, self.strides)
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        counted = avg_pool(F.pad(ones, pads), self.pool_size, self.strides)
        return total / counted


def crop(x: torch.Tensor, amounts: tuple[tuple[int, int], ...]) -> torch.Tensor:
    """Keras Cropping: remove (start, end) elements from each trailing spatial axis."""
    first = x.dim() - len(amounts)
    for axis, (start, end) in enumerate(amounts, start=first):
        x = x.narrow(axis, start, x.shape[axis] - start - end)
    return x


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


def relu(x: torch.Tensor, max_value: float | None = None, negative_slope: float = 0.0,
         threshold: float = 0.0) -> torch.Tensor:
    """Keras ``ReLU``: x above ``threshold`` (else 0), capped at ``max_value``, plus
    ``negative_slope · (x − threshold)`` below the threshold."""
    out = x * (x > threshold).to(x.dtype) if threshold != 0 else torch.relu(x)
    if max_value is not None:
        out = out.clamp(0.0, max_value)
    if negative_slope:
        out = out - negative_slope * torch.relu(threshold - x)
    return out


class PReLU(nn.Module):
    """Keras ``PReLU``: a learned slope per element below zero (``weight`` has the input's shape,
    with size 1 on the shared axes); starts at zero, as Keras's default ``alpha_initializer``."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) - self.weight * torch.relu(-x)


class NoiseShapeDropout(nn.Module):
    """Keras ``Dropout`` with ``noise_shape``: one keep/drop draw per cell of ``noise_shape``
    (batch axis first; None takes the input's size), broadcast over the axes of size 1."""

    def __init__(self, rate: float, noise_shape: tuple[int | None, ...]) -> None:
        super().__init__()
        self.rate = rate
        self.noise_shape = noise_shape

    def extra_repr(self) -> str:
        return f"rate={self.rate}, noise_shape={self.noise_shape}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        shape = [x.shape[i] if n is None else n for i, n in enumerate(self.noise_shape)]
        keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.rate)
        return x * keep / (1.0 - self.rate)


class GaussianNoise(nn.Module):
    """Keras ``GaussianNoise``: adds N(0, stddev²) noise while training; identity at inference."""

    def __init__(self, stddev: float) -> None:
        super().__init__()
        self.stddev = stddev

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.randn_like(x) * self.stddev if self.training and self.stddev else x


class GaussianDropout(nn.Module):
    """Keras ``GaussianDropout``: multiplies by N(1, rate / (1 − rate)) noise while training."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def extra_repr(self) -> str:
        return f"rate={self.rate}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        return x * (1.0 + torch.randn_like(x) * math.sqrt(self.rate / (1.0 - self.rate)))


class AxesLayerNorm(nn.Module):
    """Keras ``LayerNormalization`` over any axes (the batch axis is 0), with ``scale`` (``weight``)
    and ``center`` (``bias``) each optional; the weights have the normalized axes' sizes."""

    def __init__(self, axes: tuple[int, ...], input_shape: tuple[int, ...], eps: float,
                 center: bool, scale: bool) -> None:
        super().__init__()
        self.axes, self.eps = axes, eps
        param_shape = tuple(input_shape[a - 1] for a in axes)
        # How the weights line up with a (batch, *input_shape) tensor.
        self.broadcast = tuple(input_shape[a - 1] if a in axes else 1 for a in range(1, len(input_shape) + 1))
        self.weight = nn.Parameter(torch.ones(param_shape)) if scale else None
        self.bias = nn.Parameter(torch.zeros(param_shape)) if center else None

    def extra_repr(self) -> str:
        return f"axes={self.axes}, eps={self.eps}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=self.axes, keepdim=True)
        var = x.var(dim=self.axes, keepdim=True, unbiased=False)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.reshape(self.broadcast)
        if self.bias is not None:
            y = y + self.bias.reshape(self.broadcast)
        return y


def unit_normalize(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Keras ``UnitNormalization``: scale to unit L2 norm over ``dims`` (squared norm floored at 1e-12)."""
    return x * torch.rsqrt(x.square().sum(dim=dims, keepdim=True).clamp_min(1e-12))


def lift_rank(x: torch.Tensor, rank: int) -> torch.Tensor:
    """Insert size-1 axes after the batch axis until ``x`` has ``rank`` axes: how Keras's merge
    layers align inputs of different ranks (per-sample shapes aligned at the end, as NumPy)."""
    return x.reshape(x.shape[0], *([1] * (rank - x.dim())), *x.shape[1:])

"""Torch modules and functions that give PyTorch layers Keras's semantics where the two differ.

The generated forward calls these by name (``layerloom.graph.torch_ops.batch_dot(a, b, ...)``), so
each is small, pure and documented. State_dict names match PyTorch's own layers (``weight``,
``bias``, ``weight_ih_l0`` ...) so trained weights load into plain PyTorch code.
"""

from __future__ import annotations

import math
from typing import Any

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
    or the last output like Keras's ``return_sequences``; bidirectional outputs are merged by
    ``merge_mode`` (Keras's Bidirectional; concatenated by default).
    Subclassing (not wrapping) keeps PyTorch's state_dict names: ``lstm1.weight_ih_l0``.

    With a Keras mask (batch, time), masked steps are skipped as Keras skips them: the state carries
    over, so the last output is the one of the last valid step; with ``return_sequences`` a masked
    step repeats the previous output (zeros in a bidirectional layer, as Keras's Bidirectional
    forces). On CUDA, a batch whose sequences are all padded at their end runs as packed sequences
    in cuDNN's fused kernel; otherwise (other padding, or on CPU) the layer runs step by step."""

    cell: Any  # torch.rnn_tanh_cell, torch.lstm_cell or torch.gru_cell
    # Where packed sequences pay: cuDNN runs them fused. On CPU PyTorch's packed kernel was 2-4x
    # slower than the step loop (LSTM, 64 sequences of 50-100 steps, forward + backward).
    packed_devices: tuple[str, ...] = ("cuda",)

    def __init__(self, input_size: int, units: int, *, return_sequences: bool, bidirectional: bool,
                 merge_mode: str = "concat") -> None:
        super().__init__(input_size, units, batch_first=True, bidirectional=bidirectional)
        self.return_sequences = return_sequences
        self.merge_mode = merge_mode

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            return self._masked(x, mask)
        sequence, state = super().forward(x)
        if self.return_sequences:
            if self.bidirectional:
                return self._merge(*sequence.chunk(2, dim=-1))
            return sequence
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
        if self.bidirectional:
            return self._merge(h_n[-2], h_n[-1])
        return h_n[-1]

    def _merge(self, forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
        if self.merge_mode == "concat":
            return torch.cat([forward, backward], dim=-1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "mul":
            return forward * backward
        return (forward + backward) / 2  # "ave"

    def _masked(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.to(torch.bool)
        if x.device.type in self.packed_devices:
            lengths = mask.sum(dim=1)
            steps = torch.arange(mask.shape[1], device=mask.device)
            if bool((mask == (steps < lengths.unsqueeze(1))).all()):
                return self._right_padded(x, lengths)
        forward = self._direction(x, mask, "", reverse=False)
        if not self.bidirectional:
            return forward
        backward = self._direction(x, mask, "_reverse", reverse=True)
        return self._merge(forward, backward)

    def _right_padded(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The common case, every sequence padded at its end: PyTorch's packed sequences skip the
        padding in the fused kernel, with Keras's results."""
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        sequence, state = super().forward(packed)
        empty = (lengths == 0).unsqueeze(-1)  # nothing valid: Keras keeps the zero initial state
        if not self.return_sequences:
            h_n = state[0] if isinstance(state, tuple) else state
            last = self._merge(h_n[-2], h_n[-1]) if self.bidirectional else h_n[-1]
            return last.masked_fill(empty, 0.0)
        sequence, _ = nn.utils.rnn.pad_packed_sequence(sequence, batch_first=True, total_length=x.shape[1])
        sequence = sequence.masked_fill(empty.unsqueeze(1), 0.0)
        if self.bidirectional:
            return self._merge(*sequence.chunk(2, dim=-1))  # padded steps are zeros, as Keras's Bidirectional
        # Keras repeats the last valid output over the padding.
        last = sequence.gather(1, (lengths.clamp(min=1) - 1).view(-1, 1, 1).expand(-1, 1, sequence.shape[-1]))
        valid = (torch.arange(x.shape[1], device=x.device) < lengths.unsqueeze(1)).unsqueeze(-1)
        return torch.where(valid, sequence, last.masked_fill(empty.unsqueeze(1), 0.0))

    def _direction(self, x: torch.Tensor, mask: torch.Tensor, suffix: str, reverse: bool) -> torch.Tensor:
        weights = [getattr(self, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        batch, steps = x.shape[0], x.shape[1]
        h = x.new_zeros(batch, self.hidden_size)
        state: Any = (h, h) if isinstance(self, nn.LSTM) else h
        outputs = []
        zero_masked = self.return_sequences and self.bidirectional
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            valid = mask[:, t].unsqueeze(-1)
            new = self.cell(x[:, t], state, *weights)
            if isinstance(state, tuple):
                state = (torch.where(valid, new[0], state[0]), torch.where(valid, new[1], state[1]))
                h = state[0]
            else:
                state = h = torch.where(valid, new, state)
            if self.return_sequences:
                outputs.append(torch.where(valid, h, torch.zeros_like(h)) if zero_masked else h)
        if not self.return_sequences:
            return h
        if reverse:
            outputs.reverse()
        return torch.stack(outputs, dim=1)


class KerasSimpleRNN(_KerasRecurrent, nn.RNN):
    cell = staticmethod(torch.rnn_tanh_cell)


class KerasLSTM(_KerasRecurrent, nn.LSTM):
    cell = staticmethod(torch.lstm_cell)


class KerasGRU(_KerasRecurrent, nn.GRU):
    cell = staticmethod(torch.gru_cell)


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


# --- Keras masks (graph/masking.py decides where they travel) -----------------------------------


def any_mask(*masks: torch.Tensor) -> torch.Tensor:
    """Keras's merge rule: a step is valid in the merged tensor when it is valid in any input."""
    out = masks[0]
    for mask in masks[1:]:
        out = out | mask
    return out


def concat_step_masks(masks: list[torch.Tensor | None], values: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate along the steps axis: each input's mask, or all-valid for an unmasked input."""
    parts = [m if m is not None else torch.ones(v.shape[:2], dtype=torch.bool, device=v.device)
             for m, v in zip(masks, values)]
    return torch.cat(parts, dim=1)


def steps_not_equal(x: torch.Tensor, mask_value: float) -> torch.Tensor:
    """Keras ``Masking``'s mask: a step of (batch, time, features) is valid when any feature differs
    from mask_value."""
    return (x != mask_value).any(dim=-1)


def zero_masked_steps(x: torch.Tensor, mask_value: float) -> torch.Tensor:
    """Keras ``Masking``'s values: the masked steps become zeros."""
    return torch.where(steps_not_equal(x, mask_value).unsqueeze(-1), x, torch.zeros_like(x))


def masked_average_1d(x: torch.Tensor, mask: torch.Tensor, keepdims: bool) -> torch.Tensor:
    """GlobalAveragePooling1D over (batch, channels, length) counting only the valid steps (Keras's
    masked mean). A sequence with no valid step gives zeros, where Keras divides 0 by 0."""
    weights = mask.to(x.dtype).unsqueeze(1)
    total = (x * weights).sum(dim=2, keepdim=keepdims)
    count = weights.sum(dim=2, keepdim=keepdims).clamp(min=1.0)
    return total / count


def masked_max_1d(x: torch.Tensor, mask: torch.Tensor, keepdims: bool) -> torch.Tensor:
    """GlobalMaxPooling1D over the valid steps only (zeros for a sequence with none)."""
    valid = mask.to(torch.bool).unsqueeze(1)
    lowest = torch.finfo(x.dtype).min
    out = torch.where(valid, x, torch.full_like(x, lowest)).amax(dim=2, keepdim=keepdims)
    any_valid = valid.any(dim=2, keepdim=keepdims)
    return torch.where(any_valid, out, torch.zeros_like(out))


# --- Attention and position embeddings ----------------------------------------------------------


def _glorot_uniform_(weight: torch.Tensor, fan_in: int, fan_out: int) -> None:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(weight, -limit, limit)


class MultiHeadAttention(nn.Module):
    """Keras's MultiHeadAttention over (batch, time, features) sequences: per-head projections of
    query, key and value, softmax(q·kᵀ / sqrt(key_dim)) with dropout on the probabilities, and an
    output projection. The projections are Linear layers holding Keras's kernels flattened over the
    heads (query.weight is Keras's (d, heads, key_dim) kernel reshaped to (heads·key_dim, d) and
    transposed), so the parameter count is Keras's.

    Masks follow Keras: the query's mask (B, T), the value's and the key's (B, S) and the causal
    mask are ANDed into a (B, T, S) mask; masked scores get -1e9 (Keras's softmax masking, so a
    query step with nothing to attend to gives an average instead of NaN)."""

    def __init__(self, query_dim: int, value_dim_in: int, key_dim_in: int, *, num_heads: int, key_dim: int,
                 value_dim: int, output_dim: int, dropout: float, use_bias: bool, use_causal_mask: bool) -> None:
        super().__init__()
        self.num_heads, self.key_dim, self.value_dim = num_heads, key_dim, value_dim
        self.dropout, self.use_causal_mask = dropout, use_causal_mask
        self.query = nn.Linear(query_dim, num_heads * key_dim, bias=use_bias)
        self.key = nn.Linear(key_dim_in, num_heads * key_dim, bias=use_bias)
        self.value = nn.Linear(value_dim_in, num_heads * value_dim, bias=use_bias)
        self.output = nn.Linear(num_heads * value_dim, output_dim, bias=use_bias)
        self.reset_keras_parameters()

    def reset_keras_parameters(self) -> None:
        """Keras's glorot_uniform on its einsum kernels, whose fans count (d, heads, dim) as a
        convolution kernel would: fan_in = heads·d, fan_out = dim·d; biases zero."""
        h = self.num_heads
        with torch.no_grad():
            for proj, dim in ((self.query, self.key_dim), (self.key, self.key_dim), (self.value, self.value_dim)):
                d = proj.in_features
                _glorot_uniform_(proj.weight, h * d, dim * d)
            _glorot_uniform_(self.output.weight, self.value_dim * h, self.output.out_features * h)
            for proj in (self.query, self.key, self.value, self.output):
                if proj.bias is not None:
                    nn.init.zeros_(proj.bias)

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, key_dim={self.key_dim}, value_dim={self.value_dim}, causal={self.use_causal_mask}"

    def forward(self, query: torch.Tensor, value: torch.Tensor, key: torch.Tensor | None = None,
                query_mask: torch.Tensor | None = None, value_mask: torch.Tensor | None = None,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        if key is None:
            key = value
        batch, t, s = query.shape[0], query.shape[1], value.shape[1]
        q = self.query(query).view(batch, t, self.num_heads, self.key_dim).transpose(1, 2)
        k = self.key(key).view(batch, s, self.num_heads, self.key_dim).transpose(1, 2)
        v = self.value(value).view(batch, s, self.num_heads, self.value_dim).transpose(1, 2)
        allowed = self._allowed(query, query_mask, value_mask, key_mask, t, s)
        bias = None
        if allowed is not None:
            # Keras's large negative number: -1e9, or -3e4 in float16 (whose range ends at 65504)
            blocked = -3e4 if q.dtype == torch.float16 else -1e9
            bias = torch.zeros(allowed.shape, dtype=q.dtype, device=q.device).masked_fill(~allowed, blocked)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0 / math.sqrt(self.key_dim),
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.output(out.transpose(1, 2).reshape(batch, t, self.num_heads * self.value_dim))

    def _allowed(self, query: torch.Tensor, query_mask, value_mask, key_mask, t: int, s: int) -> torch.Tensor | None:
        """(B or 1, 1, T, S) boolean: which (query step, key step) pairs may attend, or None for all."""
        allowed = None
        for mask, shape in ((query_mask, (-1, 1, t, 1)), (value_mask, (-1, 1, 1, s)), (key_mask, (-1, 1, 1, s))):
            if mask is not None:
                m = mask.to(torch.bool).reshape(shape)
                allowed = m if allowed is None else allowed & m
        if self.use_causal_mask:
            causal = torch.ones(t, s, dtype=torch.bool, device=query.device).tril().reshape(1, 1, t, s)
            allowed = causal if allowed is None else allowed & causal
        return allowed


class PositionEmbedding(nn.Module):
    """keras_hub's PositionEmbedding: a learned vector per position, (sequence_length, features),
    glorot-uniform initialised. Its output is the embeddings of the input's first ``time`` positions,
    broadcast over the batch: the input only gives the shape (add it to the token embeddings)."""

    def __init__(self, sequence_length: int, features: int) -> None:
        super().__init__()
        self.embeddings = nn.Parameter(torch.empty(sequence_length, features))
        self.reset_keras_parameters()

    def reset_keras_parameters(self) -> None:
        with torch.no_grad():
            _glorot_uniform_(self.embeddings, *self.embeddings.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embeddings[: x.shape[1]].unsqueeze(0).expand(x.shape[0], -1, -1)


# --- Wrappers ------------------------------------------------------------------------------------


class TimeDistributed(nn.Module):
    """Holds the inner layer's module as ``layer`` (state_dict ``td.layer.weight``); the generated
    forward folds time into the batch, calls the inner layer, and unfolds (``fold_time``)."""

    def __init__(self, layer: nn.Module | None) -> None:
        super().__init__()
        self.layer = layer if layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # the generated code calls .layer directly
        return self.layer(x)


def fold_time(x: torch.Tensor) -> torch.Tensor:
    """(batch, time, ...) -> (batch·time, ...)."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def unfold_time(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(batch·time, ...) -> (batch, time, ...), the batch and time of ``like``."""
    return y.reshape(like.shape[0], like.shape[1], *y.shape[1:])


def keras_center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Keras RandomCrop's inference output: the largest centred window of the target aspect ratio,
    resized (bilinear) to (height, width) when it is not that size already."""
    h, w = x.shape[-2:]
    crop_h = max(min(h, int(w * height / width)), 1)
    crop_w = max(min(w, int(h * width / height)), 1)
    top, left = int((h - crop_h) / 2), int((w - crop_w) / 2)
    x = x[..., top:top + crop_h, left:left + crop_w]
    if (crop_h, crop_w) != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return x

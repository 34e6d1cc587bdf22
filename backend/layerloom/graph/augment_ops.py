"""The torch modules behind the augmentation layers (graph/layers/augmentation.py).

Each follows Keras 3.15's image preprocessing layer of the same name on channels-first images:
the same parameter meaning, the same random draws per image (or per batch for RandomCrop), and
the same geometry, down to the affine matrix and the ``map_coordinates`` sampling with its fill
modes (``keras/src/backend/torch/image.py``).

Randomness is private and replayable. Every module owns a ``torch.Generator`` (on the CPU: the
draws are a few numbers per image, moved to the data's device). ``seed_augmentations`` gives each
module a key derived from the job's seed and its node id; ``position_augmentations`` tells them,
at the start of every epoch, the epoch and the global step reached, and each training forward
re-seeds the generator from (key, epoch, step) and counts the step. Checkpoints are taken at epoch
boundaries, so a resumed job draws exactly what an uninterrupted one would have; the global torch
generator (Dropout's) is never touched.

Outside training (``module.eval()``) every module is the identity, except RandomCrop, which center
crops and resizes to its output size as Keras documents for inference. The inference graph that
prediction and every export use does not even call these modules (see the layers' ``emit``).
"""

from __future__ import annotations

import math
import zlib

import torch
from torch import nn

from .torch_ops import keras_center_crop

_MASK64 = (1 << 64) - 1


def _mix(*words: int) -> int:
    """A 63-bit seed from a few integers (splitmix64 over the words): cheap, stable across runs."""
    state = 0x9E3779B97F4A7C15
    for word in words:
        state = (state ^ (word & _MASK64)) & _MASK64
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        state = z ^ (z >> 31)
    return state >> 1


class RandomAugmentation(nn.Module):
    """Base: the private generator and its (key, epoch, step) position; no parameters or buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = torch.Generator()
        self.key = 0
        self.epoch = 0
        self.step = 0

    def _draw_generator(self) -> torch.Generator:
        self.generator.manual_seed(_mix(self.key, self.epoch, self.step))
        self.step += 1
        return self.generator

    def _uniform(self, shape: tuple[int, ...], low: float, high: float, device: torch.device) -> torch.Tensor:
        values = torch.rand(shape, generator=self._generator_for_call, dtype=torch.float32)
        return (low + (high - low) * values).to(device, non_blocking=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.infer(x)
        self._generator_for_call = self._draw_generator()
        return self.augment(x)

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def augment(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


def seed_augmentations(model: nn.Module, seed: int) -> list[RandomAugmentation]:
    """Key every augmentation module of ``model`` by (seed, node id); returns them."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, RandomAugmentation):
            module.key = _mix(seed, zlib.crc32(name.encode()))
            found.append(module)
    return found


def position_augmentations(modules: list[RandomAugmentation], epoch: int, step: int) -> None:
    """At the start of an epoch: the epoch number and the global step its first batch is."""
    for module in modules:
        module.epoch, module.step = epoch, step


class RandomFlip(RandomAugmentation):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        # Keras draws one uniform per image and axis and flips where it exceeds 0.5; horizontal first.
        n = x.shape[0]
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            flip = self._uniform((n, 1, 1, 1), 0.0, 1.0, x.device) > 0.5
            x = torch.where(flip, x.flip(-1), x)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            flip = self._uniform((n, 1, 1, 1), 0.0, 1.0, x.device) > 0.5
            x = torch.where(flip, x.flip(-2), x)
        return x


class _Affine(RandomAugmentation):
    """Resamples each image through a per-image affine map from output to input pixel coordinates."""

    def __init__(self, fill_mode: str, interpolation: str, fill_value: float) -> None:
        super().__init__()
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def matrices(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 6): a0 a1 a2 b0 b1 b2
        raise NotImplementedError

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return affine_transform(x, self.matrices(x), self.interpolation, self.fill_mode, self.fill_value)


class RandomRotation(_Affine):
    def __init__(self, lower: float, upper: float, fill_mode: str, interpolation: str, fill_value: float) -> None:
        super().__init__(fill_mode, interpolation, fill_value)
        self.lower, self.upper = lower, upper

    def extra_repr(self) -> str:
        return f"factor=({self.lower}, {self.upper}), fill_mode={self.fill_mode!r}"

    def matrices(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        angle = self._uniform((x.shape[0],), self.lower * 360.0, self.upper * 360.0, x.device) * (math.pi / 180.0)
        cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)  # Keras rotates about the image's centre
        cos, sin = torch.cos(angle), torch.sin(angle)
        a0, a1, b0, b1 = cos, -sin, sin, cos
        return torch.stack([a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1], dim=1)


class RandomZoom(_Affine):
    def __init__(self, height: tuple[float, float], width: tuple[float, float] | None, fill_mode: str,
                 interpolation: str, fill_value: float) -> None:
        super().__init__(fill_mode, interpolation, fill_value)
        self.height, self.width = height, width

    def extra_repr(self) -> str:
        return f"height_factor={self.height}, width_factor={self.width}, fill_mode={self.fill_mode!r}"

    def matrices(self, x: torch.Tensor) -> torch.Tensor:
        n, (h, w) = x.shape[0], x.shape[-2:]
        zy = self._uniform((n,), 1.0 + self.height[0], 1.0 + self.height[1], x.device)
        # Without width_factor, Keras zooms both axes by the same draw (keeping the aspect ratio).
        zx = zy if self.width is None else self._uniform((n,), 1.0 + self.width[0], 1.0 + self.width[1], x.device)
        zero = torch.zeros_like(zx)
        return torch.stack([zx, zero, (w - 1) / 2.0 * (1.0 - zx), zero, zy, (h - 1) / 2.0 * (1.0 - zy)], dim=1)


class RandomTranslation(_Affine):
    def __init__(self, height: tuple[float, float], width: tuple[float, float], fill_mode: str,
                 interpolation: str, fill_value: float) -> None:
        super().__init__(fill_mode, interpolation, fill_value)
        self.height, self.width = height, width

    def extra_repr(self) -> str:
        return f"height_factor={self.height}, width_factor={self.width}, fill_mode={self.fill_mode!r}"

    def matrices(self, x: torch.Tensor) -> torch.Tensor:
        n, (h, w) = x.shape[0], x.shape[-2:]
        dy = self._uniform((n,), *self.height, x.device) * h
        dx = self._uniform((n,), *self.width, x.device) * w
        one, zero = torch.ones_like(dx), torch.zeros_like(dx)
        return torch.stack([one, zero, -dx, zero, one, -dy], dim=1)


class RandomCrop(RandomAugmentation):
    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = height, width

    def extra_repr(self) -> str:
        return f"height={self.height}, width={self.width}"

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        return keras_center_crop(x, self.height, self.width)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h > self.height and w > self.width:
            # One location for the whole batch, as Keras does.
            top = int(torch.randint(0, h - self.height + 1, (), generator=self._generator_for_call))
            left = int(torch.randint(0, w - self.width + 1, (), generator=self._generator_for_call))
            return x[..., top:top + self.height, left:left + self.width]
        return keras_center_crop(x, self.height, self.width)


class RandomContrast(RandomAugmentation):
    def __init__(self, lower: float, upper: float, value_range: tuple[float, float]) -> None:
        super().__init__()
        self.lower, self.upper, self.value_range = lower, upper, value_range

    def extra_repr(self) -> str:
        return f"factor=({self.lower}, {self.upper}), value_range={self.value_range}"

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        # One factor per image in [1 - lower, 1 + upper]; each channel moves about its own mean.
        factor = self._uniform((x.shape[0], 1, 1, 1), 1.0 - self.lower, 1.0 + self.upper, x.device).to(x.dtype)
        mean = x.mean(dim=(-2, -1), keepdim=True)
        return ((x - mean) * factor + mean).clamp(*self.value_range)


class RandomBrightness(RandomAugmentation):
    def __init__(self, lower: float, upper: float, value_range: tuple[float, float]) -> None:
        super().__init__()
        self.lower, self.upper, self.value_range = lower, upper, value_range

    def extra_repr(self) -> str:
        return f"factor=({self.lower}, {self.upper}), value_range={self.value_range}"

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        # One delta per image, a fraction of the value range, added to every pixel, then clipped.
        span = self.value_range[1] - self.value_range[0]
        delta = self._uniform((x.shape[0], 1, 1, 1), self.lower, self.upper, x.device).to(x.dtype) * span
        return (x + delta).clamp(*self.value_range)


def _fix_index(index: torch.Tensor, size: int, fill_mode: str) -> torch.Tensor:
    """Keras's out-of-range index rules (scipy's map_coordinates modes)."""
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "reflect":  # d c b a | a b c d | d c b a
        if size == 1:
            return torch.zeros_like(index)
        period = 2 * size
        index = index % period
        return torch.where(index >= size, period - 1 - index, index)
    return index.clamp(0, size - 1)  # nearest; constant masks the out-of-range ones afterwards


def affine_transform(x: torch.Tensor, matrices: torch.Tensor, interpolation: str, fill_mode: str,
                     fill_value: float) -> torch.Tensor:
    """Keras's ``ops.image.affine_transform`` for (batch, channels, height, width) images: output
    pixel (row, col) samples the input at col' = a0·col + a1·row + a2, row' = b0·col + b1·row + b2."""
    n, c, h, w = x.shape
    m = matrices.to(torch.float32)
    rows = torch.arange(h, device=x.device, dtype=torch.float32).view(1, h, 1)
    cols = torch.arange(w, device=x.device, dtype=torch.float32).view(1, 1, w)
    src_col = m[:, 0].view(n, 1, 1) * cols + m[:, 1].view(n, 1, 1) * rows + m[:, 2].view(n, 1, 1)
    src_row = m[:, 3].view(n, 1, 1) * cols + m[:, 4].view(n, 1, 1) * rows + m[:, 5].view(n, 1, 1)
    if interpolation == "nearest":
        nodes_r = [(torch.round(src_row).long(), None)]
        nodes_c = [(torch.round(src_col).long(), None)]
    else:
        r0, c0 = torch.floor(src_row), torch.floor(src_col)
        wr, wc = src_row - r0, src_col - c0
        nodes_r = [(r0.long(), 1 - wr), (r0.long() + 1, wr)]
        nodes_c = [(c0.long(), 1 - wc), (c0.long() + 1, wc)]
    flat = x.reshape(n, c, h * w)
    out = None
    for r, weight_r in nodes_r:
        for col, weight_c in nodes_c:
            index = (_fix_index(r, h, fill_mode) * w + _fix_index(col, w, fill_mode)).view(n, 1, h * w)
            value = flat.gather(2, index.expand(n, c, h * w)).view(n, c, h, w)
            if fill_mode == "constant":
                valid = ((r >= 0) & (r < h) & (col >= 0) & (col < w)).unsqueeze(1)
                value = torch.where(valid, value, torch.as_tensor(fill_value, dtype=x.dtype, device=x.device))
            weight = None
            for part in (weight_r, weight_c):
                if part is not None:
                    weight = part if weight is None else weight * part
            term = value if weight is None else value * weight.unsqueeze(1).to(x.dtype)
            out = term if out is None else out + term
    return out


__all__ = ["RandomAugmentation", "seed_augmentations", "position_augmentations", "RandomFlip", "RandomRotation",
           "RandomZoom", "RandomTranslation", "RandomCrop", "RandomContrast", "RandomBrightness", "affine_transform"]

"""Deferred imports of torch for the layer catalog.

Analysis (ids, params, shapes, parameter counts, errors) is pure Python: ``layerloom check`` and
the API's validation must not pay torch's import (about 1.5 s). Layer modules name ``torch``,
``nn`` and ``torch_ops`` through these proxies; the real module is imported on the first
attribute access, which only happens when a model is built.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for a module; ``proxy.attr`` imports it on first use and returns ``module.attr``."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name}>"


torch = LazyModule("torch")
nn = LazyModule("torch.nn")
F = LazyModule("torch.nn.functional")
torch_ops = LazyModule("layerloom.graph.torch_ops")
augment_ops = LazyModule("layerloom.graph.augment_ops")

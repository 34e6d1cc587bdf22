"""Write a trained graph as a plain PyTorch file, ``model.py``, that needs nothing but torch.

- ``__init__`` creates one submodule per weight-owning node, written from the module the builder
  made (``nn.Linear(100, 64)``), so the state_dict keys are the same as the trained model's;
- ``forward`` is the builder's torch.fx code with fx's bookkeeping removed (the ``x = None`` lines
  that free memory early and fx's spacing around keyword arguments);
- the Keras-semantics helpers of ``graph/torch_ops.py`` that the model uses are copied in as source,
  with the module-level helpers they call, so the file imports no Layerloom code.

Only validated identifiers (node ids) and numbers reach the text, as in the generated forward.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..graph import torch_ops
from ..graph.augment_ops import RandomAugmentation
from ..graph.builder import GraphModel
from ..graph.compiler import Analysis


class SourceExportError(ValueError):
    """The model uses something this writer cannot express as source."""


def _literal(value: Any) -> str:
    """``repr``, with floats written as a person would (``0.01``, not ``0.010000000000000009``);
    twelve significant digits keep every float32 value exactly."""
    if isinstance(value, float):
        return repr(float(f"{value:.12g}"))
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_literal(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def _args(*positional: Any, **keywords: Any) -> str:
    parts = [_literal(a) for a in positional]
    parts += [f"{k}={_literal(v)}" for k, v in keywords.items()]
    return ", ".join(parts)


def _non_default(**pairs: tuple[Any, Any]) -> dict[str, Any]:
    """Keyword arguments whose value differs from PyTorch's default, so the call stays short."""
    return {k: value for k, (value, default) in pairs.items() if value != default}


def _single(value: tuple[int, ...]) -> Any:
    """``(3, 3)`` -> ``3`` when all equal, as one would write it by hand."""
    return value[0] if len(set(value)) == 1 else value


def _linear(m: nn.Linear) -> str:
    return _args(m.in_features, m.out_features, **_non_default(bias=(m.bias is not None, True)))


def _conv(m: nn.modules.conv._ConvNd, padding: bool = True) -> str:
    ones = (1,) * len(m.kernel_size)
    zeros = (0,) * len(m.kernel_size)
    keywords = _non_default(stride=(m.stride, ones), dilation=(m.dilation, ones),
                            bias=(m.bias is not None, True))
    if padding and m.padding != zeros:
        keywords = {"padding": _single(m.padding), **keywords}  # type: ignore[arg-type]
    keywords = {k: _single(v) if isinstance(v, tuple) else v for k, v in keywords.items()}
    return _args(m.in_channels, m.out_channels, _single(m.kernel_size), **keywords)


def _conv_transpose(m: nn.ConvTranspose2d) -> str:
    zeros = (0,) * len(m.kernel_size)
    keywords = _non_default(stride=(m.stride, (1,) * len(m.kernel_size)), padding=(m.padding, zeros),
                            output_padding=(m.output_padding, zeros), bias=(m.bias is not None, True))
    keywords = {k: _single(v) if isinstance(v, tuple) else v for k, v in keywords.items()}
    if isinstance(m, torch_ops.CroppedConvTranspose2d) and m.crop != (0, 0):
        keywords["crop"] = tuple(m.crop)
    return _args(m.in_channels, m.out_channels, _single(m.kernel_size), **keywords)


def _pool(m: nn.MaxPool1d | nn.MaxPool2d | nn.AvgPool1d | nn.AvgPool2d) -> str:
    as_tuple = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,)  # noqa: E731
    return _args(_single(as_tuple(m.kernel_size)), _single(as_tuple(m.stride)))


def _batch_norm(m: nn.modules.batchnorm._BatchNorm) -> str:
    return _args(m.num_features, **_non_default(eps=(m.eps, 1e-5), momentum=(m.momentum, 0.1)))


def _layer_norm(m: nn.LayerNorm) -> str:
    shape = m.normalized_shape[0] if len(m.normalized_shape) == 1 else tuple(m.normalized_shape)
    return _args(shape, **_non_default(eps=(m.eps, 1e-5)))


def _recurrent(m: Any) -> str:
    merge = _non_default(merge_mode=(getattr(m, "merge_mode", "concat"), "concat"))
    return _args(m.input_size, m.hidden_size, return_sequences=m.return_sequences, bidirectional=m.bidirectional,
                 **merge)


def _upsample(m: nn.Upsample) -> str:
    return _args(scale_factor=m.scale_factor, **_non_default(mode=(m.mode, "nearest")))


def _normalization(m: torch_ops.KerasNormalization) -> str:
    # Only the kept axes' sizes matter (the others broadcast as 1), so the broadcast shape serves as
    # the input shape. Adapted statistics are weights (in weights.safetensors); given ones are
    # constants of the constructor, as in the graph.
    kept = tuple(d for d in range(len(m.broadcast_shape)) if d not in m.reduce_dims)
    keywords: dict[str, Any] = {}
    if not m.adapts:
        keywords = {"mean": m.mean.flatten().tolist(), "variance": m.variance.flatten().tolist(),
                    "given_shape": tuple(m.mean.shape)}
    if m.invert:
        keywords["invert"] = True
    return _args(tuple(m.broadcast_shape[1:]), kept, **keywords)


# Exact module class -> (how its name is written, arguments of its constructor call).
CONSTRUCTORS: dict[type, tuple[str, Callable[[Any], str]]] = {
    nn.Linear: ("nn.Linear", _linear),
    nn.Conv1d: ("nn.Conv1d", _conv),
    nn.Conv2d: ("nn.Conv2d", _conv),
    torch_ops.StridedSameConv1d: ("StridedSameConv1d", lambda m: _conv(m, padding=False)),
    torch_ops.StridedSameConv2d: ("StridedSameConv2d", lambda m: _conv(m, padding=False)),
    nn.ConvTranspose2d: ("nn.ConvTranspose2d", _conv_transpose),
    torch_ops.CroppedConvTranspose2d: ("CroppedConvTranspose2d", _conv_transpose),
    nn.Upsample: ("nn.Upsample", _upsample),
    nn.ZeroPad2d: ("nn.ZeroPad2d", lambda m: _args(tuple(m.padding))),
    nn.Dropout: ("nn.Dropout", lambda m: _args(m.p)),
    nn.Embedding: ("nn.Embedding", lambda m: _args(m.num_embeddings, m.embedding_dim)),
    nn.BatchNorm1d: ("nn.BatchNorm1d", _batch_norm),
    nn.BatchNorm2d: ("nn.BatchNorm2d", _batch_norm),
    nn.BatchNorm3d: ("nn.BatchNorm3d", _batch_norm),
    nn.LayerNorm: ("nn.LayerNorm", _layer_norm),
    nn.MaxPool1d: ("nn.MaxPool1d", _pool),
    nn.MaxPool2d: ("nn.MaxPool2d", _pool),
    nn.AvgPool1d: ("nn.AvgPool1d", _pool),
    nn.AvgPool2d: ("nn.AvgPool2d", _pool),
    torch_ops.SamePool: ("SamePool", lambda m: _args(m.kind, tuple(m.pool_size), tuple(m.strides))),
    torch_ops.KerasSimpleRNN: ("KerasSimpleRNN", _recurrent),
    torch_ops.KerasLSTM: ("KerasLSTM", _recurrent),
    torch_ops.KerasGRU: ("KerasGRU", _recurrent),
    torch_ops.KerasNormalization: ("KerasNormalization", _normalization),
}

# What fx itself may put in a generated function's globals besides the functions called.
_FX_GLOBALS = {"torch", "inf", "nan", "NoneType", "device", "fx_pytree", "pytree", "getattr"}
_FREEING_TAIL = re.compile(r";\s+(?:\w+ = )+None$")
_KEYWORD_SPACING = re.compile(r"(\w+) = ")


def write_model_source(model: GraphModel, analysis: Analysis, *, version: str) -> str:
    """The whole ``model.py`` for ``model`` (built from ``analysis``)."""
    class_name = type(model).__name__
    helpers: list[str] = []
    init_lines = []
    for name, module in model.named_children():
        if isinstance(module, RandomAugmentation):
            continue  # training only: the inference forward never calls it, and it holds no weights
        init_lines.append(f"        self.{name} = {_constructor(name, module, helpers, indent=8)}")
    forward_lines, called = _forward_body(model)
    helpers += called
    helper_source = _helper_source(helpers)
    uses = "\n".join([helper_source, *forward_lines])
    imports = ["from __future__ import annotations", ""] if helper_source else []  # the helpers' annotations stay text
    if re.search(r"\bmath\.", helper_source):
        imports.append("import math")
    if re.search(r"\bAny\b", helper_source):
        imports.append("from typing import Any")
    imports.append("import torch")
    if re.search(r"\bF\.", uses):
        imports.append("import torch.nn.functional as F")
    imports.append("from torch import nn")
    graph_name = analysis.name
    parts = [
        f'"""{graph_name}: a PyTorch model written by Layerloom {version} from graph.json.\n\n'
        f"Load the trained weights and predict:\n\n"
        f"    import safetensors.torch\n"
        f"    import torch\n"
        f"    from model import {class_name}\n\n"
        f"    model = {class_name}()\n"
        f'    model.load_state_dict(safetensors.torch.load_file("weights.safetensors"))\n'
        f"    model.eval()\n"
        f"    outputs = model({_example_call(analysis)})\n"
        f'"""',
        "\n".join(imports),
    ]
    if helper_source:
        parts.append("\n" + helper_source)
    parts.append("\n" + "\n".join([
        f"class {class_name}(nn.Module):",
        f'    """{_describe(analysis)}"""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *init_lines,
        "",
        "    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:",
        *forward_lines,
    ]))
    return "\n\n".join(parts).rstrip() + "\n"


def _constructor(name: str, module: nn.Module, helpers: list[str], indent: int) -> str:
    """The expression that creates ``module``; a block call's container becomes an nn.ModuleDict of
    its layers (``self.b1.conv1`` then reads as in the forward, and the state_dict keys stay)."""
    if type(module) is nn.Module:
        pad = " " * (indent + 4)
        items = [f'{pad}"{child}": {_constructor(f"{name}.{child}", sub, helpers, indent + 4)},'
                 for child, sub in module.named_children() if not isinstance(sub, RandomAugmentation)]
        return "nn.ModuleDict({\n" + "\n".join(items) + "\n" + " " * indent + "})"
    entry = CONSTRUCTORS.get(type(module))
    if entry is None:
        raise SourceExportError(f"Node {name!r} uses {type(module).__name__}, which the PyTorch export cannot write yet.")
    written, arguments = entry
    if not written.startswith("nn."):
        helpers.append(written)
    return f"{written}({arguments(module)})"


def _forward_body(model: GraphModel) -> tuple[list[str], list[str]]:
    """The generated forward's statements, cleaned, and the torch_ops helpers they call."""
    code = model.graph.python_code(root_module="self")
    src = code.src
    called = []
    for name, value in code.globals.items():
        if not re.search(rf"\b{re.escape(name)}\b", src) or name in _FX_GLOBALS:
            continue
        if getattr(value, "__module__", None) == torch_ops.__name__:
            src = re.sub(rf"\b{re.escape(name)}\b", value.__name__, src)
            called.append(value.__name__)
        else:
            raise SourceExportError(f"The forward calls {name}, which the PyTorch export cannot write yet.")
    lines = []
    body = src[src.index("def forward"):].splitlines()[1:]
    for line in body:
        line = _FREEING_TAIL.sub("", line.rstrip())
        if not line.strip():
            continue
        if " = " in line and not line.lstrip().startswith("return"):
            target, expression = line.split(" = ", 1)
            line = f"{target} = {_KEYWORD_SPACING.sub(_tight_keyword, expression)}"
        lines.append("    " + line)
    return lines, called


def _tight_keyword(match: re.Match[str]) -> str:
    return f"{match.group(1)}="


def _helper_source(names: list[str]) -> str:
    """Source of the torch_ops objects named, plus the module-level torch_ops names they use, in
    the order torch_ops defines them."""
    module_source = inspect.getsource(torch_ops)
    tree = ast.parse(module_source)
    defined = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    needed: set[str] = set()
    pending = [n for n in names if n in defined]
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        for node in ast.walk(defined[name]):
            if isinstance(node, ast.Name) and node.id in defined and node.id not in needed:
                pending.append(node.id)
    blocks = [ast.get_source_segment(module_source, node) for name, node in defined.items() if name in needed]
    return "\n\n\n".join(b for b in blocks if b)


def _example_call(analysis: Analysis) -> str:
    parts = []
    for nid in analysis.input_ids:
        spec = analysis.nodes[nid].output
        shape = ", ".join(str(d) for d in (1, *spec.shape))  # type: ignore[union-attr]
        maker = f"torch.zeros({shape}, dtype=torch.long)" if spec.dtype == "int" else f"torch.randn({shape})"  # type: ignore[union-attr]
        parts.append(f'"{nid}": {maker}')
    return "{" + ", ".join(parts) + "}"


def _describe(analysis: Analysis) -> str:
    inputs = ", ".join(f"{nid} (batch, {', '.join(map(str, analysis.nodes[nid].output.shape))})"  # type: ignore[union-attr]
                       for nid in analysis.input_ids)
    outputs = ", ".join(f"{nid} (batch, {', '.join(map(str, analysis.nodes[nid].output.shape))})"  # type: ignore[union-attr]
                        for nid in analysis.output_ids)
    return f"Takes {{input id: tensor}}: {inputs}. Returns {{head id: tensor}}: {outputs}."

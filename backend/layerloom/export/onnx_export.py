"""ONNX export: one self-contained file, checked with onnxruntime before anyone gets it.

- Inputs and outputs are named after the graph's Input and Output ids.
- The batch dimension is dynamic; so is the sequence length of an input whose length the model does
  not fix. Which inputs have one is asked of the compiler: the graph is analysed again with that
  input one step longer, and if every weight and every output keeps its shape, the length is free.
- The file is run with onnxruntime at batch sizes 1 and 7 (and, with a sequence, at a second
  length) and compared with the PyTorch model. An export that does not match (for example a
  recurrent layer whose length the exporter froze) is refused with the reason, never served.
"""

from __future__ import annotations

import copy
import io
import logging
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from ..graph import analyze
from ..graph.builder import GraphModel
from ..graph.compiler import Analysis

TOLERANCE = 1e-5
CHECK_BATCH_SIZES = (1, 7)


class OnnxExportError(ValueError):
    """The model cannot be exported faithfully; the message says why."""


class _Positional(nn.Module):
    """The model with one positional tensor per input and a tuple of heads, as ONNX sees it."""

    def __init__(self, model: GraphModel, input_ids: list[str], head_ids: list[str]) -> None:
        super().__init__()
        self.model, self.input_ids, self.head_ids = model, input_ids, head_ids

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(dict(zip(self.input_ids, tensors)))
        return tuple(outputs[h] for h in self.head_ids)


def free_length_inputs(document: dict[str, Any], analysis: Analysis) -> list[str]:
    """Inputs of shape (time,) or (time, features) whose time length the model does not fix."""
    free = []
    for nid in analysis.input_ids:
        shape = analysis.nodes[nid].output.shape  # type: ignore[union-attr]
        if len(shape) not in (1, 2):
            continue
        longer = copy.deepcopy(document)
        for node in longer["nodes"]:
            if node["id"] == nid:
                node["params"]["shape"] = [shape[0] + 1, *shape[1:]]
        other = analyze(longer)
        if other.ok and _same_weights_and_outputs(analysis, other):
            free.append(nid)
    return free


def _same_weights_and_outputs(a: Analysis, b: Analysis) -> bool:
    for nid, info in a.nodes.items():
        if [w.shape for w in info.weights] != [w.shape for w in b.nodes[nid].weights]:
            return False
    return all(a.nodes[h].output == b.nodes[h].output for h in a.output_ids)


def sample_inputs(analysis: Analysis, batch: int, extra_length: dict[str, int] | None = None,
                  seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the model's shapes; integer inputs (token ids) stay below every Embedding's size."""
    generator = torch.Generator().manual_seed(seed)
    vocab = min((n.params.input_dim for n in analysis.nodes.values() if n.type == "Embedding"), default=2)  # type: ignore[union-attr]
    inputs = {}
    for nid in analysis.input_ids:
        spec = analysis.nodes[nid].output
        shape = list(spec.shape)  # type: ignore[union-attr]
        if extra_length and nid in extra_length:
            shape[0] += extra_length[nid]
        if spec.dtype == "int":  # type: ignore[union-attr]
            dtype = getattr(torch, analysis.nodes[nid].params.dtype)  # type: ignore[union-attr]
            inputs[nid] = torch.randint(0, vocab, (batch, *shape), generator=generator, dtype=dtype)
        else:
            inputs[nid] = torch.randn((batch, *shape), generator=generator)
    return inputs


def export_onnx(model: GraphModel, analysis: Analysis, document: dict[str, Any]) -> bytes:
    """The ONNX file's bytes; raises OnnxExportError when the export fails or does not match."""
    model = model.eval()
    input_ids, head_ids = analysis.input_ids, analysis.output_ids
    free = free_length_inputs(document, analysis)
    batch = torch.export.Dim("batch")
    dynamic = tuple({0: batch, **({1: torch.export.Dim(f"{nid}_length")} if nid in free else {})} for nid in input_ids)
    example = sample_inputs(analysis, 2)
    wrapper = _Positional(model, input_ids, head_ids)
    try:
        with warnings.catch_warnings(), _quiet_exporter():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(wrapper, tuple(example[i] for i in input_ids), input_names=input_ids,
                                        output_names=head_ids, dynamic_shapes=(dynamic,), dynamo=True,
                                        external_data=False, verbose=False, report=False)
            buffer = io.BytesIO()
            program.save(buffer, external_data=False)  # type: ignore[union-attr]
    except Exception as err:  # the exporter raises many types; all mean "cannot export this model"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OnnxExportError(f"PyTorch's ONNX exporter cannot export this model: {reason[:500]}") from None
    data = buffer.getvalue()
    check_onnx(data, model, analysis, free)
    return data


def check_onnx(data: bytes, model: GraphModel, analysis: Analysis, free: list[str]) -> None:
    """Run the file with onnxruntime and compare it with the PyTorch model."""
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    names_in = [i.name for i in session.get_inputs()]
    names_out = [o.name for o in session.get_outputs()]
    if names_in != analysis.input_ids or names_out != analysis.output_ids:
        raise OnnxExportError(f"The exported inputs/outputs {names_in} -> {names_out} are not the graph's "
                              f"{analysis.input_ids} -> {analysis.output_ids}.")
    cases: list[tuple[int, dict[str, int] | None]] = [(b, None) for b in CHECK_BATCH_SIZES]
    if free:
        cases.append((3, {nid: 3 for nid in free}))
    for batch, extra in cases:
        inputs = sample_inputs(analysis, batch, extra, seed=batch)
        with torch.no_grad():
            expected = model(inputs)
        try:
            got = session.run(names_out, {k: v.numpy() for k, v in inputs.items()})
        except Exception as err:  # onnxruntime's errors: the graph froze a shape it should not have
            if extra:
                raise OnnxExportError(
                    f"The ONNX exporter fixed the sequence length of {', '.join(repr(i) for i in extra)}, which "
                    "this model accepts at any length (onnxruntime refuses another length); this model cannot "
                    "be exported to ONNX faithfully. Use the PyTorch or pt2 export instead.") from None
            raise OnnxExportError(f"The exported model does not run at batch size {batch}: {str(err)[:300]}. "
                                  "This model cannot be exported to ONNX faithfully.") from None
        for head, value in zip(names_out, got):
            reference = expected[head].numpy()
            same_shape = value.shape == reference.shape
            difference = float(np.max(np.abs(value - reference))) if same_shape and value.size else 0.0
            if not same_shape or not np.allclose(value, reference, rtol=TOLERANCE, atol=TOLERANCE):
                where = f"batch size {batch}" + (" and a longer sequence" if extra else "")
                raise OnnxExportError(
                    f"The ONNX export of head {head!r} differs from the PyTorch model at {where} "
                    f"(max difference {difference:.3g}); this model cannot be exported to ONNX faithfully"
                    + (" (the exporter fixed its sequence length)." if extra else "."))


class _quiet_exporter:
    """The exporter logs warnings (torchvision missing, ...) that are noise for our users."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("torch.onnx")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: Any) -> None:
        self.logger.setLevel(self.level)

"""model.weights.h5 into the built Layerloom module: read with h5py (HDF5 arrays only, nothing
executed), each layer's arrays converted by its rule from mapping.py (kernels transposed, gates
reordered), then loaded strictly: every weight of the module must come from the file, in its shape."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..graph import analyze
from .context import LayerVars
from .convert import Converted
from .errors import KerasImportError, Problem


def load_weights(h5_bytes: bytes, converted: Converted) -> dict[str, Any]:
    """The state_dict (torch tensors, our keys) of the converted graph, with Keras's trained values."""
    import h5py
    import torch

    from ..graph import build_model

    analysis = analyze(converted.document)
    model = build_model(analysis, seed=0)
    expected = model.state_dict()
    problems: list[Problem] = []
    loaded: dict[str, np.ndarray] = {}
    try:
        h5 = h5py.File(io.BytesIO(h5_bytes), "r")
    except (OSError, ValueError) as err:
        raise KerasImportError.single("bad_weights", f"model.weights.h5 is not a readable HDF5 file: {err}.") from None
    with h5:
        for node_id, (spec, rule) in converted.weight_rules.items():
            group = h5.get(spec.weights_path) if spec.weights_path else None
            if group is None:
                problems.append(Problem("bad_weights", f"Layer {spec.name!r} ({spec.class_name}): model.weights.h5 has "
                                        f"no group {spec.weights_path!r} for its weights.", spec.name))
                continue
            try:
                arrays = rule(LayerVars(group))
            except (ValueError, IndexError, TypeError) as err:
                problems.append(Problem("bad_weights", f"Layer {spec.name!r} ({spec.class_name}): its saved weights "
                                        f"do not fit ({err}).", spec.name))
                continue
            for name, array in arrays.items():
                loaded[f"{node_id}.{name}"] = array
    state = dict(expected)
    for key, array in loaded.items():
        if key not in expected:
            problems.append(Problem("bad_weights", f"Keras weight for {key!r} has no place in the module.", key.split(".")[0]))
            continue
        if tuple(array.shape) != tuple(expected[key].shape):
            problems.append(Problem("bad_weights", f"{key}: Keras's array has shape {tuple(array.shape)}, the module "
                                    f"needs {tuple(expected[key].shape)}.", key.split(".")[0]))
            continue
        state[key] = torch.from_numpy(np.ascontiguousarray(array)).to(expected[key].dtype)
    derived = {k for k in expected if k.endswith("num_batches_tracked")}  # PyTorch bookkeeping, not a weight
    missing = sorted(set(expected) - set(loaded) - derived)
    if missing:
        problems.append(Problem("bad_weights", f"No Keras weights for {', '.join(missing[:8])}"
                                + (f" and {len(missing) - 8} more" if len(missing) > 8 else "") + ".",
                                missing[0].split(".")[0]))
    if problems:
        raise KerasImportError(problems)
    model.load_state_dict(state, strict=True)
    return {k: v.contiguous() for k, v in model.state_dict().items()}

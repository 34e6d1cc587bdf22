"""Starting a training run from given weights (a Keras import's safetensors file): checked against
the graph before the job is queued, by names and shapes read from the file's header (no torch), and
loaded strictly into the built module when the run starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# PyTorch bookkeeping buffers a file may carry that are not weights of the graph.
_BOOKKEEPING = ("num_batches_tracked",)


def file_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}


def weight_mismatches(analysis: Any, shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """Every way the file's tensors differ from the graph's weights: missing, unexpected, wrong shape."""
    expected = {f"{node.id}.{w.name}": tuple(w.shape) for node in analysis.nodes.values() for w in node.weights}
    problems = []
    missing = sorted(set(expected) - set(shapes))
    if missing:
        problems.append(f"missing from the file: {_listed(missing)}")
    unexpected = sorted(k for k in set(shapes) - set(expected) if not k.endswith(_BOOKKEEPING))
    if unexpected:
        problems.append(f"in the file but not in the graph: {_listed(unexpected)}")
    wrong = [f"{k} is {shapes[k]} in the file, {expected[k]} in the graph"
             for k in sorted(set(expected) & set(shapes)) if tuple(shapes[k]) != expected[k]]
    if wrong:
        problems.append("shapes differ: " + _listed(wrong))
    return problems


def load_initial_weights(model: Any, path: str | Path, analysis: Any) -> None:
    """Load the file into the built module; raises ValueError naming every mismatched key."""
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise ValueError(f"The initial weights file {path} no longer exists.")
    problems = weight_mismatches(analysis, file_shapes(path))
    if problems:
        raise ValueError("The initial weights do not fit the graph: " + "; ".join(problems) + ".")
    state = load_file(str(path))
    own = model.state_dict()
    for key in own:  # bookkeeping buffers the file lacks keep the fresh module's values
        state.setdefault(key, own[key])
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)


def _listed(items: list[str], limit: int = 8) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")

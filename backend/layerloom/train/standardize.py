"""Feature standardization (``config.standardize``): each float feature vector fed to an Input is
shifted and scaled to mean 0 and standard deviation 1 per feature, with statistics computed on the
training split only, after ``validation_split`` has carved out the validation rows.

The statistics become part of the model the run trains: the run's graph is the user's graph with a
Normalization node of *given* mean and variance right after each standardized Input (its consumers
are rewired to it). So training, evaluation, results, ``POST /api/jobs/{id}/predict`` (raw feature
values in) and every export apply exactly the same transform, with no second code path; the
manifest keeps the graph and, under ``standardization``, the statistics in plain numbers. Given
statistics are constants, not weights, so the state_dict, checkpoints and initial weights are
unchanged.

A feature whose training values are all equal gets std 1 (as scikit-learn's StandardScaler does), so
it is only shifted. Inputs fed integer ids, and arrays that are not vectors per sample (images,
reshaped CSV columns), are left as they are and named in the run's log; for those, a Normalization
layer in the graph (``adapt: true``) is the other way.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..data import Dataset
from ..graph import Analysis
from ..graph.format import NODE_ID_RE
from .mapping import DataPlan

SUFFIX = "_standardize"
# A standard deviation below this is a constant feature: scaling it would blow up rounding noise.
CONSTANT_STD = 1e-12


def standardize_graph(document: dict[str, Any], analysis: Analysis, plan: DataPlan,
                      dataset: Dataset) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[str]]:
    """(the run's graph, statistics per standardized Input, notes on Inputs left alone)."""
    train = dataset.splits["train"]
    stats: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for feed in plan.inputs:
        values = train[feed.array]
        spec = analysis.nodes[feed.node].output
        if feed.ids_from_floats or spec.dtype != "float" or values.dtype.kind != "f" \
                or dataset.kinds.get(feed.array) != "features":
            notes.append(f"Input {feed.node!r} is not standardized: {feed.array!r} is not float features.")
            continue
        if values.ndim != 2:
            notes.append(f"Input {feed.node!r} is not standardized: its samples have shape "
                         f"{list(values.shape[1:])}, not a vector; use a Normalization layer in the graph instead.")
            continue
        mean, std, constant = feature_statistics(values)
        stats[feed.node] = {"array": feed.array, "mean": mean.tolist(), "std": std.tolist(),
                            "samples": int(len(values)), "constant_features": constant}
    if not stats:
        return document, {}, notes
    return _with_normalization(document, stats), stats, notes


def feature_statistics(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-feature mean and (population) standard deviation in float64, constant features given std 1,
    and how many features were constant."""
    data = np.asarray(values, dtype=np.float64)
    mean = data.mean(axis=0)
    std = data.std(axis=0)
    constant = std < CONSTANT_STD
    std[constant] = 1.0
    return mean, std, int(constant.sum())


def _with_normalization(document: dict[str, Any], stats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A copy of ``document`` with a fixed Normalization after each Input in ``stats``."""
    out = copy.deepcopy(document)
    taken = {node["id"] for node in out["nodes"]}
    for input_id, entry in stats.items():
        node_id = _free_id(input_id, taken)
        taken.add(node_id)
        entry["node"] = node_id
        for edge in out["edges"]:
            if edge.get("source") == input_id:
                edge["source"] = node_id
        out["nodes"].append({"id": node_id, "type": "Normalization",
                             "params": {"axis": -1, "mean": entry["mean"],
                                        "variance": [s * s for s in entry["std"]]}})
        out["edges"].append({"source": input_id, "target": node_id})
    return out


def _free_id(base: str, taken: set[str]) -> str:
    stem = base[: 64 - len(SUFFIX) - 3]
    candidate, n = stem + SUFFIX, 2
    while candidate in taken:
        candidate, n = f"{stem}{SUFFIX}{n}", n + 1
    assert NODE_ID_RE.fullmatch(candidate)
    return candidate

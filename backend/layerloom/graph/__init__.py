"""Graph compiler: graph JSON -> validated DAG -> shapes and parameter counts -> PyTorch module.

    analysis = analyze(document)          # never raises on bad input; see analysis.issues
    model = build_model(analysis, seed=0) # raises CompileError if analysis has errors
    model({"x": batch})                   # {head_id: prediction}
"""

from typing import TYPE_CHECKING, Any

from .catalog import TensorSpec, catalog_json, get_layer, layer_types
from .compiler import Analysis, Issue, Limits, analyze
from .format import CURRENT_VERSION, Graph, GraphFormatError, graph_json_schema, upgrade
from .summary import render_summary, summary_json

__all__ = [
    "Analysis", "CompileError", "CURRENT_VERSION", "Graph", "GraphFormatError", "GraphModel", "Head", "Issue",
    "Limits", "TensorSpec", "analyze", "build_model", "catalog_json", "get_layer", "graph_json_schema",
    "layer_types", "render_summary", "summary_json", "upgrade",
]


if TYPE_CHECKING:
    from .builder import CompileError, GraphModel, Head, build_model

_BUILDER_NAMES = frozenset({"CompileError", "GraphModel", "Head", "build_model"})


def __getattr__(name: str) -> Any:
    # The builder needs torch; importing it only when asked keeps analysis torch-free.
    if name in _BUILDER_NAMES:
        from . import builder

        return getattr(builder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def compile_graph(document, seed: int | None = None) -> "GraphModel":
    """Analyze and build in one call; raises CompileError listing every problem."""
    from .builder import build_model

    analysis = analyze(document)
    return build_model(analysis, seed=seed)

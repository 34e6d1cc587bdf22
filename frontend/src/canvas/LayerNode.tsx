/**
 * The one node component, registered for every catalog type: the catalog supplies its ports. A node
 * subscribes only to its own document entry, its analysis and its issues, so an edit elsewhere (or a
 * drag of another node) does not re-render it.
 */

import { Handle, Position, useUpdateNodeInternals, type NodeProps } from "@xyflow/react";
import { memo, useContext, useEffect, useMemo, useRef } from "react";
import { canAddPort, effectiveParams, nodeSpec } from "../domain/catalog";
import { formatCount, formatShape, summarizeParams } from "../domain/display";
import { EXPANDED_FROM } from "../domain/blocks";
import { nodeIndex } from "../domain/graph";
import { worstSeverity } from "../domain/issues";
import { scopedId } from "../domain/scope";
import { dispatch } from "../state/commands";
import { useDocumentStore, useEditor } from "../state/EditorProvider";
import { categoryClass } from "./categories";
import { ZoomedOutContext } from "./viewApi";
import { inHandle, outHandle, portUse, sharers, type LayerFlowNode } from "./viewModel";

const PORT_GAP = 22;

function LayerNodeView({ id, selected }: NodeProps<LayerFlowNode>) {
  const store = useDocumentStore();
  const node = useEditor((s) => nodeIndex(s.nodes).get(id));
  const owner = useEditor((s) => {
    const n = nodeIndex(s.nodes).get(id);
    return n?.share ? nodeIndex(s.nodes).get(n.share) : undefined;
  });
  const catalog = useEditor((s) => s.catalog);
  const use = useEditor((s) => portUse(s.edges).get(id));
  const requested = useEditor((s) => s.portRequests[id] ?? 0);
  // inside an open block, the analysis of this node in the call it was opened through
  const info = useEditor((s) => s.analysis.nodeInfo[scopedId(s.scope, id)]);
  const issues = useEditor((s) => s.analysis.issues.byNode[scopedId(s.scope, id)]);
  const sharedBy = useEditor((s) => sharers(s.nodes).get(id));
  const pending = useEditor((s) => s.analysis.status === "pending");
  // zoomed out: name and shape only (fewer elements to lay out, paint and hit-test on 500 nodes)
  const compact = useContext(ZoomedOutContext);

  const blocks = useEditor((s) => s.blocks);
  const fromCall = useEditor((s) => (s.layout[id]?.[EXPANDED_FROM] as { call?: string } | undefined)?.call);
  const type = node?.type ?? "";
  const spec = useMemo(() => nodeSpec(catalog, node, blocks), [catalog, node, blocks]);
  const isCall = type === "Block";
  const maxIn = use?.maxIn ?? -1;
  const maxOut = use?.maxOut ?? -1;
  let inputs = Math.max(spec.inputs.min, maxIn + 1, requested);
  if (spec.inputs.max !== null) inputs = Math.min(inputs, Math.max(spec.inputs.max, maxIn + 1));
  const outputs = Math.max(spec.outputs, maxOut + 1);
  const merge = spec.inputs.max === null || spec.inputs.max > 1;
  const addable = canAddPort(spec, inputs);

  // React Flow measures a node's handles when it mounts; tell it again only when the ports change
  // (calling it on mount too would cost one measurement pass per node: quadratic on a big graph).
  const updateInternals = useUpdateNodeInternals();
  const ports = useRef(`${inputs}/${outputs}`);
  useEffect(() => {
    const now = `${inputs}/${outputs}`;
    if (ports.current === now) return;
    ports.current = now;
    updateInternals(id);
  }, [id, inputs, outputs, updateInternals]);

  const params = useMemo(() => (node ? effectiveParams(node, new Map(owner ? [[owner.id, owner]] : [])) : {}), [node, owner]);
  const digest = useMemo(() => summarizeParams(spec.params_schema, params), [spec, params]);
  if (!node) return null;

  const severity = worstSeverity(issues);
  const title = issues?.map((i) => `${i.severity === "error" ? "Error" : "Warning"}: ${i.message}`).join("\n");
  const shape = info?.output_shape;
  const count = info?.params.total;
  const minHeight = merge ? Math.max(64, inputs * PORT_GAP + 26) : undefined;

  return (
    <div
      className={[
        "ll-node",
        categoryClass(spec.category),
        selected ? "is-selected" : "",
        severity ? `has-${severity}` : "",
        node.share ? "is-shared" : "",
      ].join(" ")}
      style={minHeight ? { minHeight } : undefined}
      data-testid={`node-${id}`}
      data-type={type}
      title={title}
    >
      {Array.from({ length: inputs }, (_, p) => (
        <Handle
          key={`in${p}`}
          id={inHandle(p)}
          type="target"
          position={Position.Left}
          className={`ll-handle ll-handle-in ${p > maxIn && merge ? "is-free" : ""}`}
          style={{ top: merge ? 22 + p * PORT_GAP : "50%" }}
          data-testid={`in-${id}-${p}`}
        >
          {merge && !compact && <span className="ll-port-label">{p}</span>}
        </Handle>
      ))}
      {merge && addable && (
        <button
          type="button"
          className="ll-add-port nodrag"
          style={{ top: 22 + inputs * PORT_GAP - 7 }}
          title="Add an input port"
          data-testid={`add-port-${id}`}
          onClick={(e) => {
            e.stopPropagation();
            dispatch(store, "addPort", id);
          }}
        >
          +
        </button>
      )}
      {!compact && (
        <div className="ll-node-head">
          <span className="ll-node-dot" />
          <span className="ll-node-type">{isCall ? `Block · ${String(node.params?.block ?? "?")}` : type}</span>
          {isCall && (
            <button
              type="button"
              className="ll-node-expand nodrag"
              title="Open: edit this block's definition here (double-click, Enter; Escape goes back)"
              aria-label={`Open ${id}`}
              data-testid={`open-${id}`}
              onClick={(e) => {
                e.stopPropagation();
                dispatch(store, "openBlock", id);
              }}
            >
              ↘
            </button>
          )}
          {isCall && (
            <button
              type="button"
              className="ll-node-expand nodrag"
              title="Expand: put this block's layers here (Ctrl+Shift+G; Ctrl+G groups them again)"
              aria-label={`Expand ${id}`}
              data-testid={`expand-${id}`}
              onClick={(e) => {
                e.stopPropagation();
                dispatch(store, "expandBlock", id);
              }}
            >
              ⤢
            </button>
          )}
          {fromCall && !isCall && (
            <button
              type="button"
              className="ll-node-expand nodrag"
              title={`Collapse: put the layers expanded from ${fromCall} back into one block call`}
              aria-label={`Collapse into ${fromCall}`}
              data-testid={`collapse-${id}`}
              onClick={(e) => {
                e.stopPropagation();
                dispatch(store, "collapseExpanded", id);
              }}
            >
              ⤡
            </button>
          )}
          {severity && (
            <span className={`ll-node-badge is-${severity}`} aria-label={`${issues!.length} problem(s)`}>
              {severity === "error" ? "!" : "?"}
            </span>
          )}
        </div>
      )}
      <div className="ll-node-id" data-testid="node-id">{id}</div>
      {!compact && (digest || node.share) && (
        <div className="ll-node-params" title={digest}>
          {node.share ? <span className="ll-chip">shares {node.share}</span> : digest}
        </div>
      )}
      <div className={`ll-node-foot ${pending ? "is-pending" : ""}`}>
        <span className="ll-node-shape" data-testid="shape" title="Output shape (per sample, without the batch axis)">
          {type === "Output" ? (shape ? `← ${formatShape(shape)}` : "←") : `→ ${shape ? formatShape(shape) : "?"}`}
        </span>
        {!compact && count !== undefined && count > 0 && (
          <span className="ll-node-count" data-testid="params" title={`${formatCount(count)} parameters`}>
            {formatCount(count)}
          </span>
        )}
        {!compact && sharedBy && <span className="ll-chip" title={`Weights also used by ${sharedBy.join(", ")}`}>×{sharedBy.length + 1}</span>}
      </div>
      {Array.from({ length: outputs }, (_, p) => (
        <Handle
          key={`out${p}`}
          id={outHandle(p)}
          type="source"
          position={Position.Right}
          className="ll-handle ll-handle-out"
          data-testid={`out-${id}-${p}`}
        />
      ))}
    </div>
  );
}

export const LayerNode = memo(LayerNodeView);

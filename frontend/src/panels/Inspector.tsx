/**
 * The inspector: the selected node's params as a form generated from its JSON Schema, its name (a
 * rename carries its edges along), weight sharing, and what the compiler says about it. With nothing
 * selected it shows the graph itself.
 */

import { useEffect, useId, useMemo, useState } from "react";
import { blockDef } from "../domain/blocks";
import { canAddPort, effectiveParams, inputPortCount, isMerge, nodeSpec } from "../domain/catalog";
import { formatBatchShape, formatCount } from "../domain/display";
import { edgeKeys, nodeIndex, shareCandidates } from "../domain/graph";
import { idProblem } from "../domain/ids";
import { issueParam, issueTitle } from "../domain/issues";
import { describeFields } from "../domain/schemaForm";
import type { Issue } from "../domain/types";
import { dispatch } from "../state/commands";
import { levelDoc } from "../state/documentStore";
import { scopedId } from "../domain/scope";
import { useDocumentStore, useEditor, useEditorShallow } from "../state/EditorProvider";
import { Field } from "./fields";

export function Inspector() {
  const selection = useEditor((s) => s.selection);
  const exists = useEditor((s) => selection.nodes.filter((id) => nodeIndex(s.nodes).has(id)).length);
  let body;
  if (selection.nodes.length === 1 && exists === 1) body = <NodeInspector key={selection.nodes[0]} id={selection.nodes[0]} />;
  else if (exists > 1) body = <MultiInspector count={exists} edges={selection.edges.length} />;
  else if (selection.edges.length > 0) body = <EdgeInspector keys={selection.edges} />;
  else body = <GraphInspector />;
  return (
    <aside className="ll-inspector" aria-label="Inspector" data-testid="inspector">
      {body}
    </aside>
  );
}

function NodeInspector({ id }: { id: string }) {
  const store = useDocumentStore();
  const node = useEditor((s) => nodeIndex(s.nodes).get(id));
  const catalog = useEditor((s) => s.catalog);
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const requested = useEditor((s) => s.portRequests[id] ?? 0);
  const info = useEditor((s) => s.analysis.nodeInfo[scopedId(s.scope, id)]);
  const issues = useEditor((s) => s.analysis.issues.byNode[scopedId(s.scope, id)]);
  const blocks = useEditor((s) => s.blocks);
  const spec = useMemo(() => nodeSpec(catalog, node, blocks), [catalog, node, blocks]);
  const fields = useMemo(() => describeFields(spec.params_schema), [spec]);
  const candidates = useMemo(() => (node ? shareCandidates({ ...levelDoc(store.getState()), nodes }, id) : []), [store, nodes, id, node]);
  if (!node) return null;

  const owner = node.share ? nodeIndex(nodes).get(node.share) : undefined;
  const params = node.share ? effectiveParams(node, nodeIndex(nodes)) : (node.params ?? {});
  const fieldMessages: Record<string, string> = {};
  const otherIssues: Issue[] = [];
  for (const i of issues ?? []) {
    const p = issueParam(i);
    if (p && fields.some((f) => f.name === p)) fieldMessages[p] = i.message;
    else otherIssues.push(i);
  }
  const ports = inputPortCount(spec, edges, id, requested);
  const isOutput = node.type === "Output";

  return (
    <div className="ll-inspector-body">
      <div className="ll-inspector-head">
        <div className="ll-kicker">{spec.category}</div>
        <div className="ll-inspector-type">{node.type}</div>
        <div className="ll-inspector-doc">{spec.doc}</div>
      </div>

      <RenameField id={id} serverMessage={(issues ?? []).find((i) => i.code === "bad_id" || i.code === "duplicate_id")?.message} />

      <div className="ll-stats is-rows" data-testid="node-stats">
        <div>
          <div className="ll-stat-label">Output shape</div>
          <div className="ll-stat-value">{info?.output_shape ? formatBatchShape(info.output_shape) : "—"}</div>
        </div>
        <div>
          <div className="ll-stat-label">Parameters</div>
          <div className="ll-stat-value">
            {info ? formatCount(info.params.total) : "—"}
            {info && info.params.non_trainable > 0 && <span className="ll-muted"> ({formatCount(info.params.non_trainable)} fixed)</span>}
          </div>
        </div>
      </div>

      {otherIssues.length > 0 && (
        <ul className="ll-issue-list" data-testid="node-issues">
          {otherIssues.map((i, k) => (
            <li key={k} className={`ll-issue is-${i.severity}`}>
              <span className="ll-issue-code">{issueTitle(i.code)}</span> {i.message}
            </li>
          ))}
        </ul>
      )}

      {isMerge(spec) && (
        <div className="ll-section">
          <div className="ll-section-title">Inputs</div>
          <div className="ll-row">
            <span className="ll-muted">
              {ports} ordered port{ports === 1 ? "" : "s"}
              {spec.inputs.max === null ? "" : ` (at most ${spec.inputs.max})`}
            </span>
            {canAddPort(spec, ports) && (
              <button type="button" className="ll-btn ll-btn-small" onClick={() => dispatch(store, "addPort", id)} data-testid="add-port">
                Add port
              </button>
            )}
          </div>
        </div>
      )}

      {spec.outputs > 0 && node.type !== "Input" && (
        <div className="ll-section">
          <label className="ll-section-title" htmlFor={`share-${id}`}>
            Share weights with
          </label>
          <select
            id={`share-${id}`}
            className="ll-input"
            value={node.share ?? ""}
            onChange={(e) => dispatch(store, "setShare", { id, owner: e.target.value || null })}
            data-testid="share-select"
          >
            <option value="">— own weights —</option>
            {candidates.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
            {node.share && !candidates.includes(node.share) && <option value={node.share}>{node.share} (missing)</option>}
          </select>
          {owner && <div className="ll-field-hint">Calls {owner.id}’s layer again: one set of weights, counted once. Its parameters are edited on {owner.id}.</div>}
        </div>
      )}

      {fields.length > 0 && (
        <div className="ll-section">
          <div className="ll-section-title">{isOutput ? "Head: loss and metrics" : "Parameters"}</div>
          {fields.map((f) => (
            <Field
              key={f.name}
              field={f}
              value={params[f.name]}
              disabled={!!node.share}
              serverMessage={fieldMessages[f.name]}
              onCommit={(value) => dispatch(store, "setParam", { id, name: f.name, value })}
              onLive={(value, first) => dispatch(store, first ? "setParam" : "amendParam", { id, name: f.name, value })}
            />
          ))}
        </div>
      )}
      {node.type === "Block" && <BlockCallSection id={id} params={node.params ?? {}} />}
      {fields.length === 0 && node.type !== "Block" && <div className="ll-muted ll-section">No parameters.</div>}

      <div className="ll-section ll-row">
        <button type="button" className="ll-btn" onClick={() => dispatch(store, "duplicate")}>
          Duplicate
        </button>
        <button type="button" className="ll-btn ll-btn-danger" onClick={() => dispatch(store, "deleteSelection")} data-testid="delete-node">
          Delete
        </button>
      </div>
    </div>
  );
}

function RenameField({ id, serverMessage }: { id: string; serverMessage?: string }) {
  const store = useDocumentStore();
  const inputId = useId();
  const [draft, setDraft] = useState(id);
  const [message, setMessage] = useState<string | null>(null);
  useEffect(() => {
    setDraft(id);
    setMessage(null);
  }, [id]);
  const problem = (text: string) => {
    const taken = new Set(store.getState().nodes.map((n) => n.id).filter((n) => n !== id));
    return idProblem(text, taken);
  };
  const commit = () => {
    if (draft === id) return setMessage(null);
    const p = problem(draft);
    if (p) return setMessage(p);
    dispatch(store, "renameNode", { from: id, to: draft });
    // the node's inspector is keyed by id and re-mounts under the new name
  };
  return (
    <div className={`ll-field ${message || serverMessage ? "has-error" : ""}`}>
      <label className="ll-field-label" htmlFor={inputId}>
        Name
      </label>
      <input
        id={inputId}
        className="ll-input ll-input-mono"
        value={draft}
        spellCheck={false}
        onChange={(e) => {
          setDraft(e.target.value);
          setMessage(e.target.value === id ? null : problem(e.target.value));
        }}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === "Enter") commit();
          if (e.key === "Escape") setDraft(id);
        }}
        data-testid="rename"
      />
      {message || serverMessage ? (
        <div className="ll-field-msg" role="alert">
          {message ?? serverMessage}
        </div>
      ) : (
        <div className="ll-field-hint">Names the weights, the summary row and, for Inputs and Outputs, the data arrays.</div>
      )}
    </div>
  );
}

function MultiInspector({ count, edges }: { count: number; edges: number }) {
  const store = useDocumentStore();
  return (
    <div className="ll-inspector-body">
      <div className="ll-inspector-head">
        <div className="ll-inspector-type">{count} layers selected</div>
        {edges > 0 && <div className="ll-muted">and {edges} wire{edges === 1 ? "" : "s"}</div>}
      </div>
      <div className="ll-section ll-row">
        <button type="button" className="ll-btn" onClick={() => dispatch(store, "duplicate")}>
          Duplicate
        </button>
        <button type="button" className="ll-btn" onClick={() => dispatch(store, "copy")}>
          Copy
        </button>
        <button type="button" className="ll-btn ll-btn-danger" onClick={() => dispatch(store, "deleteSelection")}>
          Delete
        </button>
      </div>
    </div>
  );
}

function EdgeInspector({ keys }: { keys: string[] }) {
  const store = useDocumentStore();
  const edges = useEditor((s) => s.edges);
  const issues = useEditorShallow((s) => keys.flatMap((k) => s.analysis.issues.byEdge[k] ?? []));
  const all = edgeKeys(edges);
  const picked = keys.map((k) => edges[all.indexOf(k)]).filter(Boolean);
  return (
    <div className="ll-inspector-body">
      <div className="ll-inspector-head">
        <div className="ll-kicker">Wire{picked.length > 1 ? "s" : ""}</div>
        {picked.map((e, i) => (
          <div key={i} className="ll-inspector-type ll-mono">
            {e.source} → {e.target}
            {e.target_port !== undefined && <span className="ll-muted"> (port {e.target_port})</span>}
          </div>
        ))}
      </div>
      {issues.length > 0 && (
        <ul className="ll-issue-list">
          {issues.map((i, k) => (
            <li key={k} className={`ll-issue is-${i.severity}`}>
              {i.message}
            </li>
          ))}
        </ul>
      )}
      <div className="ll-section">
        <button type="button" className="ll-btn ll-btn-danger" onClick={() => dispatch(store, "deleteSelection")}>
          Remove
        </button>
      </div>
    </div>
  );
}

function GraphInspector() {
  const store = useDocumentStore();
  const meta = useEditor((s) => s.meta);
  const nodeCount = useEditor((s) => s.nodes.length);
  const edgeCount = useEditor((s) => s.edges.length);
  const totals = useEditor((s) => s.analysis.totals);
  const heads = useEditor((s) => s.nodes.filter((n) => n.type === "Output").length);
  const [description, setDescription] = useState(meta.description ?? "");
  useEffect(() => setDescription(meta.description ?? ""), [meta.description]);
  return (
    <div className="ll-inspector-body">
      <div className="ll-inspector-head">
        <div className="ll-kicker">Graph</div>
        <div className="ll-inspector-type">{meta.name || "untitled"}</div>
      </div>
      <div className="ll-stats">
        <div>
          <div className="ll-stat-label">Layers</div>
          <div className="ll-stat-value">{nodeCount}</div>
        </div>
        <div>
          <div className="ll-stat-label">Wires</div>
          <div className="ll-stat-value">{edgeCount}</div>
        </div>
        <div>
          <div className="ll-stat-label">Heads</div>
          <div className="ll-stat-value">{heads}</div>
        </div>
        <div>
          <div className="ll-stat-label">Parameters</div>
          <div className="ll-stat-value">{totals ? formatCount(totals.total) : "—"}</div>
        </div>
      </div>
      <div className="ll-field">
        <label className="ll-field-label" htmlFor="graph-description">
          Description
        </label>
        <textarea
          id="graph-description"
          className="ll-input ll-textarea"
          rows={5}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          onBlur={() => description !== (meta.description ?? "") && dispatch(store, "setMeta", { description })}
        />
      </div>
      <div className="ll-section ll-muted ll-small">
        Select a layer to edit it. Shift-drag to select several; Ctrl+C / Ctrl+V copy and paste; Ctrl+D duplicates; Delete removes; F fits the view.
      </div>
    </div>
  );
}

/** A block call: its block's arguments (the call's values, else the defaults), and Expand. */
function BlockCallSection({ id, params }: { id: string; params: Record<string, unknown> }) {
  const store = useDocumentStore();
  const def = useEditor((s) => blockDef(s, params.block));
  const args = (params.args ?? {}) as Record<string, unknown>;
  const declared = Object.entries(def?.args ?? {});
  return (
    <div className="ll-section" data-testid="block-call">
      <div className="ll-section-title">Block {String(params.block)}</div>
      {def?.description && <div className="ll-field-hint">{def.description}</div>}
      {declared.length > 0 && (
        <table className="ll-block-args">
          <tbody>
            {declared.map(([name, a]) => (
              <tr key={name}>
                <td className="ll-mono">{name}</td>
                <td className="ll-mono">{JSON.stringify(name in args ? args[name] : a.default)}</td>
                <td className="ll-muted">{name in args ? "" : "default"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="ll-field-hint">
        {def
          ? `${def.nodes.length} nodes inside. Open edits the block itself (every call of it changes; Escape goes back). Expand puts its layers here in place of the call; Ctrl+G groups them again.`
          : "This block is not defined in the graph."}
      </div>
      <button type="button" className="ll-btn" disabled={!def} onClick={() => dispatch(store, "openBlock", id)} data-testid="inspector-open">
        Open
      </button>{" "}
      <button type="button" className="ll-btn" disabled={!def} onClick={() => dispatch(store, "expandBlock", id)} data-testid="inspector-expand">
        Expand
      </button>
    </div>
  );
}

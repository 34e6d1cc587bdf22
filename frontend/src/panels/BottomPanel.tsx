/** The problems panel (errors and warnings; a click selects the node) and the Keras-style summary. */

import { useEffect, useMemo, useState, type ReactElement } from "react";
import { formatBatchShape, formatCount } from "../domain/display";
import { edgeKeys } from "../domain/graph";
import { issueHelpRef, issueTitle } from "../domain/issues";
import type { Issue, SummaryRow } from "../domain/types";
import { dispatch } from "../state/commands";
import { useDocumentStore, useEditor } from "../state/EditorProvider";
import { useView } from "../canvas/viewApi";

type Tab = "problems" | "summary";

export function BottomPanel() {
  const [tab, setTab] = useState<Tab>("problems");
  const [open, setOpen] = useState(true);
  const issues = useEditor((s) => s.analysis.issues);
  const status = useEditor((s) => s.analysis.status);
  // The problems list folds away when a check finds nothing, and opens again when it finds something;
  // the user's own toggle holds until the next such change.
  const hasProblems = issues.errorCount + issues.warningCount > 0;
  const settled = status !== "pending" && status !== "offline";
  useEffect(() => {
    if (!settled || tab !== "problems") return;
    setOpen(hasProblems);
  }, [hasProblems, settled]); // eslint-disable-line react-hooks/exhaustive-deps -- only on a change of outcome
  return (
    <section className={`ll-bottom ${open ? "" : "is-closed"}`} aria-label="Problems and summary">
      <div className="ll-tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === "problems"} className={`ll-tab ${tab === "problems" ? "is-active" : ""}`} onClick={() => (setTab("problems"), setOpen(true))} data-testid="tab-problems">
          Problems
          {issues.errorCount > 0 && <span className="ll-count is-error">{issues.errorCount}</span>}
          {issues.warningCount > 0 && <span className="ll-count is-warning">{issues.warningCount}</span>}
          {issues.errorCount + issues.warningCount === 0 && status !== "pending" && status !== "offline" && <span className="ll-count is-ok" data-testid="problems-ok" title="No problems">✓</span>}
        </button>
        <button type="button" role="tab" aria-selected={tab === "summary"} className={`ll-tab ${tab === "summary" ? "is-active" : ""}`} onClick={() => (setTab("summary"), setOpen(true))} data-testid="tab-summary">
          Summary
        </button>
        <span className="ll-spacer" />
        <button type="button" className="ll-icon-btn" onClick={() => setOpen(!open)} aria-label={open ? "Collapse panel" : "Expand panel"} title={open ? "Collapse" : "Expand"} aria-expanded={open} data-testid="bottom-toggle">
          {open ? "▾" : "▴"}
        </button>
      </div>
      {open && <div className="ll-bottom-body">{tab === "problems" ? <Problems /> : <Summary />}</div>}
    </section>
  );
}

function Problems() {
  const store = useDocumentStore();
  const view = useView();
  const issues = useEditor((s) => s.analysis.issues);
  const status = useEditor((s) => s.analysis.status);
  const message = useEditor((s) => s.analysis.message);
  const select = (issue: Issue) => {
    const s = store.getState();
    const node = issue.node ?? issue.nodes?.[0];
    if (node && s.nodes.some((n) => n.id === node)) {
      dispatch(store, "select", { nodes: [node], edges: [] });
      view.focusNode(node);
    } else if (issue.edge !== undefined) {
      const key = edgeKeys(s.edges)[issue.edge];
      if (key) dispatch(store, "select", { nodes: [], edges: [key] });
    }
  };
  if (status === "offline") {
    return <div className="ll-pad ll-issue is-error">The compiler cannot be reached ({message}). Edits are kept; shapes will update when it is back.</div>;
  }
  if (issues.all.length === 0) {
    return <div className="ll-pad ll-muted" data-testid="no-problems">{status === "pending" ? "Checking…" : "No problems: every shape fits."}</div>;
  }
  return (
    <ul className="ll-problems" data-testid="problems">
      {issues.all.map((issue, k) => (
        <li key={k}>
          <button type="button" className={`ll-problem is-${issue.severity}`} onClick={() => select(issue)} title="Show the layer" data-testid="problem">
            <span className={`ll-sev is-${issue.severity}`} aria-label={issue.severity}>
              {issue.severity === "error" ? "●" : "▲"}
            </span>
            <span className="ll-problem-code">{issueTitle(issue.code)}</span>
            {issue.node && <span className="ll-problem-node ll-mono">{issue.node}</span>}
            <span className="ll-problem-msg">{issue.message}</span>
          </button>
          <a className="ll-help-link" href={issueHelpRef(issue.code)} target="_blank" rel="noreferrer" title={`What “${issue.code}” means`} aria-label={`About ${issue.code}`} data-testid="problem-help">
            ?
          </a>
        </li>
      ))}
    </ul>
  );
}

function Summary() {
  const result = useEditor((s) => s.analysis.result);
  const store = useDocumentStore();
  const view = useView();
  const rows: SummaryRow[] = useMemo(() => {
    if (!result) return [];
    if (result.summary) return result.summary.rows;
    return (result.order.length ? result.order : Object.keys(result.nodes)).map((id) => {
      const n = result.nodes[id];
      return { node: id, type: n.type, output_shape: String(n.output_shape), params: n.params.total, connected_to: n.inputs ?? [], shared_with: n.shared_with };
    });
  }, [result]);
  const [open, setOpen] = useState<Record<string, boolean>>({});
  if (!result) return <div className="ll-pad ll-muted">Checking…</div>;
  const totals = result.summary ?? result.totals;
  // A block call is one row with its totals; its ▸ opens the inner rows (Keras's expand_nested).
  const summaryRows = (r: SummaryRow, depth: number): ReactElement[] => {
    const nested = !!r.children?.length;
    const top = r.node.split(".")[0];
    const row = (
      <tr
        key={r.node}
        className={depth ? "is-nested" : ""}
        data-testid={`summary-row-${r.node}`}
        onClick={() => {
          dispatch(store, "select", { nodes: [top], edges: [] });
          view.focusNode(top);
        }}
      >
        <td style={{ paddingLeft: 8 + depth * 16 }}>
          {nested && (
            <button
              type="button"
              className="ll-icon-btn ll-summary-toggle"
              aria-expanded={!!open[r.node]}
              aria-label={`${open[r.node] ? "Collapse" : "Expand"} ${r.node}`}
              data-testid={`summary-toggle-${r.node}`}
              onClick={(e) => {
                e.stopPropagation();
                setOpen((o) => ({ ...o, [r.node]: !o[r.node] }));
              }}
            >
              {open[r.node] ? "▾" : "▸"}
            </button>
          )}
          <span className="ll-mono">{depth ? r.node.slice(r.node.lastIndexOf(".") + 1) : r.node}</span>{" "}
          <span className="ll-muted">({r.block ? `Block ${r.block}` : r.type})</span>
        </td>
        <td className="ll-mono">{result.nodes[r.node]?.output_shape ? formatBatchShape(result.nodes[r.node]?.output_shape) : `(None, ${r.output_shape.replace(/^\(|\)$/g, "")})`}</td>
        <td className="ll-num ll-mono">{r.shared_with ? `0 (shares ${r.shared_with})` : formatCount(r.params)}</td>
        <td className="ll-mono ll-muted">{r.connected_to.join(", ") || "—"}</td>
      </tr>
    );
    return nested && open[r.node] ? [row, ...r.children!.flatMap((c) => summaryRows(c, depth + 1))] : [row];
  };
  return (
    <div className="ll-summary" data-testid="summary">
      <div className="ll-summary-title">Model: “{result.name}”</div>
      <table className="ll-table">
        <thead>
          <tr>
            <th>Node (type)</th>
            <th>Output shape</th>
            <th className="ll-num">Param #</th>
            <th>Connected to</th>
          </tr>
        </thead>
        <tbody>
          {rows.flatMap((r) => summaryRows(r, 0))}
        </tbody>
      </table>
      <div className="ll-summary-totals" data-testid="summary-totals">
        <span>Total params: <b>{formatCount(totals.total)}</b></span>
        <span>Trainable params: <b>{formatCount(totals.trainable)}</b></span>
        <span>Non-trainable params: <b>{formatCount(totals.non_trainable)}</b></span>
      </div>
    </div>
  );
}

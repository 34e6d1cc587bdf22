/** Dialogs: open a saved graph (with its versions), save under a name, and the template gallery. */

import { useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { listGraphs, listVersions, type GraphInfo, type VersionInfo } from "../api/graphs";
import { getTemplates, type Template } from "../api/templates";
import { parseGraph } from "../domain/format";
import { specOf } from "../domain/catalog";
import { thumbnailOf } from "../domain/thumbnail";
import { categoryClass } from "../canvas/categories";
import { dispatch } from "../state/commands";
import { useDocumentStore, useEditor } from "../state/EditorProvider";
import { useView } from "../canvas/viewApi";
import { hasUnsavedChanges, openGraph, saveDocument } from "./documents";

export function Modal({ title, onClose, children, wide, testId }: { title: string; onClose: () => void; children: ReactNode; wide?: boolean; testId?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    ref.current?.querySelector<HTMLElement>("input, button")?.focus();
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="ll-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className={`ll-modal ${wide ? "is-wide" : ""}`} role="dialog" aria-modal="true" aria-label={title} ref={ref} data-testid={testId}>
        <div className="ll-modal-head">
          <div className="ll-modal-title">{title}</div>
          <button type="button" className="ll-icon-btn" onClick={onClose} aria-label="Close">
            ✕
          </button>
        </div>
        <div className="ll-modal-body">{children}</div>
      </div>
    </div>
  );
}

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function UnsavedWarning() {
  const store = useDocumentStore();
  useEditor((s) => s.savedRefs); // re-render on save
  return hasUnsavedChanges(store) ? (
    <div className="ll-warning">The open graph has unsaved changes; opening another replaces it (export or save it first to keep it).</div>
  ) : null;
}

export function OpenDialog({ onClose }: { onClose: () => void }) {
  const store = useDocumentStore();
  const view = useView();
  const [graphs, setGraphs] = useState<GraphInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const [expanded, setExpanded] = useState<string | null>(null);
  const [versions, setVersions] = useState<VersionInfo[]>([]);

  useEffect(() => {
    const ctrl = new AbortController();
    const t = setTimeout(() => {
      listGraphs(query || undefined, ctrl.signal)
        .then((p) => setGraphs(p.data))
        .catch((e) => ctrl.signal.aborted || setError((e as Error).message));
    }, query ? 150 : 0);
    return () => {
      clearTimeout(t);
      ctrl.abort();
    };
  }, [query]);

  useEffect(() => {
    if (!expanded) return;
    const ctrl = new AbortController();
    listVersions(expanded, ctrl.signal)
      .then((p) => setVersions(p.data))
      .catch(() => setVersions([]));
    return () => ctrl.abort();
  }, [expanded]);

  const open = async (id: string, version?: number) => {
    if (await openGraph(store, id, version)) {
      onClose();
      view.requestFit();
    }
  };

  return (
    <Modal title="Open a saved graph" onClose={onClose} wide testId="open-dialog">
      <UnsavedWarning />
      <input className="ll-input" type="search" placeholder="Filter by name…" value={query} onChange={(e) => setQuery(e.target.value)} />
      {error && <div className="ll-field-msg">{error}</div>}
      {graphs === null && !error && <div className="ll-muted ll-pad">Loading…</div>}
      {graphs?.length === 0 && <div className="ll-muted ll-pad">No saved graphs yet. Save the open graph with Save.</div>}
      <ul className="ll-list">
        {graphs?.map((g) => (
          <li key={g.id} className="ll-list-item">
            <div className="ll-row">
              <button type="button" className="ll-link ll-grow" onClick={() => open(g.id)} data-testid={`open-graph-${g.name}`}>
                <b>{g.name}</b>
                <span className="ll-muted"> · v{g.latest_version} · {when(g.updated_at)}</span>
              </button>
              <button type="button" className="ll-btn ll-btn-small" onClick={() => setExpanded(expanded === g.id ? null : g.id)} aria-expanded={expanded === g.id}>
                Versions
              </button>
            </div>
            {expanded === g.id && (
              <ul className="ll-versions">
                {versions.map((v) => (
                  <li key={v.number}>
                    <button type="button" className="ll-link" onClick={() => open(g.id, v.number)}>
                      Version {v.number}
                    </button>
                    <span className="ll-muted"> · {when(v.created_at)} · {v.sha256.slice(0, 8)}</span>
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
    </Modal>
  );
}

export function SaveDialog({ onClose }: { onClose: () => void }) {
  const store = useDocumentStore();
  const meta = useEditor((s) => s.meta);
  const server = useEditor((s) => s.server);
  const [name, setName] = useState(meta.name === "untitled" ? "" : meta.name);
  const [busy, setBusy] = useState(false);
  const submit = async (asNew: boolean) => {
    setBusy(true);
    const ok = await saveDocument(store, { name: name.trim() || "untitled", asNew });
    setBusy(false);
    if (ok) onClose();
  };
  return (
    <Modal title={server ? "Save" : "Save to the server"} onClose={onClose} testId="save-dialog">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit(!server);
        }}
      >
        <label className="ll-field-label" htmlFor="save-name">
          Name
        </label>
        <input id="save-name" className="ll-input" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. mnist-cnn" maxLength={200} data-testid="save-name" />
        <div className="ll-field-hint">Each save keeps a new numbered version; older versions stay available.</div>
        <div className="ll-row ll-end ll-gap">
          {server && (
            <button type="button" className="ll-btn" disabled={busy} onClick={() => void submit(true)}>
              Save as a new graph
            </button>
          )}
          <button type="submit" className="ll-btn ll-btn-primary" disabled={busy} data-testid="save-confirm">
            {server ? `Save version ${(server.version ?? 0) + 1}` : "Save"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function TemplatesDialog({ onClose }: { onClose: () => void }) {
  const store = useDocumentStore();
  const view = useView();
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctrl = new AbortController();
    getTemplates(ctrl.signal)
      .then(setTemplates)
      .catch((e) => ctrl.signal.aborted || setError((e as Error).message));
    return () => ctrl.abort();
  }, []);
  const use = (t: Template) => {
    const parsed = parseGraph(t.graph);
    if (!parsed.ok) return setError(parsed.message);
    dispatch(store, "loadDocument", { doc: parsed.doc, server: null });
    onClose();
    view.requestFit();
  };
  return (
    <Modal title="Start from a template" onClose={onClose} wide testId="templates-dialog">
      <UnsavedWarning />
      {error && <div className="ll-field-msg">{error}</div>}
      {!templates && !error && <div className="ll-muted ll-pad">Loading…</div>}
      <div className="ll-gallery">
        {templates?.map((t) => {
          const nodes = Array.isArray(t.graph.nodes) ? (t.graph.nodes as { type: string }[]) : [];
          return (
            <button type="button" key={t.name} className="ll-card" onClick={() => use(t)} data-testid={`template-${t.name}`}>
              <TemplateThumb graph={t.graph} name={t.name} />
              <div className="ll-card-title">{t.name}</div>
              <div className="ll-card-meta">{nodes.length} layers</div>
              <div className="ll-card-desc">{t.description}</div>
            </button>
          );
        })}
      </div>
    </Modal>
  );
}

const THUMB = { width: 264, height: 84, pad: 6 };

/** The template's graph drawn small, laid out as the canvas will lay it out, coloured by category. */
function TemplateThumb({ graph, name }: { graph: Record<string, unknown>; name: string }) {
  const catalog = useEditor((s) => s.catalog);
  const thumb = useMemo(() => {
    const parsed = parseGraph(graph);
    return parsed.ok ? thumbnailOf(parsed.doc, THUMB) : null;
  }, [graph]);
  if (!thumb) return null;
  return (
    <svg className="ll-thumb" viewBox={`0 0 ${thumb.width} ${thumb.height}`} role="img" aria-label={`Preview of ${name}`} data-testid={`thumb-${name}`} data-nodes={thumb.nodes.length}>
      {thumb.wires.map((d, i) => <path key={i} d={d} className="ll-thumb-wire" />)}
      {thumb.nodes.map((n) => (
        <rect key={n.id} x={n.x} y={n.y} width={n.w} height={n.h} rx={Math.min(3, n.h / 4)} className={`ll-thumb-node ${categoryClass(specOf(catalog, n.type).category)}`}>
          <title>{n.type}</title>
        </rect>
      ))}
    </svg>
  );
}

/** The header: the graph's name and save status, live parameter totals, and the toolbar. */

import { useEffect, useRef, useState, type ReactNode } from "react";
import { formatCount } from "../domain/display";
import { appCommands, dispatch, docCommands, keyLabel, redo, undo } from "../state/commands";
import { sameDoc } from "../state/documentStore";
import { useDocumentStore, useEditor, useHistory } from "../state/EditorProvider";
import { useView } from "../canvas/viewApi";
import { emptyGraph } from "../domain/format";
import { exportFile, importFile, importKerasFile, saveDocument } from "./documents";
import { OpenDialog, SaveDialog, TemplatesDialog } from "./dialogs";
import { Icon, type IconName } from "./icons";
import { TrainingNav } from "../training/TrainingEntry";
import { AccountButton } from "../account/AccountButton";

type Dialog = "open" | "save" | "templates" | null;

function ToolButton({ icon, label, keys, onClick, disabled, testId, children }: { icon: IconName; label: string; keys?: readonly string[]; onClick: () => void; disabled?: boolean; testId?: string; children?: ReactNode }) {
  const hint = keys?.length ? `${label} (${keyLabel(keys[0])})` : label;
  return (
    <button type="button" className={`ll-tool ${children ? "has-text" : ""}`} onClick={onClick} disabled={disabled} title={hint} aria-label={label} data-testid={testId}>
      <Icon name={icon} />
      {children}
    </button>
  );
}

/** A tool button that opens a file picker; the hidden input is `${testId}-input` for tests. */
function FileButton({ icon, label, accept, testId, onFile, children }: { icon: IconName; label: string; accept: string; testId: string; onFile: (file: File) => unknown; children?: ReactNode }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <ToolButton icon={icon} label={label} onClick={() => input.current?.click()} testId={testId}>
        {children}
      </ToolButton>
      <input
        ref={input}
        type="file"
        accept={accept}
        hidden
        data-testid={`${testId}-input`}
        onChange={(e) => {
          const file = e.target.files?.[0];
          e.target.value = "";
          if (file) void onFile(file);
        }}
      />
    </>
  );
}

export function Header({ theme, onToggleTheme }: { theme: "light" | "dark"; onToggleTheme: () => void }) {
  const store = useDocumentStore();
  const view = useView();
  const [dialog, setDialog] = useState<Dialog>(null);
  const canUndo = useHistory((t) => t.pastStates.length > 0);
  const canRedo = useHistory((t) => t.futureStates.length > 0);
  const hasNodes = useEditor((s) => s.nodes.length > 0);
  const server = useEditor((s) => s.server);
  const saved = useEditor((s) => s.savedRefs !== null && sameDoc(s.savedRefs, s));

  const save = () => (server ? void saveDocument(store) : setDialog("save"));
  // Ctrl+S saves (handled here: it needs the dialog).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
        e.preventDefault();
        save();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  return (
    <header className="ll-header">
      <div className="ll-brand" aria-label="Layerloom">
        <svg width="22" height="22" viewBox="0 0 16 16" aria-hidden>
          <rect x="1" y="3" width="5" height="10" rx="1.5" className="ll-logo-a" />
          <rect x="10" y="3" width="5" height="10" rx="1.5" className="ll-logo-b" />
          <path d="M6 8h4" className="ll-logo-wire" strokeWidth="1.5" />
        </svg>
        <span>Layerloom</span>
      </div>
      <GraphName />
      <span className={`ll-status ${saved ? "is-saved" : ""}`} data-testid="save-status">
        {server ? (saved ? `Saved · v${server.version}` : `Unsaved changes · v${server.version}`) : "Draft"}
      </span>

      <Totals />
      <span className="ll-spacer" />

      <nav className="ll-toolbar" aria-label="Toolbar">
        <ToolButton icon="file" label="New graph" onClick={() => (dispatch(store, "loadDocument", { doc: emptyGraph(), server: null }), view.resetView())} testId="new" />
        <ToolButton icon="gallery" label="Templates" onClick={() => setDialog("templates")} testId="templates">
          Templates
        </ToolButton>
        <ToolButton icon="folder" label="Open a saved graph" onClick={() => setDialog("open")} testId="open">
          Open
        </ToolButton>
        <ToolButton icon="save" label="Save" keys={["mod+s"]} onClick={save} testId="save">
          Save
        </ToolButton>
        <FileButton icon="upload" label="Import a JSON file" accept=".json,application/json" testId="import"
          onFile={async (file) => (await importFile(store, file)) && view.requestFit()} />
        <ToolButton icon="download" label="Export as JSON" onClick={() => exportFile(store)} testId="export" />
        <FileButton icon="upload" label="Open Keras model" accept=".keras,.json" testId="import-keras"
          onFile={async (file) => (await importKerasFile(store, file)) && view.requestFit()}>
          Keras
        </FileButton>
        <span className="ll-sep" />
        <ToolButton icon="undo" label={appCommands.undo.label} keys={appCommands.undo.keys} onClick={() => undo(store)} disabled={!canUndo} testId="undo" />
        <ToolButton icon="redo" label={appCommands.redo.label} keys={appCommands.redo.keys} onClick={() => redo(store)} disabled={!canRedo} testId="redo" />
        <span className="ll-sep" />
        <ToolButton icon="layout" label={docCommands.autoLayout.label} keys={docCommands.autoLayout.keys} onClick={() => (dispatch(store, "autoLayout"), view.requestFit())} disabled={!hasNodes} testId="auto-layout" />
        <ToolButton icon="fit" label={appCommands.fitView.label} keys={appCommands.fitView.keys} onClick={() => view.fitView()} testId="fit-view" />
        <span className="ll-sep" />
        <TrainingNav />
        <span className="ll-sep" />
        <AccountButton />
        <ToolButton icon={theme === "dark" ? "sun" : "moon"} label={theme === "dark" ? "Light theme" : "Dark theme"} onClick={onToggleTheme} testId="theme" />
      </nav>

      {dialog === "open" && <OpenDialog onClose={() => setDialog(null)} />}
      {dialog === "save" && <SaveDialog onClose={() => setDialog(null)} />}
      {dialog === "templates" && <TemplatesDialog onClose={() => setDialog(null)} />}
    </header>
  );
}

function GraphName() {
  const store = useDocumentStore();
  const name = useEditor((s) => s.meta.name);
  const [draft, setDraft] = useState(name);
  useEffect(() => setDraft(name), [name]);
  const commit = () => {
    const next = draft.trim() || "untitled";
    if (next !== name) dispatch(store, "setMeta", { name: next });
    else setDraft(name);
  };
  return (
    <input
      className="ll-graph-name"
      value={draft}
      aria-label="Graph name"
      maxLength={200}
      spellCheck={false}
      onChange={(e) => setDraft(e.target.value)}
      onBlur={commit}
      onKeyDown={(e) => {
        if (e.key === "Enter") (e.target as HTMLInputElement).blur();
        if (e.key === "Escape") setDraft(name);
      }}
      data-testid="graph-name"
    />
  );
}

function Totals() {
  const totals = useEditor((s) => s.analysis.totals);
  const status = useEditor((s) => s.analysis.status);
  const errors = useEditor((s) => s.analysis.issues.errorCount);
  const ms = useEditor((s) => s.analysis.roundTripMs);
  const dot = status === "pending" ? "is-pending" : status === "offline" ? "is-offline" : errors ? "is-error" : "is-ok";
  const label =
    status === "pending" ? "Checking…" : status === "offline" ? "Compiler unreachable" : errors ? `${errors} error${errors === 1 ? "" : "s"}` : "Valid";
  return (
    <div className="ll-totals" data-testid="totals">
      <span className={`ll-dot ${dot}`} title={ms !== null ? `${label} · checked in ${Math.round(ms)} ms` : label} />
      <span className="ll-totals-label">{label}</span>
      <span className="ll-totals-sep" />
      <span title="Total parameters">
        <span className="ll-muted">Params </span>
        <b data-testid="total-params">{totals ? formatCount(totals.total) : "—"}</b>
      </span>
      <span title="Trainable parameters">
        <span className="ll-muted">Trainable </span>
        <b data-testid="trainable-params">{totals ? formatCount(totals.trainable) : "—"}</b>
      </span>
    </div>
  );
}

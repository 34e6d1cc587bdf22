/** The dataset manager: every upload with its kind, size, arrays and date; preview, rename, delete
 * (with a confirmation), upload, and "Train on it". The built-ins are listed for preview. */

import { useEffect, useState } from "react";
import { deleteDataset, listDatasets, updateDataset, type DatasetInfo } from "../api/datasets";
import { problemsOf } from "../api/jobs";
import { DatasetView, formatBytes, UploadBox } from "./datasets";
import { useTrainingUi } from "./ui";

const shape = (s: number[]) => `(${s.join(", ")}${s.length === 1 ? "," : ""})`;

/** "x (13,) features · y 3 classes": a dataset's arrays on one line. */
export function arraysLine(d: DatasetInfo): string {
  return d.description.arrays
    .map((a) => `${a.name} ${a.kind === "class_labels" ? `${a.num_classes ?? "?"} classes` : `${shape(a.shape)} ${a.kind}`}`)
    .join(" · ");
}

export function DatasetsPage() {
  const { setForm, open } = useTrainingUi();
  const [all, setAll] = useState<DatasetInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [previewing, setPreviewing] = useState<string | null>(null);

  const refresh = () =>
    listDatasets()
      .then((d) => (setAll(d.data), setError(null)))
      .catch((e) => setError((e as Error).message));
  useEffect(() => void refresh(), []);

  const uploads = (all ?? []).filter((d) => d.kind !== "builtin");
  const builtins = (all ?? []).filter((d) => d.kind === "builtin");
  const replace = (d: DatasetInfo) => setAll((list) => (list ?? []).map((x) => (x.id === d.id ? d : x)));
  const trainOn = (id: string) => (setForm({ dataset: id, mapping: {} }), open("setup"));

  return (
    <div className="lt-setup ld-page" data-testid="datasets-page">
      <section className="lt-card">
        <h2>Upload a dataset</h2>
        <p className="lt-muted ld-help">
          A CSV (features and a target column, optionally a split column of train / valid / test), an NPZ of named arrays, or a zip of
          <span className="lt-mono"> train|valid|test/&lt;class&gt;/&lt;image&gt;</span> folders. A CSV target with a few whole numbers that is named like a label
          (label, class, target, species…) or is the last column is read as classes; the upload says so, with a switch.
        </p>
        <UploadBox onUploaded={(d) => (void refresh(), setPreviewing(d.id))} />
      </section>

      <section className="lt-card">
        <h2>Your uploads {all && <span className="lt-muted">({uploads.length})</span>}</h2>
        {error && <div className="lt-error">{error}</div>}
        {all && uploads.length === 0 && <div className="lt-muted" data-testid="datasets-empty">No uploads yet: upload a CSV, an NPZ or an image zip above.</div>}
        {uploads.length > 0 && (
          <table className="lt-table ld-table" data-testid="datasets-table">
            <thead>
              <tr><th>Name</th><th>Kind</th><th>Size</th><th>Arrays</th><th>Rows</th><th>Created</th><th /></tr>
            </thead>
            <tbody>
              {uploads.map((d) => (
                <DatasetRow key={d.id} dataset={d} previewing={previewing === d.id} onPreview={() => setPreviewing(previewing === d.id ? null : d.id)}
                  onChange={replace} onDeleted={() => (setPreviewing(null), void refresh())} onTrain={() => trainOn(d.id)} />
              ))}
            </tbody>
          </table>
        )}
      </section>

      {builtins.length > 0 && (
        <section className="lt-card">
          <h2>Built-in datasets</h2>
          <table className="lt-table ld-table">
            <thead><tr><th>Name</th><th>About</th><th>Arrays</th><th /></tr></thead>
            <tbody>
              {builtins.map((d) => (
                <BuiltinRow key={d.id} dataset={d} previewing={previewing === d.id} onPreview={() => setPreviewing(previewing === d.id ? null : d.id)} onTrain={() => trainOn(d.id)} />
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  );
}

function DatasetRow(props: { dataset: DatasetInfo; previewing: boolean; onPreview: () => void; onChange: (d: DatasetInfo) => void; onDeleted: () => void; onTrain: () => void }) {
  const { dataset: d } = props;
  const [renaming, setRenaming] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const rows = Object.values(d.description.sizes).reduce((a, b) => a + b, 0);

  const rename = async () => {
    if (renaming === null) return;
    setBusy(true);
    setError(null);
    try {
      props.onChange(await updateDataset(d.id, { name: renaming }));
      setRenaming(null);
    } catch (err) {
      setError(problemsOf(err).map((p) => p.message).join(" "));
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await deleteDataset(d.id);
      props.onDeleted();
    } catch (err) {
      setError(problemsOf(err).map((p) => p.message).join(" "));
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <tr data-testid={`dataset-row-${d.id}`} className={props.previewing ? "is-selected" : ""}>
        <td>
          {renaming === null ? (
            <b data-testid="dataset-name">{d.name}</b>
          ) : (
            <form className="ld-rename" onSubmit={(e) => (e.preventDefault(), void rename())}>
              <input value={renaming} onChange={(e) => setRenaming(e.target.value)} maxLength={200} autoFocus aria-label="New name" data-testid="rename-input"
                onKeyDown={(e) => e.key === "Escape" && setRenaming(null)} />
              <button type="submit" className="ll-btn ll-btn-small ll-btn-primary" disabled={busy || !renaming.trim()} data-testid="rename-save">Save</button>
              <button type="button" className="ll-btn ll-btn-small" onClick={() => (setRenaming(null), setError(null))}>Cancel</button>
            </form>
          )}
        </td>
        <td>{d.kind}</td>
        <td className="lt-mono">{formatBytes(d.size_bytes)}</td>
        <td className="lt-mono ld-arrays">{arraysLine(d)}</td>
        <td className="lt-mono">{rows.toLocaleString()}</td>
        <td title={d.created_at ?? ""}>{d.created_at ? new Date(d.created_at).toLocaleString() : "—"}</td>
        <td>
          <div className="lt-row-actions">
            <button type="button" className="ll-btn ll-btn-small" onClick={props.onPreview} aria-expanded={props.previewing} data-testid="preview">{props.previewing ? "Hide" : "Preview"}</button>
            <button type="button" className="ll-btn ll-btn-small" onClick={props.onTrain} data-testid="train-on">Train on it</button>
            <button type="button" className="ll-btn ll-btn-small" onClick={() => (setRenaming(d.name), setError(null))} disabled={renaming !== null} data-testid="rename">Rename</button>
            <button type="button" className="ll-btn ll-btn-small ld-danger" onClick={() => setConfirming(true)} disabled={confirming} data-testid="delete">Delete</button>
          </div>
        </td>
      </tr>
      {(confirming || error) && (
        <tr className="ld-subrow">
          <td colSpan={7}>
            {confirming && (
              <div className="ld-confirm" role="alertdialog" aria-label={`Delete ${d.name}`} data-testid="delete-confirm">
                <span>Delete <b>{d.name}</b> and its file? Jobs that trained on it keep their results, weights and predictions; this cannot be undone.</span>
                <button type="button" className="ll-btn ll-btn-small ld-danger-solid" onClick={remove} disabled={busy} data-testid="delete-confirm-yes">Delete</button>
                <button type="button" className="ll-btn ll-btn-small" onClick={() => setConfirming(false)} data-testid="delete-confirm-no">Keep it</button>
              </div>
            )}
            {error && <div className="lt-error" role="alert" data-testid="dataset-error">{error}</div>}
          </td>
        </tr>
      )}
      {props.previewing && (
        <tr className="ld-subrow">
          <td colSpan={7}><DatasetView dataset={d} onChange={props.onChange} samplesShown={9} /></td>
        </tr>
      )}
    </>
  );
}

function BuiltinRow({ dataset: d, previewing, onPreview, onTrain }: { dataset: DatasetInfo; previewing: boolean; onPreview: () => void; onTrain: () => void }) {
  return (
    <>
      <tr data-testid={`dataset-row-${d.id}`} className={previewing ? "is-selected" : ""}>
        <td><b>{d.name}</b></td>
        <td className="lt-muted">{d.summary}</td>
        <td className="lt-mono ld-arrays">{arraysLine(d)}</td>
        <td>
          <div className="lt-row-actions">
            <button type="button" className="ll-btn ll-btn-small" onClick={onPreview} aria-expanded={previewing}>{previewing ? "Hide" : "Preview"}</button>
            <button type="button" className="ll-btn ll-btn-small" onClick={onTrain}>Train on it</button>
          </div>
        </td>
      </tr>
      {previewing && (
        <tr className="ld-subrow"><td colSpan={4}><DatasetView dataset={d} samplesShown={9} /></td></tr>
      )}
    </>
  );
}

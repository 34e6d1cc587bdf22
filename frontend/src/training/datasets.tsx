/** Datasets, shown the same way on the setup page and the dataset manager: a dataset's arrays, what
 * the CSV import decided for each target (with the one-click switch), stratified samples, and the
 * upload form. */

import { useEffect, useRef, useState } from "react";
import { getSamples, updateDataset, uploadDataset, UploadError, type ArrayInfo, type DatasetInfo, type Samples } from "../api/datasets";
import { problemsOf } from "../api/jobs";
import { csvOptions, parseCsvHeader } from "./mapping";
import { SampleCell } from "./samples";
import "./datasets.css";

const SPLIT_ORDER = ["train", "valid", "test"];

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** What the CSV import decided for a target array, in words: "categorical (3 classes)". */
export function targetSummary(a: ArrayInfo): string | null {
  if (!a.target) return null;
  const what = a.target.kind === "categorical" ? `categorical (${a.num_classes ?? "?"} classes)` : "numeric";
  return a.target.requested === "auto" ? `read as ${what}: ${a.target.reason}` : `${what}, as chosen`;
}

/** One target array's decision and its switch; `onChange` gets the dataset as derived again. */
function TargetNote({ dataset, array, onChange }: { dataset: DatasetInfo; array: ArrayInfo; onChange: (d: DatasetInfo) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const t = array.target;
  if (!t) return null;
  const flip = async () => {
    if (!t.switch_to) return;
    setBusy(true);
    setError(null);
    try {
      // Back to what detection chooses: "auto", so the note says why again.
      const kind = t.switch_to === t.auto_kind ? "auto" : t.switch_to;
      onChange(await updateDataset(dataset.id, { target_kinds: { [array.name]: kind } }));
    } catch (err) {
      setError(problemsOf(err).map((p) => p.message).join(" "));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className={`ld-target ${t.kind === "categorical" ? "is-classes" : "is-values"}`} data-testid={`target-${array.name}`} data-kind={t.kind}>
      <span>
        <b className="lt-mono">{array.name}</b> from column <b>{t.column}</b> is {targetSummary(array)}.
      </span>
      {t.switch_to && (
        <button type="button" className="ll-btn ll-btn-small" disabled={busy} onClick={flip} data-testid={`switch-${array.name}`}>
          {busy ? "Re-reading…" : t.switch_to === "numeric" ? "Use as numeric (regression)" : "Use as categorical (classes)"}
        </button>
      )}
      {error && <span className="lt-error">{error}</span>}
    </div>
  );
}

export function DatasetView({ dataset, onChange, samplesShown = 6 }: { dataset: DatasetInfo; onChange?: (d: DatasetInfo) => void; samplesShown?: number }) {
  const [samples, setSamples] = useState<Samples | null>(null);
  const [split, setSplit] = useState("train");
  const d = dataset.description;
  const splits = SPLIT_ORDER.filter((s) => (d.sizes[s] ?? 0) > 0);
  const version = JSON.stringify(d.arrays.map((a) => [a.name, a.kind]));
  useEffect(() => {
    const ctrl = new AbortController();
    setSamples(null);
    getSamples(dataset.id, splits.includes(split) ? split : "train", samplesShown, ctrl.signal).then(setSamples, () => {});
    return () => ctrl.abort();
  }, [dataset.id, split, version]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <div className="lt-dataset" data-testid="dataset-view">
      <div className="lt-sizes">
        {SPLIT_ORDER.filter((s) => s in d.sizes).map((s) => <span key={s} className="lt-pill">{s} {d.sizes[s].toLocaleString()}</span>)}
      </div>
      <table className="lt-table">
        <thead><tr><th>Array</th><th>Kind</th><th>Shape</th><th>Type</th><th>Classes</th></tr></thead>
        <tbody>
          {d.arrays.map((a) => (
            <tr key={a.name} data-testid={`array-${a.name}`}>
              <td className="lt-mono">{a.name}</td><td>{a.kind}</td><td className="lt-mono">({a.shape.join(", ")})</td><td className="lt-mono">{a.dtype}</td>
              <td title={a.class_names?.join(", ")}>{a.num_classes ? `${a.num_classes}${a.class_names ? `: ${a.class_names.slice(0, 8).join(", ")}${a.class_names.length > 8 ? "…" : ""}` : ""}` : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {onChange && d.arrays.filter((a) => a.target).map((a) => <TargetNote key={a.name} dataset={dataset} array={a} onChange={onChange} />)}
      {splits.length > 1 && (
        <div className="ld-split-tabs" role="tablist">
          {splits.map((s) => (
            <button key={s} type="button" role="tab" aria-selected={s === split} className={`lt-tab ${s === split ? "is-active" : ""}`} onClick={() => setSplit(s)}>{s}</button>
          ))}
        </div>
      )}
      {samples && (
        <>
          <div className="lt-muted ld-samples-note" data-testid="samples-note">
            {samples.samples.length} of {samples.size.toLocaleString()} {samples.split} samples{samples.stratified ? ", picked class by class" : ", the first rows"}
          </div>
          <div className="lt-samples" data-testid="dataset-samples">
            {samples.samples.map((s, i) => (
              <div key={i} className="lt-sample" title={samples.indices ? `row ${samples.indices[i]} of ${samples.split}` : undefined}>
                {Object.entries(s).map(([k, v]) => <SampleCell key={k} name={k} view={v} />)}
              </div>
            ))}
          </div>
        </>
      )}
    </div>
  );
}

export function UploadBox({ onUploaded }: { onUploaded: (d: DatasetInfo) => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [kind, setKind] = useState<"csv" | "npz" | "images">("csv");
  const [name, setName] = useState("");
  const [columns, setColumns] = useState<string[]>([]);
  const [inputs, setInputs] = useState<string[]>([]);
  const [target, setTarget] = useState("");
  const [targetKind, setTargetKind] = useState<"auto" | "categorical" | "numeric">("auto");
  const [split, setSplit] = useState("");
  const [inputShape, setInputShape] = useState("");
  const [imageSize, setImageSize] = useState("32, 32");
  const [colorMode, setColorMode] = useState("rgb");
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<{ message: string; problems: string[] } | null>(null);
  const abort = useRef<(() => void) | null>(null);
  const fileInput = useRef<HTMLInputElement | null>(null);

  const pick = async (f: File | null) => {
    setFile(f);
    setError(null);
    setProgress(null);
    if (!f) return;
    setName(f.name.replace(/\.[^.]+$/, ""));
    const ext = f.name.toLowerCase().split(".").pop();
    const k = ext === "npz" ? "npz" : ext === "zip" ? "images" : "csv";
    setKind(k);
    if (k === "csv") {
      const cols = parseCsvHeader(await f.slice(0, 65536).text());
      setColumns(cols);
      setTarget(cols[cols.length - 1] ?? "");
      setInputs(cols.slice(0, -1));
      setSplit(cols.includes("split") ? "split" : "");
    } else setColumns([]);
  };

  const csv = kind === "csv" ? csvOptions({ inputs: inputs.filter((c) => c !== split), target, targetKind, split, inputShape }) : null;
  const upload = () => {
    if (!file) return;
    let options: Record<string, unknown> = {};
    if (csv) options = csv.options;
    if (kind === "images") options = { image_size: imageSize.split(/[,x× ]+/).filter(Boolean).map(Number), color_mode: colorMode };
    setError(null);
    setProgress(0);
    const up = uploadDataset({ file, kind, name: name.trim() || undefined, options }, setProgress);
    abort.current = up.abort;
    up.promise.then(
      (d) => {
        setProgress(null);
        setFile(null);
        if (fileInput.current) fileInput.current.value = "";
        onUploaded(d);
      },
      (e: UploadError) => {
        setProgress(null);
        setError({ message: e.message, problems: (e.problems ?? []).map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)) });
      },
    );
  };

  return (
    <div className="lt-upload" data-testid="upload">
      <div className="lt-row">
        <span>Upload</span>
        <input ref={fileInput} type="file" accept=".csv,.npz,.zip" data-testid="upload-file" onChange={(e) => void pick(e.target.files?.[0] ?? null)} />
      </div>
      {file && (
        <>
          <div className="lt-grid">
            <label>Name<input value={name} onChange={(e) => setName(e.target.value)} data-testid="upload-name" /></label>
            <label>Kind
              <select value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
                <option value="csv">CSV</option><option value="npz">NPZ</option><option value="images">image folders (zip)</option>
              </select>
            </label>
            {kind === "images" && (<>
              <label>Image size (h, w)<input value={imageSize} onChange={(e) => setImageSize(e.target.value)} /></label>
              <label>Color<select value={colorMode} onChange={(e) => setColorMode(e.target.value)}><option value="rgb">rgb</option><option value="grayscale">grayscale</option></select></label>
            </>)}
          </div>
          {kind === "csv" && columns.length > 0 && (
            <div className="lt-columns" data-testid="csv-columns">
              <div className="lt-muted">Input columns (array x)</div>
              <div className="lt-chips">
                {columns.map((c) => (
                  <label key={c} className={`lt-chip ${inputs.includes(c) ? "is-on" : ""}`}>
                    <input type="checkbox" checked={inputs.includes(c)} onChange={(e) => setInputs(e.target.checked ? [...inputs, c] : inputs.filter((x) => x !== c))} />{c}
                  </label>
                ))}
              </div>
              <div className="lt-grid">
                <label>Target column (array y)<select value={target} onChange={(e) => setTarget(e.target.value)} data-testid="csv-target">{columns.map((c) => <option key={c}>{c}</option>)}</select></label>
                <label title="auto: text, or a few whole numbers in a column named or placed like a label (label, class, target, species… or the last column), become classes; other numbers a regression target. The upload says what it chose, with a switch.">Target kind
                  <select value={targetKind} onChange={(e) => setTargetKind(e.target.value as typeof targetKind)} data-testid="csv-target-kind"><option value="auto">auto (detect)</option><option value="categorical">categorical</option><option value="numeric">numeric</option></select>
                </label>
                <label>Split column<select value={split} onChange={(e) => setSplit(e.target.value)} data-testid="csv-split"><option value="">none</option>{columns.map((c) => <option key={c}>{c}</option>)}</select></label>
                <label>Input shape<input value={inputShape} onChange={(e) => setInputShape(e.target.value)} placeholder={`${inputs.length} (flat)`} /></label>
              </div>
              {csv && csv.problems.map((p) => <div key={p} className="lt-error">{p}</div>)}
            </div>
          )}
          <div className="lt-actions">
            <button type="button" className="ll-btn ll-btn-primary" data-testid="upload-submit" disabled={progress !== null || (csv?.problems.length ?? 0) > 0} onClick={upload}>Upload</button>
            {progress !== null && (<>
              <progress max={1} value={progress} data-testid="upload-progress" />
              <span className="lt-muted">{Math.round(progress * 100)}%{progress >= 1 ? " · parsing…" : ""}</span>
              <button type="button" className="ll-btn ll-btn-small" onClick={() => abort.current?.()}>Cancel</button>
            </>)}
          </div>
        </>
      )}
      {error && (
        <div className="lt-upload-error" data-testid="upload-error" role="alert">
          <b>{error.message}</b>
          {error.problems.length > 0 && <ul>{error.problems.map((p, i) => <li key={i}>{p}</li>)}</ul>}
        </div>
      )}
    </div>
  );
}

/** Data and training setup: pick or upload a dataset, see it, map the graph's ends to its arrays,
 * set the training options, and Train (saves the graph as a new version, then submits it). */

import { useEffect, useMemo, useRef, useState } from "react";
import { createGraph, saveGraphVersion } from "../api/graphs";
import { getDataset, getSamples, listDatasets, uploadDataset, UploadError, type DatasetInfo, type Samples } from "../api/datasets";
import { checkJob, problemsOf, submitJob, type Problem } from "../api/jobs";
import { serializeGraph } from "../domain/format";
import { dispatch } from "../state/commands";
import { selectDoc } from "../state/documentStore";
import { useDocumentStore, useEditor } from "../state/EditorProvider";
import type { EditorState } from "../state/documentStore";
import { buildConfig, defaultValidationSplit } from "./config";
import { csvOptions, mappingForSubmit, mappingProblems, parseCsvHeader, prefillMapping, type GraphEnd } from "./mapping";
import { SampleCell } from "./samples";
import { useTrainingUi, type SetupForm } from "./ui";

function graphEnds(s: EditorState): GraphEnd[] {
  const ends: GraphEnd[] = [];
  const doc = selectDoc(s); // the document's own ends, even while a block is open in the editor
  const feeding = new Map(doc.edges.map((e) => [e.target, e.source]));
  for (const n of doc.nodes) {
    const p = (n.params ?? {}) as Record<string, unknown>;
    if (n.type === "Input") {
      ends.push({ id: n.id, role: "input", shape: Array.isArray(p.shape) ? (p.shape as number[]) : null, dtype: String(p.dtype ?? "float32").startsWith("int") ? "int" : "float" });
    } else if (n.type === "Output") {
      const info = s.analysis.nodeInfo[n.id] ?? s.analysis.nodeInfo[feeding.get(n.id) ?? ""];
      ends.push({
        id: n.id,
        role: "output",
        shape: info?.output_shape ?? null,
        loss: typeof p.loss === "string" ? p.loss : undefined,
        lossWeight: typeof p.loss_weight === "number" ? p.loss_weight : 1,
        metrics: Array.isArray(p.metrics) ? (p.metrics as string[]) : [],
      });
    }
  }
  return ends;
}

export function SetupPage() {
  const store = useDocumentStore();
  const endsKey = useEditor((s) => JSON.stringify(graphEnds(s)));
  const ends = useMemo(() => JSON.parse(endsKey) as GraphEnd[], [endsKey]);
  const { form, setForm, open } = useTrainingUi();
  const [datasets, setDatasets] = useState<DatasetInfo[]>([]);
  const [listError, setListError] = useState<string | null>(null);
  const [dataset, setDataset] = useState<DatasetInfo | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState<string | null>(null);

  const refresh = () =>
    listDatasets()
      .then((d) => {
        setDatasets(d.data);
        setListError(null);
      })
      .catch((e) => setListError((e as Error).message));
  useEffect(() => void refresh(), []);

  // A newly chosen dataset without a valid or test split gets a held-out validation split (changeable);
  // the dataset already chosen when the page opens keeps the form's value.
  const holdoutFor = useRef(form.dataset);
  useEffect(() => {
    if (!dataset || dataset.id !== form.dataset || holdoutFor.current === dataset.id) return;
    holdoutFor.current = dataset.id;
    setForm({ validationSplit: defaultValidationSplit(dataset.description.sizes) });
  }, [dataset]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (!form.dataset) return setDataset(null);
    const ctrl = new AbortController();
    getDataset(form.dataset, ctrl.signal).then(setDataset, () => setDataset(null));
    return () => ctrl.abort();
  }, [form.dataset]);

  // Pre-fill the mapping (by name) and the loss weights (from the Output nodes).
  useEffect(() => {
    const heads = ends.filter((e) => e.role === "output");
    const weights = { ...form.lossWeights };
    for (const h of heads) if (weights[h.id] === undefined) weights[h.id] = String(h.lossWeight ?? 1);
    const mapping = dataset ? prefillMapping(ends, dataset.description.arrays, form.mapping) : form.mapping;
    setForm({ mapping, lossWeights: weights });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [dataset, endsKey]);

  const arrays = dataset?.description.arrays ?? [];
  const ownHoldout = (dataset?.description.sizes.valid ?? 0) > 0 || (dataset?.description.sizes.test ?? 0) > 0;
  const splitValue = Number(form.validationSplit.trim() || "0");
  const holdoutNote = !dataset ? null : splitValue > 0 ? (
    <span className="lt-muted" data-testid="holdout-note">{Math.round(splitValue * 100)}% of train held out for validation and results</span>
  ) : ownHoldout ? (
    <span className="lt-muted" data-testid="holdout-note">uses the dataset's own {(dataset.description.sizes.valid ?? 0) > 0 ? "valid" : "test"} split</span>
  ) : (
    <span className="lt-warn" data-testid="holdout-note">no held-out data: curves and results will be on training rows</span>
  );
  const local = useMemo(() => (dataset ? mappingProblems(ends, arrays, form.mapping) : {}), [dataset, endsKey, form.mapping]); // eslint-disable-line react-hooks/exhaustive-deps
  const heads = ends.filter((e) => e.role === "output").map((e) => e.id);
  const built = buildConfig(form, heads);
  // Why Train is disabled, in words: nothing is submitted (or saved) until this list is empty.
  const blockers = [
    ...(form.dataset ? [] : ["Choose a dataset."]),
    ...Object.entries(local).flatMap(([end, messages]) => messages.map((m) => `Mapping of ${end}: ${m}`)),
    ...Object.entries(built.problems).map(([field, message]) => `${field}: ${message}`),
  ];
  const serverByNode: Record<string, string[]> = {};
  const serverOther: Problem[] = [];
  for (const p of problems) {
    if (p.node && ends.some((e) => e.id === p.node)) (serverByNode[p.node] ??= []).push(p.message);
    else serverOther.push(p);
  }

  const train = async () => {
    setProblems([]);
    if (Object.keys(built.problems).length) return;
    setBusy("Checking…");
    try {
      const s = store.getState();
      const document = serializeGraph(selectDoc(s));
      const setup = { dataset: form.dataset, mapping: mappingForSubmit(form.mapping), config: built.config };
      // Checked before saving, so a refused submission leaves no new graph version behind.
      await checkJob({ graph: document as unknown as Record<string, unknown>, ...setup });
      setBusy("Saving the graph…");
      const saved = s.server ? await saveGraphVersion(s.server.graphId, document) : await createGraph(s.meta.name || "untitled", document);
      dispatch(store, "markSaved", { graphId: saved.graph.id, name: saved.graph.name, version: saved.version.number });
      setBusy("Submitting…");
      const job = await submitJob({ graph_id: saved.graph.id, graph_version: saved.version.number, ...setup });
      open("run", job.id);
    } catch (err) {
      setProblems(problemsOf(err));
    } finally {
      setBusy(null);
    }
  };

  const f = (k: keyof SetupForm) => ({
    value: String(form[k] ?? ""),
    onChange: (e: { target: { value: string } }) => setForm({ [k]: e.target.value } as Partial<SetupForm>),
  });
  const fieldError = (k: string) => built.problems[k] && <span className="lt-field-error">{built.problems[k]}</span>;

  return (
    <div className="lt-setup" data-testid="setup">
      <section className="lt-card">
        <h2>Data</h2>
        <label className="lt-row">
          <span>Dataset</span>
          <select data-testid="dataset-select" value={form.dataset} onChange={(e) => setForm({ dataset: e.target.value, mapping: {} })}>
            <option value="">Choose a dataset…</option>
            <optgroup label="Built-in">
              {datasets.filter((d) => d.kind === "builtin").map((d) => (
                <option key={d.id} value={d.id}>{d.name} — {d.summary}</option>
              ))}
            </optgroup>
            <optgroup label="Uploads">
              {datasets.filter((d) => d.kind !== "builtin").map((d) => (
                <option key={d.id} value={d.id}>{d.name} ({d.kind})</option>
              ))}
            </optgroup>
          </select>
        </label>
        {listError && <div className="lt-error">{listError}</div>}
        <UploadBox onUploaded={(d) => (refresh(), setForm({ dataset: d.id, mapping: {} }))} />
        {dataset && <DatasetView dataset={dataset} />}
      </section>

      <section className="lt-card">
        <h2>Mapping</h2>
        {!ends.length && <div className="lt-muted">The graph has no Input or Output nodes.</div>}
        {!dataset && ends.length > 0 && <div className="lt-muted">Choose a dataset to map the graph's Inputs and heads to its arrays.</div>}
        {dataset && (
          <table className="lt-table" data-testid="mapping">
            <thead>
              <tr><th>Node</th><th>Role</th><th>Array</th><th /></tr>
            </thead>
            <tbody>
              {ends.map((e) => {
                const msgs = [...(local[e.id] ?? []), ...(serverByNode[e.id] ?? [])];
                return (
                  <tr key={e.id} data-testid={`map-${e.id}`}>
                    <td className="lt-mono">{e.id}</td>
                    <td>{e.role === "input" ? "Input" : "Head"}{e.shape ? <span className="lt-muted"> ({e.shape.join("×") || "scalar"})</span> : null}</td>
                    <td>
                      <select value={form.mapping[e.id] ?? ""} onChange={(ev) => setForm({ mapping: { ...form.mapping, [e.id]: ev.target.value } })} data-testid={`map-select-${e.id}`}>
                        <option value="">—</option>
                        {arrays.map((a) => (
                          <option key={a.name} value={a.name}>{a.name} ({a.kind}, {a.shape.join("×") || "scalar"})</option>
                        ))}
                      </select>
                    </td>
                    <td>{msgs.map((m, i) => <div key={i} className="lt-error" data-testid={`map-problem-${e.id}`}>{m}</div>)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>

      <section className="lt-card">
        <h2>Training</h2>
        <div className="lt-grid">
          <label>Optimizer
            <select {...f("optimizer")} data-testid="cfg-optimizer">
              {["adam", "adamw", "sgd", "rmsprop", "adagrad"].map((o) => <option key={o}>{o}</option>)}
            </select>
          </label>
          <label>Learning rate<input {...f("lr")} placeholder={form.optimizer === "sgd" ? "0.01 (default)" : "0.001 (default)"} data-testid="cfg-lr" />{fieldError("optimizer.lr")}</label>
          {(form.optimizer === "sgd" || form.optimizer === "rmsprop") && <label>Momentum<input {...f("momentum")} />{fieldError("optimizer.momentum")}</label>}
          {form.optimizer === "sgd" && <label className="lt-check"><input type="checkbox" checked={form.nesterov} onChange={(e) => setForm({ nesterov: e.target.checked })} />Nesterov</label>}
          <label>Weight decay<input {...f("weightDecay")} placeholder={form.optimizer === "adamw" ? "0.004 (default)" : "0 (default)"} />{fieldError("optimizer.weight_decay")}</label>
          <label>Schedule
            <select {...f("schedule")} data-testid="cfg-schedule">
              <option value="none">constant</option>
              <option value="step">step</option>
              <option value="cosine">cosine</option>
              <option value="reduce_on_plateau">reduce on plateau</option>
            </select>
          </label>
          {form.schedule === "step" && (<>
            <label>Every (epochs)<input {...f("stepSize")} />{fieldError("schedule.step_size")}</label>
            <label>Multiply by<input {...f("gamma")} />{fieldError("schedule.gamma")}</label>
          </>)}
          {form.schedule === "cosine" && <label>Final rate<input {...f("minLr")} />{fieldError("schedule.min_lr")}</label>}
          {form.schedule === "reduce_on_plateau" && (<>
            <label>Factor<input {...f("factor")} />{fieldError("schedule.factor")}</label>
            <label>Patience<input {...f("plateauPatience")} />{fieldError("schedule.patience")}</label>
          </>)}
          <label>Epochs<input {...f("epochs")} data-testid="cfg-epochs" />{fieldError("epochs")}</label>
          <label>Batch size<input {...f("batchSize")} data-testid="cfg-batch" />{fieldError("batch_size")}</label>
          <label>Validation split<input {...f("validationSplit")} data-testid="cfg-valsplit" title="Fraction of train held out; 0 keeps the dataset's own valid split" />{fieldError("validation_split")}{holdoutNote}</label>
          <label>Seed<input {...f("seed")} data-testid="cfg-seed" />{fieldError("seed")}</label>
          <label>Clip gradient norm<input {...f("gradClip")} placeholder="off" />{fieldError("grad_clip_norm")}</label>
          <label>Log every N steps<input {...f("logEverySteps")} placeholder="auto" data-testid="cfg-log-every" />{fieldError("log_every_steps")}</label>
          <label className="lt-check"><input type="checkbox" checked={form.shuffle} onChange={(e) => setForm({ shuffle: e.target.checked })} />Shuffle</label>
          <label className="lt-check" title="Also write TensorBoard event files into the run (tensorboard --logdir on the unpacked run directory)"><input type="checkbox" checked={form.tensorboard} onChange={(e) => setForm({ tensorboard: e.target.checked })} data-testid="cfg-tensorboard" />TensorBoard files</label>
          <label className="lt-check"><input type="checkbox" checked={form.earlyStopping} onChange={(e) => setForm({ earlyStopping: e.target.checked })} data-testid="cfg-es" />Early stopping</label>
          {form.earlyStopping && (<>
            <label>Monitor<input {...f("esMonitor")} data-testid="cfg-es-monitor" /></label>
            <label>Patience<input {...f("esPatience")} />{fieldError("early_stopping.patience")}</label>
            <label>Min delta<input {...f("esMinDelta")} />{fieldError("early_stopping.min_delta")}</label>
            <label className="lt-check"><input type="checkbox" checked={form.esRestore} onChange={(e) => setForm({ esRestore: e.target.checked })} />Restore best weights</label>
          </>)}
        </div>
        {heads.length > 0 && (
          <div className="lt-weights">
            <span className="lt-muted">Loss weights</span>
            {heads.map((h) => (
              <label key={h}><span className="lt-mono">{h}</span>
                <input value={form.lossWeights[h] ?? ""} onChange={(e) => setForm({ lossWeights: { ...form.lossWeights, [h]: e.target.value } })} data-testid={`cfg-weight-${h}`} />
                {fieldError(`loss_weights.${h}`)}
              </label>
            ))}
          </div>
        )}
        {serverOther.length > 0 && (
          <ul className="lt-problems" data-testid="submit-problems">
            {serverOther.map((p, i) => <li key={i}>{p.node ? <b className="lt-mono">{p.node}: </b> : p.field ? <b className="lt-mono">{p.field}: </b> : null}{p.message}</li>)}
          </ul>
        )}
        <div className="lt-actions">
          <button type="button" className="ll-btn ll-btn-primary" data-testid="train" disabled={blockers.length > 0 || !!busy} onClick={train}>
            {busy ?? "Train"}
          </button>
          {blockers.length > 0 ? (
            <ul className="lt-warn lt-blockers" data-testid="train-blockers">
              {blockers.map((b) => <li key={b}>{b}</li>)}
            </ul>
          ) : (
            <span className="lt-muted">Checks the setup, saves the graph as a new version, then trains it.</span>
          )}
        </div>
      </section>
    </div>
  );
}

function DatasetView({ dataset }: { dataset: DatasetInfo }) {
  const [samples, setSamples] = useState<Samples | null>(null);
  const d = dataset.description;
  useEffect(() => {
    const ctrl = new AbortController();
    setSamples(null);
    getSamples(dataset.id, "train", 6, ctrl.signal).then(setSamples, () => {});
    return () => ctrl.abort();
  }, [dataset.id]);
  return (
    <div className="lt-dataset" data-testid="dataset-view">
      <div className="lt-sizes">
        {Object.entries(d.sizes).map(([split, n]) => <span key={split} className="lt-pill">{split} {n.toLocaleString()}</span>)}
      </div>
      <table className="lt-table">
        <thead><tr><th>Array</th><th>Kind</th><th>Shape</th><th>Type</th><th>Classes</th></tr></thead>
        <tbody>
          {d.arrays.map((a) => (
            <tr key={a.name}>
              <td className="lt-mono">{a.name}</td><td>{a.kind}</td><td className="lt-mono">({a.shape.join(", ")})</td><td className="lt-mono">{a.dtype}</td>
              <td title={a.class_names?.join(", ")}>{a.num_classes ? `${a.num_classes}${a.class_names ? `: ${a.class_names.slice(0, 8).join(", ")}${a.class_names.length > 8 ? "…" : ""}` : ""}` : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {samples && (
        <div className="lt-samples" data-testid="dataset-samples">
          {samples.samples.map((s, i) => (
            <div key={i} className="lt-sample">
              {Object.entries(s).map(([k, v]) => <SampleCell key={k} name={k} view={v} />)}
            </div>
          ))}
        </div>
      )}
    </div>
  );
}

function UploadBox({ onUploaded }: { onUploaded: (d: DatasetInfo) => void }) {
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
        <input type="file" accept=".csv,.npz,.zip" data-testid="upload-file" onChange={(e) => void pick(e.target.files?.[0] ?? null)} />
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
                <label>Target kind<select value={targetKind} onChange={(e) => setTargetKind(e.target.value as typeof targetKind)}><option value="auto">auto</option><option value="categorical">categorical</option><option value="numeric">numeric</option></select></label>
                <label>Split column<select value={split} onChange={(e) => setSplit(e.target.value)}><option value="">none</option>{columns.map((c) => <option key={c}>{c}</option>)}</select></label>
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

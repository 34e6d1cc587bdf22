/** Data and training setup: pick or upload a dataset, see it, map the graph's ends to its arrays,
 * set the training options, and Train (saves the graph as a new version, then submits it). */

import { useEffect, useMemo, useRef, useState } from "react";
import { createGraph, saveGraphVersion } from "../api/graphs";
import { getDataset, listDatasets, type DatasetInfo } from "../api/datasets";
import { checkJob, problemsOf, submitJob, type Problem } from "../api/jobs";
import { serializeGraph } from "../domain/format";
import { dispatch } from "../state/commands";
import { selectDoc } from "../state/documentStore";
import { useDocumentStore, useEditor } from "../state/EditorProvider";
import type { EditorState } from "../state/documentStore";
import { buildConfig, defaultStandardize, defaultValidationSplit } from "./config";
import { DatasetView, UploadBox } from "./datasets";
import { mappingForSubmit, mappingProblems, prefillMapping, type GraphEnd } from "./mapping";
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
    setForm({ validationSplit: defaultValidationSplit(dataset.description.sizes), standardize: defaultStandardize(dataset.kind) });
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
    // Only the chosen dataset's arrays: the previous one may still be shown while the new one loads.
    const current = dataset && dataset.id === form.dataset ? dataset : null;
    const mapping = current ? prefillMapping(ends, current.description.arrays, form.mapping) : form.mapping;
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
          <select data-testid="dataset-select" value={form.dataset} onChange={(e) => e.target.value !== form.dataset && setForm({ dataset: e.target.value, mapping: {} })}>
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
        {dataset && <DatasetView dataset={dataset} onChange={(d) => (setDataset(d), void refresh())} />}
        <div className="lt-actions">
          <button type="button" className="ll-btn ll-btn-small" onClick={() => open("datasets")} data-testid="manage-datasets">Manage datasets…</button>
        </div>
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
          <label className="lt-check" title="(x − mean) / std per feature, with the mean and std of the training split only (after the validation split); applied in training, evaluation, Try it and exports. The other way: a Normalization layer in the graph."><input type="checkbox" checked={form.standardize} onChange={(e) => setForm({ standardize: e.target.checked })} data-testid="cfg-standardize" />Standardize features <span className="lt-muted">(train split's mean/std)</span></label>
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
        <details className="lt-advanced" data-testid="cfg-hardware">
          <summary>Hardware and data loading</summary>
          <div className="lt-grid">
            <label title="auto: a GPU when the worker has one. cuda sends the job to a worker taking the gpu queue.">Device
              <select {...f("device")} data-testid="cfg-device">
                <option value="auto">auto</option>
                <option value="cpu">CPU</option>
                <option value="cuda">GPU (CUDA)</option>
              </select>
            </label>
            <label title="Automatic mixed precision. float16 scales the loss and runs on CUDA only (ignored, with a log line, on the CPU); bfloat16 runs on both.">Precision
              <select {...f("precision")} data-testid="cfg-precision">
                <option value="float32">float32</option>
                <option value="bfloat16">bfloat16 (mixed)</option>
                <option value="float16">float16 (mixed, CUDA)</option>
              </select>
            </label>
            <label title="memory: decode the data once and slice batches; stream: worker processes read each batch from storage, in flat memory; auto: memory when the data fits the server's budget.">Data loading
              <select {...f("dataLoading")} data-testid="cfg-data-loading">
                <option value="auto">auto</option>
                <option value="memory">in memory</option>
                <option value="stream">stream</option>
              </select>
            </label>
            <label title="Data-parallel training (DistributedDataParallel): each process takes its share of every batch, the batch size stays the global one. On a GPU worker each process takes one GPU.">Processes
              <input {...f("processes")} placeholder="1" data-testid="cfg-processes" />{fieldError("distributed.nproc_per_node")}
            </label>
            <label className="lt-check" title="torch.compile the model on the first step; if compiling fails the run goes on uncompiled and says so in its log."><input type="checkbox" checked={form.compile} onChange={(e) => setForm({ compile: e.target.checked })} data-testid="cfg-compile" />torch.compile</label>
          </div>
        </details>
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

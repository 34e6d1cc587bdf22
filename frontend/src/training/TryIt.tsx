/** "Try it": run the finished job's model on one sample. Number fields (with sliders) for small
 * vector inputs, pre-filled from a test sample; an image drop and a drawing pad for image inputs;
 * each head's answer as bars; and a batch CSV upload whose predictions come back as a download. */

import { useEffect, useRef, useState } from "react";
import { request } from "../api/client";
import { getSamples } from "../api/datasets";
import type { Job } from "../api/jobs";
import { predict, predictFile, saveBlob, type PredictAnswer } from "../api/predict";

interface InputSpec {
  id: string;
  shape: number[];
  dtype: string;
}

const MAX_FIELDS = 64;
const PAD = 160;

function inputsOf(graph: { nodes?: Array<{ id: string; type: string; params?: Record<string, unknown> }> }): InputSpec[] {
  return (graph.nodes ?? [])
    .filter((n) => n.type === "Input")
    .map((n) => ({ id: n.id, shape: (n.params?.shape as number[]) ?? [], dtype: String(n.params?.dtype ?? "float32") }));
}

const isImage = (s: InputSpec) => s.shape.length === 3;
const isVector = (s: InputSpec) => s.shape.length === 1 && s.shape[0] <= MAX_FIELDS;

export function TryIt({ jobId, job }: { jobId: string; job: Job | null }) {
  const [inputs, setInputs] = useState<InputSpec[]>([]);
  const [values, setValues] = useState<Record<string, number[]>>({});
  const [answer, setAnswer] = useState<PredictAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const ctrl = new AbortController();
    request<Record<string, unknown>>("GET", `/jobs/${encodeURIComponent(jobId)}/graph`, undefined, ctrl.signal)
      .then((graph) => {
        const specs = inputsOf(graph as never);
        setInputs(specs);
        setValues(Object.fromEntries(specs.filter(isVector).map((s) => [s.id, new Array(s.shape[0]).fill(0)])));
        if (!job) return;
        getSamples(job.dataset, "test", 1, ctrl.signal)
          .catch(() => getSamples(job.dataset, "train", 1, ctrl.signal))
          .then((samples) => {
            const sample = samples.samples[0] ?? {};
            setValues((old) => {
              const next = { ...old };
              for (const s of specs.filter(isVector)) {
                const view = sample[job.mapping[s.id] ?? s.id] as { kind?: string; values?: unknown } | undefined;
                if (view?.kind === "values" && Array.isArray(view.values) && view.values.length === s.shape[0]) {
                  next[s.id] = (view.values as number[]).map(Number);
                }
              }
              return next;
            });
          })
          .catch(() => {});
      })
      .catch((e) => setError((e as Error).message));
    return () => ctrl.abort();
  }, [jobId, job?.dataset]); // eslint-disable-line react-hooks/exhaustive-deps -- not on every state change

  const run = async (call: () => Promise<PredictAnswer | Blob>) => {
    setBusy(true);
    setError(null);
    try {
      const result = await call();
      if (result instanceof Blob) saveBlob(result, "predictions.csv");
      else setAnswer(result);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const vectorInputs = inputs.filter(isVector);
  const imageInputs = inputs.filter(isImage);
  const canFields = inputs.length > 0 && inputs.every(isVector);

  return (
    <section className="lt-card" data-testid="try-it">
      <h2>Try it</h2>
      {vectorInputs.map((s) => (
        <div key={s.id} className="lt-try-fields">
          <div className="lt-muted">{s.id}</div>
          {values[s.id]?.map((v, i) => (
            <label key={i} className="lt-try-field">
              <span className="lt-mono">{i}</span>
              <input type="range" min={Math.min(-3, v - 3)} max={Math.max(3, v + 3)} step={0.01} value={v}
                onChange={(e) => setValues((old) => ({ ...old, [s.id]: old[s.id].map((x, j) => (j === i ? Number(e.target.value) : x)) }))} />
              <input type="number" step="any" value={v} data-testid={`try-${s.id}-${i}`}
                onChange={(e) => setValues((old) => ({ ...old, [s.id]: old[s.id].map((x, j) => (j === i ? Number(e.target.value) : x)) }))} />
            </label>
          ))}
        </div>
      ))}
      {canFields && (
        <button type="button" className="ll-btn" disabled={busy} data-testid="try-predict" onClick={() => run(() => predict(jobId, values))}>
          Predict
        </button>
      )}
      {imageInputs.length === 1 && <ImageInput busy={busy} onImage={(blob, name) => run(() => predictFile(jobId, blob, name))} />}
      {inputs.length > 0 && !canFields && imageInputs.length !== 1 && (
        <div className="lt-muted">This model's inputs have no form here; use the API (POST /api/jobs/{jobId}/predict) or the Python client.</div>
      )}
      <div className="lt-try-batch">
        <label className="ll-btn">
          Predict a CSV file…
          <input type="file" accept=".csv,text/csv" hidden data-testid="try-batch-file"
            onChange={(e) => { const f = e.target.files?.[0]; if (f) void run(() => predictFile(jobId, f, f.name)); e.target.value = ""; }} />
        </label>
        <span className="lt-muted">A CSV with the dataset's columns; the predictions download as CSV.</span>
      </div>
      {error && <div className="lt-error" data-testid="try-error">{error}</div>}
      {answer && <Answer answer={answer} />}
    </section>
  );
}

function ImageInput({ busy, onImage }: { busy: boolean; onImage: (blob: Blob, name: string) => void }) {
  const pad = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const clear = () => {
    const ctx = pad.current?.getContext("2d");
    if (!ctx) return;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, PAD, PAD);
  };
  useEffect(clear, []);
  const draw = (e: React.PointerEvent<HTMLCanvasElement>) => {
    if (!drawing.current) return;
    const ctx = pad.current?.getContext("2d");
    const rect = pad.current?.getBoundingClientRect();
    if (!ctx || !rect) return;
    ctx.fillStyle = "#fff";
    ctx.beginPath();
    ctx.arc(((e.clientX - rect.left) * PAD) / rect.width, ((e.clientY - rect.top) * PAD) / rect.height, PAD / 14, 0, 2 * Math.PI);
    ctx.fill();
  };
  return (
    <div className="lt-try-image">
      <label className="ll-btn lt-try-drop" onDragOver={(e) => e.preventDefault()}
        onDrop={(e) => { e.preventDefault(); const f = e.dataTransfer.files[0]; if (f) onImage(f, f.name); }}>
        Drop or choose an image…
        <input type="file" accept="image/*" hidden data-testid="try-image-file"
          onChange={(e) => { const f = e.target.files?.[0]; if (f) onImage(f, f.name); e.target.value = ""; }} />
      </label>
      <div className="lt-try-pad">
        <canvas ref={pad} width={PAD} height={PAD} data-testid="try-pad"
          onPointerDown={(e) => { drawing.current = true; draw(e); }} onPointerMove={draw}
          onPointerUp={() => { drawing.current = false; }} onPointerLeave={() => { drawing.current = false; }} />
        <div className="lt-actions">
          <button type="button" className="ll-btn" onClick={clear}>Clear</button>
          <button type="button" className="ll-btn" disabled={busy} data-testid="try-predict-drawing"
            onClick={() => pad.current?.toBlob((b) => b && onImage(b, "drawing.png"), "image/png")}>Predict drawing</button>
        </div>
      </div>
    </div>
  );
}

function Answer({ answer }: { answer: PredictAnswer }) {
  return (
    <div className="lt-try-answer" data-testid="try-answer">
      {Object.entries(answer.outputs).map(([head, value]) => {
        const classes = answer.classes[head];
        if (classes) {
          const rows = Object.entries(classes.probabilities).sort((a, b) => b[1] - a[1]).slice(0, 10);
          return (
            <div key={head}>
              <div><b>{head}</b>: <span data-testid={`try-top-${head}`}>{classes.top}</span> ({(classes.probability * 100).toFixed(1)}%)</div>
              {rows.map(([name, p]) => (
                <div key={name} className="lt-try-bar">
                  <span className="lt-mono">{name}</span>
                  <span className="lt-try-bar-fill" style={{ width: `${Math.max(1, p * 100)}%` }} />
                  <span className="lt-mono">{p.toFixed(3)}</span>
                </div>
              ))}
            </div>
          );
        }
        const flat = ([] as unknown[]).concat(value as unknown[]).flat(3) as number[];
        const top = Math.max(1e-9, ...flat.map((v) => Math.abs(v)));
        return (
          <div key={head}>
            <b>{head}</b>
            {flat.slice(0, 20).map((v, i) => (
              <div key={i} className="lt-try-bar">
                <span className="lt-mono">{i}</span>
                <span className="lt-try-bar-fill" style={{ width: `${Math.max(1, (Math.abs(v) / top) * 100)}%` }} />
                <span className="lt-mono" data-testid={`try-value-${head}-${i}`}>{v.toFixed(4)}</span>
              </div>
            ))}
          </div>
        );
      })}
    </div>
  );
}

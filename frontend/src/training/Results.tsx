/** How the trained model does on the held-out split: a confusion matrix per classification head,
 * predicted vs true per regression head, and a few samples with their predictions. */

import { useEffect, useRef } from "react";
import type { HeadResult, JobResults } from "../api/jobs";
import { ChartCore } from "./chart";
import { confusionView } from "./confusion";
import { SampleCell } from "./samples";

/** Which rows the results were computed on, in words. */
export function splitLabel(split: string): string {
  if (split === "test") return "on the test split";
  if (split === "valid") return "on the validation split (held out from training)";
  return `on the ${split} split — training rows, not held out`;
}

export function Results({ results }: { results: JobResults }) {
  return (
    <section className="lt-card" data-testid="results">
      <h2>Results <span className="lt-muted" data-testid="results-split">{splitLabel(results.split)} ({results.size} samples)</span></h2>
      {results.split === "train" && (
        <div className="lt-warn" data-testid="results-on-train">
          These results are on the rows the model trained on, so they flatter it. Set a validation split in the setup to
          measure it on held-out rows.
        </div>
      )}
      <div className="lt-heads">
        {Object.entries(results.heads).map(([id, head]) => <HeadView key={id} id={id} head={head} />)}
      </div>
      {results.samples.length > 0 && (
        <>
          <h3>Samples</h3>
          <div className="lt-samples" data-testid="result-samples">
            {results.samples.map((s, i) => (
              <div key={i} className="lt-sample">
                {Object.entries(s.inputs).map(([k, v]) => <SampleCell key={k} name={k} view={v} />)}
                {Object.entries(s.heads).map(([h, p]) => {
                  const ok = String(p.true) === String(p.predicted);
                  return (
                    <div key={h} className={`lt-pred ${ok ? "is-ok" : "is-bad"}`}>
                      <span className="lt-muted">{h}</span> {fmt(p.predicted)}
                      {p.confidence !== undefined && <span className="lt-muted"> ({Math.round(p.confidence * 100)}%)</span>}
                      <div className="lt-muted">true {fmt(p.true)}</div>
                    </div>
                  );
                })}
              </div>
            ))}
          </div>
        </>
      )}
    </section>
  );
}

function fmt(v: unknown): string {
  if (typeof v === "number") return String(+v.toPrecision(4));
  if (Array.isArray(v)) return `[${v.slice(0, 4).map(fmt).join(", ")}${v.length > 4 ? ", …" : ""}]`;
  return String(v);
}

function HeadView({ id, head }: { id: string; head: HeadResult }) {
  if (head.kind === "classification") {
    const h = head as Extract<HeadResult, { kind: "classification" }>;
    const v = confusionView(h.classes, h.confusion_matrix);
    return (
      <div className="lt-head" data-testid={`confusion-${id}`}>
        <div className="lt-chart-title">{id}: confusion matrix · accuracy {(v.accuracy * 100).toFixed(1)}%</div>
        <table className="lt-confusion">
          <thead>
            <tr><th className="lt-muted">true ↓ / predicted →</th>{v.classes.map((c) => <th key={c} title={c}>{c}</th>)}</tr>
          </thead>
          <tbody>
            {v.cells.map((row, i) => (
              <tr key={i}>
                <th title={v.classes[i]}>{v.classes[i]}</th>
                {row.map((c) => (
                  <td key={c.col} className={c.correct ? "is-diag" : ""} style={{ ["--a" as string]: String(c.rowFraction) }} title={`true ${v.classes[c.row]}, predicted ${v.classes[c.col]}: ${c.count} (${Math.round(c.rowFraction * 100)}% of ${v.classes[c.row]})`}>
                    {c.count || ""}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  return <Scatter id={id} pairs={(head as { pairs: Array<[number, number]> }).pairs ?? []} />;
}

function Scatter({ id, pairs }: { id: string; pairs: Array<[number, number]> }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const sorted = pairs.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])).sort((a, b) => a[0] - b[0]);
    const core = new ChartCore(el.current!, { log: false, height: 240, xLabel: "true", scatter: true });
    core.set(sorted.map((p) => p[0]), [
      { key: "predicted", label: "predicted", color: "#4a63e0", values: sorted.map((p) => p[1]) },
      { key: "ideal", label: "ideal (pred = true)", color: "#9aa3b2", values: sorted.map((p) => p[0]) },
    ]);
    return () => core.destroy();
  }, [pairs]);
  return (
    <div className="lt-head" data-testid={`scatter-${id}`}>
      <div className="lt-chart-title">{id}: predicted vs true ({pairs.length} samples)</div>
      <div ref={el} className="lt-chart" />
    </div>
  );
}

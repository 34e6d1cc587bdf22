/** One array of one sample, as the data panel and the results show it: an image, a few numbers, a class. */

import type { SampleView } from "../api/jobs";

export function SampleCell({ name, view }: { name: string; view: SampleView }) {
  if (view.kind === "image" && typeof view.png === "string") {
    return <img className="lt-sample-img" src={view.png} alt={name} title={name} />;
  }
  if (view.kind === "label") {
    return <span className="lt-sample-label" title={name}>{String((view as { class: string }).class)}</span>;
  }
  if (view.kind === "values" && Array.isArray(view.values)) {
    const vals = view.values as number[];
    return (
      <span className="lt-sample-values lt-mono" title={name}>
        {vals.slice(0, 6).map((v) => (typeof v === "number" ? +v.toFixed(2) : String(v))).join(", ")}
        {vals.length > 6 || view.truncated ? ", …" : ""}
      </span>
    );
  }
  return <span className="lt-muted">{name}</span>;
}

import { describe, expect, it } from "vitest";
import type { ArrayInfo, DatasetInfo } from "../api/datasets";
import { arraysLine } from "./DatasetsPage";
import { formatBytes, targetSummary } from "./datasets";

const y: ArrayInfo = {
  name: "y", kind: "class_labels", shape: [], dtype: "int64", num_classes: 3, class_names: ["0", "1", "2"],
  target: { column: "label", kind: "categorical", requested: "auto", reason: "'label' holds 3 distinct whole numbers (0, 1, 2) and is named like a label", switch_to: "numeric", auto_kind: "categorical" },
};
const x: ArrayInfo = { name: "x", kind: "features", shape: [13], dtype: "float32", num_classes: null, class_names: null };

describe("the dataset manager's words", () => {
  it("says what the CSV import decided, and whether it was asked for", () => {
    expect(targetSummary(y)).toBe("read as categorical (3 classes): 'label' holds 3 distinct whole numbers (0, 1, 2) and is named like a label");
    expect(targetSummary({ ...y, kind: "values", num_classes: null, target: { ...y.target!, kind: "numeric", requested: "numeric" } })).toBe("numeric, as chosen");
    expect(targetSummary(x)).toBeNull();
  });
  it("lists arrays on one line and sizes in binary units", () => {
    const d = { id: "1", name: "wine", kind: "csv", description: { name: "wine", arrays: [x, y], sizes: { train: 133, test: 45 } } } as DatasetInfo;
    expect(arraysLine(d)).toBe("x (13,) features · y 3 classes");
    expect([formatBytes(512), formatBytes(13_800), formatBytes(5 * 1024 ** 2), formatBytes(null)]).toEqual(["512 B", "13 KiB", "5.0 MiB", "—"]);
  });
});

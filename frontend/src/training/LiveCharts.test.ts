import { describe, expect, it } from "vitest";
import { SeriesBuilder } from "./events";
import { chartSeries } from "./LiveCharts";

describe("overlay series", () => {
  const b = new SeriesBuilder((k) => k !== "lr");
  b.add({ seq: 1, type: "epoch", epoch: 1, step: 4, metrics: { loss: 1, val_loss: 1.2, "a/loss": 0.6, "b/loss": 0.8, val_a: 0, lr: 0.1 } as Record<string, number> });
  it("alone, a run's series keep their metric keys and get a colour per metric", () => {
    const s = chartSeries(b, "a/loss", 0, true);
    expect(s.map((x) => x.key)).toEqual(["a/loss"]);
    const total = chartSeries(b, "loss", 0, true);
    expect(total.map((x) => [x.key, x.dash ?? false])).toEqual([["loss", false], ["val_loss", true]]);
  });
  it("overlaid, every series of a run is in the run's colour, keyed and labelled by the run", () => {
    const s = chartSeries(b, "loss", 0, true, { color: "#123456", keyPrefix: "run2:", labelPrefix: "amber-falcon" });
    expect(s.map((x) => x.key)).toEqual(["run2:loss", "run2:val_loss"]);
    expect(new Set(s.map((x) => x.color))).toEqual(new Set(["#123456"]));
    expect(s[1].label).toBe("amber-falcon · val loss (total)");
  });
});

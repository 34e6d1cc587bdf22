import { describe, expect, it } from "vitest";
import { forLogScale } from "./chart";

describe("log scale", () => {
  it("turns zero and negative values into gaps and counts them, keeping positive values and existing gaps", () => {
    expect(forLogScale([1, 0, 0.5, null, -2, 3])).toEqual({ values: [1, null, 0.5, null, null, 3], hidden: 2 });
    expect(forLogScale([0.1, 0.2])).toEqual({ values: [0.1, 0.2], hidden: 0 });
  });
});

describe("x-axis ticks", () => {
  it("read relative time as a short duration and wall time as a clock", async () => {
    const { formatSeconds, clock } = await import("./chart");
    expect([formatSeconds(45), formatSeconds(125), formatSeconds(3780)]).toEqual(["45s", "2m05s", "1h03m"]);
    expect(clock(0)).toMatch(/^\d\d:\d\d:\d\d$/);
  });
});

import { describe, expect, it } from "vitest";
import { humanBytes, quotaText, type Quota } from "./account";

const quota = (over: Partial<Quota>): Quota => ({ name: "q", description: "d", unit: "jobs", limit: 0, used: 0, ...over });

describe("quotaText", () => {
  it("shows use against the limit, in the quota's unit", () => {
    expect(quotaText(quota({ limit: 2, used: 1 }))).toBe("1 of 2 jobs");
    expect(quotaText(quota({ unit: "bytes", limit: 5 * 1024 ** 3, used: 1536 }))).toBe("1.5 KB of 5.0 GB");
  });
  it("says when there is no limit, and that the wall time is per run", () => {
    expect(quotaText(quota({ limit: 0, used: 3 }))).toBe("3 jobs · no limit");
    expect(quotaText(quota({ unit: "seconds", limit: 3600, used: null }))).toBe("3600 seconds per run");
    expect(quotaText(quota({ unit: "seconds", limit: 0, used: null }))).toBe("no limit");
  });
  it("keeps small byte counts exact", () => {
    expect(humanBytes(42)).toBe("42 B");
  });
});

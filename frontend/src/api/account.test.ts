import { describe, expect, it } from "vitest";
import { humanBytes, overrideText, parseOverride, quotaText, type Quota } from "./account";

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

describe("quota overrides as an admin types them", () => {
  const bytes = quota({ name: "max_stored_bytes", description: "stored bytes", unit: "bytes" });
  const jobs = quota({ name: "max_running_jobs", description: "jobs running at once" });
  it("types bytes in MB and counts as they are", () => {
    expect(parseOverride(bytes, "1.5")).toEqual({ value: 1.5 * 1024 * 1024 });
    expect(parseOverride(jobs, " 3 ")).toEqual({ value: 3 });
    expect(parseOverride(jobs, "0")).toEqual({ value: 0 });
    expect(overrideText(bytes, { max_stored_bytes: 5 * 1024 * 1024 })).toBe("5");
    expect(overrideText(jobs, { max_running_jobs: 2 })).toBe("2");
  });
  it("reads an empty field as no override", () => {
    expect(parseOverride(jobs, "  ")).toEqual({ value: null });
    expect(overrideText(jobs, {})).toBe("");
  });
  it("says what is wrong with a value, naming the quota", () => {
    expect(parseOverride(jobs, "2.5")).toEqual({ error: "jobs running at once: give a whole number of jobs." });
    expect(parseOverride(jobs, "-1")).toEqual({ error: "jobs running at once: give 0 (no limit) or a positive number of jobs." });
    expect(parseOverride(bytes, "lots")).toEqual({ error: "stored bytes: give 0 (no limit) or a positive number of MB." });
  });
});

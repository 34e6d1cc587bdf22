import { describe, expect, it, vi } from "vitest";
import { JobStream } from "./stream";

class FakeSocket {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {}
  close() {}
  send(obj: unknown) {
    this.onmessage?.({ data: JSON.stringify(obj) });
  }
}

describe("JobStream", () => {
  it("reconnects after a drop asking after the last seq, and delivers each event once", () => {
    vi.useFakeTimers();
    const sockets: FakeSocket[] = [];
    const seen: number[] = [];
    const s = new JobStream("j1", { onEvent: (ev) => ev.seq && seen.push(ev.seq) }, { baseMs: 100, factor: 2, maxMs: 1000, jitter: 0, maxAttempts: 5 }, (url) => {
      const f = new FakeSocket(url);
      sockets.push(f);
      return f;
    }).start();
    sockets[0].onopen?.();
    [1, 2, 3].forEach((seq) => sockets[0].send({ seq, type: "step", step: seq, metrics: { loss: 1 } }));
    sockets[0].onclose?.({ code: 1006 });
    expect(sockets.length).toBe(1);
    vi.advanceTimersByTime(100);
    expect(sockets.length).toBe(2);
    expect(sockets[1].url).toContain("after=3");
    // The server replays an overlap: nothing twice.
    [3, 4].forEach((seq) => sockets[1].send({ seq, type: "step", step: seq, metrics: { loss: 1 } }));
    sockets[1].send({ type: "state", state: "succeeded" });
    sockets[1].onclose?.({ code: 1000 });
    vi.advanceTimersByTime(5000);
    expect(sockets.length).toBe(2);
    expect(seen).toEqual([1, 2, 3, 4]);
    s.stop();
    vi.useRealTimers();
  });
});

/**
 * The live event stream of one job: a websocket that asks for events after the last seq it has,
 * reconnects with exponential backoff when the connection drops, and hands each event to the
 * EventLog exactly once (dedupe by seq). Ends when the server closes normally (the job is over).
 */

import { eventsSocketUrl, type JobEvent } from "../api/jobs";
import { DEFAULT_BACKOFF, EventLog, backoffDelay, shouldReconnect, type AddResult, type BackoffPolicy } from "./events";

export type StreamStatus = "connecting" | "live" | "reconnecting" | "ended" | "gave_up";

export interface StreamHandlers {
  onEvent: (ev: JobEvent, result: AddResult) => void;
  onStatus?: (status: StreamStatus, info: { connects: number; retryInMs?: number }) => void;
}

type SocketLike = Pick<WebSocket, "close"> & {
  onmessage: ((e: { data: unknown }) => void) | null;
  onclose: ((e: { code: number }) => void) | null;
  onopen: (() => void) | null;
  onerror: (() => void) | null;
};

export class JobStream {
  readonly log = new EventLog();
  connects = 0;
  private socket: SocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = false;

  constructor(
    readonly jobId: string,
    private handlers: StreamHandlers,
    private policy: BackoffPolicy = DEFAULT_BACKOFF,
    private open: (url: string) => SocketLike = (url) => new WebSocket(url) as unknown as SocketLike,
  ) {}

  start(): this {
    this.connect();
    return this;
  }

  private connect(): void {
    if (this.stopped) return;
    this.handlers.onStatus?.(this.connects ? "reconnecting" : "connecting", { connects: this.connects });
    const ws = this.open(eventsSocketUrl(this.jobId, this.log.lastSeq));
    this.socket = ws;
    ws.onopen = () => {
      this.connects++;
      this.handlers.onStatus?.("live", { connects: this.connects });
    };
    ws.onmessage = (e) => {
      let ev: JobEvent;
      try {
        ev = JSON.parse(String(e.data)) as JobEvent;
      } catch {
        return;
      }
      this.attempt = 0; // a working connection resets the backoff
      const result = this.log.add(ev);
      if (result !== "duplicate") this.handlers.onEvent(ev, result);
    };
    ws.onerror = () => {};
    ws.onclose = (e) => {
      if (this.socket !== ws) return;
      this.socket = null;
      if (this.stopped) return;
      if (!shouldReconnect(e.code, this.log.state)) {
        this.handlers.onStatus?.("ended", { connects: this.connects });
        return;
      }
      const delay = backoffDelay(this.attempt++, this.policy);
      if (delay === null) {
        this.handlers.onStatus?.("gave_up", { connects: this.connects });
        return;
      }
      this.handlers.onStatus?.("reconnecting", { connects: this.connects, retryInMs: delay });
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  /** Drop the connection as a network failure would (the stream reconnects). */
  drop(): void {
    const ws = this.socket;
    if (ws) {
      ws.close();
      // Browsers report a client-side close as 1005/1000 later; treat it as a drop right away.
      this.socket = null;
      ws.onclose = null;
      ws.onmessage = null;
      const delay = backoffDelay(this.attempt++, this.policy) ?? 0;
      this.handlers.onStatus?.("reconnecting", { connects: this.connects, retryInMs: delay });
      this.timer = setTimeout(() => this.connect(), delay);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const ws = this.socket;
    this.socket = null;
    ws?.close();
  }
}

/** The curves of runs other than the one being watched live (overlays, Compare): their event logs,
 * read once and then, while a run is still going, every few seconds after the last seq seen. */

import { useEffect, useRef, useState } from "react";
import { FINAL_STATES, getEvents } from "../api/jobs";
import { EventLog, SeriesBuilder, fromLogRow } from "./events";

interface History {
  log: EventLog;
  builder: SeriesBuilder;
  failed: boolean;
}

const POLL_MS = 3000;

export function useRunHistories(ids: readonly string[], stateOf: (id: string) => string | undefined, epochsOnly = false): { builders: Record<string, SeriesBuilder>; failed: Set<string>; tick: number } {
  const cache = useRef(new Map<string, History>());
  const [tick, setTick] = useState(0);
  const key = ids.join(",");
  const stateRef = useRef(stateOf);
  stateRef.current = stateOf;
  useEffect(() => {
    let live = true;
    const ctrl = new AbortController();
    const pull = async (id: string) => {
      let h = cache.current.get(id);
      if (h && !h.failed && FINAL_STATES.includes(stateRef.current(id) ?? "") && h.log.state && FINAL_STATES.includes(h.log.state)) return false;
      const created = !h;
      if (!h) {
        h = { log: new EventLog(), builder: new SeriesBuilder((k) => k !== "lr", epochsOnly), failed: false };
        cache.current.set(id, h);
      }
      try {
        const rows = await getEvents(id, h.log.lastSeq, ctrl.signal);
        let added = false;
        for (const row of rows) {
          const ev = fromLogRow(row);
          const r = h.log.add(ev);
          if (r === "append") added = h.builder.add(ev) || added;
        }
        h.failed = false;
        return added || created;
      } catch {
        h.failed = true;
        return true;
      }
    };
    const round = async () => {
      const changed = await Promise.all(ids.map(pull));
      if (live && changed.some(Boolean)) setTick((t) => t + 1);
    };
    void round();
    const timer = setInterval(() => void round(), POLL_MS);
    return () => {
      live = false;
      ctrl.abort();
      clearInterval(timer);
    };
  }, [key, epochsOnly]); // eslint-disable-line react-hooks/exhaustive-deps
  const builders: Record<string, SeriesBuilder> = {};
  const failed = new Set<string>();
  for (const id of ids) {
    const h = cache.current.get(id);
    if (h) builders[id] = h.builder;
    if (h?.failed) failed.add(id);
  }
  return { builders, failed, tick };
}

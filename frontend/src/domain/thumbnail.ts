/**
 * A template's preview: its graph drawn small. Positions come from the same layout code the canvas
 * uses when it opens a document (the stored layout, with `placeUnplaced` for nodes that have none),
 * scaled to fit a box with the aspect ratio kept (a very long chain is made taller, so it is not a hairline); wires run from a node's right side to the next
 * one's left, as on the canvas.
 */

import { DEFAULT_NODE_SIZE, placeUnplaced } from "./layout";
import type { GraphDoc } from "./types";

export interface ThumbNode {
  id: string;
  type: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Thumbnail {
  width: number;
  height: number;
  nodes: ThumbNode[];
  /** SVG path data, one per wire. */
  wires: string[];
}

export interface ThumbnailBox {
  width: number;
  height: number;
  /** Space kept free on every side. */
  pad?: number;
}

const round = (v: number) => Math.round(v * 10) / 10;
const MIN_NODE_HEIGHT = 4;

export function thumbnailOf(doc: Pick<GraphDoc, "nodes" | "edges" | "layout">, box: ThumbnailBox): Thumbnail {
  const pad = box.pad ?? 6;
  const placed = placeUnplaced(doc as GraphDoc);
  const size = DEFAULT_NODE_SIZE;
  const at = doc.nodes.map((n) => ({ n, p: placed.layout[n.id] ?? { x: 0, y: 0 } }));
  if (!at.length) return { width: box.width, height: box.height, nodes: [], wires: [] };
  const minX = Math.min(...at.map((a) => a.p.x));
  const minY = Math.min(...at.map((a) => a.p.y));
  const spanX = Math.max(...at.map((a) => a.p.x)) + size.width - minX;
  const spanY = Math.max(...at.map((a) => a.p.y)) + size.height - minY;
  const sx = Math.min((box.width - 2 * pad) / spanX, (box.height - 2 * pad) / spanY);
  // A long chain (a 70-layer network) would be a hairline: its height is stretched, only as far as
  // makes a node MIN_NODE_HEIGHT tall, and never past the box.
  const sy = Math.max(sx, Math.min((box.height - 2 * pad) / spanY, MIN_NODE_HEIGHT / size.height));
  // Centred in the box.
  const offX = pad + (box.width - 2 * pad - spanX * sx) / 2;
  const offY = pad + (box.height - 2 * pad - spanY * sy) / 2;
  const nodes: ThumbNode[] = at.map(({ n, p }) => ({
    id: n.id,
    type: n.type,
    x: round(offX + (p.x - minX) * sx),
    y: round(offY + (p.y - minY) * sy),
    w: round(size.width * sx),
    h: round(size.height * sy),
  }));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const wires: string[] = [];
  for (const e of doc.edges) {
    const s = byId.get(e.source);
    const t = byId.get(e.target);
    if (!s || !t) continue;
    const x1 = s.x + s.w;
    const y1 = s.y + s.h / 2;
    const x2 = t.x;
    const y2 = t.y + t.h / 2;
    const bend = Math.max(4, Math.abs(x2 - x1) / 2);
    wires.push(`M${round(x1)},${round(y1)} C${round(x1 + bend)},${round(y1)} ${round(x2 - bend)},${round(y2)} ${round(x2)},${round(y2)}`);
  }
  return { width: box.width, height: box.height, nodes, wires };
}

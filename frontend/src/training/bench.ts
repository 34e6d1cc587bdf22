/** For bench/editor.py: time appending one event to a live chart that already holds `points` points
 * per series (the real SeriesBuilder + smoothing-free series + uPlot setData and a synchronous redraw). */

import { ChartCore } from "./chart";
import { SeriesBuilder } from "./events";
import { chartSeries } from "./LiveCharts";

export async function chartAppendBench(points = 10_000, appends = 300): Promise<{ points: number; series: number; msPerAppend: number[] }> {
  const el = document.createElement("div");
  el.style.cssText = "position:fixed;left:0;top:0;width:800px;z-index:-1";
  document.body.appendChild(el);
  const b = new SeriesBuilder((k) => k !== "lr");
  const ev = (i: number) => ({ seq: i + 1, type: "step", step: i, epoch: 1, metrics: { loss: 1 / (1 + i), "y/loss": 1 / (1 + i), "z/loss": 2 / (1 + i), "y/accuracy": i / (points + appends) } });
  for (let i = 0; i < points; i++) b.add(ev(i));
  const core = new ChartCore(el, { log: false, height: 260, xLabel: "epoch" });
  core.set(b.x, chartSeries(b, "loss", 0));
  await new Promise((r) => requestAnimationFrame(r));
  const times: number[] = [];
  for (let i = points; i < points + appends; i++) {
    const t0 = performance.now();
    b.add(ev(i));
    core.set(b.x, chartSeries(b, "loss", 0));
    await Promise.resolve(); // uPlot commits on a microtask: include the redraw
    el.getBoundingClientRect();
    times.push(performance.now() - t0);
  }
  const series = chartSeries(b, "loss", 0).length;
  core.destroy();
  el.remove();
  return { points, series, msPerAppend: times };
}

(window as unknown as { __layerloomChartBench?: typeof chartAppendBench }).__layerloomChartBench = chartAppendBench;

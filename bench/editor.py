"""Editor benchmark: the production build (frontend/dist) served by the real backend, in headless
Chromium (Debian's /usr/bin/chromium, driven by Python Playwright).

1. Load a 500-node graph (reload with it as the draft): time until every node is drawn and measured,
   and until its analysis is shown (time to interactive). Median of 3 cold loads.
2. Drag one node with all 500 on screen: frame times (requestAnimationFrame deltas) during the drag,
   median and p95. Goal: p95 ≤ 20 ms.
3. Validate on edit, 200-node graph: 20 parameter edits; the round trip from sending the document to
   the answer applied in the editor (median, p95; goal < 150 ms), and edit → shapes on screen
   including the debounce.
4. The JavaScript the first load needs (entry script, CSS, preloads), raw and gzipped. Goal ≤ 250 KB.

    npm --prefix frontend run build && .venv/bin/python bench/editor.py
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from harness import CHROMIUM, CHROMIUM_ARGS, DIST, ensure_built, start_server, stop_server  # noqa: E402

VIEWPORT = {"width": 1600, "height": 1000}
DRAFT_KEY = "layerloom.draft.v1"
WIDTH = 32


def residual_graph(n_nodes: int, columns: int = 25) -> dict:
    """A valid graph of exactly ``n_nodes``: Input, residual blocks (Dense → Dense → Add(skip) → ReLU)
    and an Output, laid out on a grid so that all of it fits on screen."""
    nodes = [{"id": "x", "type": "Input", "params": {"shape": [WIDTH]}}]
    edges: list[dict] = []
    prev = "x"
    block = 0
    while len(nodes) < n_nodes - 1:
        if n_nodes - 1 - len(nodes) >= 4:
            block += 1
            h1, h2, add, act = f"b{block}_h1", f"b{block}_h2", f"b{block}_add", f"b{block}_relu"
            nodes += [
                {"id": h1, "type": "Dense", "params": {"units": WIDTH, "activation": "relu"}},
                {"id": h2, "type": "Dense", "params": {"units": WIDTH}},
                {"id": add, "type": "Add", "params": {}},
                {"id": act, "type": "Activation", "params": {"activation": "relu"}},
            ]
            edges += [
                {"source": prev, "target": h1}, {"source": h1, "target": h2},
                {"source": prev, "target": add, "target_port": 0}, {"source": h2, "target": add, "target_port": 1},
                {"source": add, "target": act},
            ]
            prev = act
        else:
            nid = f"d{len(nodes)}"
            nodes.append({"id": nid, "type": "Dense", "params": {"units": WIDTH}})
            edges.append({"source": prev, "target": nid})
            prev = nid
    nodes.append({"id": "y", "type": "Output", "params": {"loss": "mse"}})
    edges.append({"source": prev, "target": "y"})
    layout = {n["id"]: {"x": (i % columns) * 240, "y": (i // columns) * 130} for i, n in enumerate(nodes)}
    assert len(nodes) == n_nodes
    return {"format": "layerloom.graph", "version": 1, "name": f"residual-{n_nodes}", "description": "",
            "nodes": nodes, "edges": edges, "layout": layout}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def open_with_draft(browser, url: str, graph: dict, overview: bool = True):
    """A fresh context (cold cache, empty storage) whose draft is ``graph``; returns (context, page)."""
    context = browser.new_context(viewport=VIEWPORT)
    draft = {"doc": graph, "server": None, "saved": False, "savedAt": 0}
    context.add_init_script(f"localStorage.setItem({json.dumps(DRAFT_KEY)}, {json.dumps(json.dumps(draft))});"
                            f"localStorage.setItem('layerloom.minimap', '{'on' if overview else 'off'}');")
    page = context.new_page()
    page.goto(url + "/")
    return context, page


def wait_loaded(page, n: int) -> tuple[float, float]:
    """(ms from navigation until all n nodes are drawn and measured, ms until the analysis is shown)."""
    drawn = page.wait_for_function(
        """(n) => { const s = window.__layerloom?.getState();
                    return s && Object.keys(s.sizes).length >= n
                        && document.querySelectorAll('.react-flow__node').length === n ? performance.now() : false; }""",
        arg=n, polling="raf", timeout=120_000).json_value()
    analysed = page.wait_for_function(
        """() => { const s = window.__layerloom.getState();
                   return s.analysis.status === 'ok' ? performance.now() : false; }""",
        polling="raf", timeout=120_000).json_value()
    return drawn, max(drawn, analysed)


def bench_load(browser, url: str, graph: dict, runs: int = 3) -> tuple[float, float]:
    drawn, interactive = [], []
    for _ in range(runs):
        context, page = open_with_draft(browser, url, graph)
        d, i = wait_loaded(page, len(graph["nodes"]))
        drawn.append(d)
        interactive.append(i)
        context.close()
    return statistics.median(drawn), statistics.median(interactive)


def bench_drag(browser, url: str, graph: dict, steps: int = 180, overview: bool = True) -> dict:
    context, page = open_with_draft(browser, url, graph, overview)
    n = len(graph["nodes"])
    wait_loaded(page, n)
    page.wait_for_timeout(500)  # the fit to the whole graph, and the analysis painted
    visible = page.evaluate("""() => {
        const c = document.querySelector('[data-testid=canvas]').getBoundingClientRect();
        return [...document.querySelectorAll('.react-flow__node')].filter((e) => {
            const r = e.getBoundingClientRect();
            return r.left >= c.left && r.right <= c.right && r.top >= c.top && r.bottom <= c.bottom; }).length; }""")
    target = graph["nodes"][n // 2]["id"]
    box = page.locator(f'.react-flow__node[data-id="{target}"]').bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    history_before = page.evaluate("() => window.__layerloom.temporal.getState().pastStates.length")
    page.evaluate("""() => { window.__frames = []; window.__rec = true; let last = performance.now();
        const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__rec) requestAnimationFrame(tick); };
        requestAnimationFrame(tick); }""")
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(x + i * 1.5, y + (i % 40) * 1.0)
    page.mouse.up()
    page.wait_for_timeout(100)
    frames = page.evaluate("() => { window.__rec = false; return window.__frames; }")[2:]
    history_after = page.evaluate("() => window.__layerloom.temporal.getState().pastStates.length")
    context.close()
    return {"visible": visible, "frames": frames, "entries": history_after - history_before}


def bench_validate(browser, url: str, graph: dict, edits: int = 20) -> dict:
    context, page = open_with_draft(browser, url, graph)
    wait_loaded(page, len(graph["nodes"]))
    # the first Dense of a residual block in the middle: its width may change, the block still adds up
    target = next(n["id"] for n in graph["nodes"][len(graph["nodes"]) // 2:] if n["id"].endswith("_h1"))
    round_trips, to_screen = [], []
    for i in range(edits):
        started = page.evaluate(
            """([id, units]) => { window.__before = window.__layerloom.getState().analysis.result;
                window.__layerloomDispatch('setParam', {id, name: 'units', value: units});
                return performance.now(); }""", [target, WIDTH + 1 + i])
        done = page.wait_for_function(
            """() => { const a = window.__layerloom.getState().analysis;
                       return a.result !== window.__before && a.status !== 'pending' ? performance.now() : false; }""",
            polling="raf", timeout=30_000).json_value()
        to_screen.append(done - started)
        round_trips.append(page.evaluate("() => window.__layerloom.getState().analysis.roundTripMs"))
    shapes_ok = page.evaluate("() => window.__layerloom.getState().analysis.status") == "ok"
    context.close()
    return {"round_trips": round_trips, "to_screen": to_screen, "ok": shapes_ok}


def bundle_size() -> dict:
    html = (DIST / "index.html").read_text()
    first = re.findall(r'(?:src|href)="/?(assets/[^"]+\.(?:js|css))"', html)
    all_assets = sorted(p.relative_to(DIST).as_posix() for p in (DIST / "assets").iterdir() if p.suffix in (".js", ".css"))

    def sizes(paths: list[str]) -> tuple[int, int]:
        raw = gz = 0
        for rel in paths:
            data = (DIST / rel).read_bytes()
            raw += len(data)
            gz += len(gzip.compress(data, compresslevel=9))
        return raw, gz

    return {"first": sizes(first), "first_files": first, "lazy": sizes([a for a in all_assets if a not in first]),
            "lazy_files": [a for a in all_assets if a not in first]}


def main() -> int:
    ensure_built()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp), Path(tmp) / "server.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                big, mid = residual_graph(500), residual_graph(200)
                print(f"Layerloom editor benchmark — production build, headless Chromium, viewport "
                      f"{VIEWPORT['width']}×{VIEWPORT['height']}\n")

                drawn, interactive = bench_load(browser, url, big)
                print(f"1. load a 500-node graph ({len(big['edges'])} edges), cold, median of 3")
                print(f"   drawn and measured      {drawn:8.0f} ms")
                print(f"   analysed (interactive)  {interactive:8.0f} ms\n")

                drag = bench_drag(browser, url, big)
                frames = drag["frames"]
                p95 = percentile(frames, 0.95)
                print(f"2. drag one node, {drag['visible']}/500 nodes fully on screen, {len(frames)} frames")
                print(f"   frame time median       {statistics.median(frames):8.1f} ms")
                print(f"   frame time p95          {p95:8.1f} ms   goal ≤ 20 ms  {'ok' if p95 <= 20 else 'MISSED'}")
                late = sum(f > 20 for f in frames) / len(frames)
                print(f"   frames over 20 ms       {late:8.1%}")
                print(f"   history entries         {drag['entries']:8d}      (one per drag)")
                bare = bench_drag(browser, url, big, overview=False)["frames"]
                print(f"   with the overview map hidden: median {statistics.median(bare):.1f} ms, "
                      f"p95 {percentile(bare, 0.95):.1f} ms, over 20 ms {sum(f > 20 for f in bare) / len(bare):.1%}\n")

                val = bench_validate(browser, url, mid)
                rt, screen = val["round_trips"], val["to_screen"]
                print(f"3. validate on edit, 200-node graph, {len(rt)} edits (analysis ok: {val['ok']})")
                print(f"   round trip median       {statistics.median(rt):8.1f} ms   (send → answer applied)")
                print(f"   round trip p95          {percentile(rt, 0.95):8.1f} ms   goal < 150 ms  "
                      f"{'ok' if percentile(rt, 0.95) < 150 else 'MISSED'}")
                print(f"   edit → on screen median {statistics.median(screen):8.1f} ms   (includes the debounce)\n")
                browser.close()
        finally:
            stop_server(proc)

    size = bundle_size()
    raw, gz = size["first"]
    print("4. JavaScript and CSS of the first load")
    print(f"   {', '.join(size['first_files'])}")
    print(f"   raw {raw / 1024:8.1f} KB   gzip {gz / 1024:6.1f} KB   goal ≤ 250 KB  {'ok' if gz <= 250 * 1024 else 'MISSED'}")
    lraw, lgz = size["lazy"]
    print(f"   loaded later: {', '.join(size['lazy_files'])} (raw {lraw / 1024:.1f} KB, gzip {lgz / 1024:.1f} KB)")
    return 0


def bench_training_chart(points: int = 10_000, appends: int = 300) -> int:
    """5. The training run view's live chart: the time to append one step event when each series
    already holds ``points`` points (SeriesBuilder + uPlot setData and redraw), in the production build."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp), Path(tmp) / "server.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(url + "/")
                page.get_by_test_id("open-training").click()
                page.wait_for_function("() => typeof window.__layerloomChartBench === 'function'")
                res = page.evaluate(f"() => window.__layerloomChartBench({points}, {appends})")
                browser.close()
        finally:
            stop_server(proc)
    times = res["msPerAppend"]
    mean = statistics.fmean(times)
    p95 = percentile(times, 0.95)
    print(f"5. live training chart: append one point, {res['points']:,} points per series, {res['series']} series, {len(times)} appends")
    print(f"   time per append mean    {mean:8.2f} ms")
    print(f"   time per append median  {statistics.median(times):8.2f} ms")
    print(f"   time per append p95     {p95:8.2f} ms   goal ≤ 5 ms  {'ok' if mean <= 5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    if "--chart-only" in sys.argv:
        sys.exit(bench_training_chart())
    code = main()
    print()
    sys.exit(code or bench_training_chart())

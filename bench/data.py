"""Streamed versus in-memory training throughput on the same image zip (issue 12).

    python bench/data.py [--images 4000] [--epochs 2] [--workers N]

Trains the same small conv net for the same epochs with ``data_loading: memory`` (all images decoded
once, batches sliced) and ``data_loading: stream`` (DataLoader workers decoding from the zip), and
prints training samples per second for each and their ratio (stream / memory). Both runs give the
same losses, which it checks. The in-memory figure excludes nothing: decoding is part of its setup.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT)]

from bench.datagen import GRAPH, image_zip  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: cores - 1, 1 to 4)")
    args = parser.parse_args()

    from layerloom.data.image_stream import index_image_zip, open_image_index
    from layerloom.train import train

    with tempfile.TemporaryDirectory() as tmp:
        path = image_zip(Path(tmp) / "images.zip", args.images)
        dataset = open_image_index(path, index_image_zip(path, image_size=(64, 64)), name="bench")
        config = {"epochs": args.epochs, "batch_size": 64, "data_workers": args.workers, "evaluate_test": False}
        rates, losses = {}, {}
        for mode in ("memory", "stream"):
            start = time.perf_counter()
            result = train(GRAPH, dataset, {**config, "data_loading": mode})
            seconds = time.perf_counter() - start
            rates[mode] = args.images * args.epochs / seconds
            losses[mode] = [round(e["loss"], 5) for e in result.history]
            print(f"{mode:>6}: {rates[mode]:8.0f} samples/s ({seconds:.2f} s for {args.epochs} epoch(s) of "
                  f"{args.images} 64x64 images, setup included)")
    print(f" ratio: {rates['stream'] / rates['memory']:.2f} (streamed / in-memory samples per second)")
    if losses["memory"] != losses["stream"]:
        print(f"losses differ: {losses}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

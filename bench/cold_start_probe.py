"""``python -m bench.cold_start_probe PATH``: what a new function instance pays, as one JSON line.

``import main`` (functions-framework and the thumbnailer package), then the first and
a second ``render_thumbnails`` of PATH: their difference is the work deferred to the
first image (lazy imports, codec initialisation).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path


def main(arguments: list[str]) -> int:
    (path,) = arguments
    data = Path(path).read_bytes()
    started = time.perf_counter()
    importlib.import_module("main")
    imported = time.perf_counter()
    # Imported after the timed import: bench.candidates then costs nothing more.
    from bench.candidates import project

    first_started = time.perf_counter()
    project(data)
    first_done = time.perf_counter()
    project(data)
    second_done = time.perf_counter()
    result = {
        "import_ms": (imported - started) * 1000,
        "first_ms": (first_done - first_started) * 1000,
        "second_ms": (second_done - first_done) * 1000,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

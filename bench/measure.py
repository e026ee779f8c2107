"""Timing, peak memory, throughput and cold start.

Memory and cold start run in fresh processes (``bench.memory_probe``,
``bench.cold_start_probe``): a process's high-water mark only ever rises, and a
warm process has every module imported already.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.candidates import Conversion

ROOT = Path(__file__).resolve().parents[1]
# main.py reads its settings at import; the bucket is never contacted.
_FUNCTION_ENVIRON = {"OUTPUT_BUCKET": "bench-output"}


@dataclass(frozen=True)
class Timings:
    median_ms: dict[str, float]  # per task that worked
    errors: dict[str, str]  # per task that raised on its warm-up run


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:160]


def median_times(tasks: Mapping[str, Callable[[], object]], runs: int) -> Timings:
    """Median wall time of each task over ``runs`` runs, after one warm-up run each.

    Interleaved (every task once per round) so drifts in machine speed hit every task
    alike. A task that fails its warm-up is reported with its error and not timed.
    """
    errors: dict[str, str] = {}
    working: dict[str, Callable[[], object]] = {}
    for name, task in tasks.items():
        try:
            task()
        except Exception as error:
            errors[name] = describe(error)
        else:
            working[name] = task
    samples: dict[str, list[float]] = {name: [] for name in working}
    gc.collect()
    for _ in range(runs):
        for name, task in working.items():
            started = time.perf_counter()
            task()
            samples[name].append(time.perf_counter() - started)
    return Timings({name: statistics.median(values) * 1000 for name, values in samples.items()}, errors)


def _run_python(arguments: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """Run the venv's interpreter from the repository root; its last line of output."""
    result = subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env={**os.environ, **(environ or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(last)
    return result.stdout.strip().splitlines()[-1]


_BARE = "import re; print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1])"


def bare_interpreter_kib() -> int:
    """Peak resident memory of an interpreter that does nothing: what the probes are measured above."""
    return int(_run_python(["-c", _BARE]))


def peak_kib(candidate: str, path: Path) -> int:
    """Peak resident memory of a fresh process that imports ``candidate``, reads ``path`` and converts once."""
    return int(_run_python(["-m", "bench.memory_probe", candidate, str(path)]))


def images_per_second(convert: Conversion, images: Sequence[bytes], threads: int, passes: int) -> float:
    """Best of ``passes`` passes over ``images``, each thread taking whole images."""
    best = 0.0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(convert, images[:threads]))  # start the threads and warm every code path
        for _ in range(passes):
            gc.collect()
            started = time.perf_counter()
            list(pool.map(convert, images))
            best = max(best, len(images) / (time.perf_counter() - started))
    return best


@dataclass(frozen=True)
class ColdStart:
    import_ms: float  # `import main` in a fresh interpreter
    first_ms: float  # first render_thumbnails call in that process
    second_ms: float  # the next call on the same bytes


def cold_start(path: Path, processes: int) -> ColdStart:
    """Medians over ``processes`` fresh processes, each timing ``import main`` and two renders of ``path``."""
    samples = [
        json.loads(_run_python(["-m", "bench.cold_start_probe", str(path)], _FUNCTION_ENVIRON))
        for _ in range(processes)
    ]
    return ColdStart(
        *(statistics.median(float(sample[key]) for sample in samples) for key in ("import_ms", "first_ms", "second_ms"))
    )

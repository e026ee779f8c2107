"""Whole processes, as a user runs them: the command line's start-up, and a folder of files.

Each run is a fresh process timed from spawn to exit; candidates are interleaved run by
run, so drifts in machine speed hit each alike, and the median is reported. Peak memory
comes from one more run of each under ``bench.peak_probe``.
"""

from __future__ import annotations

import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE_IMPORT = ("-c", "import PIL.Image")
# The command line, told to make what the other candidates make: one 200x200 JPEG Q85.
CLI_JPEG = ("--size", "200x200", "--format", "jpeg", "--quality", "85")


def run_once(arguments: Sequence[str], environ: Mapping[str, str]) -> float:
    """Seconds from spawn to exit of ``python ARGUMENTS``."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *arguments], cwd=ROOT, env=dict(environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        errors = result.stderr.decode(errors="replace").strip()[-300:]
        raise RuntimeError(f"{' '.join(arguments[:4])}... exited {result.returncode}: {errors}")
    return seconds


def peak_mib(arguments: Sequence[str], environ: Mapping[str, str]) -> float:
    """The resident high-water mark of one run of ``python ARGUMENTS`` (``-m ...`` or ``-c ...``)."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "peak"
        run_once(["-m", "bench.peak_probe", str(report), *arguments], environ)
        return int(report.read_text()) / 1024


def interleaved(commands: Mapping[str, Sequence[str]], runs: int, environ: Mapping[str, str]) -> dict[str, float]:
    """The median seconds of each command over ``runs`` runs after one warm-up, round by round."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for arguments in commands.values():
        run_once(arguments, environ)  # page cache, bytecode, the kernel's own caches
    for _ in range(runs):
        for name, arguments in commands.items():
            samples[name].append(run_once(arguments, environ))
    return {name: statistics.median(times) for name, times in samples.items()}


def environment() -> dict[str, str]:
    """The bench's environment for child processes, with the package's bytecode compiled
    as a user's second run finds it (these machines set PYTHONDONTWRITEBYTECODE, and
    compiling every module anew would be measured as start-up)."""
    compileall.compile_dir(ROOT / "thumbnailer", quiet=1)
    compileall.compile_dir(ROOT / "bench", quiet=1)
    return {key: value for key, value in os.environ.items() if key not in ("THUMBNAIL_SIZES", "THUMBNAIL_FORMAT")}


@dataclass(frozen=True)
class CliStart:
    bare_ms: float  # python -c 'import PIL.Image'
    cli_ms: float  # python -m thumbnailer thumbnail on one tiny JPEG
    runs: int


def cli_start(tiny: Path, folder: Path, runs: int, environ: Mapping[str, str]) -> CliStart:
    output = folder / "cli-start"
    output.mkdir()
    measured = interleaved(
        {"bare": BARE_IMPORT, "cli": ("-m", "thumbnailer", "thumbnail", "-o", str(output), str(tiny))}, runs, environ
    )
    return CliStart(measured["bare"] * 1000, measured["cli"] * 1000, runs)


@dataclass(frozen=True)
class Batch:
    name: str
    files: int
    jobs: int  # files the command line has in flight
    seconds: dict[str, float]  # per candidate: cli, libvips, naive
    peak_mib: dict[str, float]
    bare_mib: float  # a bare interpreter's peak, which each peak is measured above


def batch(
    name: str, files: Sequence[Path], folder: Path, runs: int, environ: Mapping[str, str], *, naive: bool
) -> Batch:
    """The command line, one libvips process and (if ``naive``) one naive Pillow process over ``files``."""
    paths = [str(path) for path in files]
    outputs = {candidate: folder / f"{name}-{candidate}" for candidate in ("cli", "libvips", "naive")}
    for output in outputs.values():
        shutil.rmtree(output, ignore_errors=True)
        output.mkdir()
    commands: dict[str, Sequence[str]] = {
        "cli": ("-m", "thumbnailer", "thumbnail", *CLI_JPEG, "-o", str(outputs["cli"]), *paths),
        "libvips": ("-m", "bench.batch_probe", "libvips", str(outputs["libvips"]), *paths),
    }
    if naive:
        commands["naive"] = ("-m", "bench.batch_probe", "naive", str(outputs["naive"]), *paths)
    seconds = interleaved(commands, runs, environ)
    peaks = {candidate: peak_mib(arguments, environ) for candidate, arguments in commands.items()}
    jobs = min(len(os.sched_getaffinity(0)), len(paths))
    return Batch(name, len(paths), jobs, seconds, peaks, peak_mib(("-c", "pass"), environ))

"""``python -m bench`` (``make bench``): measure, print the Markdown report, write it to bench/RESULTS.md."""

from __future__ import annotations

import argparse
import datetime
import functools
import io
import logging
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import PIL
import pyvips
from PIL import Image

from bench import corpus, measure, processes, quality
from bench.additions import measure_additions
from bench.candidates import CONVERSIONS, SIDE, floor, libvips_threads, project
from bench.listing import measure_listing
from bench.report import MemoryRow, QualityRow, Results, SpeedRow, Throughput, render

logger = logging.getLogger("bench")

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"
MIN_RUNS = 10
PASSES = 3  # throughput: best of


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, help=f"timed runs per candidate and item (default 11, at least {MIN_RUNS})")
    parser.add_argument("--quick", action="store_true", help="smoke check: 1 and 12 MP JPEG and PNG, 3 runs")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the report")
    arguments = parser.parse_args(argv)
    if arguments.runs is None:
        arguments.runs = 3 if arguments.quick else 11
    # Fewer runs make the median a coin toss; only a smoke check may take the risk.
    if not arguments.quick and arguments.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS} (or use --quick for a smoke check)")
    if arguments.runs < 1:
        parser.error("--runs must be at least 1")
    return arguments


def cpu_model() -> str:
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), flags=re.MULTILINE)
    except OSError:
        found = None
    return found[1].strip() if found else platform.processor() or platform.machine()


def header(runs: int, quick: bool) -> dict[str, str]:
    usable = len(os.sched_getaffinity(0))
    return {
        "Date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Machine": f"{cpu_model()}, {os.cpu_count()} cores ({usable} usable), {platform.system()} {platform.machine()}",
        "Software": (
            f"Python {platform.python_version()}, Pillow {PIL.__version__}, "
            f"libvips {'.'.join(str(pyvips.version(i)) for i in range(3))} (pyvips {pyvips.__version__}, "
            f"libvips candidate with {libvips_threads()} worker threads, its default)"
        ),
        "Runs": f"median of {runs} after one warm-up, candidates interleaved" + (" (--quick)" if quick else ""),
    }


def speed_row(item: corpus.Item, runs: int) -> SpeedRow:
    tasks: dict[str, Callable[[], object]] = {
        name: functools.partial(convert, item.data) for name, convert in CONVERSIONS.items()
    }
    if item.is_jpeg:
        tasks["floor"] = functools.partial(floor, item.path)
    logger.info("speed: %s", item.name)
    return SpeedRow(item.name, len(item.data) / 1e6, item.group, measure.median_times(tasks, runs))


def quality_row(item: corpus.Item) -> QualityRow:
    logger.info("quality: %s", item.name)
    reference = quality.reference(item.data)
    db: dict[str, float] = {}
    errors: dict[str, str] = {}
    outputs: dict[str, Image.Image] = {}
    for name, convert in CONVERSIONS.items():
        try:
            outputs[name] = quality.decode(convert(item.data))
            db[name] = quality.psnr(outputs[name], reference)
        except Exception as error:
            errors[name] = measure.describe(error)
    agreement = None
    if "project" in outputs and "pillow-only" in outputs:
        agreement = quality.psnr(outputs["project"], outputs["pillow-only"])
    return QualityRow(item.name, quality.ceiling(reference), db, errors, agreement)


def memory_row(item: corpus.Item, bare_kib: float) -> MemoryRow:
    logger.info("memory: %s", item.name)
    mib: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name in CONVERSIONS:
        try:
            mib[name] = (measure.peak_kib(name, item.path) - bare_kib) / 1024
        except RuntimeError as error:
            errors[name] = measure.describe(error)
    return MemoryRow(item.name, mib, errors)


def throughput(images: tuple[bytes, ...]) -> Throughput:
    logger.info("throughput: %d images", len(images))
    one, two = (measure.images_per_second(project, images, threads, PASSES) for threads in (1, 2))
    return Throughput(len(images), PASSES, one, two)


def below_thumbnail_at_one_eighth(items: tuple[corpus.Item, ...]) -> list[str]:
    """JPEG items whose 1/8-scale decode is smaller than the thumbnail: the floor is out of reach there."""
    found = []
    for item in items:
        if item.is_jpeg:
            with Image.open(io.BytesIO(item.data)) as image:
                short_side = min(image.size) // 8
            if short_side < SIDE:
                found.append(f"{item.name} ({short_side} px)")
    return found


def notes(bare_mib: float, small: list[str]) -> list[str]:
    floor_caveat = [
        f"At 1/8 scale the short side of {', '.join(small)} is under {SIDE} px: the floor decodes less than "
        "a thumbnail needs, so a path that does not upscale cannot come near it there."
    ]
    return [
        "Corpus: generated by bench/corpus.py (landscape light, hard-edged rectangles, luminance grain from "
        "libc's unseeded rand(), so the same bytes every full run); MB is the encoded size.",
        "floor: reading the file (page cache) and Pillow's JPEG decode at 1/8 scale, no resize and no encode: "
        "the least any JPEG thumbnailer does. JPEG inputs only.",
        "naive: Image.open, convert('RGB'), resize((200, 200), LANCZOS), JPEG Q85, as the issue defines it: "
        "it stretches the whole image (aspect distorted) and ignores EXIF orientation, hence its low PSNR.",
        "libvips: thumbnail_buffer(crop='centre'), alpha flattened onto white, jpegsave Q85, operation cache off, "
        "libvips' default thread count (set around each call: the project sets its own when it loads libvips); "
        "the Pillow paths run on one thread. Its crop rounds to whole pixels after shrinking, so on the 4:3 inputs "
        "here it sits half a thumbnail pixel off centre, which alone costs it about 2.5 dB of PSNR against the "
        "exact-centre reference.",
        "pillow-only: the project's path with Pillow decoding every format (libvips_formats empty); the project "
        "column decodes PNG and WebP with libvips. 'project vs pillow-only dB' is the PSNR between the two outputs: "
        "where the decoders differ it must be at least 38 dB.",
        f"Memory: VmHWM of a fresh process that imports the candidate's library, reads the file and converts once, "
        f"minus a bare interpreter's ({bare_mib:.0f} MiB): it includes the imports and the input bytes.",
        "Quality reference: full Pillow decode, EXIF-upright, sRGB (CMYK by Pillow's plain conversion: the files "
        "carry no profile), alpha onto white, the cover crop, Lanczos in floating point per channel, rounded once. "
        "Ceiling: that reference saved as JPEG Q85. libvips converts profile-less CMYK through its built-in CMYK "
        "profile, so its CMYK PSNR also measures a different colour conversion.",
        "Cold start: medians over fresh processes with OUTPUT_BUCKET set (the bucket is never contacted). "
        "The command line's start-up: fresh processes, interleaved with a bare `import PIL.Image`, the package's "
        "bytecode compiled first (as a user's second run finds it; these machines set PYTHONDONTWRITEBYTECODE).",
        "Whole processes (section 6): each a fresh process timed from spawn to exit, start-up included, median of "
        "the runs, interleaved. cli: `python -m thumbnailer thumbnail --size 200x200 --format jpeg --quality 85` "
        "with its default --jobs (the usable cores). libvips: one Python process looping over the files with "
        "`thumbnail_buffer(data, 200, height=200, crop='centre')` and jpegsave Q85, libvips' default threading. "
        "naive: one process, the naive conversion above, file after file. Peak MiB: the process's resident "
        "high-water mark (VmHWM, read at its exit by bench.peak_probe) above a bare interpreter's; per file in "
        "flight: divided by the jobs.",
    ] + (floor_caveat if small else [])


def run(arguments: argparse.Namespace) -> Results:
    quick: bool = arguments.quick
    with tempfile.TemporaryDirectory(prefix="thumbnailer-bench-") as folder:
        logger.info("generating the corpus")
        items = corpus.build(Path(folder), quick=quick, throughput_count=6 if quick else 40)
        speed = [speed_row(item, arguments.runs) for item in items.timed]
        logger.info("additions: placeholders, the Vision copy, attention")
        additions = measure_additions(items.items, arguments.runs)
        qualities = [quality_row(item) for item in items.timed]
        bare_kib = statistics.median(measure.bare_interpreter_kib() for _ in range(3))
        memory = [memory_row(item, bare_kib) for item in items.items]
        threads = throughput(items.throughput)
        logger.info("cold start")
        jpeg12 = next(item for item in items.items if item.name == "JPEG 12 MP")
        cold = measure.cold_start(jpeg12.path, 3 if quick else 5)
        small = below_thumbnail_at_one_eighth(items.timed)
        environ = processes.environment()
        logger.info("command line start-up")
        assert items.tiny_jpeg is not None
        cli_start = processes.cli_start(items.tiny_jpeg, Path(folder), 5 if quick else 21, environ)
        batches = []
        for group in items.batches:
            logger.info("whole processes: %d %s files", len(group.files), group.name)
            runs = 1 if quick else 5
            batches.append(
                processes.batch(group.name, group.files, Path(folder), runs, environ, naive=group.name == "JPEG")
            )
        logger.info("backfill: a dry run over 10,000 and 100,000 listed objects")
        listing = [] if quick else measure_listing()
    bare_mib = bare_kib / 1024
    return Results(
        header(arguments.runs, quick), speed, memory, bare_mib, threads, qualities, cold, items.unsupported,
        notes(bare_mib, small), cli_start, batches, additions, listing,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    # Progress on stderr for the bench.* loggers only: pyvips forwards libvips' chatter to the root logger.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    results = run(arguments)
    results.header["Duration"] = f"{time.monotonic() - started:.0f} s for the whole benchmark"
    # Other work on the machine skews every figure (2-thread throughput most): make it visible.
    results.header["Load average"] = f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after (1 minute)"
    text = render(results)
    sys.stdout.write(text)
    arguments.output.write_text(text)
    logger.info("written to %s", arguments.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

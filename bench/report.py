"""The results as Markdown: pure formatting, no measuring."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from bench.additions import Additions, additions_table
from bench.corpus import Unsupported
from bench.listing import DryRun, listing_table
from bench.measure import ColdStart, Timings
from bench.processes import Batch, CliStart
from bench.targets import (
    CLI_MIB_PER_FILE,
    CLI_OVER_LIBVIPS,
    CLI_START_OVER_BARE,
    DECODERS_AGREE,
    NAIVE_OVER_PROJECT,
    PROJECT_MIB,
    PROJECT_MINUS_CEILING,
    PROJECT_OVER_FLOOR,
    PROJECT_OVER_LIBVIPS,
    TARGETS,
    TWO_OVER_ONE_THREAD,
    targets_for,
    verdict,
)

CANDIDATES = ("project", "pillow-only", "naive", "libvips")
DASH = "—"


@dataclass(frozen=True)
class SpeedRow:
    name: str
    megabytes: float
    group: str | None
    timings: Timings


@dataclass(frozen=True)
class MemoryRow:
    name: str
    mib: dict[str, float]
    errors: dict[str, str]


@dataclass(frozen=True)
class QualityRow:
    name: str
    ceiling_db: float
    db: dict[str, float]
    errors: dict[str, str]
    agreement_db: float | None = None  # project's output against pillow-only's: do the two decoders agree?


@dataclass(frozen=True)
class Throughput:
    images: int
    passes: int
    one_thread: float  # images/s
    two_threads: float


@dataclass(frozen=True)
class Results:
    header: dict[str, str]  # date, machine, versions, runs...
    speed: list[SpeedRow]
    memory: list[MemoryRow]
    bare_mib: float
    throughput: Throughput
    quality: list[QualityRow]
    cold_start: ColdStart
    unsupported: tuple[Unsupported, ...]
    notes: list[str] = field(default_factory=list)
    cli_start: CliStart | None = None
    batches: list[Batch] = field(default_factory=list)
    additions: Additions | None = None
    listing: list[DryRun] = field(default_factory=list)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def speed_metrics(timings: Timings) -> dict[str, float | None]:
    ms = timings.median_ms
    project, naive, libvips, floor = (ms.get(name) for name in ("project", "naive", "libvips", "floor"))
    return {
        PROJECT_OVER_FLOOR: ratio(project, floor),
        NAIVE_OVER_PROJECT: ratio(naive, project),
        PROJECT_OVER_LIBVIPS: ratio(project, libvips),
    }


def number(value: float | None, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return DASH
    if math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}{suffix}"


def cell(values: Mapping[str, float], errors: Mapping[str, str], name: str, digits: int = 1) -> str:
    """The value, "error" (listed under the tables), or a dash where it does not apply."""
    if name in errors:
        return "error"
    return number(values.get(name), digits)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def unsupported_rows(unsupported: tuple[Unsupported, ...], width: int) -> list[list[str]]:
    return [[entry.name, entry.reason, *([DASH] * (width - 2))] for entry in unsupported]


def speed_table(rows: list[SpeedRow], unsupported: tuple[Unsupported, ...]) -> list[str]:
    header = ["Item", "MB", "project ms", "pillow-only ms", "naive ms", "libvips ms", "floor ms"]
    header += [PROJECT_OVER_FLOOR, "naive/project (speed-up)", PROJECT_OVER_LIBVIPS, "target"]
    body = []
    for row in rows:
        t = row.timings
        metrics = speed_metrics(t)
        body.append(
            [row.name, f"{row.megabytes:.1f}"]
            + [cell(t.median_ms, t.errors, name) for name in (*CANDIDATES, "floor")]
            + [number(metrics[key], 2) for key in (PROJECT_OVER_FLOOR, NAIVE_OVER_PROJECT, PROJECT_OVER_LIBVIPS)]
            + [verdict(targets_for("speed", row.group), metrics)]
        )
    return table(header, body + unsupported_rows(unsupported, len(header)))


def memory_table(rows: list[MemoryRow], unsupported: tuple[Unsupported, ...]) -> list[str]:
    header = ["Item", "project MiB", "pillow-only MiB", "naive MiB", "libvips MiB", "target"]
    body = [
        [row.name]
        + [cell(row.mib, row.errors, name, 0) for name in CANDIDATES]
        + [verdict(targets_for("memory", None), {PROJECT_MIB: row.mib.get("project")})]
        for row in rows
    ]
    return table(header, body + unsupported_rows(unsupported, len(header)))


def throughput_table(result: Throughput) -> list[str]:
    two_over_one = ratio(result.two_threads, result.one_thread)
    target = verdict(targets_for("throughput", None), {TWO_OVER_ONE_THREAD: two_over_one})
    body = [
        ["1", number(result.one_thread, 2), ""],
        ["2", number(result.two_threads, 2), ""],
        ["2 threads / 1 thread", number(two_over_one, 2, "x"), target],
    ]
    return table(["Threads", "images/s (project)", "target"], body)


def quality_table(rows: list[QualityRow], unsupported: tuple[Unsupported, ...]) -> list[str]:
    header = ["Item", "project dB", "pillow-only dB", "naive dB", "libvips dB", "ceiling dB", "project - ceiling"]
    header += ["project vs pillow-only dB", "target"]
    body = []
    for row in rows:
        project = row.db.get("project")
        margin = None if project is None else project - row.ceiling_db
        body.append(
            [row.name]
            + [cell(row.db, row.errors, name, 2) for name in CANDIDATES]
            + [number(row.ceiling_db, 2), number(margin, 2), number(row.agreement_db, 2)]
            + [verdict(targets_for("quality", None), {PROJECT_MINUS_CEILING: margin, DECODERS_AGREE: row.agreement_db})]
        )
    return table(header, body + unsupported_rows(unsupported, len(header)))


def cold_start_table(result: ColdStart) -> list[str]:
    body = [
        ["`import main` (functions-framework + thumbnailer)", number(result.import_ms)],
        ["first `render_thumbnails`, 12 MP JPEG", number(result.first_ms)],
        ["second `render_thumbnails`, same bytes", number(result.second_ms)],
        ["first - second (deferred to the first image)", number(result.first_ms - result.second_ms)],
    ]
    return table(["Fresh process", "median ms"], body)


def cli_start_table(result: CliStart) -> list[str]:
    over = ratio(result.cli_ms, result.bare_ms)
    body = [
        ["`python -c 'import PIL.Image'`", number(result.bare_ms), ""],
        ["`python -m thumbnailer thumbnail -o OUT tiny.jpeg` (64x48)", number(result.cli_ms), ""],
        [
            CLI_START_OVER_BARE,
            number(over, 2, "x"),
            verdict(targets_for("cli start", None), {CLI_START_OVER_BARE: over}),
        ],
    ]
    return table([f"Fresh process, median of {result.runs}", "ms", "target"], body)


def batch_metrics(row: Batch) -> dict[str, float | None]:
    above = row.peak_mib.get("cli", 0.0) - row.bare_mib
    return {
        CLI_OVER_LIBVIPS: ratio(row.seconds.get("cli"), row.seconds.get("libvips")),
        CLI_MIB_PER_FILE: above / row.jobs,
    }


def batch_table(rows: list[Batch]) -> list[str]:
    header = ["Files", "cli s", "libvips s", "naive s", "cli/libvips", "naive/cli", "cli peak MiB", "libvips peak MiB"]
    header += [CLI_MIB_PER_FILE, "target"]
    body = []
    for row in rows:
        metrics = batch_metrics(row)
        seconds = row.seconds
        body.append(
            [
                f"{row.files} {row.name}",
                *(number(seconds.get(name), 2) for name in ("cli", "libvips", "naive")),
                number(metrics[CLI_OVER_LIBVIPS], 2),
                number(ratio(seconds.get("naive"), seconds.get("cli")), 2),
                *(number(row.peak_mib.get(name, 0.0) - row.bare_mib, 0) for name in ("cli", "libvips")),
                number(metrics[CLI_MIB_PER_FILE], 0),
                verdict(targets_for("process", row.name), metrics),
            ]
        )
    return table(header, body)


def errors_section(results: Results) -> list[str]:
    found = [(row.name, name, error) for row in results.speed for name, error in row.timings.errors.items()]
    found += [(row.name, name, error) for row in results.memory for name, error in row.errors.items()]
    found += [(row.name, name, error) for row in results.quality for name, error in row.errors.items()]
    if not found:
        return []
    lines = ["## Errors", ""]
    lines += [f"- {item}, {candidate}: {error}" for item, candidate, error in dict.fromkeys(found)]
    return [*lines, ""]


def render(results: Results) -> str:
    lines = ["# Thumbnail benchmark (`make bench`)", ""]
    lines += [f"- {key}: {value}" for key, value in results.header.items()]
    lines += ["", "Targets (one table in bench/targets.py):", ""]
    lines += [f"- {target.table}, {target.group.replace('*', 'every item')}: {target}" for target in TARGETS]
    lines += ["", "## 1. Speed: 200x200 JPEG Q85 from encoded bytes, median ms", ""]
    lines += speed_table(results.speed, results.unsupported)
    lines += ["", f"## 2. Peak memory of one conversion, MiB above a bare interpreter ({results.bare_mib:.0f} MiB)", ""]
    lines += memory_table(results.memory, results.unsupported)
    t = results.throughput
    lines += ["", f"## 3. Throughput: {t.images} different 12 MP JPEGs, best of {t.passes} passes", ""]
    lines += throughput_table(t)
    lines += ["", "## 4. Quality: PSNR against a float reference (RGB, all channels)", ""]
    lines += quality_table(results.quality, results.unsupported)
    lines += ["", "## 5. Cold start", ""]
    lines += cold_start_table(results.cold_start)
    if results.cli_start:
        lines += ["", "The command line's start-up, against a bare Pillow import:", ""]
        lines += cli_start_table(results.cli_start)
    if results.batches:
        lines += ["", "## 6. Whole processes: a folder of 12 MP files, start-up included, median wall time", ""]
        lines += batch_table(results.batches)
    if results.additions:
        lines += ["", "## 7. What the additions cost: placeholders, the Vision copy, attention crops", ""]
        lines += additions_table(results.additions)
    if results.listing:
        lines += ["", "## 8. Backfill: peak memory of a dry run over a listing (docs/backfill.md)", ""]
        lines += listing_table(results.listing)
    lines += ["", *errors_section(results)]
    if results.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in results.notes)]
    return "\n".join(lines) + "\n"

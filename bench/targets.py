"""The issue's targets, in one table, and the verdict on a row of measurements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.corpus import BASELINE_JPEG, LIBVIPS_PARITY

EVERY_ITEM = "*"

# Metric names, shared by the targets and the rows of the report.
PROJECT_OVER_FLOOR = "project/floor"
NAIVE_OVER_PROJECT = "naive/project"
PROJECT_OVER_LIBVIPS = "project/libvips"
PROJECT_MIB = "project MiB"
TWO_OVER_ONE_THREAD = "2 threads/1 thread"
PROJECT_MINUS_CEILING = "project - ceiling dB"
DECODERS_AGREE = "project vs pillow-only dB"
CLI_OVER_LIBVIPS = "cli/libvips"
CLI_MIB_PER_FILE = "cli MiB per file in flight"
CLI_START_OVER_BARE = "cli/import PIL.Image"


@dataclass(frozen=True)
class Target:
    table: str  # speed, memory, throughput, quality
    group: str  # an Item.group, or EVERY_ITEM
    metric: str
    limit: float
    at_most: bool  # True: value <= limit; False: value >= limit

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit

    def __str__(self) -> str:
        return f"{self.metric} {'≤' if self.at_most else '≥'} {self.limit:g}"


TARGETS: tuple[Target, ...] = (
    Target("speed", BASELINE_JPEG, PROJECT_OVER_FLOOR, 1.15, at_most=True),
    Target("speed", BASELINE_JPEG, NAIVE_OVER_PROJECT, 6.0, at_most=False),
    Target("speed", BASELINE_JPEG, PROJECT_OVER_LIBVIPS, 0.85, at_most=True),
    Target("speed", LIBVIPS_PARITY, PROJECT_OVER_LIBVIPS, 1.1, at_most=True),
    Target("memory", EVERY_ITEM, PROJECT_MIB, 96, at_most=True),
    Target("throughput", EVERY_ITEM, TWO_OVER_ONE_THREAD, 1.8, at_most=False),
    Target("quality", EVERY_ITEM, PROJECT_MINUS_CEILING, -0.5, at_most=False),
    # Where libvips decodes instead of Pillow, the two must make the same thumbnail.
    Target("quality", EVERY_ITEM, DECODERS_AGREE, 38, at_most=False),
    # Whole processes, start-up included: the command line over a folder, against one libvips process.
    Target("process", "JPEG", CLI_OVER_LIBVIPS, 0.85, at_most=True),
    Target("process", "PNG", CLI_OVER_LIBVIPS, 1.0, at_most=True),
    Target("process", "WebP", CLI_OVER_LIBVIPS, 1.0, at_most=True),
    Target("process", EVERY_ITEM, CLI_MIB_PER_FILE, 96, at_most=True),
    Target("cli start", EVERY_ITEM, CLI_START_OVER_BARE, 1.5, at_most=True),
)


def targets_for(table: str, group: str | None, targets: tuple[Target, ...] = TARGETS) -> tuple[Target, ...]:
    return tuple(t for t in targets if t.table == table and t.group in (group, EVERY_ITEM))


def verdict(targets: tuple[Target, ...], values: Mapping[str, float | None]) -> str:
    """PASS, FAIL naming each missed target (a missing value misses it), or a dash when none applies."""
    if not targets:
        return "—"
    missed = []
    for target in targets:
        value = values.get(target.metric)
        if value is None:
            missed.append(f"{target}: no value")
        elif not target.met(value):
            missed.append(f"{target}: {value:.4g}")
    return "PASS" if not missed else "FAIL (" + "; ".join(missed) + ")"

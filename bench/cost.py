"""``make cost``: the bill for a million uploads, from measured CPU time and the price table.

``python -m bench.cost measure`` times the project's own conversion on the benchmark's
corpus (CPU seconds, one core) and writes ``bench/cost-inputs.json``; ``python -m
bench.cost`` prints the bill from those figures and ``bench/prices.json`` (a table with its
date and sources; no price is written in code). docs/operations.md shows the output, and
a test keeps it in step.

The model, per upload: Cloud Run's request-based billing charges vCPU-seconds and
GiB-seconds of instance time while requests are in flight, each request rounded up to
100 ms; with concurrency above 1 the requests share the instance, but never below the CPU
work itself. One read and the lookups of an older generation's leftovers (Class B) and
one write per thumbnail (Class A) in Cloud Storage; the storage notification through
Pub/Sub to Eventarc (free) counted as Pub/Sub bytes; Vision when it is on. ``fleet``:
the backfill job over ten million uploads (docs/backfill.md).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thumbnailer.config import Settings
from thumbnailer.estimates import Requests, backfill_requests, job_bill, leftover_lookups

HERE = Path(__file__).resolve().parent
PRICES = HERE / "prices.json"
INPUTS = HERE / "cost-inputs.json"
#: Cloud Storage and Pub/Sub round trips of one event, in the function's region (an assumption,
#: stated in the table): download, upload, the ack.
IO_SECONDS = 0.04
#: The storage notification's JSON (the object resource), published once and delivered once.
NOTIFICATION_BYTES = 1500
#: Metadata gets per upload at the defaults: an older generation's WebP and failure record.
LOOKUPS = leftover_lookups(Settings(output_bucket="bucket"))
#: Cloud Storage's round trip for one listing page, added to the client's own time per page
#: (measured): an assumption, stated in the table.
PAGE_ROUND_TRIP_SECONDS = 0.1
#: The backfill job's tasks in the fleet table, and its uploads.
FLEET_TASKS = (10, 100, 1000)
FLEET_UPLOADS = 10_000_000
#: Gen2 memory → vCPUs when --cpu is not given (Cloud Run functions' defaults).
DEFAULT_CPU = {0.25: 0.167, 0.5: 0.333, 1.0: 0.583, 2.0: 1.0}


@dataclass(frozen=True)
class Sizing:
    name: str
    memory_gib: float
    vcpus: float
    concurrency: int


DEFAULTS = Sizing("deploy defaults (1 GiB, 1 vCPU, concurrency 4)", 1.0, 1.0, 4)
SMALL = Sizing("256 MiB, concurrency 1 (gcloud's defaults: 0.167 vCPU)", 0.25, DEFAULT_CPU[0.25], 1)


def billed_seconds(cpu_seconds: float, sizing: Sizing) -> float:
    """Instance time billed for one upload."""
    busy = cpu_seconds / sizing.vcpus + IO_SECONDS  # wall time of one request on its own
    rounded = math.ceil(busy * 10) / 10  # each request rounded up to 100 ms
    return max(cpu_seconds / sizing.vcpus, rounded / sizing.concurrency)


def bill(cpu_seconds: float, sizing: Sizing, prices: dict[str, Any], *, thumbnails: int = 1,
         vision: bool = False, uploads: int = 1_000_000, free_tier: bool = False) -> dict[str, float]:  # fmt: skip
    """Dollars per item for ``uploads`` uploads."""
    seconds = billed_seconds(cpu_seconds, sizing)
    quantities = {
        "vcpu_second": seconds * sizing.vcpus * uploads,
        "gib_second": seconds * sizing.memory_gib * uploads,
        "request": uploads,
        "storage_class_a": thumbnails * uploads + (uploads if vision else 0),
        "storage_class_b": uploads * (1 + LOOKUPS) + (uploads if vision else 0),
        "pubsub_byte": 2 * max(NOTIFICATION_BYTES, 1000) * uploads,
        "vision_image": uploads if vision else 0,
    }
    dollars = {}
    for item, quantity in quantities.items():
        price = prices["prices"][item]
        billable = max(0.0, quantity - price["free_per_month"]) if free_tier else quantity
        dollars[item] = billable * price["price"]
    return dollars


def table(inputs: dict[str, Any], prices: dict[str, Any]) -> str:
    """The Markdown docs/operations.md shows: a million uploads, per format and sizing."""
    lines = [
        f"Prices checked {prices['checked']} ({prices['note']}); CPU per upload measured by `make cost` "
        f"({inputs['machine']}, {inputs['date']}); {IO_SECONDS * 1000:.0f} ms of storage round trips assumed.",
        "",
        "| Upload (one 200x200 thumbnail) | CPU s | Sizing | Compute $ | Storage $ | Pub/Sub $ | Total $ per million "
        "| Compute share |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, cpu in inputs["cpu_seconds"].items():
        for sizing in (DEFAULTS, SMALL):
            cost = bill(cpu, sizing, prices)
            compute = cost["vcpu_second"] + cost["gib_second"] + cost["request"]
            storage = cost["storage_class_a"] + cost["storage_class_b"]
            total = sum(cost.values())
            lines.append(
                f"| {name} | {cpu:.3f} | {sizing.name} | {compute:.2f} | {storage:.2f} | {cost['pubsub_byte']:.2f} "
                f"| {total:.2f} | {compute / total:.0%} |"
            )
    jpeg = inputs["cpu_seconds"]["JPEG 12 MP"]
    vision = sum(bill(jpeg, DEFAULTS, prices, vision=True).values())
    lines += [
        "",
        f"With `VISION_FEATURES=labels,safe-search`, a million 12 MP JPEGs cost {vision:,.2f} $ (Vision alone "
        f"{bill(jpeg, DEFAULTS, prices, vision=True)['vision_image']:,.2f}).",
    ]
    return "\n".join(lines)


def fleet_table(inputs: dict[str, Any], prices: dict[str, Any]) -> str:
    """docs/backfill.md: ten million 12 MP JPEGs through the backfill job, by task count.

    Every task walks both whole listings (a hash share needs every name), on the same vCPU
    as its thumbnails: the listing's time and its Class A pages grow with the tasks."""
    cpu = inputs["cpu_seconds"]["JPEG 12 MP"]
    page_seconds = inputs["listing_seconds_per_page"] + PAGE_ROUND_TRIP_SECONDS
    settings = Settings(output_bucket="bucket")
    lines = [
        f"{FLEET_UPLOADS:,} uploads of 12 MP JPEGs, none done yet; 1 vCPU and 1 GiB per task, 4 workers; "
        f"{cpu * 1000:.1f} ms of CPU per upload and {inputs['listing_seconds_per_page'] * 1000:.0f} ms of the "
        f"client's time per listing page, measured by `make cost` ({inputs['machine']}, {inputs['date']}), "
        f"plus {PAGE_ROUND_TRIP_SECONDS * 1000:.0f} ms per page for Cloud Storage's round trip (assumed); prices "
        f"checked {prices['checked']}.",
        "",
        "| Tasks | Listing per task | Thumbnails per task | Wall time | Compute $ | Storage $ | Total $ |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    pages = 2 * math.ceil(FLEET_UPLOADS / 1000)  # the input listing and the output listing
    for tasks in FLEET_TASKS:
        share = FLEET_UPLOADS / tasks
        listing = pages * page_seconds
        thumbnails = share * cpu
        wall = listing + thumbnails
        one = backfill_requests(round(share), FLEET_UPLOADS, 0, 0, settings, vision=False)
        every = Requests(
            one.reads * tasks, one.lookups * tasks, one.writes * tasks, pages * tasks, 0, 0
        )  # fmt: skip
        cost = job_bill(every, wall * tasks, prices)
        lines.append(
            f"| {tasks:,} | {_duration(listing)} | {_duration(thumbnails)} | {_duration(wall)} "
            f"| {cost['compute']:,.2f} | {cost['storage']:,.2f} | {sum(cost.values()):,.2f} |"
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def free_volume(cpu_seconds: float, sizing: Sizing, prices: dict[str, Any]) -> int:
    """The most uploads a month that the free tier covers entirely (binary search)."""
    low, high = 0, 10_000_000
    while low < high:
        middle = (low + high + 1) // 2
        if sum(bill(cpu_seconds, sizing, prices, uploads=middle, free_tier=True).values()) == 0:
            low = middle
        else:
            high = middle - 1
    return low


def measure(runs: int = 7) -> dict[str, Any]:
    """CPU seconds of the project's conversion per corpus item (median, one core)."""
    import platform

    from bench import corpus
    from bench.candidates import project

    with tempfile.TemporaryDirectory(prefix="thumbnailer-cost-") as folder:
        items = corpus.build(Path(folder), quick=False, throughput_count=1)
        figures = {}
        for item in items.items:
            if item.name not in ("JPEG 12 MP", "PNG 12 MP RGBA", "WebP 12 MP", "AVIF 12 MP", "HEIC 12 MP"):
                continue
            project(item.data)  # warm-up: imports, caches
            samples = []
            for _ in range(runs):
                started = time.process_time()
                project(item.data)
                samples.append(time.process_time() - started)
            figures[item.name] = round(statistics.median(samples), 4)
    from bench.listing import dry_run

    largest = dry_run(100_000, 0)  # the client's time per page: the dry run's wall time over its pages
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "cpu_seconds": figures,
        "listing_seconds_per_page": round(largest.seconds / largest.pages, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=("bill", "measure"), default="bill")
    arguments = parser.parse_args(argv)
    prices = json.loads(PRICES.read_text())
    if arguments.command == "measure":
        INPUTS.write_text(json.dumps(measure(), indent=2) + "\n")
    inputs = json.loads(INPUTS.read_text())
    sys.stdout.write(table(inputs, prices) + "\n\n" + fleet_table(inputs, prices) + "\n")
    jpeg = inputs["cpu_seconds"]["JPEG 12 MP"]
    for sizing in (DEFAULTS, SMALL):
        sys.stdout.write(
            f"\nFree tier covers up to {free_volume(jpeg, sizing, prices):,} 12 MP JPEGs a month at {sizing.name}."
        )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a backfill would cost: the requests it would make, and their price.

The requests come from the plan's counts alone. Dollars need two tables that live with
the benchmark, in a checkout of the project: ``bench/prices.json`` (list prices, dated,
with sources) and ``bench/cost-inputs.json`` (CPU seconds per upload, measured by
``make cost``). The deployed job's source leaves them out, so there a dry run gives the
requests only. Each upload is costed as the benchmark's 12 MP image of its content type
(a JPEG when the type is unknown): a bucket of small images costs less than this.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thumbnailer.config import Settings
from thumbnailer.imaging import possible_extensions

BENCH = Path(__file__).resolve().parents[1] / "bench"
#: Cloud Storage returns at most this many objects per listing request.
LISTING_PAGE = 1000
_CORPUS_ITEM = {
    "image/jpeg": "JPEG 12 MP",
    "image/png": "PNG 12 MP RGBA",
    "image/webp": "WebP 12 MP",
    "image/avif": "AVIF 12 MP",
    "image/heic": "HEIC 12 MP",
    "image/heif": "HEIC 12 MP",
}


@dataclass(frozen=True)
class Requests:
    reads: int  # downloads (Class B)
    lookups: int  # metadata gets: an older generation's leftovers (Class B)
    writes: int  # thumbnails (Class A)
    listing_pages: int  # both buckets (Class A)
    deletes: int  # --prune (free)
    vision_images: int

    def line(self) -> str:
        return (
            f"would make {self.reads:,} downloads, {self.lookups:,} metadata lookups, {self.writes:,} writes, "
            f"{self.listing_pages:,} listing pages, {self.deletes:,} deletes, {self.vision_images:,} Vision requests"
        )


def leftover_lookups(settings: Settings) -> int:
    """Metadata gets per processed upload for what an older generation may have left: its
    thumbnails under the other extensions the format allows, and its failure record."""
    imaging = settings.imaging
    other_extensions = sum(len(possible_extensions(imaging.format_for(size))) - 1 for size in imaging.sizes)
    return other_extensions + (1 if settings.failure_prefix else 0)


def backfill_requests(
    to_do: int, listed: int, outputs_listed: int, to_prune: int, settings: Settings, *, vision: bool
) -> Requests:
    """The Cloud Storage and Vision requests of processing ``to_do`` uploads (each made
    once; a retried one costs again)."""
    sizes = settings.imaging.sizes
    lookups = leftover_lookups(settings)
    # Each listing is at least one request, empty or not: the input's, the thumbnails', the failure records'.
    listings = max(1, math.ceil(listed / LISTING_PAGE)) + max(1, math.ceil(outputs_listed / LISTING_PAGE))
    listings += 1 if settings.failure_prefix else 0
    return Requests(
        reads=to_do,
        lookups=to_do * lookups + (to_do if vision else 0),
        writes=to_do * len(sizes) + (to_do if vision else 0),
        listing_pages=listings,
        deletes=to_prune,
        vision_images=to_do if vision else 0,
    )


def load_tables(folder: Path = BENCH) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The price table and the measured CPU seconds, or None where they are not shipped."""
    try:
        prices = json.loads((folder / "prices.json").read_text(encoding="utf-8"))
        inputs = json.loads((folder / "cost-inputs.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return prices, inputs


def cpu_seconds(content_types: dict[str, int], inputs: dict[str, Any]) -> float:
    measured = inputs["cpu_seconds"]
    return float(sum(count * measured[_CORPUS_ITEM.get(kind, "JPEG 12 MP")] for kind, count in content_types.items()))


def job_bill(
    requests: Requests, cpu: float, prices: dict[str, Any], *, vcpus: float = 1.0, memory_gib: float = 1.0
) -> dict[str, float]:
    """Dollars per item, in a Cloud Run job (instance-based billing: the task's whole
    life, CPU-bound here since its workers overlap the requests' waits)."""
    price = {item: entry["price"] for item, entry in prices["prices"].items()}
    instance_seconds = cpu / vcpus
    return {
        "compute": instance_seconds * (vcpus * price["job_vcpu_second"] + memory_gib * price["job_gib_second"]),
        "storage": (requests.writes + requests.listing_pages) * price["storage_class_a"]
        + (requests.reads + requests.lookups) * price["storage_class_b"],
        "vision": requests.vision_images * price["vision_image"],
    }


def cost_line(bill: dict[str, float], prices: dict[str, Any]) -> str:
    total = sum(bill.values())
    places = 2 if total >= 1 else 4  # a trial run's cents still say something

    def dollars(amount: float) -> str:
        return f"${amount:,.{places}f}"

    parts = ", ".join(f"{item} {dollars(amount)}" for item, amount in bill.items())
    return (
        f"would cost about {dollars(total)} ({parts}; list prices checked {prices['checked']}, "
        "each upload costed as a 12 MP image of its type, 1 vCPU and 1 GiB per task)"
    )

"""What a backfill's dry run says it would cost: requests from counts, dollars from the tables."""

from pathlib import Path

import pytest

from thumbnailer.config import Settings
from thumbnailer.domain import OutputFormat, Size
from thumbnailer.estimates import backfill_requests, cost_line, cpu_seconds, job_bill, leftover_lookups, load_tables

SETTINGS = Settings(output_bucket="out")


def test_the_requests_follow_the_settings() -> None:
    requests = backfill_requests(1000, 2500, 0, 3, SETTINGS, vision=False)
    assert (requests.reads, requests.lookups, requests.writes) == (1000, 2000, 1000)
    assert requests.listing_pages == 3 + 1 + 1  # input, thumbnails (empty: one request), failure records
    assert requests.deletes == 3
    two_png = SETTINGS._replace(
        imaging=SETTINGS.imaging._replace(format=OutputFormat.PNG, sizes=(Size(200, 200), Size(64, 64))),
        failure_prefix="",
    )
    assert leftover_lookups(two_png) == 0  # one possible extension, no failure records
    assert backfill_requests(10, 10, 10, 0, two_png, vision=True).writes == 2 * 10 + 10  # + the labels records


def test_the_bill_from_the_shipped_tables() -> None:
    tables = load_tables()
    assert tables is not None
    prices, inputs = tables
    requests = backfill_requests(1_000_000, 1_000_000, 0, 0, SETTINGS, vision=False)
    cpu = cpu_seconds({"image/jpeg": 1_000_000}, inputs)
    assert cpu == pytest.approx(1_000_000 * inputs["cpu_seconds"]["JPEG 12 MP"])
    bill = job_bill(requests, cpu, prices)
    assert bill["storage"] == pytest.approx(1_000_002 * 0.000005 + 3_000_000 * 0.0000004, rel=1e-3)
    assert bill["vision"] == 0
    assert cost_line(bill, prices).startswith(f"would cost about ${sum(bill.values()):,.2f} (")
    assert cpu_seconds({"application/x-unknown": 1}, inputs) == inputs["cpu_seconds"]["JPEG 12 MP"]


def test_without_the_tables_there_is_no_bill(tmp_path: Path) -> None:
    assert load_tables(tmp_path) is None

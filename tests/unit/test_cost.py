"""The bill (bench/cost.py): the billing model on plain numbers, and the table docs show."""

import json

from bench.cost import (
    DEFAULTS,
    INPUTS,
    PRICES,
    SMALL,
    Sizing,
    bill,
    billed_seconds,
    fleet_table,
    free_volume,
    table,
)
from localdev.function import ROOT

PRICES_TABLE = json.loads(PRICES.read_text())


def test_each_request_is_rounded_up_to_100_ms_and_concurrency_shares_it() -> None:
    alone = Sizing("one", 1.0, 1.0, 1)
    assert billed_seconds(0.026, alone) == 0.1  # 26 ms of CPU + 40 ms of round trips: 100 ms
    assert billed_seconds(0.026, DEFAULTS) == 0.026  # four share 100 ms, but the CPU work stays
    assert billed_seconds(0.5, DEFAULTS) == 0.5
    assert round(billed_seconds(0.026, SMALL), 3) == 0.2  # 0.167 vCPU: 156 ms + 40 ms


def test_a_million_jpegs_at_the_defaults() -> None:
    cost = bill(0.026, DEFAULTS, PRICES_TABLE)
    assert round(cost["storage_class_a"], 2) == 5.0  # one thumbnail written per upload
    assert round(cost["storage_class_b"], 2) == 1.2  # one read, two lookups of an older generation's leftovers
    assert round(cost["request"], 2) == 0.4
    assert round(cost["vcpu_second"], 3) == round(0.026 * 0.000024 * 1e6, 3)
    assert cost["vision_image"] == 0
    assert round(bill(0.026, DEFAULTS, PRICES_TABLE, vision=True)["vision_image"]) == 1500


def test_the_free_tier_is_bounded_by_cloud_storage_writes() -> None:
    assert free_volume(0.026, DEFAULTS, PRICES_TABLE) == 5000


def test_operations_doc_shows_the_current_table() -> None:
    page = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    expected = table(json.loads(INPUTS.read_text()), PRICES_TABLE)
    assert expected in page, "stale: run `python -m bench.cost` and paste its table into docs/operations.md"


def test_backfill_doc_shows_the_current_fleet_table() -> None:
    page = (ROOT / "docs" / "backfill.md").read_text(encoding="utf-8")
    expected = fleet_table(json.loads(INPUTS.read_text()), PRICES_TABLE)
    assert expected in page, "stale: run `python -m bench.cost` and paste its second table into docs/backfill.md"


def test_the_fleet_table_grows_the_listing_with_the_tasks() -> None:
    rows = [line.split(" | ") for line in fleet_table(json.loads(INPUTS.read_text()), PRICES_TABLE).splitlines()
            if line.startswith("| 1")]  # fmt: skip
    listings = {row[1] for row in rows}
    assert len(rows) == 3
    assert len(listings) == 1  # every task walks both whole listings, whatever the count
    totals = [float(row[-1].strip(" |").replace(",", "")) for row in rows]
    assert totals == sorted(totals)  # more tasks: sooner, never cheaper


def test_every_price_names_its_source_page() -> None:
    assert PRICES_TABLE["checked"]
    for price in PRICES_TABLE["prices"].values():
        assert price["source"].startswith("https://cloud.google.com/")
        assert price["price"] > 0

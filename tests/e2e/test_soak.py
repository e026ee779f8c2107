"""The short soak: about 100 uploads through the whole local pipeline, every fault at least once.

``make soak`` runs the full one (1,000 uploads) and reports its figures; this one holds
the same invariants on every ``make test``.
"""

from __future__ import annotations

import logging

import pytest

from localdev.faults import Fault
from soak.corpus import BAD_KINDS
from soak.report import render
from soak.run import KILL_FUNCTION, RESTART_EVENTARC, Soak, SoakOptions, SoakResult


@pytest.fixture(scope="module")
def soaked(tmp_path_factory: pytest.TempPathFactory) -> SoakResult:
    options = SoakOptions(uploads=100, steady_rate=20.0, drain_seconds=240.0)
    result = Soak(options, tmp_path_factory.mktemp("soak")).run()
    logging.getLogger(__name__).info("short soak:\n%s", render(result))
    return result


def test_every_fault_was_injected_at_least_once(soaked: SoakResult) -> None:
    assert set(soaked.injected) == {str(fault) for fault in Fault}, soaked.injected
    assert {(event.what, event.phase) for event in soaked.faults} == {
        (KILL_FUNCTION, "steady"),
        (RESTART_EVENTARC, "steady"),
        (KILL_FUNCTION, "burst"),
        (RESTART_EVENTARC, "burst"),
    }
    assert {"upload", "download"} <= set(soaked.storage_requests)
    # The second subscription's late copies met thumbnails already made, and stale generations.
    assert soaked.audit.absorbed_deliveries["duplicate"] > 0
    assert soaked.overwrites > 0


def test_every_valid_upload_has_exactly_its_thumbnails(soaked: SoakResult) -> None:
    assert soaked.audit.expected_thumbnails == (soaked.valid_uploads - soaked.overwrites) * soaked.sizes
    assert soaked.audit.correct_thumbnails == soaked.audit.expected_thumbnails
    assert soaked.audit.missing == []
    assert soaked.audit.wrong == []
    assert soaked.audit.duplicate_writes == 0


def test_every_bad_upload_is_recorded_with_its_reason(soaked: SoakResult) -> None:
    assert soaked.audit.bad_uploads >= len(BAD_KINDS)
    assert soaked.audit.recorded_bad + soaked.audit.dead_lettered == soaked.audit.bad_uploads
    assert {reason.split(": ")[1] for reason in soaked.audit.reasons if reason.startswith("failed")} == {
        reason for _, _, reason, _ in BAD_KINDS.values()
    }


def test_nothing_partial_nothing_stray_nothing_retried_forever(soaked: SoakResult) -> None:
    assert soaked.audit.partial == []
    assert soaked.audit.unexpected == []
    assert soaked.audit.unfinished_messages == 0
    assert soaked.redeliveries > 0, "the faults made the local Eventarc redeliver"
    assert 1 <= soaked.max_attempts <= 20
    assert soaked.violations == []


def test_the_report_names_every_figure(soaked: SoakResult) -> None:
    text = render(soaked)
    for figure in ("Thumbnails made / expected", "Duplicates", "Lost", "p95", "p99", "Peak memory", "Failure class"):
        assert figure in text

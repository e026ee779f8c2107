"""The local page's dashboard figures (localdev/dashboard.py), from hand-made log records."""

from datetime import UTC, datetime

from localdev.dashboard import summarize

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def at(seconds_ago: float, outcome: str, duration_ms: float) -> dict[str, object]:
    when = datetime.fromtimestamp(NOW - seconds_ago, UTC).isoformat()
    return {"time": when, "outcome": outcome, "duration_ms": duration_ms}


def test_events_by_outcome_per_step_and_the_window_percentiles() -> None:
    records = [at(5, "created", 30), at(6, "created", 40), at(15, "failed", 10), at(25, "retry", 100)]
    records += [at(400, "created", 999), {"outcome": "created"}, {"time": "not a time", "outcome": "created"}]
    state = summarize(records, NOW, dead_letters=2)
    assert state["events"] == 4  # outside the window, and without a time, do not count
    assert state["buckets"][-1]["created"] == 2
    assert state["buckets"][-2]["failed"] == 1
    assert state["buckets"][-3]["retry"] == 1
    assert state["retries"] == 1
    assert state["dead_letters"] == 2
    assert state["p50_ms"] == 35.0
    assert 70 < state["p95_ms"] <= 100


def test_nothing_yet() -> None:
    state = summarize([], NOW)
    assert (state["events"], state["p50_ms"], state["p95_ms"]) == (0, None, None)
    assert len(state["buckets"]) == 30

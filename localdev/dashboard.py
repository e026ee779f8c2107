"""What the Cloud Monitoring dashboard would show, from the function's own log lines: the
local pipeline's page draws it (``/api/dashboard``). Pure: records in, figures out."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from thumbnailer.outcomes import Outcome

OUTCOMES = tuple(outcome.value for outcome in Outcome)


def summarize(
    records: Iterable[Mapping[str, Any]], now: float, *, window: int = 300, step: int = 10, dead_letters: int = 0
) -> dict[str, Any]:
    """Events by outcome per ``step`` seconds over the last ``window``, and the duration
    percentiles, retries and dead letters of that window (as the dashboard's tiles)."""
    start = now - window
    buckets = [dict.fromkeys(OUTCOMES, 0) for _ in range(window // step)]
    durations: list[float] = []
    for record in records:
        outcome = record.get("outcome")
        when = _seconds(record.get("time"))
        if outcome not in OUTCOMES or when is None or not start <= when < now:
            continue
        buckets[min(len(buckets) - 1, int((when - start) // step))][outcome] += 1
        duration = record.get("duration_ms")
        if isinstance(duration, int | float):
            durations.append(float(duration))
    return {
        "window_seconds": window,
        "step_seconds": step,
        "buckets": buckets,
        "events": len(durations),
        "p50_ms": _percentile(durations, 50),
        "p95_ms": _percentile(durations, 95),
        "retries": sum(bucket["retry"] for bucket in buckets),
        "dead_letters": dead_letters,
    }


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[percent - 1], 1)


def _seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None

"""The soak's figures as Markdown: what was expected, what happened, what was injected."""

from __future__ import annotations

import os
import platform
import statistics

from localdev.latency import percentile
from soak.run import SoakResult


def _latency_row(label: str, values: list[float]) -> str:
    if not values:
        return f"| {label} | 0 | - | - | - | - |"
    return (
        f"| {label} | {len(values)} | {statistics.median(values):.0f} | {percentile(values, 0.95):.0f} "
        f"| {percentile(values, 0.99):.0f} | {max(values):.0f} |"
    )


def render(result: SoakResult) -> str:
    options = result.options
    verdict = "all invariants hold" if not result.violations else "**violated**: " + "; ".join(result.violations)
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}. "
        f"{result.valid_uploads + result.audit.bad_uploads} uploads ({result.overwrites} of them a new generation "
        f"of an earlier name), {options.steady_share:.0%} at {options.steady_rate:g}/s, the rest in one burst from "
        f"{options.burst_workers} threads; THUMBNAIL_SIZES={options.sizes}. Result: {verdict}.",
        "",
        "| Measure | Value |",
        "| --- | --- |",
        f"| Thumbnails made / expected (byte-identical to a local render of the latest generation) "
        f"| {result.audit.correct_thumbnails} / {result.audit.expected_thumbnails} |",
        f"| Bad uploads recorded with the right reason / dead-lettered / bad uploads "
        f"| {result.audit.recorded_bad} / {result.audit.dead_lettered} / {result.audit.bad_uploads} |",
        f"| Lost (no answer at all) | {len(result.audit.missing)} |",
        f"| Wrong or partial objects; unexpected objects | {len(result.audit.wrong) + len(result.audit.partial)}; "
        f"{len(result.audit.unexpected)} |",
        f"| Duplicates (a thumbnail written twice) | {result.audit.duplicate_writes} |",
        f"| Extra deliveries absorbed (duplicate, superseded, object replaced) "
        f"| {sum(result.audit.absorbed_deliveries.values())} |",
        f"| Events left in a subscription after the drain | {result.audit.unfinished_messages} |",
        f"| Redeliveries by the local Eventarc; most attempts for one event "
        f"| {result.redeliveries}; {result.max_attempts} |",
        f"| Peak memory of the function (server and workers, RSS) | {result.peak_memory_bytes / 2**20:.0f} MiB |",
        f"| Time: corpus, steady, burst, drain | {result.seconds.get('corpus', 0):.0f} s, "
        f"{result.seconds.get('steady', 0):.0f} s, {result.seconds.get('burst', 0):.0f} s, "
        f"{result.seconds.get('drain', 0):.0f} s |",
        "",
        "Upload to thumbnail (the source's creation time to its last thumbnail's, both from the emulator), ms:",
        "",
        "| Phase | Uploads | p50 | p95 | p99 | max |",
        "| --- | --- | --- | --- | --- | --- |",
        _latency_row("steady", result.latency_ms.get("steady", [])),
        _latency_row("burst", result.latency_ms.get("burst", [])),
        _latency_row("all", result.latency_ms.get("steady", []) + result.latency_ms.get("burst", [])),
        "",
        "Faults injected:",
        "",
        "| Fault | Count |",
        "| --- | --- |",
    ]
    total_requests = sum(result.storage_requests.values())
    for fault, count in sorted(result.injected.items()):
        lines.append(f"| storage `{fault}` | {count} of {total_requests} requests |")
    for event in result.faults:
        lines.append(f"| {event.what} ({event.phase}, at {event.at_seconds:.0f} s) | took {event.took_seconds:.1f} s |")
    lines += [
        "",
        "Storage requests by kind: "
        + ", ".join(f"{kind} {count}" for kind, count in sorted(result.storage_requests.items()))
        + ".",
        "",
        "Function outcomes (one log line per delivery): "
        + ", ".join(f"{outcome} {count}" for outcome, count in result.audit.outcomes.most_common())
        + ".",
        "",
        "| Failure class (outcome: reason) | Deliveries |",
        "| --- | --- |",
    ]
    lines += [f"| {reason} | {count} |" for reason, count in result.audit.reasons.most_common()]
    return "\n".join(lines) + "\n"

"""The soak's audit, pure: what the run uploaded and what the buckets hold in, findings out.

Nothing here talks to a server: ``soak/run.py`` gathers the inputs (the uploads as
sent, the output bucket's objects, the sources' creation times, the dead letters, the
function's log lines, what the subscriptions still hold) and this module judges them,
so every rule is unit-tested on hand-made states (tests/unit/test_soak_audit.py).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from soak.corpus import Upload


@dataclass(frozen=True)
class Expected:
    """What the function must leave for an upload: (name, bytes) per thumbnail, or a failure record."""

    thumbnails: tuple[tuple[str, bytes], ...] = ()
    failure_record: str | None = None


@dataclass(frozen=True)
class Sent:
    """One upload as it landed: what it must become, its generation, its phase."""

    upload: Upload
    expected: Expected
    generation: int
    phase: str


@dataclass(frozen=True)
class Stored:
    """An object of the output bucket, as the audit sees it."""

    data: bytes
    source_generation: str | None  # its thumbnail-source-generation
    created: float | None = None  # seconds since the epoch


@dataclass(frozen=True)
class Audit:
    expected_thumbnails: int
    correct_thumbnails: int
    bad_uploads: int
    recorded_bad: int
    dead_lettered: int
    missing: list[str]
    wrong: list[str]
    unexpected: list[str]
    partial: list[str]
    duplicate_writes: int
    absorbed_deliveries: Counter[str]
    unfinished_messages: int
    outcomes: Counter[str]
    reasons: Counter[str]
    latency_ms: dict[str, list[float]] = field(default_factory=dict)

    @property
    def violations(self) -> list[str]:
        problems = []
        if self.missing:
            problems.append(f"{len(self.missing)} thumbnail(s) missing, e.g. {self.missing[:3]}")
        if self.wrong:
            problems.append(f"{len(self.wrong)} thumbnail(s) wrong, e.g. {self.wrong[:3]}")
        if self.unexpected:
            problems.append(f"{len(self.unexpected)} unexpected object(s), e.g. {self.unexpected[:3]}")
        if self.partial:
            problems.append(f"{len(self.partial)} partial object(s), e.g. {self.partial[:3]}")
        if self.recorded_bad + self.dead_lettered < self.bad_uploads:
            problems.append(f"{self.bad_uploads - self.recorded_bad - self.dead_lettered} bad upload(s) unaccounted")
        if self.duplicate_writes:
            problems.append(f"{self.duplicate_writes} thumbnail(s) written more than once")
        if self.unfinished_messages:
            problems.append(f"{self.unfinished_messages} event(s) still in a subscription after the drain")
        return problems


def finals(sent: Iterable[Sent]) -> dict[str, Sent]:
    """Each name's latest generation: the one whose answer must be in the output bucket."""
    latest: dict[str, Sent] = {}
    for one in sent:
        if one.upload.name not in latest or one.generation > latest[one.upload.name].generation:
            latest[one.upload.name] = one
    return latest


def answered(sent: Iterable[Sent], made: Mapping[str, str | None], dead_letters: set[tuple[str, str]]) -> bool:
    """Whether every latest generation has its answer (``made``: output name -> source generation)."""
    for name, one in finals(sent).items():
        if (name, str(one.generation)) in dead_letters:
            continue
        if one.expected.failure_record is not None:
            if made.get(one.expected.failure_record) != str(one.generation):
                return False
        elif any(made.get(thumbnail) != str(one.generation) for thumbnail, _ in one.expected.thumbnails):
            return False
    return True


def decodes(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


def audit(
    sent: Sequence[Sent],
    output: Mapping[str, Stored],
    source_created: Mapping[str, float],
    dead_letters: set[tuple[str, str]],
    function_records: Sequence[Mapping[str, Any]],
    unfinished_messages: int,
    sizes: int,
) -> Audit:
    """Judge the output bucket against what the uploads must have become."""
    latest = finals(sent)
    expected: set[str] = set()
    missing: list[str] = []
    wrong: list[str] = []
    partial: list[str] = []
    correct = recorded_bad = dead_lettered = 0
    latency: dict[str, list[float]] = {"steady": [], "burst": []}
    for name, one in sorted(latest.items()):
        record_name = one.expected.failure_record
        if record_name is not None:
            expected.add(record_name)
            stored = output.get(record_name)
            if stored is None:
                if (name, str(one.generation)) in dead_letters:
                    dead_lettered += 1
                else:
                    missing.append(record_name)
                continue
            try:
                record = json.loads(stored.data)
            except ValueError:
                partial.append(record_name)
                continue
            if (record.get("reason"), record.get("generation")) == (one.upload.expected_reason, str(one.generation)):
                recorded_bad += 1
            else:
                wrong.append(f"{record_name}: {record.get('reason')} #{record.get('generation')}")
            continue
        finished_at = 0.0
        for thumb_name, thumb_data in one.expected.thumbnails:
            expected.add(thumb_name)
            stored = output.get(thumb_name)
            if stored is None:
                missing.append(thumb_name)
                continue
            if stored.data == thumb_data and stored.source_generation == str(one.generation):
                correct += 1
            elif not decodes(stored.data):
                partial.append(thumb_name)
            else:
                made_from = stored.source_generation
                wrong.append(f"{thumb_name}: made from generation {made_from}, the latest is {one.generation}")
            finished_at = max(finished_at, stored.created or 0.0)
        if finished_at and name in source_created:
            latency[one.phase].append((finished_at - source_created[name]) * 1000)
    unexpected = sorted(set(output) - expected)
    partial += [name for name in unexpected if not name.endswith(".json") and not decodes(output[name].data)]
    writes, absorbed, outcomes, reasons = _from_the_logs(function_records)
    return Audit(
        expected_thumbnails=sum(1 for one in latest.values() if one.upload.valid) * sizes,
        correct_thumbnails=correct,
        bad_uploads=sum(1 for one in latest.values() if not one.upload.valid),
        recorded_bad=recorded_bad,
        dead_lettered=dead_lettered,
        missing=missing,
        wrong=wrong,
        unexpected=unexpected,
        partial=partial,
        duplicate_writes=sum(count - 1 for count in writes.values() if count > 1),
        absorbed_deliveries=absorbed,
        unfinished_messages=unfinished_messages,
        outcomes=outcomes,
        reasons=reasons,
        latency_ms=latency,
    )


def _from_the_logs(
    records: Sequence[Mapping[str, Any]],
) -> tuple[Counter[tuple[str, str]], Counter[str], Counter[str], Counter[str]]:
    """From the function's own log lines: each (thumbnail, generation) written, the extra
    deliveries it absorbed, its outcomes and its reasons."""
    writes: Counter[tuple[str, str]] = Counter()
    absorbed: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for record in records:
        outcome = record.get("outcome")
        if outcome is None:
            continue
        outcomes[outcome] += 1
        if record.get("reason"):
            reasons[f"{outcome}: {record['reason']}"] += 1
        for thumbnail in record.get("thumbnails", ()):
            if thumbnail.get("outcome") in ("created", "replaced"):
                writes[thumbnail["name"], str(record.get("generation"))] += 1
        if outcome in ("duplicate", "superseded") or record.get("reason") in ("object_replaced", "object_gone"):
            absorbed[str(record.get("reason") or outcome)] += 1
    return writes, absorbed, outcomes, reasons

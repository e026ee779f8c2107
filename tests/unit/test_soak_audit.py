"""The soak's audit on hand-made states: each rule meets a bucket that breaks it."""

import json
from collections import Counter
from typing import Any

from soak.audit import Audit, Expected, Sent, Stored, answered, audit, finals
from soak.corpus import Upload
from tests.images import encode, photo_like

THUMB = encode(photo_like(64, 64), "JPEG")
OTHER = encode(photo_like(64, 64, seed=3), "JPEG")


def photo(name: str, generation: int, phase: str = "steady") -> Sent:
    return Sent(
        Upload(name, b"...", "image/jpeg", "jpeg"),
        Expected(thumbnails=((f"{name}_64x64.jpg", THUMB),)),
        generation,
        phase,
    )


def bad(name: str, generation: int, reason: str = "not_an_image") -> Sent:
    upload = Upload(name, b"text", "image/jpeg", "text", expected_reason=reason)
    return Sent(upload, Expected(failure_record=f"failed/{name}.json"), generation, "steady")


def record(name: str, generation: int, reason: str = "not_an_image") -> Stored:
    return Stored(json.dumps({"name": name, "generation": str(generation), "reason": reason}).encode(), str(generation))


def judged(
    sent: list[Sent],
    output: dict[str, Stored],
    *,
    source_created: dict[str, float] | None = None,
    dead_letters: set[tuple[str, str]] | None = None,
    function_records: list[dict[str, Any]] | None = None,
    unfinished_messages: int = 0,
) -> Audit:
    return audit(
        sent, output, source_created or {}, dead_letters or set(), function_records or [], unfinished_messages, 1
    )


def test_a_clean_run_has_no_violations() -> None:
    sent = [photo("a.jpg", 1), bad("b.jpg", 2)]
    output = {"a.jpg_64x64.jpg": Stored(THUMB, "1", 10.5), "failed/b.jpg.json": record("b.jpg", 2)}
    result = judged(sent, output, source_created={"a.jpg": 10.0})
    assert result.violations == []
    assert (result.correct_thumbnails, result.recorded_bad, result.latency_ms["steady"]) == (1, 1, [500.0])


def test_only_the_latest_generation_counts() -> None:
    sent = [photo("a.jpg", 1), photo("a.jpg", 5)]
    assert finals(sent)["a.jpg"].generation == 5
    stale = judged(sent, {"a.jpg_64x64.jpg": Stored(THUMB, "1")})
    assert stale.wrong == ["a.jpg_64x64.jpg: made from generation 1, the latest is 5"]


def test_missing_wrong_partial_and_unexpected_objects_are_violations() -> None:
    sent = [photo("a.jpg", 1), photo("b.jpg", 1), photo("c.jpg", 1)]
    output = {
        "b.jpg_64x64.jpg": Stored(OTHER, "1"),  # other bytes: not what a render makes
        "c.jpg_64x64.jpg": Stored(THUMB[: len(THUMB) // 2], "1"),  # cut short
        "stray.jpg_64x64.jpg": Stored(THUMB, "1"),
    }
    result = judged(sent, output)
    assert (result.missing, result.unexpected) == (["a.jpg_64x64.jpg"], ["stray.jpg_64x64.jpg"])
    assert result.wrong == ["b.jpg_64x64.jpg: made from generation 1, the latest is 1"]
    assert result.partial == ["c.jpg_64x64.jpg"]
    assert len(result.violations) == 4


def test_a_bad_upload_needs_its_record_with_its_reason_or_a_dead_letter() -> None:
    sent = [bad("b.jpg", 2), bad("c.jpg", 3), bad("d.jpg", 4)]
    output = {"failed/b.jpg.json": record("b.jpg", 2, "corrupt_image"), "failed/c.jpg.json": Stored(b"{not json", "3")}
    result = judged(sent, output, dead_letters={("d.jpg", "4")})
    assert result.wrong == ["failed/b.jpg.json: corrupt_image #2"]
    assert result.partial == ["failed/c.jpg.json"]
    assert (result.recorded_bad, result.dead_lettered) == (0, 1)
    assert "2 bad upload(s) unaccounted" in result.violations


def test_a_thumbnail_written_twice_is_found_in_the_functions_own_lines() -> None:
    line = {"outcome": "created", "generation": "1", "thumbnails": [{"name": "a.jpg_64x64.jpg", "outcome": "created"}]}
    duplicate = {
        "outcome": "duplicate",
        "generation": "1",
        "thumbnails": [{"name": "a.jpg_64x64.jpg", "outcome": "duplicate"}],
    }
    result = judged(
        [photo("a.jpg", 1)], {"a.jpg_64x64.jpg": Stored(THUMB, "1")}, function_records=[line, line, duplicate]
    )
    assert result.duplicate_writes == 1
    assert result.absorbed_deliveries == Counter({"duplicate": 1})
    assert "1 thumbnail(s) written more than once" in result.violations


def test_events_left_in_a_subscription_are_a_violation() -> None:
    result = judged([photo("a.jpg", 1)], {"a.jpg_64x64.jpg": Stored(THUMB, "1")}, unfinished_messages=2)
    assert result.violations == ["2 event(s) still in a subscription after the drain"]


def test_answered_waits_for_every_latest_generation() -> None:
    sent = [photo("a.jpg", 1), bad("b.jpg", 2)]
    assert not answered(sent, {"a.jpg_64x64.jpg": "1"}, set())
    assert answered(sent, {"a.jpg_64x64.jpg": "1", "failed/b.jpg.json": "2"}, set())
    assert answered(sent, {"a.jpg_64x64.jpg": "1"}, {("b.jpg", "2")})
    assert not answered([*sent, photo("a.jpg", 7)], {"a.jpg_64x64.jpg": "1", "failed/b.jpg.json": "2"}, set())

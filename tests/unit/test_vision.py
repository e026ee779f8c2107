"""Vision's request and answer shapes, its retry rules (from hand-built answers), and the
pipeline's Vision decisions on the in-memory store with a counting annotator."""

import base64
import json
from typing import Any

import pytest

from tests.images import encode, photo_like
from tests.memory_store import MemoryStore
from thumbnailer import errors
from thumbnailer.config import Settings
from thumbnailer.domain import Likelihood, Moderation, VisionFeature
from thumbnailer.events import StorageObjectEvent
from thumbnailer.outcomes import Outcome
from thumbnailer.pipeline import SOURCE_BUCKET_KEY, SOURCE_GENERATION_KEY, SOURCE_OBJECT_KEY, VisionCall, process_upload
from thumbnailer.vision import Annotation, Label, VisionRequest, parse_response, request_body

BOTH = VisionRequest((VisionFeature.LABELS, VisionFeature.SAFE_SEARCH), max_labels=3, min_score=0.5)
INPUT, OUTPUT = "in-bucket", "out-bucket"
JPEG = encode(photo_like(1280, 960), "JPEG")


def test_the_request_names_every_feature_and_sends_content() -> None:
    body = request_body(b"\xff\xd8jpeg", BOTH)
    [one] = body["requests"]
    assert one["image"] == {"content": base64.b64encode(b"\xff\xd8jpeg").decode()}
    assert one["features"] == [{"type": "LABEL_DETECTION", "maxResults": 3}, {"type": "SAFE_SEARCH_DETECTION"}]


def test_labels_are_filtered_by_score_and_count_and_likelihoods_read_as_names_or_numbers() -> None:
    labels = [
        {"mid": f"/m/{i}", "description": f"L{i}", "score": score} for i, score in enumerate((0.4, 0.9, 0.6, 0.7, 0.55))
    ]
    body = {"responses": [{"labelAnnotations": labels, "safeSearchAnnotation": {"adult": 5, "racy": "POSSIBLE"}}]}
    annotation = parse_response(body, BOTH, latency_ms=12.0)
    assert annotation.labels == (Label("L1", 0.9, "/m/1"), Label("L3", 0.7, "/m/3"), Label("L2", 0.6, "/m/2"))
    assert annotation.safe_search == {
        "adult": "VERY_LIKELY",
        "spoof": "UNKNOWN",
        "medical": "UNKNOWN",
        "violence": "UNKNOWN",
        "racy": "POSSIBLE",
    }
    assert annotation.flagged(Likelihood.LIKELY) is True
    assert Annotation.from_record(json.loads(json.dumps(annotation.as_record()))) == annotation


@pytest.mark.parametrize(
    ("code", "transient"),
    [(3, False), (4, True), (8, True), (13, True), (14, True), (7, False)],
)
def test_an_image_error_is_retried_only_when_google_says_it_may_pass(code: int, transient: bool) -> None:
    body = {"responses": [{"error": {"code": code, "message": "said"}}]}
    if transient:
        with pytest.raises(errors.VisionUnavailable):
            parse_response(body, BOTH, 1.0)
    else:
        annotation = parse_response(body, BOTH, 1.0)
        assert annotation.error == f"Vision refused the image: said (code {code})"
        assert annotation.flagged(Likelihood.LIKELY) is None


def test_an_answer_without_the_image_is_transient() -> None:
    with pytest.raises(errors.VisionUnavailable):
        parse_response({"responses": []}, BOTH, 1.0)


class CountingAnnotator:
    def __init__(self, answer: Annotation | Exception) -> None:
        self.answer = answer
        self.images: list[bytes] = []

    def annotate(self, image: bytes, request: VisionRequest) -> Annotation:
        self.images.append(image)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


FINE = Annotation(
    labels=(Label("Sky", 0.9, "/m/sky"),),
    safe_search={
        "adult": "VERY_UNLIKELY",
        "spoof": "UNLIKELY",
        "medical": "UNLIKELY",
        "violence": "UNLIKELY",
        "racy": "UNLIKELY",
    },
    annotated_at="2026-12-01T00:00:00+00:00",
)
FLAGGED = FINE._replace(safe_search={**(FINE.safe_search or {}), "racy": "LIKELY"})


def settings(**changes: Any) -> Settings:
    return Settings(output_bucket=OUTPUT, vision_features=(VisionFeature.LABELS, VisionFeature.SAFE_SEARCH))._replace(
        **changes
    )


def uploaded(store: MemoryStore) -> StorageObjectEvent:
    generation = store.put(INPUT, "cat.jpg", JPEG)
    return StorageObjectEvent("event-1", INPUT, "cat.jpg", generation, size=len(JPEG))


def test_the_analysis_copy_is_640_pixels_from_the_same_decode() -> None:
    import io

    from PIL import Image

    store, annotator = MemoryStore(), CountingAnnotator(FINE)
    process_upload(uploaded(store), settings(), store, annotator=annotator)
    [sent] = annotator.images
    assert Image.open(io.BytesIO(sent)).size == (640, 480)


def test_a_newer_generations_record_means_a_stale_event_asks_nothing() -> None:
    store, annotator = MemoryStore(), CountingAnnotator(FINE)
    event = uploaded(store)
    newer = {SOURCE_BUCKET_KEY: INPUT, SOURCE_OBJECT_KEY: "cat.jpg", SOURCE_GENERATION_KEY: str(event.generation + 1)}
    store.put(OUTPUT, "labels/cat.jpg.json", b"{}", newer)
    report = process_upload(event, settings(), store, annotator=annotator)
    assert report.vision is VisionCall.SUPERSEDED
    assert annotator.images == []
    record = store.stat(OUTPUT, "labels/cat.jpg.json")
    assert record is not None
    assert store.read(OUTPUT, "labels/cat.jpg.json", record.generation) == b"{}"  # untouched


def test_under_withhold_a_stale_event_writes_nothing_past_a_newer_verdict() -> None:
    store, annotator = MemoryStore(), CountingAnnotator(FINE)
    event = uploaded(store)
    newer = {SOURCE_BUCKET_KEY: INPUT, SOURCE_OBJECT_KEY: "cat.jpg", SOURCE_GENERATION_KEY: str(event.generation + 1)}
    store.put(OUTPUT, "labels/cat.jpg.json", b"{}", newer)
    with pytest.raises(errors.ObjectReplaced):
        process_upload(event, settings(moderation=Moderation.WITHHOLD), store, annotator=annotator)
    assert store.names(OUTPUT) == ["labels/cat.jpg.json"]


def test_a_refused_image_counts_as_flagged_under_blur() -> None:
    store = MemoryStore()
    refused = Annotation(error="Vision refused the image", annotated_at="2026-12-01T00:00:00+00:00")
    report = process_upload(
        uploaded(store), settings(moderation=Moderation.BLUR), store, annotator=CountingAnnotator(refused)
    )
    assert report.flagged is True
    assert all(t.blurred for t in report.thumbnails)


def test_withhold_records_the_reason_and_writes_no_thumbnail() -> None:
    store = MemoryStore()
    with pytest.raises(errors.Moderated):
        process_upload(
            uploaded(store), settings(moderation=Moderation.WITHHOLD), store, annotator=CountingAnnotator(FLAGGED)
        )
    assert store.names(OUTPUT) == ["failed/cat.jpg.json", "labels/cat.jpg.json"]
    assert errors.Moderated.outcome is Outcome.FAILED


def test_moderation_needs_safe_search() -> None:
    from thumbnailer.declaring import ConfigError

    with pytest.raises(ConfigError, match="MODERATION"):
        Settings.from_environ({"OUTPUT_BUCKET": OUTPUT, "VISION_FEATURES": "labels", "MODERATION": "withhold"})


def test_safe_search_asked_and_not_answered_is_no_clean_verdict() -> None:
    body: dict[str, Any] = {"responses": [{"labelAnnotations": []}]}
    with pytest.raises(errors.VisionUnavailable):
        parse_response(body, BOTH, 1.0)


def test_a_record_made_without_safe_search_is_not_reused_once_it_is_asked_for() -> None:
    store, annotator = MemoryStore(), CountingAnnotator(FLAGGED)
    event = uploaded(store)
    labels_only = Annotation(labels=FINE.labels, annotated_at=FINE.annotated_at)
    record = {"bucket": INPUT, "name": "cat.jpg", "generation": str(event.generation), **labels_only.as_record()}
    ours = {SOURCE_BUCKET_KEY: INPUT, SOURCE_OBJECT_KEY: "cat.jpg", SOURCE_GENERATION_KEY: str(event.generation)}
    store.put(OUTPUT, "labels/cat.jpg.json", json.dumps(record).encode(), ours)
    report = process_upload(event, settings(moderation=Moderation.BLUR), store, annotator=annotator)
    assert len(annotator.images) == 1  # asked again: the record had no verdict to moderate by
    assert report.flagged is True
    assert all(t.blurred for t in report.thumbnails)


def test_backfill_asks_vision_only_where_thumbnails_wait_for_it() -> None:
    from thumbnailer.backfill import moderating_annotator

    assert moderating_annotator(settings()) is None  # labels alone: not on a bulk job's bill
    assert moderating_annotator(settings(moderation=Moderation.RECORD)) is None
    assert moderating_annotator(settings(moderation=Moderation.WITHHOLD)) is not None
    assert moderating_annotator(settings(moderation=Moderation.BLUR)) is not None

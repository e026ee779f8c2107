"""Backfill's decisions on the in-memory store: the side-by-side walk, task shares,
regeneration, pruning and caps. tests/integration runs the command against the
emulator (through a proxy that pages and checks preconditions as Cloud Storage does).
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from tests.images import encode, photo_like
from tests.memory_store import MemoryStore
from thumbnailer import backfill
from thumbnailer.backfill import BackfillOptions, BackfillPlan, Share, _Pace, _SideBySide, run_backfill, share_of
from thumbnailer.config import Settings
from thumbnailer.declaring import ConfigError
from thumbnailer.domain import Size
from thumbnailer.events import StorageObjectEvent
from thumbnailer.naming import name_horizon, thumbnail_name
from thumbnailer.outcomes import Outcome
from thumbnailer.pipeline import (
    SETTINGS_KEY,
    SOURCE_BUCKET_KEY,
    SOURCE_GENERATION_KEY,
    SOURCE_OBJECT_KEY,
    process_upload,
)
from thumbnailer.storage import ListedObject

INPUT, OUTPUT = "in-bucket", "out-bucket"
SETTINGS = Settings(output_bucket=OUTPUT)
JPEG = encode(photo_like(64, 48), "JPEG")
TEMPLATES = [
    "{dir}{name}_{width}x{height}.{format}",
    "{dir}{stem}_{width}x{height}.{format}",
    "{dir}thumbs/{stem}-{width}.{ext}.{format}",
    "{width}x{height}/{dir}{name}.{format}",  # sizes first: nothing source-specific in common
]
# Names whose thumbnails sort in another order than they do: a name that is the start of
# another ("a.jpg", "a.jpg_1.jpg"), stems against names ("a.jpg" < "a0.jpg", "a_200" > "a0_200").
TRICKY = ["a.jpg", "a.jpg_1.jpg", "a.jpg_200x200.jpg.png", "a0.jpg", "a-b.jpg", "a", "a/b.jpg", "a/b/c.png",
          "b.jpg", "é.jpg", "日本.png", "z/../y.jpg", "~.gif"]  # fmt: skip


def random_names(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "ab.-_/0é"
    names = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) + rng.choice([".jpg", ".png", ""])
             for _ in range(count)}  # fmt: skip
    return sorted(name for name in names if not name.endswith("/") and "//" not in name)


def made(source: str, generation: int = 1, bucket: str = INPUT) -> dict[str, str]:
    return {SOURCE_BUCKET_KEY: bucket, SOURCE_OBJECT_KEY: source, SOURCE_GENERATION_KEY: str(generation)}


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_side_by_side_walk_finds_exactly_each_sources_outputs(template: str, seed: int) -> None:
    sources = sorted(set(TRICKY + random_names(seed, 300)))
    rng = random.Random(seed)
    sizes = [Size(200, 200), Size(64, 64)]
    outputs: list[ListedObject] = []
    expected: dict[str, set[str]] = defaultdict(set)
    for source in sources:
        for size in sizes:
            for extension in rng.sample(["jpg", "webp", "png"], rng.randint(0, 2)):
                name = thumbnail_name(source, size, extension, "t/", template)
                outputs.append(ListedObject(name, 1, 1, metadata=made(source)))
                expected[source].add(name)
    # Orphans (their sources are not listed) and strangers (no source metadata) in between.
    outputs += [ListedObject(thumbnail_name(f"gone{i}.jpg", sizes[0], "jpg", "t/", template), 1, 1,
                             metadata=made(f"gone{i}.jpg")) for i in range(20)]  # fmt: skip
    outputs += [ListedObject(f"t/stranger{i}", 1, 1) for i in range(20)]
    outputs.sort(key=lambda listed: listed.name)
    walk = _SideBySide(iter(outputs), lambda source: name_horizon(source, "t/", template), INPUT)
    found = {source: {listed.name for listed in walk.made_from(source)} for source in sources}
    assert found == {source: expected.get(source, set()) for source in sources}


def test_the_walk_holds_only_what_lies_between_neighbouring_uploads() -> None:
    """Flat memory, counted in objects: what waits is bounded by the names between two
    neighbouring uploads, not by the listing (peak RSS is measured in make bench)."""
    sources = [f"photos/{index:06d}.jpg" for index in range(20_000)]

    def listing() -> list[ListedObject]:
        return [ListedObject(f"{source}_200x200.jpg", 1, 1, metadata=made(source)) for source in sources]

    walk = _SideBySide(iter(listing()), lambda source: name_horizon(source), INPUT)
    most = 0
    for source in sources:
        assert len(walk.made_from(source)) == 1
        most = max(most, sum(len(waiting) for waiting in walk._waiting.values()))
    assert most <= 1


def test_another_buckets_thumbnails_are_not_this_ones() -> None:
    outputs = [ListedObject("a.jpg_200x200.jpg", 1, 1, metadata=made("a.jpg", bucket="other-input"))]
    walk = _SideBySide(iter(outputs), lambda source: name_horizon(source), INPUT)
    assert walk.made_from("a.jpg") == []


def upload_all(store: MemoryStore, names: list[str]) -> dict[str, int]:
    return {name: store.put(INPUT, name, JPEG) for name in names}


def plan(store: MemoryStore, settings: Settings = SETTINGS, **options: object) -> BackfillPlan:
    return BackfillPlan(store, settings, INPUT, BackfillOptions(**options))  # type: ignore[arg-type]


def writes(store: MemoryStore) -> list[str]:
    """Write requests to the output bucket (create-only attempts included)."""
    return [name for operation, bucket, name in store.calls if operation == "write" and bucket == OUTPUT]


def test_every_upload_falls_to_exactly_one_task_whatever_the_order() -> None:
    names = [f"p/{index}.jpg" for index in range(2_000)]
    shares = [Share(index, 4) for index in range(4)]
    taken = [{name for name in names if share.takes(name)} for share in shares]
    assert sum(len(part) for part in taken) == len(names)
    assert set().union(*taken) == set(names)
    assert all(350 < len(part) < 650 for part in taken)  # a hash spreads them
    shuffled = random.Random(3).sample(names, len(names))
    assert [{name for name in shuffled if share.takes(name)} for share in shares] == taken
    assert share_of("p/1.jpg", 4) == share_of("p/1.jpg", 4)  # not salted per process


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CLOUD_RUN_TASK_INDEX": "0"}, "CLOUD_RUN_TASK_COUNT"),
        ({"CLOUD_RUN_TASK_INDEX": "4", "CLOUD_RUN_TASK_COUNT": "4"}, "CLOUD_RUN_TASK_INDEX"),
        ({"CLOUD_RUN_TASK_INDEX": "-1", "CLOUD_RUN_TASK_COUNT": "4"}, "CLOUD_RUN_TASK_INDEX"),
        ({"CLOUD_RUN_TASK_INDEX": "0", "CLOUD_RUN_TASK_COUNT": "0"}, "CLOUD_RUN_TASK_INDEX"),
    ],
)
def test_a_bad_task_environment_fails_naming_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Share.from_environ(environ)
    assert Share.from_environ({}) == Share(0, 1)
    assert Share.from_environ({"CLOUD_RUN_TASK_INDEX": "2", "CLOUD_RUN_TASK_COUNT": "3"}) == Share(2, 3)


def test_tasks_together_do_every_upload_once_and_a_rerun_writes_nothing() -> None:
    store = MemoryStore()
    upload_all(store, [f"p/{index}.jpg" for index in range(40)])
    for index in range(4):
        summary = run_backfill(plan(store, share=Share(index, 4)), workers=2)
        assert summary.plan.counts.other_tasks + summary.plan.counts.to_do == 40
    assert sorted(writes(store)) == sorted(f"p/{index}.jpg_200x200.jpg" for index in range(40))
    store.calls.clear()
    summary = run_backfill(plan(store), workers=2)
    assert (summary.plan.counts.already_done, writes(store)) == (40, [])


def test_max_uploads_stops_the_walk_and_the_next_run_goes_on() -> None:
    store = MemoryStore()
    upload_all(store, [f"p/{index:02d}.jpg" for index in range(25)])
    first = run_backfill(plan(store, max_uploads=10), workers=2)
    assert (first.thumbnailed, first.plan.counts.capped) == (10, True)
    assert "stopped at --max-uploads 10" in first.lines()[0]
    second = run_backfill(plan(store, max_uploads=10), workers=2)
    assert (second.plan.counts.already_done, second.thumbnailed) == (10, 10)
    third = run_backfill(plan(store, max_uploads=10), workers=2)
    assert (third.thumbnailed, third.plan.counts.capped) == (5, False)


def test_the_pace_spaces_starts_evenly() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    pace = _Pace(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pace.wait()
    assert slept == [0.25, 0.25, 0.25, 0.25]
    now[0] += 10  # a pause earns no burst afterwards
    pace.wait()
    pace.wait()
    assert slept[-1] == 0.25


def thumbnail_settings(store: MemoryStore, name: str) -> str:
    return store.objects[OUTPUT, name].metadata[SETTINGS_KEY]


def test_regenerate_redoes_only_what_other_settings_made() -> None:
    store = MemoryStore()
    upload_all(store, ["a.jpg", "b.jpg"])
    two_sizes = SETTINGS._replace(imaging=SETTINGS.imaging._replace(sizes=(Size(200, 200), Size(64, 64))))
    run_backfill(plan(store, two_sizes), workers=1)
    before = {name: store.objects[OUTPUT, name].generation for name in store.names(OUTPUT)}
    # The 64x64 box's quality changes; the 200x200's thumbnails stay as they are.
    changed = two_sizes._replace(imaging=two_sizes.imaging._replace(sizes=(Size(200, 200), Size(64, 64, quality=50))))
    assert run_backfill(plan(store, changed), workers=1).plan.counts.to_do == 0  # without --regenerate: done
    store.calls.clear()
    summary = run_backfill(plan(store, changed, regenerate=True), workers=1)
    assert (summary.plan.counts.to_do, summary.plan.counts.stale) == (2, 2)
    after = {name: store.objects[OUTPUT, name].generation for name in store.names(OUTPUT)}
    assert sorted(name for name in after if after[name] != before[name]) == ["a.jpg_64x64.jpg", "b.jpg_64x64.jpg"]
    assert thumbnail_settings(store, "a.jpg_64x64.jpg") != thumbnail_settings(store, "a.jpg_200x200.jpg")
    assert run_backfill(plan(store, changed, regenerate=True), workers=1).plan.counts.to_do == 0


def test_a_concurrent_upload_wins_over_a_regeneration() -> None:
    store = MemoryStore()
    generations = upload_all(store, ["a.jpg"])
    run_backfill(plan(store), workers=1)
    other = SETTINGS._replace(imaging=SETTINGS.imaging._replace(quality=40))
    walk = plan(store, other, regenerate=True)

    def overwritten_and_processed() -> None:
        newer = store.put(INPUT, "a.jpg", JPEG)
        process_upload(StorageObjectEvent("e", INPUT, "a.jpg", newer), SETTINGS, store)

    store.before("read", overwritten_and_processed)  # between the listing and the regeneration's read
    summary = run_backfill(walk, workers=1)
    assert summary.outcomes[Outcome.SKIPPED] == 1  # the listed generation is gone: nothing written from it
    newer = store.objects[OUTPUT, "a.jpg_200x200.jpg"].metadata[SOURCE_GENERATION_KEY]
    assert newer != str(generations["a.jpg"])


def test_prune_removes_sizes_and_formats_no_longer_configured_after_their_replacements() -> None:
    store = MemoryStore()
    upload_all(store, ["a.jpg", "b.jpg"])
    two_sizes = SETTINGS._replace(imaging=SETTINGS.imaging._replace(sizes=(Size(200, 200), Size(64, 64))))
    run_backfill(plan(store, two_sizes), workers=1)
    # A PNG of a.jpg from an earlier THUMBNAIL_FORMAT=png, and someone's own file, also there.
    store.put(OUTPUT, "a.jpg_200x200.png", b"png", {**made("a.jpg", store.objects[INPUT, "a.jpg"].generation),
                                                    "thumbnail-width": "200"})  # fmt: skip
    store.put(OUTPUT, "a.jpg_notes.txt", b"mine")
    one_size = SETTINGS
    assert run_backfill(plan(store, one_size), workers=1).pruned == 0  # without --prune nothing goes
    summary = run_backfill(plan(store, one_size, prune=True), workers=1)
    assert (summary.plan.counts.to_prune, summary.pruned) == (3, 3)
    assert store.names(OUTPUT) == ["a.jpg_200x200.jpg", "a.jpg_notes.txt", "b.jpg_200x200.jpg"]


def test_prune_waits_for_the_replacement() -> None:
    """Only a PNG under THUMBNAIL_FORMAT=jpeg: the JPEG is made first, then the PNG goes."""
    store = MemoryStore()
    generation = store.put(INPUT, "a.jpg", JPEG)
    store.put(OUTPUT, "a.jpg_200x200.png", b"png", {**made("a.jpg", generation), "thumbnail-width": "200"})
    jpeg = SETTINGS._replace(imaging=SETTINGS.imaging._replace(format=SETTINGS.imaging.format.JPEG))
    summary = run_backfill(plan(store, jpeg, prune=True), workers=1)
    assert (summary.thumbnailed, summary.pruned) == (1, 1)
    assert store.names(OUTPUT) == ["a.jpg_200x200.jpg"]
    operations = [(operation, name) for operation, bucket, name in store.calls if bucket == OUTPUT]
    assert operations.index(("write", "a.jpg_200x200.jpg")) < operations.index(("delete", "a.jpg_200x200.png"))


def test_a_failed_upload_is_not_retried_and_its_record_found_beside_the_thumbnails() -> None:
    store = MemoryStore()
    store.put(INPUT, "bad.jpg", b"not an image")
    upload_all(store, ["good.jpg"])
    first = run_backfill(plan(store), workers=1)
    assert (first.thumbnailed, first.outcomes[Outcome.FAILED]) == (1, 1)
    second = plan(store)
    assert list(second) == []
    assert (second.counts.already_done, second.counts.failed_before) == (1, 1)
    assert [work.upload.name for work in plan(store, retry_failed=True)] == ["bad.jpg"]


def test_the_plan_line_names_the_share() -> None:
    store = MemoryStore()
    upload_all(store, [f"{index}.jpg" for index in range(8)])
    walk = plan(store, share=Share(1, 2))
    list(walk)
    line = backfill.BackfillSummary(walk).plan_line()
    assert f"{walk.counts.other_tasks} are other tasks' (task 1 of 2)" in line


def test_a_size_added_is_made_by_a_plain_backfill_and_the_others_left_alone() -> None:
    store = MemoryStore()
    upload_all(store, ["a.jpg", "b.jpg"])
    run_backfill(plan(store), workers=1)
    before = {name: store.objects[OUTPUT, name].generation for name in store.names(OUTPUT)}
    two_sizes = SETTINGS._replace(imaging=SETTINGS.imaging._replace(sizes=(Size(200, 200), Size(64, 64))))
    summary = run_backfill(plan(store, two_sizes), workers=1)
    assert summary.plan.counts.to_do == 2
    after = {name: store.objects[OUTPUT, name].generation for name in store.names(OUTPUT)}
    assert sorted(set(after) - set(before)) == ["a.jpg_64x64.jpg", "b.jpg_64x64.jpg"]
    assert all(after[name] == generation for name, generation in before.items())


def test_an_upload_with_a_name_at_the_limit_is_done_once() -> None:
    store = MemoryStore()
    upload_all(store, ["é" * 504 + ".jpg"])  # its .jpg thumbnail name is 1,024 bytes, a .webp one would not fit
    assert run_backfill(plan(store), workers=1).thumbnailed == 1
    again = plan(store)
    assert list(again) == []
    assert again.counts.already_done == 1

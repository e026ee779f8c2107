"""The emulator's gaps, measured, and the proxy that keeps Cloud Storage's rules there.

fake-gcs-server ignores ``ifGenerationMatch`` on DELETE and, unless asked for a page
size, returns a whole listing as one page; tests of conditional deletes and paging go through ``CloudStorageRules``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from localdev.gcs import FakeGcsServer
from localdev.gcs_rules import CloudStorageRules
from tests.integration.conftest import Buckets
from thumbnailer.storage import CloudStorage, NewObject


@pytest.fixture
def rules(gcs: FakeGcsServer) -> Iterator[CloudStorageRules]:
    with CloudStorageRules(gcs.url, page_size=7) as started:
        yield started


def store_at(url: str) -> CloudStorage:
    def client() -> storage.Client:
        return storage.Client(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": url})

    return CloudStorage(retry_seconds=2, timeout_seconds=5, client_factory=client)


def overwritten(store: CloudStorage, bucket: str) -> tuple[int, int]:
    """An object written twice: the old generation and the live one."""
    store.write(bucket, "x", NewObject(b"old", "text/plain"), if_generation_match=0)
    old = store.stat(bucket, "x")
    assert old is not None
    store.write(bucket, "x", NewObject(b"new", "text/plain"), if_generation_match=old.generation)
    new = store.stat(bucket, "x")
    assert new is not None
    return old.generation, new.generation


def test_the_emulator_deletes_whatever_the_precondition_says(gcs: FakeGcsServer, buckets: Buckets) -> None:
    """The gap: a conditional delete of an old generation removes the newer object."""
    store = store_at(gcs.url)
    old, _ = overwritten(store, buckets.output)
    assert store.delete(buckets.output, "x", if_generation_match=old) is True  # Cloud Storage: 412
    assert store.stat(buckets.output, "x") is None


def test_through_the_rules_a_stale_delete_is_refused(rules: CloudStorageRules, buckets: Buckets) -> None:
    store = store_at(rules.url)
    old, new = overwritten(store, buckets.output)
    assert store.delete(buckets.output, "x", if_generation_match=old) is False
    assert rules.deletes_refused == 1
    assert store.delete(buckets.output, "x", if_generation_match=new) is True
    assert store.delete(buckets.output, "x", if_generation_match=new) is False  # gone: 404


def test_the_emulator_lists_in_one_page_and_the_rules_page_it(
    gcs: FakeGcsServer, rules: CloudStorageRules, buckets: Buckets
) -> None:
    store = store_at(gcs.url)
    names = [f"p/{index:02d}" for index in range(20)]
    for name in reversed(names):
        store.write(buckets.input, name, NewObject(b"x", "text/plain"), if_generation_match=0)
    # The gap: asked for no page size (as the client asks), the emulator answers with the
    # whole listing, where Cloud Storage stops at 1,000 (7 here) and gives a page token.
    direct = requests.get(f"{gcs.url}/storage/v1/b/{buckets.input}/o", timeout=10).json()
    assert len(direct["items"]) == 20
    assert "nextPageToken" not in direct
    listed = [listed.name for listed in store_at(rules.url).list(buckets.input, "p/")]
    assert listed == names
    assert rules.pages_served == 3  # 7 + 7 + 6


def test_the_rules_count_what_was_written(rules: CloudStorageRules, buckets: Buckets) -> None:
    store = store_at(rules.url)
    store.write(buckets.output, "a/b é.jpg", NewObject(b"x", "image/jpeg", {"k": "v"}), if_generation_match=0)
    with pytest.raises(Exception, match="a/b"):
        store.write(buckets.output, "a/b é.jpg", NewObject(b"y", "image/jpeg"), if_generation_match=0)
    assert rules.written == {"a/b é.jpg": 1}  # the refused write is not counted

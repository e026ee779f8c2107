"""CloudStorage, the ObjectStore on google-cloud-storage, against fake-gcs-server."""

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from localdev.gcs import FakeGcsServer
from localdev.processes import free_port
from tests.integration.conftest import Buckets
from tests.integration.faults import FailingEndpoint
from thumbnailer import errors
from thumbnailer.storage import CloudStorage, NewObject, WriteConflict


def store_for(url: str, retry_seconds: float = 2) -> CloudStorage:
    return CloudStorage(
        retry_seconds=retry_seconds,
        timeout_seconds=5,
        client_factory=lambda: storage.Client(
            project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
        ),
    )


@pytest.fixture
def store(gcs: FakeGcsServer) -> CloudStorage:
    return store_for(gcs.url)


def test_reads_exactly_the_generation(store: CloudStorage, storage_client: storage.Client, buckets: Buckets) -> None:
    blob = storage_client.bucket(buckets.input).blob("a.bin")
    blob.upload_from_string(b"first")
    first = blob.generation
    assert first is not None
    assert store.read(buckets.input, "a.bin", first) == b"first"
    blob.upload_from_string(b"second")
    with pytest.raises(errors.ObjectReplaced):
        store.read(buckets.input, "a.bin", first)
    blob.delete()
    with pytest.raises(errors.ObjectGone):
        store.read(buckets.input, "a.bin", first)


def test_writes_are_create_only_unless_a_generation_is_named(store: CloudStorage, buckets: Buckets) -> None:
    new = NewObject(b"x", "text/plain", {"k": "v"}, "no-cache")
    store.write(buckets.output, "t.txt", new, if_generation_match=0)
    with pytest.raises(WriteConflict):
        store.write(buckets.output, "t.txt", new, if_generation_match=0)
    existing = store.stat(buckets.output, "t.txt")
    assert existing is not None
    assert existing.metadata == {"k": "v"}
    store.write(buckets.output, "t.txt", NewObject(b"y", "text/plain"), if_generation_match=existing.generation)
    with pytest.raises(WriteConflict):
        store.write(buckets.output, "t.txt", new, if_generation_match=existing.generation)
    assert store.stat(buckets.output, "missing.txt") is None


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, errors.StorageUnavailable),
        (429, errors.StorageUnavailable),
        (500, errors.StorageUnavailable),
        (403, errors.StorageMisconfigured),
        (401, errors.StorageMisconfigured),
        (400, errors.StorageRejected),
    ],
)
def test_http_errors_are_classified(status: int, error: type[errors.ThumbnailerError]) -> None:
    with FailingEndpoint(status) as endpoint:
        store = store_for(endpoint.url, retry_seconds=1)
        with pytest.raises(error):
            store.read("bucket", "name", 1)
        with pytest.raises(error):
            store.write("bucket", "name", NewObject(b"x", "text/plain"), if_generation_match=0)
    if status in (503, 429, 500):
        assert endpoint.requests > 2, "the client's own retries ran before giving up"


def test_unreachable_storage_is_transient() -> None:
    store = store_for(f"http://127.0.0.1:{free_port()}", retry_seconds=1)
    with pytest.raises(errors.StorageUnavailable):
        store.read("bucket", "name", 1)


def test_missing_output_bucket_is_a_deployment_mistake(store: CloudStorage) -> None:
    with pytest.raises(errors.StorageMisconfigured):
        store.write("no-such-bucket-here", "t.txt", NewObject(b"x", "text/plain"), if_generation_match=0)

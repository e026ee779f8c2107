"""The soak's fault-injecting proxy in front of fake-gcs-server, and what the storage layer makes of each fault."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import requests
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from localdev.faults import Fault, FaultProxy, RequestKind, choose_fault, request_kind
from localdev.gcs import FakeGcsServer
from tests.integration.conftest import Buckets
from thumbnailer import errors
from thumbnailer.storage import CloudStorage, NewObject, WriteConflict

DATA = bytes(range(256)) * 400  # 100 KiB: long enough to be cut in half


@pytest.fixture
def proxy(gcs: FakeGcsServer) -> Iterator[FaultProxy]:
    with FaultProxy(gcs.url, seed=1) as started:
        yield started


def client_through(proxy: FaultProxy) -> storage.Client:
    return storage.Client(
        project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": proxy.url}
    )


def store_through(proxy: FaultProxy, retry_seconds: float) -> CloudStorage:
    return CloudStorage(retry_seconds=retry_seconds, timeout_seconds=5, client_factory=lambda: client_through(proxy))


def test_without_faults_requests_pass_through_unchanged(
    proxy: FaultProxy, storage_client: storage.Client, buckets: Buckets
) -> None:
    blob = client_through(proxy).bucket(buckets.input).blob("passed.bin")
    blob.upload_from_string(DATA, content_type="application/octet-stream", if_generation_match=0)
    assert storage_client.bucket(buckets.input).blob("passed.bin").download_as_bytes() == DATA
    assert client_through(proxy).bucket(buckets.input).blob("passed.bin").download_as_bytes() == DATA
    assert proxy.counts[RequestKind.UPLOAD, None] == 1
    assert proxy.counts[RequestKind.DOWNLOAD, None] == 1
    assert not proxy.faults()


@pytest.mark.parametrize(("fault", "error"), [(Fault.UNAVAILABLE, 503), (Fault.RATE_LIMITED, 429)])
def test_error_answers_reach_nothing_behind_the_proxy(
    proxy: FaultProxy, storage_client: storage.Client, buckets: Buckets, fault: Fault, error: int
) -> None:
    proxy.set_rates({fault: 1.0})
    blob = client_through(proxy).bucket(buckets.input).blob("refused.bin")
    with pytest.raises(exceptions.GoogleAPICallError) as raised:
        blob.upload_from_string(DATA, if_generation_match=0, retry=None)
    assert raised.value.code == error
    assert storage_client.bucket(buckets.input).get_blob("refused.bin") is None
    assert set(proxy.faults()) == {fault}


def test_a_reset_connection_reaches_nothing(
    proxy: FaultProxy, storage_client: storage.Client, buckets: Buckets
) -> None:
    proxy.set_rates({Fault.RESET: 1.0})
    with pytest.raises(requests.ConnectionError):
        client_through(proxy).bucket(buckets.input).blob("reset.bin").upload_from_string(DATA, retry=None)
    assert storage_client.bucket(buckets.input).get_blob("reset.bin") is None


def test_a_lost_answer_means_the_write_happened_unseen(
    proxy: FaultProxy, storage_client: storage.Client, buckets: Buckets
) -> None:
    proxy.set_rates({Fault.LOST_ANSWER: 1.0})
    with pytest.raises(requests.ConnectionError):
        client_through(proxy).bucket(buckets.input).blob("unseen.bin").upload_from_string(DATA, retry=None)
    assert storage_client.bucket(buckets.input).blob("unseen.bin").download_as_bytes() == DATA


def test_a_truncated_download_is_transient_never_short_data(
    proxy: FaultProxy, storage_client: storage.Client, buckets: Buckets
) -> None:
    blob = storage_client.bucket(buckets.input).blob("cut.bin")
    blob.upload_from_string(DATA)
    proxy.set_rates({Fault.TRUNCATED: 1.0})
    with pytest.raises(errors.StorageUnavailable):
        store_through(proxy, retry_seconds=1).read(buckets.input, "cut.bin", int(blob.generation or 0))
    assert proxy.counts[RequestKind.DOWNLOAD, Fault.TRUNCATED] >= 1


def test_the_store_rides_out_a_storm_of_every_fault(
    proxy: FaultProxy, storage_client: storage.Client, buckets: Buckets
) -> None:
    """A quarter of all requests fail; writes and generation-pinned reads still come out exact."""
    proxy.set_rates(dict.fromkeys(Fault, 0.05))
    store = store_through(proxy, retry_seconds=60)
    for number in range(16):
        name = f"storm/{number}.bin"
        payload = DATA[number:] + bytes([number])
        # A lost answer: the write took effect, and the client's retry met it (412).
        with contextlib.suppress(WriteConflict):
            store.write(buckets.output, name, NewObject(payload, "application/octet-stream"), if_generation_match=0)
        live = storage_client.bucket(buckets.output).get_blob(name)
        assert live is not None
        assert store.read(buckets.output, name, int(live.generation or 0)) == payload
    assert set(proxy.faults()) == set(Fault), proxy.counts


def test_choose_fault_splits_the_unit_interval_in_order() -> None:
    rates = {Fault.UNAVAILABLE: 0.1, Fault.RESET: 0.2}
    assert choose_fault(rates, 0.05) is Fault.UNAVAILABLE
    assert choose_fault(rates, 0.25) is Fault.RESET
    assert choose_fault(rates, 0.31) is None
    assert choose_fault({}, 0.0) is None


def test_request_kinds() -> None:
    assert request_kind("POST", "/upload/storage/v1/b/b/o?uploadType=multipart") is RequestKind.UPLOAD
    assert request_kind("GET", "/download/storage/v1/b/b/o/x?alt=media") is RequestKind.DOWNLOAD
    assert request_kind("GET", "/storage/v1/b/b/o/x?alt=media&generation=1") is RequestKind.DOWNLOAD
    assert request_kind("GET", "/storage/v1/b/b/o/x") is RequestKind.OTHER


def test_rates_over_one_are_refused(gcs: FakeGcsServer) -> None:
    with pytest.raises(ValueError, match="more than 1"):
        FaultProxy(gcs.url, {Fault.RESET: 0.6, Fault.TRUNCATED: 0.5})

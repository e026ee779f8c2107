"""Cloud Storage behind one small interface, ``ObjectStore``.

``CloudStorage`` is the only module that imports google-cloud-storage. It creates its
client lazily, once per instance, and translates the client's exceptions into the
project's error hierarchy so the rest of the code reasons only about permanent vs
transient failures. Retry rules are data: the client's ``DEFAULT_RETRY`` predicate
(408, 429, 5xx, connection errors) bounded by ``STORAGE_RETRY_SECONDS``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from thumbnailer import errors

if TYPE_CHECKING:
    from google.cloud import storage


@dataclass(frozen=True)
class StoredObject:
    generation: int
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ListedObject:
    name: str
    generation: int
    size: int
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NewObject:
    data: bytes
    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    cache_control: str | None = None
    content_disposition: str | None = None


class WriteConflict(Exception):
    """The write's generation precondition failed: the object exists (or changed)."""


class ObjectStore(Protocol):
    def read(self, bucket: str, name: str, generation: int) -> bytes:
        """Exactly ``generation``; ``ObjectGone`` if deleted, ``ObjectReplaced`` if overwritten."""
        ...

    def stat(self, bucket: str, name: str) -> StoredObject | None:
        """The live generation's metadata, or None if there is no such object."""
        ...

    def list(self, bucket: str, prefix: str = "") -> Iterator[ListedObject]:
        """The live objects whose names start with ``prefix``, page by page."""
        ...

    def delete(self, bucket: str, name: str, *, if_generation_match: int) -> bool:
        """Delete exactly that generation; False if it is already gone or was overwritten."""
        ...

    def write(self, bucket: str, name: str, new: NewObject, *, if_generation_match: int) -> None:
        """Write in one request, always conditional: 0 creates only, G replaces exactly
        generation G. ``WriteConflict`` if the precondition fails."""
        ...


# Retry rules as data. HTTP answers worth an Eventarc redelivery once the client's
# own retries are spent (the same codes the client retries), and those that mean a
# deployment mistake (fixable, so also redelivered). Any other 4xx is permanent.
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_MISCONFIGURED_STATUS = frozenset({401, 403})
_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    api_exceptions.RetryError,
    requests.ConnectionError,
    requests.Timeout,
    auth_exceptions.TransportError,
    ConnectionError,
    TimeoutError,
)


class _Absent(Exception):
    """delete(): nothing to delete (gone, or another generation): answered with False."""


# What a 4xx means, operation by operation; anything else is classified by status.
# Each entry makes the error to raise from the operation's own words.
Answers = Mapping[type[api_exceptions.GoogleAPICallError], Callable[[str, str], Exception]]
_READ_ANSWERS: Answers = {
    api_exceptions.NotFound: lambda bucket, name: errors.ObjectGone(f"gs://{bucket}/{name} no longer exists"),
    api_exceptions.PreconditionFailed: lambda bucket, name: errors.ObjectReplaced(
        f"gs://{bucket}/{name} is no longer the generation in the event"
    ),
}
_WRITE_ANSWERS: Answers = {
    api_exceptions.PreconditionFailed: lambda bucket, name: WriteConflict(name),
    api_exceptions.NotFound: lambda bucket, name: errors.StorageMisconfigured(f"output bucket {bucket} does not exist"),
}
_DELETE_ANSWERS: Answers = {
    api_exceptions.NotFound: lambda bucket, name: _Absent(),
    api_exceptions.PreconditionFailed: lambda bucket, name: _Absent(),
}


def classify(error: BaseException, action: str) -> errors.ThumbnailerError | None:
    """The project's error for a storage client's exception, by status and type; None for
    one that is not the client's (a bug), which surfaces as it is."""
    from google.cloud.storage.exceptions import DataCorruption

    if isinstance(error, api_exceptions.GoogleAPICallError):
        if error.code in _MISCONFIGURED_STATUS:
            return errors.StorageMisconfigured(f"{action}: {error}")
        if error.code in _RETRYABLE_STATUS or (error.code or 500) >= 500:
            return errors.StorageUnavailable(f"{action}: {error}")
        return errors.StorageRejected(f"{action}: {error}")
    if isinstance(error, (*_TRANSIENT_ERRORS, DataCorruption)):
        return errors.StorageUnavailable(f"{action}: {error}")
    if isinstance(error, auth_exceptions.GoogleAuthError):  # no usable credentials: fix IAM/ADC, then redeliver
        return errors.StorageMisconfigured(f"{action}: {error}")
    return None


@contextlib.contextmanager
def _translated(action: str, bucket: str, name: str, answers: Answers | None = None) -> Iterator[None]:
    """Turn the client's exceptions into the project's: the operation's own ``answers``
    first, then ``classify``."""
    try:
        yield
    except Exception as error:
        answer = next((make for kind, make in (answers or {}).items() if isinstance(error, kind)), None)
        if answer is not None:
            raise answer(bucket, name) from error
        translated = classify(error, action)
        if translated is None:
            raise
        raise translated from error


class CloudStorage:
    """``ObjectStore`` on google-cloud-storage; the client is made on first use."""

    def __init__(
        self,
        *,
        retry_seconds: float,
        timeout_seconds: float,
        client_factory: Callable[[], storage.Client] | None = None,
    ) -> None:
        self._retry_seconds = retry_seconds
        self._timeout = timeout_seconds
        self._client_factory = client_factory
        self._client: storage.Client | None = None
        self._lock = threading.Lock()

    def _bucket(self, name: str) -> storage.Bucket:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client.bucket(name)

    def _make_client(self) -> storage.Client:
        from google.cloud import storage

        return self._client_factory() if self._client_factory else storage.Client()

    def _retry(self) -> object:
        from google.cloud.storage.retry import DEFAULT_RETRY

        return DEFAULT_RETRY.with_timeout(self._retry_seconds)

    def read(self, bucket: str, name: str, generation: int) -> bytes:
        with _translated(f"download gs://{bucket}/{name}#{generation}", bucket, name, _READ_ANSWERS):
            blob = self._bucket(bucket).blob(name)
            data: bytes = blob.download_as_bytes(
                if_generation_match=generation, retry=self._retry(), timeout=self._timeout
            )
        # Belt and braces: the response names the generation it served (x-goog-generation);
        # an emulator that ignores ifGenerationMatch on reads is caught here too.
        if blob.generation is not None and int(blob.generation) != generation:
            raise errors.ObjectReplaced(f"gs://{bucket}/{name} is no longer generation {generation}")
        return data

    def stat(self, bucket: str, name: str) -> StoredObject | None:
        with _translated(f"stat gs://{bucket}/{name}", bucket, name):
            blob = self._bucket(bucket).get_blob(name, retry=self._retry(), timeout=self._timeout)
        if blob is None or blob.generation is None:
            return None
        return StoredObject(generation=int(blob.generation), metadata=dict(blob.metadata or {}))

    def list(self, bucket: str, prefix: str = "") -> Iterator[ListedObject]:
        with _translated(f"list gs://{bucket}/{prefix}", bucket, prefix):
            blobs = self._bucket(bucket).client.list_blobs(
                bucket, prefix=prefix or None, retry=self._retry(), timeout=self._timeout
            )
            for blob in blobs:
                yield ListedObject(
                    name=blob.name,
                    generation=int(blob.generation),
                    size=int(blob.size or 0),
                    content_type=blob.content_type,
                    metadata=dict(blob.metadata or {}),
                )

    def delete(self, bucket: str, name: str, *, if_generation_match: int) -> bool:
        try:
            with _translated(f"delete gs://{bucket}/{name}#{if_generation_match}", bucket, name, _DELETE_ANSWERS):
                self._bucket(bucket).blob(name).delete(
                    if_generation_match=if_generation_match, retry=self._retry(), timeout=self._timeout
                )
        except _Absent:
            return False
        return True

    def write(self, bucket: str, name: str, new: NewObject, *, if_generation_match: int) -> None:
        with _translated(f"upload gs://{bucket}/{name}", bucket, name, _WRITE_ANSWERS):
            blob = self._bucket(bucket).blob(name)
            blob.metadata = dict(new.metadata)
            blob.cache_control = new.cache_control
            blob.content_disposition = new.content_disposition
            # One multipart request: the object appears whole or not at all. Its precondition
            # makes the client's retry of it safe (python-storage's own rule).
            blob.upload_from_string(
                new.data,
                content_type=new.content_type,
                if_generation_match=if_generation_match,
                retry=self._retry(),
                timeout=self._timeout,
            )

"""How the storage client's exceptions become the project's, from hand-built exceptions
(as python-storage's own test_retry.py checks its retry predicates).

tests/integration/test_storage.py and test_fault_proxy.py show the real client raising
them against the emulator; this checks the whole table, each row in microseconds.
"""

import pytest
import requests
from google.api_core import exceptions as api
from google.auth import exceptions as auth
from google.cloud.storage.exceptions import DataCorruption

from thumbnailer import errors
from thumbnailer.storage import (
    _DELETE_ANSWERS,
    _READ_ANSWERS,
    _WRITE_ANSWERS,
    WriteConflict,
    _Absent,
    _translated,
    classify,
)

RESPONSE = requests.Response()


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (api.TooManyRequests("slow down"), errors.StorageUnavailable),
        (api.ServiceUnavailable("down"), errors.StorageUnavailable),
        (api.InternalServerError("oops"), errors.StorageUnavailable),
        (api.BadGateway("gateway"), errors.StorageUnavailable),
        (api.GatewayTimeout("late"), errors.StorageUnavailable),
        (api.from_http_status(408, "request timeout"), errors.StorageUnavailable),
        (api.from_http_status(599, "odd 5xx"), errors.StorageUnavailable),
        (api.RetryError("deadline exceeded", cause=api.ServiceUnavailable("down")), errors.StorageUnavailable),
        (requests.ConnectionError("refused"), errors.StorageUnavailable),
        (requests.Timeout("read timeout"), errors.StorageUnavailable),
        (ConnectionResetError("reset"), errors.StorageUnavailable),
        (TimeoutError("timed out"), errors.StorageUnavailable),
        (auth.TransportError("metadata server unreachable"), errors.StorageUnavailable),
        (DataCorruption(RESPONSE, "checksum mismatch"), errors.StorageUnavailable),
        (api.Forbidden("no permission"), errors.StorageMisconfigured),
        (api.Unauthorized("no credentials"), errors.StorageMisconfigured),
        (auth.DefaultCredentialsError("no ADC"), errors.StorageMisconfigured),
        (api.BadRequest("bad"), errors.StorageRejected),
        (api.from_http_status(413, "too large"), errors.StorageRejected),
        (api.NotFound("no such object"), errors.StorageRejected),  # what a 404 means is the operation's call
        (api.PreconditionFailed("412"), errors.StorageRejected),
    ],
    ids=lambda value: type(value).__name__,
)
def test_classification_by_status_and_type(raised: BaseException, expected: type[errors.ThumbnailerError]) -> None:
    classified = classify(raised, "upload gs://b/o")
    assert isinstance(classified, expected)
    assert str(classified).startswith("upload gs://b/o: ")


def test_an_exception_that_is_not_the_clients_is_a_bug_and_left_alone() -> None:
    assert classify(KeyError("a bug"), "download gs://b/o") is None
    with pytest.raises(KeyError), _translated("download gs://b/o", "b", "o"):
        raise KeyError("a bug")


@pytest.mark.parametrize(
    ("answers", "raised", "expected"),
    [
        (_READ_ANSWERS, api.NotFound("gone"), errors.ObjectGone),
        (_READ_ANSWERS, api.PreconditionFailed("another generation"), errors.ObjectReplaced),
        (_WRITE_ANSWERS, api.PreconditionFailed("exists"), WriteConflict),
        (_WRITE_ANSWERS, api.NotFound("no bucket"), errors.StorageMisconfigured),
        (_DELETE_ANSWERS, api.NotFound("gone"), _Absent),
        (_DELETE_ANSWERS, api.PreconditionFailed("another generation"), _Absent),
        (_READ_ANSWERS, api.ServiceUnavailable("down"), errors.StorageUnavailable),  # not the operation's: by status
        (_WRITE_ANSWERS, api.Forbidden("no permission"), errors.StorageMisconfigured),
    ],
    ids=["read 404", "read 412", "write 412", "write 404", "delete 404", "delete 412", "read 503", "write 403"],
)
def test_each_operation_answers_its_own_4xx(answers: object, raised: BaseException, expected: type[Exception]) -> None:
    with pytest.raises(expected) as caught, _translated("operation", "bucket", "name", answers):  # type: ignore[arg-type]
        raise raised
    assert caught.value.__cause__ is raised
    if isinstance(caught.value, errors.ObjectGone):
        assert "gs://bucket/name" in str(caught.value)

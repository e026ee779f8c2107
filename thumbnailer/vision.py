"""Cloud Vision behind one small interface, ``Annotator``: labels and SafeSearch.

``VisionApi`` sends one ``images:annotate`` request per upload, over REST, with every
asked feature named (a request without features is billed for all of them) and the
image as ``content``: the small copy imaging made from the thumbnail's own decode.

Plain REST through google-auth rather than google-cloud-vision: it is one POST; the
client library would add gRPC start-up to every cold start for nothing, and its errors
would be mapped back to the HTTP statuses below anyway. Retry rules are data
(``_HTTP_ANSWERS``, ``_RPC_ANSWERS``): what is worth retrying is raised as
``VisionUnavailable`` (the event is redelivered), what is not comes back as an
``Annotation`` with its ``error``, which the labels record keeps.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from thumbnailer import errors
from thumbnailer.domain import Likelihood, VisionFeature

if TYPE_CHECKING:
    import requests

    from thumbnailer.config import Settings

#: Long side of the copy sent: Google's recommended size for label detection (640x480).
ANALYSIS_SIDE = 640
SAFE_SEARCH_CATEGORIES = ("adult", "spoof", "medical", "violence", "racy")
#: What moderation judges; spoof and medical are recorded, not acted on.
MODERATED_CATEGORIES = ("adult", "violence", "racy")
_FEATURE_TYPES = {VisionFeature.LABELS: "LABEL_DETECTION", VisionFeature.SAFE_SEARCH: "SAFE_SEARCH_DETECTION"}
_SCOPE = "https://www.googleapis.com/auth/cloud-vision"

# HTTP status of the whole call -> retry it? 403 is retried: it is what a project whose
# Vision API is not enabled yet answers, and deploy enables it.
_HTTP_ANSWERS: Mapping[int, bool] = {
    400: False,
    401: True,
    403: True,
    404: False,
    408: True,
    413: False,
    429: True,
    500: True,
    502: True,
    503: True,
    504: True,
}
# google.rpc.Code of one image's error (HTTP 200 for the batch) -> retry it?
_RPC_ANSWERS: Mapping[int, bool] = {
    3: False,  # INVALID_ARGUMENT: the image was refused
    4: True,  # DEADLINE_EXCEEDED
    8: True,  # RESOURCE_EXHAUSTED
    10: True,  # ABORTED
    13: True,  # INTERNAL
    14: True,  # UNAVAILABLE
}


class Label(NamedTuple):
    description: str
    score: float
    mid: str


class VisionRequest(NamedTuple):
    features: tuple[VisionFeature, ...]
    max_labels: int
    min_score: float


class Annotation(NamedTuple):
    """What Vision said about one image. ``error``: it refused the image (permanent)."""

    labels: tuple[Label, ...] | None = None  # None: not asked
    safe_search: Mapping[str, str] | None = None  # category -> likelihood name; None: not asked
    error: str | None = None
    annotated_at: str = ""  # when Vision answered (ISO 8601, UTC)
    latency_ms: float = 0.0

    def flagged(self, threshold: Likelihood) -> bool | None:
        """Whether SafeSearch rates adult, violence or racy at ``threshold`` or above; None
        when there is no verdict (not asked, or the image was refused)."""
        if self.safe_search is None:
            return None
        return any(Likelihood[self.safe_search.get(c, "UNKNOWN")] >= threshold for c in MODERATED_CATEGORIES)

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"annotated_at": self.annotated_at, "latency_ms": self.latency_ms}
        if self.labels is not None:
            record["labels"] = [label._asdict() for label in self.labels]
        if self.safe_search is not None:
            record["safe_search"] = dict(self.safe_search)
        if self.error is not None:
            record["error"] = self.error
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Annotation:
        labels = record.get("labels")
        return cls(
            labels=tuple(Label(str(x["description"]), float(x["score"]), str(x["mid"])) for x in labels)
            if isinstance(labels, list)
            else None,
            safe_search=record.get("safe_search"),
            error=record.get("error"),
            annotated_at=str(record.get("annotated_at", "")),
            latency_ms=float(record.get("latency_ms", 0.0)),
        )


class Annotator(Protocol):
    def annotate(self, image: bytes, request: VisionRequest) -> Annotation:
        """One request for one image; raises ``VisionUnavailable`` when worth retrying."""
        ...


def request_body(image: bytes, request: VisionRequest) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for feature in request.features:
        entry: dict[str, Any] = {"type": _FEATURE_TYPES[feature]}
        if feature is VisionFeature.LABELS:
            entry["maxResults"] = request.max_labels
        features.append(entry)
    return {"requests": [{"image": {"content": base64.b64encode(image).decode("ascii")}, "features": features}]}


def _likelihood_name(value: Any) -> str:
    """The API answers names; a client asking for ``enum-encoding=int`` gets numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Likelihood(value).name if 0 <= value <= 5 else "UNKNOWN"
    return value if isinstance(value, str) and value in Likelihood.__members__ else "UNKNOWN"


def parse_response(body: Any, request: VisionRequest, latency_ms: float) -> Annotation:
    """The one image's answer in an ``images:annotate`` response body."""
    answered = datetime.now(UTC).isoformat(timespec="milliseconds")
    try:
        answer = body["responses"][0]
    except (KeyError, IndexError, TypeError):
        raise errors.VisionUnavailable("Vision answered without a response for the image") from None
    error = answer.get("error")
    if isinstance(error, Mapping) and error.get("code"):
        code = error["code"] if isinstance(error["code"], int) else 2  # 2: UNKNOWN
        message = f"Vision refused the image: {error.get('message', '')} (code {code})"
        if _RPC_ANSWERS.get(code, False):
            raise errors.VisionUnavailable(message)
        return Annotation(error=message, annotated_at=answered, latency_ms=latency_ms)
    labels = None
    if VisionFeature.LABELS in request.features:
        found = [
            Label(str(x.get("description", "")), round(float(x.get("score", 0.0)), 4), str(x.get("mid", "")))
            for x in answer.get("labelAnnotations", [])
        ]
        kept = sorted((x for x in found if x.score >= request.min_score), key=lambda x: -x.score)
        labels = tuple(kept[: request.max_labels])
    safe_search = None
    if VisionFeature.SAFE_SEARCH in request.features:
        given = answer.get("safeSearchAnnotation")
        if not isinstance(given, Mapping):  # asked and not answered: no verdict, not a clean one
            raise errors.VisionUnavailable("Vision answered without the SafeSearch it was asked for")
        safe_search = {category: _likelihood_name(given.get(category)) for category in SAFE_SEARCH_CATEGORIES}
    return Annotation(labels, safe_search, None, answered, latency_ms)


class VisionApi:
    """``POST {endpoint}/v1/images:annotate``. An ``http://`` endpoint (a local stand-in)
    gets no credentials; otherwise the runtime account's, with the cloud-vision scope,
    made on first use."""

    def __init__(self, endpoint: str, *, timeout_seconds: float, retry_seconds: float) -> None:
        self._url = f"{endpoint}/v1/images:annotate"
        self._anonymous = endpoint.startswith("http://")
        self._timeout = timeout_seconds
        self._retry_seconds = retry_seconds
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> VisionApi:
        """The client the function's settings describe (the function and backfill alike)."""
        return cls(
            settings.vision_api_endpoint,
            timeout_seconds=settings.storage_timeout_seconds,
            retry_seconds=settings.vision_retry_seconds,
        )

    def _http(self) -> requests.Session:
        with self._lock:
            if self._session is None:
                import requests

                if self._anonymous:
                    self._session = requests.Session()
                else:
                    import google.auth
                    from google.auth.transport.requests import AuthorizedSession

                    credentials, _ = google.auth.default(scopes=[_SCOPE])
                    self._session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
            return self._session

    def annotate(self, image: bytes, request: VisionRequest) -> Annotation:
        deadline = time.monotonic() + self._retry_seconds
        delay = 0.5
        while True:
            try:
                return self._once(image, request)
            except errors.VisionUnavailable:
                if time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay * random.uniform(0.5, 1.0))  # jitter: instances retry apart
            delay = min(delay * 2, 8.0)

    def _once(self, image: bytes, request: VisionRequest) -> Annotation:
        import requests

        started = time.monotonic()
        try:
            response = self._http().post(self._url, json=request_body(image, request), timeout=self._timeout)
        except requests.RequestException as error:  # timeouts, refused connections
            raise errors.VisionUnavailable(f"Vision did not answer: {type(error).__name__}: {error}") from None
        except Exception as error:  # google.auth: no credentials, or none to be had yet
            raise errors.VisionUnavailable(f"no credentials for Vision: {type(error).__name__}: {error}") from None
        latency_ms = round((time.monotonic() - started) * 1000, 1)
        if response.status_code != 200:
            said = _error_message(response)
            message = f"Vision answered HTTP {response.status_code}: {said}"
            if _HTTP_ANSWERS.get(response.status_code, response.status_code >= 500):
                raise errors.VisionUnavailable(message)
            answered = datetime.now(UTC).isoformat(timespec="milliseconds")
            return Annotation(error=message, annotated_at=answered, latency_ms=latency_ms)
        try:
            body = response.json()
        except ValueError:
            raise errors.VisionUnavailable("Vision answered HTTP 200 with a body that is not JSON") from None
        return parse_response(body, request, latency_ms)


def _error_message(response: requests.Response) -> str:
    """Google's error shape: ``{"error": {"code", "message", "status"}}``."""
    try:
        error = response.json()["error"]
        return f"{error.get('status', '')}: {error.get('message', '')}"[:300]
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.text[:300]

"""A local Cloud Vision API: ``POST /v1/images:annotate``, answered from the pixels.

It speaks the REST protocol as Google documents it (cloud.google.com/vision/docs/request):
camelCase JSON; feature types and likelihoods as names, or as numbers for a client that
asks for ``$alt=json;enum-encoding=int`` (google-cloud-vision's REST transport); the
image as ``content`` or ``source.imageUri``/``gcsImageUri`` (gs:// read from the storage
emulator); at most 16 images per call; Google's error shapes and limits (a request over
10 MB or more than 16 images: HTTP 400; an image over 20 MB or that does not decode: that
image's ``error``, HTTP 200 for the batch).

The answers are measured, never canned, and say they are local (every ``mid`` starts
with ``/local/``):

- labels: the image's main colours (median cut, each named after the nearest of a dozen
  reference colours, scored by the square root of the share of pixels it covers), and "Monochrome",
  "Transparent", "Bright", "Dark" and "Texture" where the measurements say so;
- SafeSearch: ``adult`` and ``racy`` from the share of skin-coloured pixels (the RGB skin
  rule of Kovač, Peer and Solina, 2003), ``violence`` from the share of blood-red ones;
  ``spoof`` and ``medical`` are VERY_UNLIKELY.

Why not a trained classifier: none that runs here tells the likelihood of a generated
image apart, so tests could not make an image the stand-in flags; these rules can, and
the function treats any answer alike. Dev-only: the deployed function never imports it.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageFilter, ImageStat

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # JSON request, base64 included
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGES = 16
MAX_PIXELS = 75_000_000  # Vision's own limit is on file size; this keeps the stand-in's memory bounded

FEATURE_NUMBERS = {
    "TYPE_UNSPECIFIED": 0,
    "FACE_DETECTION": 1,
    "LANDMARK_DETECTION": 2,
    "LOGO_DETECTION": 3,
    "LABEL_DETECTION": 4,
    "TEXT_DETECTION": 5,
    "DOCUMENT_TEXT_DETECTION": 11,
    "SAFE_SEARCH_DETECTION": 6,
    "IMAGE_PROPERTIES": 7,
    "CROP_HINTS": 9,
    "WEB_DETECTION": 10,
    "PRODUCT_SEARCH": 12,
    "OBJECT_LOCALIZATION": 19,
}
FEATURE_NAMES = {number: name for name, number in FEATURE_NUMBERS.items()}
LIKELIHOODS = ("UNKNOWN", "VERY_UNLIKELY", "UNLIKELY", "POSSIBLE", "LIKELY", "VERY_LIKELY")
ANSWERED = ("LABEL_DETECTION", "SAFE_SEARCH_DETECTION")

# Reference colours a main colour is named after (nearest in RGB).
_COLOUR_NAMES = {
    "Red": (200, 30, 30),
    "Orange": (240, 140, 20),
    "Yellow": (240, 220, 40),
    "Green": (40, 160, 50),
    "Cyan": (40, 200, 210),
    "Blue": (40, 70, 200),
    "Purple": (130, 50, 170),
    "Pink": (240, 150, 190),
    "Brown": (120, 75, 40),
    "Black": (15, 15, 15),
    "White": (245, 245, 245),
    "Grey": (128, 128, 128),
}


class ApiError(Exception):
    """An HTTP error answer, in Google's shape."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


@dataclass(frozen=True)
class ReceivedImage:
    """What one image of a call was: for tests to assert what the function sent."""

    features: tuple[str, ...]
    max_results: int | None
    source: str  # "content", "imageUri" or "gcsImageUri"
    bytes: int
    size: tuple[int, int] | None  # None: did not decode
    format: str | None


@dataclass
class VisionStandIn:
    """The server, on 127.0.0.1. ``calls`` lists every answered call, ``refused`` counts
    the calls ``fail_next`` made answer an HTTP error (as Vision under load, or before
    the API is enabled)."""

    storage_url: str | None = None  # for gs:// images: the storage emulator
    port: int = 0
    calls: list[tuple[ReceivedImage, ...]] = field(default_factory=list)
    refused: int = 0
    _faults: list[tuple[int, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> VisionStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                stand_in._serve(self)

            def do_GET(self) -> None:
                if self.path == "/_stand-in/calls":
                    calls = [[image.__dict__ for image in call] for call in stand_in.calls]
                    _answer(self, 200, {"calls": calls})
                else:
                    _answer(self, 404, ApiError(404, "NOT_FOUND", f"{self.path} is not an API path").body())

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug(format, *args)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="vision-stand-in", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail_next(self, code: int, times: int = 1) -> None:
        status = {403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
        with self._lock:
            self._faults += [(code, status.get(code, "UNKNOWN"))] * times

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path, _, query = request.path.partition("?")
        length = int(request.headers.get("Content-Length") or 0)
        try:
            if path != "/v1/images:annotate":
                raise ApiError(404, "NOT_FOUND", f"{path} is not an API path")
            if length > MAX_REQUEST_BYTES:
                _drain(request, length)  # so the client reads the answer, not a reset
                raise ApiError(
                    400, "INVALID_ARGUMENT", f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."
                )
            body = request.rfile.read(length)
            with self._lock:
                fault = self._faults.pop(0) if self._faults else None
            if fault is not None:
                self.refused += 1
                raise ApiError(fault[0], fault[1], "injected by the stand-in")
            answer = self.annotate(body, numbers="enum-encoding=int" in urllib.parse.unquote(query))
        except ApiError as error:
            _answer(request, error.code, error.body())
            return
        _answer(request, 200, answer)

    def annotate(self, body: bytes, *, numbers: bool = False) -> dict[str, Any]:
        """One ``images:annotate`` call: a JSON body in, the response body out."""
        try:
            parsed = json.loads(body)
        except ValueError:
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
        requests = parsed.get("requests") if isinstance(parsed, dict) else None
        if not isinstance(requests, list) or not requests:
            raise ApiError(400, "INVALID_ARGUMENT", "No requests specified.")
        if len(requests) > MAX_IMAGES:
            raise ApiError(400, "INVALID_ARGUMENT", f"At most {MAX_IMAGES} images are allowed per request.")
        received: list[ReceivedImage] = []
        responses = [self._one(item, numbers, received) for item in requests]
        self.calls.append(tuple(received))
        return {"responses": responses}

    def _one(self, item: Any, numbers: bool, received: list[ReceivedImage]) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise ApiError(400, "INVALID_ARGUMENT", "Each request must be an object.")
        features, max_results = _features(item.get("features"))
        source, data = self._image_bytes(item.get("image"))
        if data is None:
            received.append(ReceivedImage(features, max_results, source, 0, None, None))
            return _image_error(3, "Image could not be fetched: only gs:// images from the storage emulator are read.")
        if len(data) > MAX_IMAGE_BYTES:
            received.append(ReceivedImage(features, max_results, source, len(data), None, None))
            return _image_error(3, f"Image size ({len(data)} bytes) exceeds the limit ({MAX_IMAGE_BYTES} bytes).")
        try:
            with Image.open(io.BytesIO(data)) as opened:
                if opened.width * opened.height > MAX_PIXELS:
                    raise ValueError("too many pixels")
                image_format = opened.format
                opened.draft("RGB", (1024, 1024))
                image = opened.convert("RGBA")
        except Exception:  # anything that is not an image Pillow reads: Vision's own answer
            received.append(ReceivedImage(features, max_results, source, len(data), None, None))
            return _image_error(3, "Bad image data.")
        received.append(ReceivedImage(features, max_results, source, len(data), image.size, image_format))
        unsupported = [name for name in features if name not in ANSWERED]
        if unsupported:
            return _image_error(3, f"The local stand-in answers only {', '.join(ANSWERED)}, not {unsupported[0]}.")
        response: dict[str, Any] = {}
        if "LABEL_DETECTION" in features:
            response["labelAnnotations"] = [
                {"mid": mid, "description": name, "score": score, "topicality": score}
                for name, mid, score in measured_labels(image)[: max_results or 10]
            ]
        if "SAFE_SEARCH_DETECTION" in features:
            verdict = safe_search(image)
            response["safeSearchAnnotation"] = {
                category: LIKELIHOODS.index(value) if numbers else value for category, value in verdict.items()
            }
        return response

    def _image_bytes(self, image: Any) -> tuple[str, bytes | None]:
        if not isinstance(image, dict):
            raise ApiError(400, "INVALID_ARGUMENT", "image is required.")
        if "content" in image:
            try:
                return "content", base64.b64decode(image["content"], validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise ApiError(
                    400, "INVALID_ARGUMENT", "Invalid value at 'requests[0].image.content' (TYPE_BYTES)"
                ) from None
        source = image.get("source")
        if isinstance(source, dict):
            uri = source.get("imageUri") or source.get("gcsImageUri")
            kind = "imageUri" if source.get("imageUri") else "gcsImageUri"
            if isinstance(uri, str) and uri.startswith("gs://") and self.storage_url:
                return kind, self._read_gs(uri)
            return kind, None
        raise ApiError(400, "INVALID_ARGUMENT", "image.content or image.source is required.")

    def _read_gs(self, uri: str) -> bytes | None:
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        url = f"{self.storage_url}/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                data: bytes = response.read(MAX_IMAGE_BYTES + 1)
                return data
        except OSError:
            return None


def _features(given: Any) -> tuple[tuple[str, ...], int | None]:
    if not isinstance(given, list) or not given:
        raise ApiError(400, "INVALID_ARGUMENT", "No feature specified.")
    names: list[str] = []
    max_results = None
    for feature in given:
        kind = feature.get("type") if isinstance(feature, dict) else None
        name = FEATURE_NAMES.get(kind) if isinstance(kind, int) else kind
        if name not in FEATURE_NUMBERS or name == "TYPE_UNSPECIFIED":
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value at 'requests[0].features[0].type': {kind!r}")
        names.append(str(name))
        if name == "LABEL_DETECTION" and "maxResults" in feature:
            max_results = int(feature["maxResults"])
    return tuple(names), max_results


def _drain(request: BaseHTTPRequestHandler, length: int, limit: int = 8 * MAX_REQUEST_BYTES) -> None:
    """Read and drop an oversized body, up to ``limit``; past it, the connection is closed."""
    if length > limit:
        request.close_connection = True
        return
    while length > 0:
        chunk = request.rfile.read(min(length, 1 << 20))
        if not chunk:
            break
        length -= len(chunk)


def _image_error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _answer(request: BaseHTTPRequestHandler, status: int, body: Mapping[str, Any]) -> None:
    data = json.dumps(body).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json; charset=UTF-8")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)


# -- what the pixels say ----------------------------------------------------------------


def measured_labels(image: Image.Image) -> list[tuple[str, str, float]]:
    """(description, mid, score) for what the measurements show, best first."""
    small = image.copy()
    small.thumbnail((128, 128))
    alpha = small.getchannel("A")
    visible = alpha.point(lambda value: 255 if value >= 128 else 0)
    labels: dict[str, float] = {}
    shown = sum(visible.histogram()[255:]) or 1
    rgb = small.convert("RGB")
    quantized = rgb.quantize(6, Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    for index, count in enumerate(quantized.histogram(mask=visible)[:6]):
        if not count:
            continue
        colour = tuple(palette[3 * index : 3 * index + 3])
        name = min(
            _COLOUR_NAMES, key=lambda n: sum((a - b) ** 2 for a, b in zip(_COLOUR_NAMES[n], colour, strict=True))
        )
        labels[name] = labels.get(name, 0.0) + count / shown
    saturation = ImageStat.Stat(rgb.convert("HSV").getchannel("S")).mean[0] / 255
    if saturation < 0.08:
        labels["Monochrome"] = 1 - saturation
    if ImageStat.Stat(alpha).extrema[0][0] < 255:
        labels["Transparent"] = 1 - ImageStat.Stat(alpha).mean[0] / 255
    brightness = ImageStat.Stat(rgb.convert("L")).mean[0] / 255
    if brightness > 0.75:
        labels["Bright"] = brightness
    elif brightness < 0.25:
        labels["Dark"] = 1 - brightness
    edges = ImageStat.Stat(rgb.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0] / 255
    if edges > 0.08:
        labels["Texture"] = min(1.0, edges * 4)
    # A colour covering a quarter of the picture is a fair "Blue" (0.5), two thirds a sure one (0.82).
    labels = {name: score**0.5 if name in _COLOUR_NAMES else score for name, score in labels.items()}
    ranked = sorted(labels.items(), key=lambda item: -item[1])
    return [(name, f"/local/{name.lower()}", round(min(score, 0.99), 4)) for name, score in ranked]


def _skin(r: int, g: int, b: int) -> bool:
    """Kovač, Peer and Solina (2003): skin under uniform daylight, in RGB."""
    return r > 95 and g > 40 and b > 20 and max(r, g, b) - min(r, g, b) > 15 and abs(r - g) > 15 and r > g and r > b


def _blood(r: int, g: int, b: int) -> bool:
    return r > 110 and g < 50 and b < 50 and r - g > 80


def _likelihood(share: float, steps: tuple[float, float, float, float]) -> str:
    """The likelihood a share of pixels reaches: below steps[0] VERY_UNLIKELY ... above steps[3] VERY_LIKELY."""
    return LIKELIHOODS[1 + sum(share >= step for step in steps)]


def safe_search(image: Image.Image) -> dict[str, str]:
    small = image.copy()
    small.thumbnail((96, 96))
    data = small.tobytes()
    quads = zip(data[0::4], data[1::4], data[2::4], data[3::4], strict=True)
    pixels = [(r, g, b) for r, g, b, a in quads if a >= 128] or [(0, 0, 0)]
    skin = sum(_skin(*pixel) for pixel in pixels) / len(pixels)
    blood = sum(_blood(*pixel) for pixel in pixels) / len(pixels)
    return {
        "adult": _likelihood(skin, (0.1, 0.25, 0.4, 0.6)),
        "spoof": "VERY_UNLIKELY",
        "medical": "VERY_UNLIKELY",
        "violence": _likelihood(blood, (0.05, 0.15, 0.3, 0.5)),
        "racy": _likelihood(skin, (0.05, 0.15, 0.3, 0.45)),
    }

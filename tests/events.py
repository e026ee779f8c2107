"""Events as Eventarc delivers them, shared by the tests of the handler and of the local Eventarc."""

from typing import Any

from thumbnailer.events import FINALIZED

# The body Eventarc delivered for an upload (Google's documented example, trimmed of nothing).
EVENTARC_DATA: dict[str, Any] = {
    "kind": "storage#object",
    "id": "my-in-bucket/photos/2026/cat.jpg/1746121312825704",
    "selfLink": "https://www.googleapis.com/storage/v1/b/my-in-bucket/o/photos%2F2026%2Fcat.jpg",
    "mediaLink": "https://storage.googleapis.com/download/storage/v1/b/my-in-bucket/o/photos%2F2026%2Fcat.jpg"
    "?generation=1746121312825704&alt=media",
    "name": "photos/2026/cat.jpg",
    "bucket": "my-in-bucket",
    "generation": "1746121312825704",
    "metageneration": "1",
    "contentType": "image/jpeg",
    "size": "2689616",
    "md5Hash": "iFI2ua2R0XAL2pQExBI2fg==",
    "crc32c": "Hj0qyQ==",
    "etag": "COji1+Togo0DEAE=",
    "storageClass": "STANDARD",
    "timeCreated": "2026-05-01T17:41:52.830Z",
    "updated": "2026-05-01T17:41:52.830Z",
    "timeStorageClassUpdated": "2026-05-01T17:41:52.830Z",
}
ATTRIBUTES = {"id": "14656529786338331", "type": FINALIZED, "source": "//storage.googleapis.com/projects/_/buckets/b"}

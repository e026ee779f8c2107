"""Cloud Storage's rules where fake-gcs-server does not keep them, as a proxy in front of it.

Measured here (docs/local-pipeline.md, "The emulator's gaps"): fake-gcs-server deletes
an object whatever ``ifGenerationMatch`` says, and returns a whole listing as one page
unless a page size is asked for.
``CloudStorageRules`` forwards everything else to it and:

* answers a ``DELETE`` whose ``ifGenerationMatch`` is not the live generation with 412,
  as Cloud Storage does (the check and the delete are two requests here: a writer that
  gets in between them has its new object deleted, which Cloud Storage would refuse;
  tests that race a writer against a delete put it before the check);
* serves listings in pages of at most ``page_size`` (Cloud Storage's is 1,000, where the
  emulator, asked for no page size as the client asks, answers with everything), with a
  ``nextPageToken``, so the client pages as it does against the real service;
* counts the objects written (uploads answered 200), by name, so a test can say that
  nothing was written twice.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Mapping
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from localdev.faults import NO_FAULTS, Answer, Fault, FaultProxy

CLOUD_STORAGE_PAGE = 1000


def _error(status: int, message: str) -> Answer:
    body = json.dumps({"error": {"code": status, "message": message, "errors": [{"message": message}]}})
    return status, {"Content-Type": "application/json"}, body.encode()


class CloudStorageRules(FaultProxy):
    def __init__(
        self,
        target_url: str,
        page_size: int = CLOUD_STORAGE_PAGE,
        rates: Mapping[Fault, float] = NO_FAULTS,
        seed: int = 0,
    ) -> None:
        super().__init__(target_url, rates, seed)
        self.page_size = page_size
        self.written: Counter[str] = Counter()
        self.pages_served = 0
        self.deletes_refused = 0
        self._counting = threading.Lock()

    def answer(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer | None:
        parts = urlsplit(path)
        segments = parts.path.split("/")
        query = parse_qs(parts.query)
        # /storage/v1/b/BUCKET/o and /storage/v1/b/BUCKET/o/NAME
        if segments[1:3] != ["storage", "v1"] or len(segments) < 6 or segments[3] != "b" or segments[5] != "o":
            return None
        if method == "DELETE" and len(segments) == 7 and "ifGenerationMatch" in query:
            return self._conditional_delete(parts.path, query["ifGenerationMatch"][0], headers)
        if method == "GET" and len(segments) == 6 and "delimiter" not in query:
            return self._page(parts.path, query, headers)
        return None

    def _conditional_delete(self, object_path: str, wanted: str, headers: Mapping[str, str]) -> Answer | None:
        status, _, found = self.forward("GET", object_path, headers, b"")
        if status != 200:
            return None  # the emulator's own answer (404) is Cloud Storage's
        if str(json.loads(found).get("generation")) != wanted:
            with self._counting:
                self.deletes_refused += 1
            name = unquote(object_path.rsplit("/", 1)[1])
            return _error(412, f"At least one of the pre-conditions you specified did not hold ({name})")
        return None

    def _page(self, list_path: str, query: dict[str, list[str]], headers: Mapping[str, str]) -> Answer:
        asked = min(int(query.pop("maxResults", [str(self.page_size)])[0]), self.page_size)
        token = query.pop("pageToken", [""])[0]
        whole = f"{list_path}?{urlencode(query, doseq=True, quote_via=quote)}"
        status, answer_headers, found = self.forward("GET", whole, headers, b"")
        if status != 200:
            return status, answer_headers, found
        listing = json.loads(found)
        after = base64.urlsafe_b64decode(token.encode()).decode() if token else None
        items = sorted(listing.get("items", []), key=lambda item: item["name"])
        if after is not None:
            items = [item for item in items if item["name"] > after]
        page = {"kind": "storage#objects", "items": items[:asked]}
        if len(items) > asked:
            page["nextPageToken"] = base64.urlsafe_b64encode(items[asked - 1]["name"].encode()).decode()
        with self._counting:
            self.pages_served += 1
        return 200, {"Content-Type": "application/json"}, json.dumps(page).encode()

    def answered(self, method: str, path: str, headers: Mapping[str, str], body: bytes, status: int) -> None:
        if method != "POST" or not path.startswith("/upload/") or status != 200:
            return
        name = _uploaded_name(path, headers, body)
        if name is not None:
            with self._counting:
                self.written[name] += 1


def _uploaded_name(path: str, headers: Mapping[str, str], body: bytes) -> str | None:
    """The object a media or multipart upload wrote: in its query, or its metadata part."""
    query = parse_qs(urlsplit(path).query)
    if "name" in query:
        return query["name"][0]
    content_type = next((value for key, value in headers.items() if key.lower() == "content-type"), "")
    if not content_type.startswith("multipart/"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts():
        if part.get_content_type() == "application/json":
            payload = part.get_payload(decode=True)
            name = json.loads(payload if isinstance(payload, bytes) else b"{}").get("name")
            return name if isinstance(name, str) else None
    return None

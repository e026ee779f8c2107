"""An ObjectStore in memory, for running the pipeline's decisions in milliseconds.

It keeps what the decisions depend on, as Cloud Storage does: a generation per object
(a new one at every write), reads of exactly a generation, and writes and deletes
conditional on one. ``before`` injects a race: an action run just before the next call
of an operation, as another writer would act between two requests. The emulator tests
(tests/integration) prove the real client and server behave the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from thumbnailer import errors
from thumbnailer.storage import ListedObject, NewObject, StoredObject, WriteConflict


@dataclass
class Stored:
    data: bytes
    generation: int
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Stored] = {}
        self.calls: list[tuple[str, str, str]] = []  # (operation, bucket, name)
        self._generations = itertools.count(1_000_000)
        self._before: dict[str, list[Callable[[], object]]] = {}

    # -- setting up and inspecting ---------------------------------------------------------------

    def put(self, bucket: str, name: str, data: bytes = b"", metadata: dict[str, str] | None = None) -> int:
        """An object as someone else wrote it; returns its generation."""
        generation = next(self._generations)
        self.objects[bucket, name] = Stored(data, generation, dict(metadata or {}))
        return generation

    def remove(self, bucket: str, name: str) -> None:
        del self.objects[bucket, name]

    def before(self, operation: str, action: Callable[[], object]) -> None:
        """Run ``action`` once, just before the next ``operation`` (read, stat, write, delete, list)."""
        self._before.setdefault(operation, []).append(action)

    def names(self, bucket: str) -> list[str]:
        return sorted(name for stored_bucket, name in self.objects if stored_bucket == bucket)

    def _call(self, operation: str, bucket: str, name: str) -> None:
        self.calls.append((operation, bucket, name))
        pending = self._before.get(operation)
        if pending:
            pending.pop(0)()

    # -- ObjectStore ------------------------------------------------------------------------------

    def read(self, bucket: str, name: str, generation: int) -> bytes:
        self._call("read", bucket, name)
        stored = self.objects.get((bucket, name))
        if stored is None:
            raise errors.ObjectGone(f"gs://{bucket}/{name} no longer exists")
        if stored.generation != generation:
            raise errors.ObjectReplaced(f"gs://{bucket}/{name} is no longer the generation in the event")
        return stored.data

    def stat(self, bucket: str, name: str) -> StoredObject | None:
        self._call("stat", bucket, name)
        stored = self.objects.get((bucket, name))
        return None if stored is None else StoredObject(stored.generation, dict(stored.metadata))

    def list(self, bucket: str, prefix: str = "") -> Iterator[ListedObject]:
        self._call("list", bucket, prefix)
        for (stored_bucket, name), stored in sorted(self.objects.items()):
            if stored_bucket == bucket and name.startswith(prefix):
                yield ListedObject(
                    name, stored.generation, len(stored.data), stored.content_type, dict(stored.metadata)
                )

    def delete(self, bucket: str, name: str, *, if_generation_match: int) -> bool:
        self._call("delete", bucket, name)
        stored = self.objects.get((bucket, name))
        if stored is None or stored.generation != if_generation_match:
            return False
        del self.objects[bucket, name]
        return True

    def write(self, bucket: str, name: str, new: NewObject, *, if_generation_match: int) -> None:
        self._call("write", bucket, name)
        stored = self.objects.get((bucket, name))
        if (stored.generation if stored else 0) != if_generation_match:
            raise WriteConflict(name)
        self.objects[bucket, name] = Stored(new.data, next(self._generations), dict(new.metadata), new.content_type)

"""``object.v1.deleted``: what was made of exactly that generation goes with it.

With DELETE_THUMBNAILS_WITH_SOURCE, a deleted upload's thumbnails (every configured
size, in any format one can have), labels record and failure record are deleted, each
only if it was made from the deleted generation: an overwrite sends ``deleted`` for the
old generation in no set order with ``finalized`` for the new one, and whichever comes
first, the new generation's objects are never touched (remove_made_from). Thumbnails of
sizes no longer configured are left to ``backfill --prune``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from thumbnailer import errors
from thumbnailer.config import Settings
from thumbnailer.events import StorageObjectEvent
from thumbnailer.imaging import OUTPUT_EXTENSIONS
from thumbnailer.naming import record_name, thumbnail_names
from thumbnailer.pipeline import check_not_own_output, check_selected, remove_made_from
from thumbnailer.storage import ObjectStore


@dataclass(frozen=True)
class Removal:
    removed: tuple[str, ...]  # names deleted from the output bucket
    looked_at: int  # names that could hold something made from the generation


def candidate_names(name: str, settings: Settings) -> list[str]:
    """Every output name an upload called ``name`` can have under ``settings``."""
    candidates = [
        found
        for size in settings.imaging.sizes
        # In any format: the format may have changed since it was made.
        for found in thumbnail_names(name, size, OUTPUT_EXTENSIONS, settings.output_prefix, settings.output_name)
    ]
    for prefix in (settings.labels_prefix, settings.failure_prefix):
        if prefix:
            with contextlib.suppress(errors.OutputNameTooLong):  # a name that long was never written
                candidates.append(record_name(name, prefix))
    return candidates


def remove_deleted_generation(event: StorageObjectEvent, settings: Settings, store: ObjectStore) -> Removal:
    """Delete what was made from ``event``'s generation, and nothing else."""
    if not settings.delete_thumbnails_with_source:
        raise errors.IgnoredEvent("an upload was deleted; DELETE_THUMBNAILS_WITH_SOURCE is off")
    check_not_own_output(event, settings)
    check_selected(event.name, settings)
    if event.name.endswith("/"):
        raise errors.IgnoredEvent("a folder placeholder, not a file")
    names = candidate_names(event.name, settings)
    removed = tuple(
        name for name in names if remove_made_from(store, settings.output_bucket, name, event, older_only=False)
    )
    return Removal(removed, len(names))

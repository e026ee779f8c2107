"""Cloud Functions entry point: hand each Eventarc CloudEvent to the thumbnailer package."""

import functions_framework
from cloudevents.http import CloudEvent

from thumbnailer.handler import EventHandler

# Built at cold start: settings are read and checked now (a bad value fails the
# deploy); the storage client is created on the first event.
handle_event = EventHandler.from_environ()


@functions_framework.cloud_event
def process_image(cloud_event: CloudEvent) -> None:
    """Make thumbnails for a google.cloud.storage.object.v1.finalized event."""
    handle_event(cloud_event)

"""The Cloud Pub/Sub emulator that ships with the Google Cloud CLI, and clients for it.

In Google Cloud, Cloud Storage publishes its notifications to Pub/Sub and Eventarc
reads them from a subscription; locally fake-gcs-server publishes to this emulator and
``localdev.eventarc`` subscribes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import grpc
from google.api_core import exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.publisher.client import Client as PublisherClient
from google.cloud.pubsub_v1.subscriber.client import Client as SubscriberClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from localdev.processes import free_port, wait_until_answering


class MissingPrerequisite(RuntimeError):
    """Something the local pipeline needs is not installed; the message says how to get it."""


def check_prerequisites() -> None:
    """One clear message per missing piece, before anything starts."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise MissingPrerequisite(
            "the Google Cloud CLI (gcloud) is not installed: see https://cloud.google.com/sdk/docs/install "
            "(Debian/Ubuntu: apt-get install google-cloud-cli)"
        )
    if shutil.which("java") is None:
        raise MissingPrerequisite(
            "Java is not installed; the Pub/Sub emulator runs on it "
            "(Debian/Ubuntu: apt-get install default-jre-headless)"
        )
    sdk_root = Path(os.path.realpath(gcloud)).parents[1]
    if not (sdk_root / "platform" / "pubsub-emulator").is_dir():
        raise MissingPrerequisite(
            "the gcloud Pub/Sub emulator component is not installed: run `gcloud components install pubsub-emulator` "
            "(or, where gcloud came from apt, apt-get install google-cloud-cli-pubsub-emulator)"
        )


class PubSubEmulator:
    """``gcloud beta emulators pubsub start`` on 127.0.0.1, in its own process group.

    gcloud starts Java as a child: the group is what gets stopped, so no emulator is
    left listening after us.
    """

    def __init__(self, data_dir: Path, log_path: Path, gcloud_config_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.gcloud_config_dir = gcloud_config_dir
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.gcloud_config_dir.mkdir(parents=True, exist_ok=True)
        # Our own CLOUDSDK_CONFIG: the user's gcloud configuration is never touched.
        environ = {**os.environ, "CLOUDSDK_CONFIG": str(self.gcloud_config_dir), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                ["gcloud", "beta", "emulators", "pubsub", "start",
                 f"--host-port={self.host}", f"--data-dir={self.data_dir}", "--quiet"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=environ,
                start_new_session=True,
            )  # fmt: skip
        wait_until_answering(
            self._process,
            f"http://{self.host}/",
            "the Pub/Sub emulator",
            timeout,
            self.stop,
            lambda: f"see {self.log_path}",
        )

    def stop(self) -> None:
        if self._process is None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self._process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self._process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Java may outlive the gcloud wrapper for a moment: make sure the group is gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process = None


def publisher_client(host: str) -> PublisherClient:
    """A publisher for the emulator at ``host``, without touching PUBSUB_EMULATOR_HOST."""
    transport = PublisherGrpcTransport(channel=grpc.insecure_channel(host))
    return pubsub_v1.PublisherClient(transport=transport)


def subscriber_client(host: str) -> SubscriberClient:
    transport = SubscriberGrpcTransport(channel=grpc.insecure_channel(host))
    return pubsub_v1.SubscriberClient(transport=transport)


def ensure_subscription(host: str, project: str, topic: str, subscription: str, ack_deadline_seconds: int = 60) -> str:
    """Create the topic and its pull subscription if absent; returns the subscription path."""
    publisher = publisher_client(host)
    subscriber = subscriber_client(host)
    topic_path = publisher.topic_path(project, topic)
    subscription_path = subscriber.subscription_path(project, subscription)
    with contextlib.suppress(exceptions.AlreadyExists):
        publisher.create_topic(name=topic_path)
    with contextlib.suppress(exceptions.AlreadyExists):
        subscriber.create_subscription(
            name=subscription_path, topic=topic_path, ack_deadline_seconds=ack_deadline_seconds
        )
    return str(subscription_path)

"""The whole pipeline on one machine: Cloud Storage -> Pub/Sub -> Eventarc -> the function.

``Stack`` starts, in this order, each bound to 127.0.0.1:

1. the Pub/Sub emulator (``gcloud beta emulators pubsub start``) with the topic and the
   trigger's subscription;
2. fake-gcs-server over HTTP and HTTPS, publishing object-finalized notifications of
   the input bucket to that topic, with both buckets;
3. ``main.py`` under functions-framework;
4. the local Eventarc, pulling the subscription and POSTing CloudEvents to the function;
5. the upload page and gallery;

then writes ``.local/env`` and uploads the sample images. ``stop()`` takes everything
down again in reverse order, and is safe to call after a partial start.
"""

from __future__ import annotations

import logging
import shlex
import socket
import time
import urllib.error
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from localdev.eventarc import Deliverer, LocalEventarc, RetryPolicy, Trigger
from localdev.events import DELETED, FINALIZED
from localdev.faults import NO_FAULTS, Fault, FaultProxy
from localdev.function import FunctionProcess, OutcomeEcho
from localdev.gcs import FakeGcsServer, Notifications, Tls
from localdev.gcs_rules import CloudStorageRules
from localdev.processes import free_port
from localdev.pubsub import PubSubEmulator, check_prerequisites, ensure_subscription, subscriber_client
from localdev.samples import sample_files
from localdev.settings import LocalSettings
from localdev.vision import VisionStandIn
from localdev.web import Gallery, WebServer, create_app
from thumbnailer.config import Settings
from thumbnailer.declaring import declaration

logger = logging.getLogger(__name__)


class PortInUse(RuntimeError):
    pass


def _claim_port(port: int, variable: str) -> int:
    """The port to use: ``port`` if free (fail naming the variable if not), any free port for 0.

    A port is in use only when something listens on it: with SO_REUSEADDR, as the servers
    themselves bind, the sockets a stopped run left in TIME_WAIT do not count.
    """
    if port == 0:
        return free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise PortInUse(
                f"{variable}: port {port} on 127.0.0.1 is in use (another `make run`?); "
                f"stop it, or set {variable}=0 to take any free port"
            ) from None
        chosen: int = sock.getsockname()[1]
        return chosen


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def dead_letters(self) -> Path:
        return self.root / "dead-letter"

    @property
    def gcloud_config(self) -> Path:
        return self.root / "gcloud"

    @property
    def boto_config(self) -> Path:
        return self.root / "boto.cfg"

    @property
    def ca_cert(self) -> Path:
        return self.root / "tls" / "ca.pem"

    @property
    def env_file(self) -> Path:
        return self.root / "env"


class Stack:
    """The local pipeline. ``function_environ`` adds settings for the function process;
    ``storage_faults`` puts a ``FaultProxy`` with those rates between the function and
    Cloud Storage (the soak's fault injection; ``make run`` has none)."""

    def __init__(
        self,
        settings: LocalSettings,
        environ: Mapping[str, str],
        *,
        function_environ: Mapping[str, str] | None = None,
        storage_faults: Mapping[Fault, float] | None = None,
    ) -> None:
        self.settings = settings
        self.environ = dict(environ)
        self.function_environ = dict(function_environ or {})
        # Deletes (and overwrites) reach the function only when it is to act on them, as deploy.sh
        # adds the second trigger only then.
        function_settings = {**self.environ, **self.function_environ}
        deleting = declaration(Settings, "delete_thumbnails_with_source").read(function_settings)
        self.event_types = frozenset({FINALIZED, DELETED} if deleting else {FINALIZED})
        self.storage_faults = storage_faults
        self.storage_proxy: FaultProxy | None = None
        self.paths = Paths(settings.state_dir)
        self.pubsub: PubSubEmulator | None = None
        self.gcs: FakeGcsServer | None = None
        self.function: FunctionProcess | None = None
        self.eventarc: LocalEventarc | None = None
        self.web: WebServer | None = None
        self.vision: VisionStandIn | None = None
        self.subscription_path = ""
        self.started_in_seconds: float | None = None
        self._stoppers: list[Callable[[], None]] = []

    # -- start -----------------------------------------------------------------------

    def start(self) -> None:
        began = time.monotonic()
        check_prerequisites()
        settings, paths = self.settings, self.paths
        ports = {
            "PUBSUB_PORT": _claim_port(settings.pubsub_port, "PUBSUB_PORT"),
            "STORAGE_PORT": _claim_port(settings.storage_port, "STORAGE_PORT"),
            "STORAGE_TLS_PORT": _claim_port(settings.storage_tls_port, "STORAGE_TLS_PORT"),
            "FUNCTION_PORT": _claim_port(settings.function_port, "FUNCTION_PORT"),
            "WEB_PORT": _claim_port(settings.web_port, "WEB_PORT"),
            "VISION_PORT": _claim_port(settings.vision_port, "VISION_PORT"),
        }
        for folder in (paths.root, paths.logs, paths.dead_letters, paths.gcloud_config, paths.ca_cert.parent):
            folder.mkdir(parents=True, exist_ok=True)
        tls = self._write_certificate(ports["STORAGE_TLS_PORT"])

        self.pubsub = PubSubEmulator(
            paths.root / "pubsub", paths.logs / "pubsub-emulator.log", paths.gcloud_config, ports["PUBSUB_PORT"]
        )
        events = ("finalize", "delete") if DELETED in self.event_types else ("finalize",)
        self.gcs = FakeGcsServer(
            paths.root / "storage",
            paths.logs / "fake-gcs-server.log",
            ports["STORAGE_PORT"],
            tls=tls,
            # Never the filesystem backend: it stores each object as a file at its name, so
            # an upload named ../../x would be written outside .local. Objects last as long
            # as the run (README, Quick start).
            backend="memory",
            notifications=Notifications(
                self.pubsub.host, settings.project, settings.topic, bucket=settings.input_bucket, events=events
            ),
        )
        # The function meets Cloud Storage's rules where the emulator lacks them (conditional
        # deletes, listing pages), and the soak's faults if asked for.
        self.storage_proxy = CloudStorageRules(self.gcs.url, rates=self.storage_faults or NO_FAULTS).start()
        self._stoppers.append(self.storage_proxy.stop)
        function_storage_url = self.storage_proxy.url
        # Vision on by default here, answered by the local stand-in.
        self.vision = VisionStandIn(storage_url=self.gcs.url, port=ports["VISION_PORT"]).start()
        self._stoppers.append(self.vision.stop)
        self.function = FunctionProcess(
            {
                "VISION_FEATURES": self.environ.get("VISION_FEATURES", "labels,safe-search"),
                **self.function_environ,
                "VISION_API_ENDPOINT": self.vision.url,
                "OUTPUT_BUCKET": settings.output_bucket,
                "STORAGE_EMULATOR_HOST": function_storage_url,
                "GOOGLE_CLOUD_PROJECT": settings.project,
            },
            paths.logs / "function.log",
            ports["FUNCTION_PORT"],
        )
        # The three processes start in parallel; the JVM is the slow one.
        with ThreadPoolExecutor(3) as pool:
            starts = {name: pool.submit(part.start) for name, part in
                      (("pubsub", self.pubsub), ("gcs", self.gcs), ("function", self.function))}  # fmt: skip
        self._stoppers += [self.pubsub.stop, self.gcs.stop, self.function.stop]
        for future in starts.values():
            future.result()  # re-raise the first failure, after all have been registered for stopping

        subscription = ensure_subscription(
            self.pubsub.host, settings.project, settings.topic, settings.subscription, ack_deadline_seconds=60
        )
        for bucket in (settings.input_bucket, settings.output_bucket):
            self.gcs.create_bucket(bucket)

        self.subscription_path = subscription
        self.eventarc = self.start_eventarc(subscription)
        self._stoppers.append(self.stop_eventarc)
        echo = OutcomeEcho(self.function.log_path)
        echo.start()
        self._stoppers.append(echo.stop)

        gallery = Gallery(
            self.storage_client(),
            settings.input_bucket,
            settings.output_bucket,
            declaration(Settings, "failure_prefix").read(self.environ),
            paths.dead_letters,
            declaration(Settings, "labels_prefix").read(self.environ),
            self.function.log_path,
        )
        self.web = WebServer(create_app(gallery), ports["WEB_PORT"])
        self.web.start()
        self._stoppers.append(self.web.stop)

        self._write_client_configuration()
        self.started_in_seconds = time.monotonic() - began
        if settings.upload_samples:
            self.upload_samples()

    def start_eventarc(
        self, subscription_path: str, deliverer: Deliverer | None = None, max_in_flight: int = 8
    ) -> LocalEventarc:
        """A local Eventarc on ``subscription_path`` delivering to the function, started."""
        assert self.pubsub is not None
        assert self.function is not None
        eventarc = LocalEventarc(
            subscriber_client(self.pubsub.host),
            subscription_path,
            Trigger(bucket=self.settings.input_bucket, event_types=self.event_types),
            deliverer or self.deliverer(),
            lookup=self._full_resource,
            max_in_flight=max_in_flight,
        )
        eventarc.start()
        return eventarc

    def deliverer(self) -> Deliverer:
        assert self.function is not None
        return Deliverer(
            self.function.url,
            RetryPolicy(scale=self.settings.retry_scale),
            self.paths.dead_letters,
            timeout_seconds=540,
        )

    def restart_eventarc(self) -> None:
        """Stop the local Eventarc (what it holds goes back to Pub/Sub) and start a new one."""
        self.stop_eventarc()
        self.eventarc = self.start_eventarc(self.subscription_path)

    def stop_eventarc(self) -> None:
        if self.eventarc is not None:
            self.eventarc.stop()
            self.eventarc = None

    def _write_certificate(self, port: int) -> Tls:
        """A throw-away CA and a certificate for 127.0.0.1, so gsutil can verify HTTPS."""
        ca = trustme.CA(organization_name="thumbnailer local pipeline")
        certificate = ca.issue_cert("127.0.0.1", "localhost")
        folder = self.paths.ca_cert.parent
        ca.cert_pem.write_to_path(str(self.paths.ca_cert))
        certificate.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
        certificate.private_key_pem.write_to_path(str(folder / "key.pem"))
        (folder / "key.pem").chmod(0o600)
        return Tls(port, folder / "cert.pem", folder / "key.pem")

    def _full_resource(self, bucket: str, name: str, generation: str) -> dict[str, Any] | None:
        """Eventarc's data is the whole object resource; fake-gcs-server's payload is trimmed."""
        assert self.gcs is not None
        try:
            resource = self.gcs.object_resource(bucket, name, generation)
        except (urllib.error.URLError, OSError, ValueError):
            return None  # gone already: the notification's own payload is all there is
        return resource if str(resource.get("generation")) == generation else None

    def storage_client(self) -> storage.Client:
        assert self.gcs is not None
        return storage.Client(
            project=self.settings.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.gcs.url},
        )

    def upload_samples(self) -> None:
        bucket = self.storage_client().bucket(self.settings.input_bucket)
        for name, (data, content_type) in sample_files().items():
            bucket.blob(name).upload_from_string(data, content_type=content_type)

    # -- client configuration ----------------------------------------------------------

    def exports(self) -> dict[str, str]:
        assert self.gcs is not None
        assert self.pubsub is not None
        assert self.web is not None
        assert self.function is not None
        paths = self.paths
        return {
            "INPUT_BUCKET": self.settings.input_bucket,
            "OUTPUT_BUCKET": self.settings.output_bucket,
            "GOOGLE_CLOUD_PROJECT": self.settings.project,
            # google-cloud-storage (and most other Cloud Storage clients) switch on this one.
            "STORAGE_EMULATOR_HOST": self.gcs.url,
            "PUBSUB_EMULATOR_HOST": self.pubsub.host,
            # The function's Vision endpoint: the local stand-in.
            **({"VISION_API_ENDPOINT": self.vision.url} if self.vision else {}),
            "PUBSUB_PROJECT_ID": self.settings.project,
            # gsutil: the emulator's HTTPS port, no credentials (see boto.cfg).
            "BOTO_CONFIG": str(paths.boto_config),
            # gcloud: a configuration of its own, so the user's is never touched.
            "CLOUDSDK_CONFIG": str(paths.gcloud_config),
            "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE": str(paths.ca_cert),
            "THUMBNAILER_WEB_URL": self.web.url,
            "THUMBNAILER_FUNCTION_URL": self.function.url,
        }

    def _write_client_configuration(self) -> None:
        assert self.gcs is not None
        assert self.gcs.tls is not None
        paths, settings = self.paths, self.settings
        paths.boto_config.write_text(
            "# gsutil against the local Cloud Storage emulator (written by `make run`).\n"
            "[Credentials]\n"
            "gs_json_host = 127.0.0.1\n"
            f"gs_json_port = {self.gcs.tls.port}\n"
            "[Boto]\n"
            "https_validate_certificates = True\n"
            f"ca_certificates_file = {paths.ca_cert}\n"
            "[GSUtil]\n"
            f"default_project_id = {settings.project}\n"
            "parallel_composite_upload_threshold = 0\n"
            "check_hashes = never\n",
            encoding="utf-8",
        )
        configurations = paths.gcloud_config / "configurations"
        configurations.mkdir(parents=True, exist_ok=True)
        (paths.gcloud_config / "active_config").write_text("default", encoding="utf-8")
        (configurations / "config_default").write_text(
            "[core]\n"
            f"project = {settings.project}\n"
            "disable_usage_reporting = true\n"
            "[auth]\n"
            "disable_credentials = true\n"
            "[component_manager]\n"
            "disable_update_check = true\n"
            "[api_endpoint_overrides]\n"
            f"storage = {self.gcs.url}/storage/v1/\n",
            encoding="utf-8",
        )
        lines = ["# Written by `make run`: point gsutil, gcloud and Cloud Storage clients at the local pipeline."]
        lines += [f"export {name}={shlex.quote(value)}" for name, value in self.exports().items()]
        paths.env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    # -- stop --------------------------------------------------------------------------

    def stop(self) -> None:
        while self._stoppers:
            stop = self._stoppers.pop()
            try:
                stop()
            except Exception:
                logger.exception("stopping a part of the local pipeline failed")
        if self.paths.env_file.exists():
            self.paths.env_file.unlink()  # it would point at servers that are gone

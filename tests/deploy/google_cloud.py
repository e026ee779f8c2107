"""A local stand-in for the Google Cloud APIs that deploy.sh reaches through gcloud.

The real Google Cloud CLI is pointed here with `api_endpoint_overrides/*` (one port, one
path prefix per service, see docs/gcloud-offline.md). The stand-in keeps just enough
state to answer plausibly: a resource is "not found" until it is created, operations
finish after one poll, policies keep what was set. It records every request, so tests
assert on what gcloud actually sent, and it keeps every source archive gcloud uploaded.

A request it has no route for is answered 404 and listed in `unrouted`: if a new gcloud
starts calling something else, the tests say so instead of passing by accident.

gcloud is also given the stand-in as its HTTP proxy, for the one thing overrides cannot
do: Cloud Run's regional hosts (see write_gcloud_config); each request keeps its host.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.routing import BaseConverter
from werkzeug.serving import WSGIRequestHandler, make_server

PROJECT_NUMBER = "123456789012"
FUNCTION_TYPE = "type.googleapis.com/google.cloud.functions.v2.Function"
BUILD_TYPE = "type.googleapis.com/google.devtools.cloudbuild.v1.Build"
BUILD_METADATA_TYPE = "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata"
TRIGGER_TYPE = "type.googleapis.com/google.cloud.eventarc.v1.Trigger"
EVENTARC_METADATA_TYPE = "type.googleapis.com/google.cloud.eventarc.v1.OperationMetadata"
REPOSITORY_TYPE = "type.googleapis.com/google.devtools.artifactregistry.v1.Repository"
OPERATION_METADATA_TYPE = "type.googleapis.com/google.cloud.functions.v2.OperationMetadata"

Json = dict[str, Any]

OVERRIDE_PREFIXES = {
    "serviceusage": "serviceusage/",
    "cloudresourcemanager": "crm/",
    "iam": "iam/",
    "cloudfunctions": "cloudfunctions/",
    "cloudbuild": "cloudbuild/",
    "run": "run/",
    "storage": "storage/v1/",
    "pubsub": "pubsub/",
    "logging": "logging/",
    "monitoring": "monitoring/",
    "eventarc": "eventarc/",
    "artifactregistry": "artifactregistry/",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as gcloud sent it (the body parsed when it was JSON)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None
    status: int = 0
    host: str = ""  # as gcloud addressed it: "127.0.0.1:PORT", or Cloud Run's "REGION-127.0.0.1:PORT"


@dataclass(frozen=True)
class InjectedFailure:
    """Answer the next `times` requests matching method and path with this error."""

    method: str
    path_pattern: str
    status: int
    message: str
    times: int = 1


@dataclass
class Operation:
    """A long-running operation that is still running for `polls_left` more GETs."""

    final: Json
    polls_left: int = 1


class _QuietRequestHandler(WSGIRequestHandler):
    # The stand-in records requests itself; werkzeug's access log would only add noise.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _NameConverter(BaseConverter):
    # A resource id: no "/" and no ":" (so "projects/P:getIamPolicy" routes to the method).
    regex = r"[^/:]+"


def google_error(status: int, message: str) -> tuple[Response, int]:
    names = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}
    return jsonify({"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}), status


@dataclass
class GoogleCloud:
    """The state of one pretend project and the HTTP app that serves it."""

    project_id: str
    region: str = "us-central1"
    requests: list[RecordedRequest] = field(default_factory=list)
    unrouted: list[str] = field(default_factory=list)
    enabled_services: set[str] = field(default_factory=set)
    buckets: dict[str, Json] = field(default_factory=dict)
    bucket_policies: dict[str, Json] = field(default_factory=dict)
    objects: dict[str, dict[str, Json]] = field(default_factory=dict)
    service_accounts: dict[str, Json] = field(default_factory=dict)
    project_policy: Json = field(default_factory=dict)
    functions: dict[str, Json] = field(default_factory=dict)
    service_policies: dict[str, Json] = field(default_factory=dict)
    topics: dict[str, Json] = field(default_factory=dict)
    topic_policies: dict[str, Json] = field(default_factory=dict)
    triggers: dict[str, Json] = field(default_factory=dict)
    subscriptions: dict[str, Json] = field(default_factory=dict)
    subscription_policies: dict[str, Json] = field(default_factory=dict)
    metrics: dict[str, Json] = field(default_factory=dict)
    alert_policies: dict[str, Json] = field(default_factory=dict)
    channels: dict[str, Json] = field(default_factory=dict)
    dashboards: dict[str, Json] = field(default_factory=dict)
    repositories: dict[str, Json] = field(default_factory=dict)
    builds: dict[str, Json] = field(default_factory=dict)
    jobs: dict[str, Json] = field(default_factory=dict)
    executions: dict[str, Json] = field(default_factory=dict)
    execution_requests: dict[str, Json] = field(default_factory=dict)  # the overrides each was run with
    uploads: list[bytes] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)  # "BUCKET/NAME": what was uploaded
    operations: dict[str, Operation] = field(default_factory=dict)
    failures: list[InjectedFailure] = field(default_factory=list)
    base_url: str = ""

    def __post_init__(self) -> None:
        self.project_policy = {
            "version": 1,
            "etag": "BwYAAAAAAAA=",
            "bindings": [{"role": "roles/owner", "members": ["user:owner@example.com"]}],
        }
        self._lock = threading.RLock()
        self._ids = itertools.count(1)

    # --- what tests use ----------------------------------------------------------------
    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on a free port of 127.0.0.1; yields the base URL."""
        server = make_server("127.0.0.1", 0, self.app(), threaded=True, request_handler=_QuietRequestHandler)
        self.base_url = f"http://127.0.0.1:{server.port}"
        thread = threading.Thread(target=server.serve_forever, name="google-cloud-stand-in", daemon=True)
        thread.start()
        try:
            yield self.base_url
        finally:
            server.shutdown()
            thread.join()

    def write_gcloud_config(self, directory: Path) -> None:
        """A CLOUDSDK_CONFIG with no credentials, whose every API call comes here."""
        overrides = "\n".join(f"{key} = {self.base_url}/{prefix}" for key, prefix in OVERRIDE_PREFIXES.items())
        (directory / "configurations").mkdir(parents=True, exist_ok=True)
        (directory / "active_config").write_text("default")
        # gcloud run reaches Cloud Run on a regional host it makes by prefixing the region
        # to the override's ("us-central1-127.0.0.1"), which no resolver knows; as an HTTP
        # proxy the stand-in receives those requests too, and records the host they were for.
        port = self.base_url.rsplit(":", 1)[1]
        (directory / "configurations" / "config_default").write_text(
            "[core]\ndisable_usage_reporting = true\n"
            "[auth]\ndisable_credentials = true\n"
            "[component_manager]\ndisable_update_check = true\n"
            f"[proxy]\ntype = http\naddress = 127.0.0.1\nport = {port}\n"
            f"[api_endpoint_overrides]\n{overrides}\n"
        )

    def fail(self, failure: InjectedFailure) -> None:
        with self._lock:
            self.failures.append(failure)

    def add_bucket(self, name: str, location: str) -> None:
        """A bucket that was there before deploy.sh ran."""
        with self._lock:
            self._add_bucket({"name": name, "location": location})

    def _add_bucket(self, body: Json) -> None:
        name = body["name"]
        self.buckets[name] = body | {
            "kind": "storage#bucket",
            "id": name,
            "location": body["location"].upper(),
            "projectNumber": PROJECT_NUMBER,
            "iamConfiguration": body.get("iamConfiguration", {}),
        }
        self.objects[name] = {}
        self.bucket_policies[name] = {
            "version": 1,
            "etag": "CAE=",
            "bindings": [
                {
                    "role": "roles/storage.legacyBucketOwner",
                    "members": [f"projectEditor:{self.project_id}", f"projectOwner:{self.project_id}"],
                },
                {"role": "roles/storage.legacyBucketReader", "members": [f"projectViewer:{self.project_id}"]},
            ],
        }

    def add_channel(self, email: str) -> str:
        """An email notification channel someone made before deploy.sh ran."""
        with self._lock:
            name = f"projects/{self.project_id}/notificationChannels/{next(self._ids)}"
            self.channels[name] = {
                "name": name, "type": "email", "displayName": "on-call", "labels": {"email_address": email},
            }  # fmt: skip
            return name

    def add_object(self, bucket: str, name: str) -> None:
        with self._lock:
            self.objects[bucket][name] = {
                "kind": "storage#object",
                "bucket": bucket,
                "name": name,
                "size": "3",
                "generation": "1700000000000001",
                "metageneration": "1",
            }

    def snapshot(self) -> Json:
        """Everything that exists, for comparing before and after a run."""
        with self._lock:
            return copy.deepcopy(
                {
                    "enabled_services": sorted(self.enabled_services),
                    "buckets": {name: bucket["iamConfiguration"] for name, bucket in self.buckets.items()},
                    "bucket_policies": {name: bindings_of(p) for name, p in self.bucket_policies.items()},
                    "service_accounts": sorted(self.service_accounts),
                    "project_policy": bindings_of(self.project_policy),
                    "functions": sorted(self.functions),
                    "service_policies": {name: bindings_of(p) for name, p in self.service_policies.items()},
                    "topics": sorted(self.topics),
                    "topic_policies": {name: bindings_of(p) for name, p in self.topic_policies.items()},
                    "subscriptions": {
                        name: sub.get("deadLetterPolicy", {}) for name, sub in self.subscriptions.items()
                    },
                    "subscription_policies": {name: bindings_of(p) for name, p in self.subscription_policies.items()},
                    "metrics": self.metrics,
                    "alert_policies": {p["displayName"]: p for p in self.alert_policies.values()},
                    "channels": {c["name"]: c for c in self.channels.values()},
                    "dashboards": {d["displayName"]: d for d in self.dashboards.values()},
                    "triggers": {
                        name: {key: t.get(key) for key in ("eventFilters", "destination", "serviceAccount", "labels")}
                        for name, t in self.triggers.items()
                    },
                    "jobs": {name: job["spec"] for name, job in self.jobs.items()},
                }
            )

    @property
    def service_agent(self) -> str:
        return f"service-{PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"

    # --- the app -------------------------------------------------------------------------
    def app(self) -> Flask:
        app = Flask(__name__)
        app.url_map.converters["id"] = _NameConverter
        app.url_map.strict_slashes = False
        for rule, methods, view in self._routes():
            app.add_url_rule(rule, view.__name__, view, methods=methods)
        app.before_request(self._before)
        app.after_request(self._record)
        app.register_error_handler(404, self._unrouted)
        app.register_error_handler(405, self._unrouted)
        return app

    def _routes(self) -> list[tuple[str, list[str], Any]]:
        services = "/serviceusage/v1/projects/<id:project>/services"
        crm = "/crm/v1/projects/<id:project>"
        accounts = "/iam/v1/projects/<id:project>/serviceAccounts"
        location = "/cloudfunctions/v2/projects/<id:project>/locations/<id:region>"
        run_service = "/run/v1/projects/<id:project>/locations/<id:region>/services/<id:service>"
        registry = "/artifactregistry/v1/projects/<id:project>/locations/<id:region>"
        eventarc = "/eventarc/v1/projects/<id:project>/locations/<id:region>"
        # Cloud Run jobs: the Knative-style v1 API, which gcloud reaches on the regional host.
        namespace = "/run/apis/run.googleapis.com/v1/namespaces/<id:project>"
        jobs = f"{namespace}/jobs"
        return [
            (f"{services}:batchEnable", ["POST"], self.batch_enable),
            (f"{services}/<id:service>", ["GET"], self.get_service),
            ("/serviceusage/v1/operations/<path:name>", ["GET"], self.get_service_operation),
            (crm, ["GET"], self.get_project),
            (f"{crm}:getIamPolicy", ["POST"], self.get_project_policy),
            (f"{crm}:setIamPolicy", ["POST"], self.set_project_policy),
            (accounts, ["POST"], self.create_service_account),
            (f"{accounts}/<id:email>", ["GET", "DELETE"], self.service_account),
            (
                "/cloudbuild/v1/projects/<id:project>/locations/<id:region>/defaultServiceAccount",
                ["GET"],
                self.default_build_account,
            ),
            ("/storage/v1/b", ["GET", "POST"], self.bucket_collection),
            ("/storage/v1/b/<id:bucket>", ["GET", "DELETE"], self.bucket),
            ("/storage/v1/b/<id:bucket>/iam", ["GET", "PUT"], self.bucket_policy),
            ("/storage/v1/b/<id:bucket>/storageLayout", ["GET"], self.storage_layout),
            ("/storage/v1/b/<id:bucket>/o", ["GET"], self.list_objects),
            ("/storage/v1/b/<id:bucket>/managedFolders", ["GET"], self.list_managed_folders),
            ("/storage/v1/b/<id:bucket>/o/<path:name>", ["GET", "DELETE"], self.object),
            ("/storage/v1/projects/<id:project>/serviceAccount", ["GET"], self.get_service_agent),
            ("/upload/storage/v1/b/<id:bucket>/o", ["POST"], self.upload_object),
            (f"{location}/runtimes", ["GET"], self.list_runtimes),
            (f"{location}/functions:generateUploadUrl", ["POST"], self.generate_upload_url),
            ("/source-upload/<id:name>", ["PUT"], self.receive_upload),
            (f"{location}/functions", ["POST"], self.create_function),
            (f"{location}/functions/<id:function>", ["GET", "PATCH", "DELETE"], self.function),
            (f"{location}/operations/<id:operation>", ["GET"], self.get_function_operation),
            ("/pubsub/v1/projects/<id:project>/topics/<id:topic>", ["GET", "PUT", "DELETE"], self.topic),
            ("/pubsub/v1/projects/<id:project>/topics/<id:topic>:getIamPolicy", ["GET", "POST"], self.topic_policy),
            ("/pubsub/v1/projects/<id:project>/topics/<id:topic>:setIamPolicy", ["POST"], self.topic_policy),
            (
                "/pubsub/v1/projects/<id:project>/subscriptions/<id:subscription>",
                ["GET", "PUT", "PATCH", "DELETE"],
                self.subscription,
            ),
            (
                "/pubsub/v1/projects/<id:project>/subscriptions/<id:subscription>:getIamPolicy",
                ["GET", "POST"],
                self.subscription_policy,
            ),
            (
                "/pubsub/v1/projects/<id:project>/subscriptions/<id:subscription>:setIamPolicy",
                ["POST"],
                self.subscription_policy,
            ),
            (f"{eventarc}/triggers", ["POST"], self.create_trigger),
            (f"{eventarc}/triggers/<id:trigger>", ["GET", "PATCH", "DELETE"], self.trigger),
            (f"{eventarc}/operations/<id:operation>", ["GET"], self.get_eventarc_operation),
            ("/logging/v2/projects/<id:project>/metrics", ["POST"], self.create_metric),
            ("/logging/v2/projects/<id:project>/metrics/<id:metric>", ["GET", "PUT", "DELETE"], self.metric),
            ("/monitoring/v3/projects/<id:project>/alertPolicies", ["GET", "POST"], self.alert_policy_collection),
            (
                "/monitoring/v3/projects/<id:project>/alertPolicies/<id:policy>",
                ["GET", "PATCH", "DELETE"],
                self.alert_policy,
            ),
            ("/monitoring/v3/projects/<id:project>/notificationChannels", ["GET", "POST"], self.channel_collection),
            (
                "/monitoring/v3/projects/<id:project>/notificationChannels/<id:channel>",
                ["GET", "PATCH", "DELETE"],
                self.channel,
            ),
            ("/monitoring/v1/projects/<id:project>/dashboards", ["GET", "POST"], self.dashboard_collection),
            (
                "/monitoring/v1/projects/<id:project>/dashboards/<id:dashboard>",
                ["GET", "PATCH", "DELETE"],
                self.dashboard,
            ),
            (f"{run_service}:getIamPolicy", ["GET", "POST"], self.get_service_policy),
            (f"{run_service}:setIamPolicy", ["POST"], self.set_service_policy),
            (f"{registry}/repositories", ["POST"], self.create_repository),
            (f"{registry}/repositories/<id:repository>", ["GET"], self.repository),
            (f"{registry}/operations/<id:operation>", ["GET"], self.get_registry_operation),
            ("/run/v2/projects/<id:project>/locations/<id:region>/builds:submit", ["POST"], self.submit_build),
            (jobs, ["POST"], self.create_job),
            (f"{jobs}/<id:job>", ["GET", "PUT", "DELETE"], self.job),
            (f"{jobs}/<id:job>:run", ["POST"], self.run_job),
            (f"{namespace}/executions/<id:execution>", ["GET"], self.execution),
            (
                "/cloudbuild/v1/projects/<id:project>/locations/<id:region>/operations/<id:operation>",
                ["GET"],
                self.get_build_operation,
            ),
        ]

    def _before(self) -> tuple[Response, int] | None:
        with self._lock:
            for index, failure in enumerate(self.failures):
                if request.method == failure.method and re.fullmatch(failure.path_pattern, request.path):
                    if failure.times <= 1:
                        del self.failures[index]
                    else:
                        self.failures[index] = InjectedFailure(**{**failure.__dict__, "times": failure.times - 1})
                    return google_error(failure.status, failure.message)
        return None

    def _record(self, response: Response) -> Response:
        body: Any = None
        if request.path.startswith("/source-upload/"):
            body = {"bytes": request.content_length}
        elif request.data:
            body = request.get_json(silent=True)
        query = {key: value for key, value in request.args.items() if key != "alt"}
        recorded = RecordedRequest(
            request.method,
            request.path,
            query,
            body,
            request.headers.get("Authorization"),
            response.status_code,
            request.host,
        )
        with self._lock:
            self.requests.append(recorded)
        return response

    def _unrouted(self, error: Exception) -> tuple[Response, int]:
        with self._lock:
            self.unrouted.append(f"{request.method} {request.path}")
        return google_error(404, f"the stand-in has no route for {request.method} {request.path}")

    def _new_etag(self) -> str:
        # gcloud decodes etags as base64 bytes.
        return base64.b64encode(f"etag-{next(self._ids)}".encode()).decode()

    def _new_operation(self, parent: str, final: Json) -> Json:
        name = f"{parent}/operations/operation-{next(self._ids)}"
        final = {"name": name, "done": True, **final}
        self.operations[name] = Operation(final)
        return {key: value for key, value in final.items() if key not in {"response", "done"}} | {"done": False}

    def _poll(self, name: str) -> tuple[Response, int] | Response:
        operation = self.operations.get(name)
        if operation is None:
            return google_error(404, f"operation {name} not found")
        if operation.polls_left > 0:
            operation.polls_left -= 1
            pending = {key: value for key, value in operation.final.items() if key != "response"}
            return jsonify(pending | {"done": False})
        return jsonify(operation.final)

    # --- Service Usage -----------------------------------------------------------------
    def batch_enable(self, project: str) -> Response:
        ids = request.get_json()["serviceIds"]
        with self._lock:
            self.enabled_services.update(ids)
        services = [{"name": f"projects/{PROJECT_NUMBER}/services/{i}", "state": "ENABLED"} for i in ids]
        response = {
            "@type": "type.googleapis.com/google.api.serviceusage.v1.BatchEnableServicesResponse",
            "services": services,
        }
        return jsonify({"name": f"operations/enable-{next(self._ids)}", "done": True, "response": response})

    def get_service(self, project: str, service: str) -> Response:
        # gcloud functions deploy checks run, cloudbuild and artifactregistry are on;
        # deploy.sh has enabled them in its first step.
        state = "ENABLED" if service in self.enabled_services else "DISABLED"
        return jsonify({"name": f"projects/{PROJECT_NUMBER}/services/{service}", "state": state})

    def get_service_operation(self, name: str) -> tuple[Response, int] | Response:
        return self._poll(f"operations/{name}")

    # --- Resource Manager ----------------------------------------------------------------
    def _check_project(self, project: str) -> tuple[Response, int] | None:
        if project in (self.project_id, PROJECT_NUMBER):
            return None
        return google_error(403, f"The caller does not have permission on project {project}")

    def get_project(self, project: str) -> tuple[Response, int] | Response:
        return self._check_project(project) or jsonify(
            {"projectId": self.project_id, "projectNumber": PROJECT_NUMBER, "lifecycleState": "ACTIVE"}
        )

    def get_project_policy(self, project: str) -> tuple[Response, int] | Response:
        with self._lock:
            return self._check_project(project) or jsonify(self.project_policy)

    def set_project_policy(self, project: str) -> tuple[Response, int] | Response:
        if denied := self._check_project(project):
            return denied
        with self._lock:
            self.project_policy = request.get_json()["policy"] | {"etag": self._new_etag()}
            return jsonify(self.project_policy)

    # --- IAM service accounts --------------------------------------------------------------
    def create_service_account(self, project: str) -> tuple[Response, int] | Response:
        body = request.get_json()
        email = f"{body['accountId']}@{self.project_id}.iam.gserviceaccount.com"
        with self._lock:
            if email in self.service_accounts:
                return google_error(409, f"Service account {body['accountId']} already exists")
            account = {
                "name": f"projects/{self.project_id}/serviceAccounts/{email}",
                "email": email,
                "projectId": self.project_id,
                **body.get("serviceAccount", {}),
            }
            self.service_accounts[email] = account
            return jsonify(account)

    def service_account(self, project: str, email: str) -> tuple[Response, int] | Response:
        with self._lock:
            account = self.service_accounts.get(email)
            if account is None:
                return google_error(404, f"Unknown service account {email}")
            if request.method == "DELETE":
                del self.service_accounts[email]
                return jsonify({})
            return jsonify(account)

    def default_build_account(self, project: str, region: str) -> Response:
        email = f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com"
        return jsonify({"serviceAccountEmail": f"projects/{project}/serviceAccounts/{email}"})

    # --- Cloud Storage ---------------------------------------------------------------------
    def bucket_collection(self) -> tuple[Response, int] | Response:
        if request.method == "GET":  # a listing: how gcloud's source deploys check they own their bucket
            prefix = request.args.get("prefix", "")
            with self._lock:
                items = [b for name, b in self.buckets.items() if name.startswith(prefix)]
            return jsonify({"kind": "storage#buckets", **({"items": items} if items else {})})
        body = request.get_json()
        name = body["name"]
        with self._lock:
            if name in self.buckets:
                return google_error(409, "Your previous request to create the named bucket succeeded and you own it.")
            self._add_bucket(body)
            return jsonify(self.buckets[name])

    def bucket(self, bucket: str) -> tuple[Response, int] | Response:
        with self._lock:
            if bucket not in self.buckets:
                return _no_such_bucket()
            if request.method == "DELETE":
                if self.objects[bucket]:
                    return google_error(409, "The bucket you tried to delete is not empty.")
                del self.buckets[bucket], self.bucket_policies[bucket], self.objects[bucket]
                return Response(status=204)
            return jsonify(self.buckets[bucket])

    def bucket_policy(self, bucket: str) -> tuple[Response, int] | Response:
        with self._lock:
            if bucket not in self.buckets:
                return _no_such_bucket()
            if request.method == "PUT":
                self.bucket_policies[bucket] = request.get_json() | {"etag": self._new_etag()}
            return jsonify(self.bucket_policies[bucket] | {"kind": "storage#policy"})

    def storage_layout(self, bucket: str) -> tuple[Response, int] | Response:
        with self._lock:
            if bucket not in self.buckets:
                return _no_such_bucket()
            location = self.buckets[bucket]["location"]
        return jsonify(
            {
                "kind": "storage#storageLayout",
                "bucket": bucket,
                "location": location,
                "locationType": "region",
                "hierarchicalNamespace": {"enabled": False},
            }
        )

    def list_objects(self, bucket: str) -> tuple[Response, int] | Response:
        with self._lock:
            if bucket not in self.buckets:
                return _no_such_bucket()
            items = list(self.objects[bucket].values())
            return jsonify({"kind": "storage#objects", **({"items": items} if items else {})})

    def list_managed_folders(self, bucket: str) -> Response:
        return jsonify({"kind": "storage#managedFolders"})  # none: deploy.sh never makes any

    def object(self, bucket: str, name: str) -> tuple[Response, int] | Response:
        with self._lock:
            found = self.objects.get(bucket, {}).get(name)
            if found is None:
                return google_error(404, f"No such object: {bucket}/{name}")
            if request.method == "DELETE":
                del self.objects[bucket][name]
                return Response(status=204)
            return jsonify(found)

    def upload_object(self, bucket: str) -> tuple[Response, int] | Response:
        """A multipart upload (the object's JSON, then its bytes), as gcloud sends a source archive."""
        if request.args.get("uploadType") != "multipart":
            return google_error(400, f"the stand-in takes multipart uploads only, not {request.args.get('uploadType')}")
        parts = _multipart_related(request.headers.get("Content-Type", ""), request.get_data())
        if len(parts) != 2:
            return google_error(400, f"a multipart upload has 2 parts (metadata, media), not {len(parts)}")
        (_, metadata_bytes), (media_type, media) = parts
        metadata = json.loads(metadata_bytes)
        name = request.args.get("name") or metadata["name"]
        with self._lock:
            if bucket not in self.buckets:
                return _no_such_bucket()
            self.uploads.append(media)
            self.objects[bucket][name] = {
                "kind": "storage#object", "bucket": bucket, "name": name, "size": str(len(media)),
                "generation": str(1700000000000000 + next(self._ids)), "metageneration": "1",
                "contentType": media_type,
            }  # fmt: skip
            self.media[f"{bucket}/{name}"] = media
            return jsonify(self.objects[bucket][name])

    def get_service_agent(self, project: str) -> Response:
        # The JSON API really spells this one field in snake case.
        return jsonify({"kind": "storage#serviceAccount", "email_address": self.service_agent})

    # --- Cloud Functions v2 ----------------------------------------------------------------
    def list_runtimes(self, project: str, region: str) -> Response:
        return jsonify(
            {
                "runtimes": [
                    {"name": "python313", "displayName": "Python 3.13", "stage": "GA", "environment": "GEN_2"},
                    {"name": "python312", "displayName": "Python 3.12", "stage": "GA", "environment": "GEN_2"},
                ]
            }
        )

    def generate_upload_url(self, project: str, region: str) -> Response:
        name = f"function-source-{next(self._ids)}.zip"
        storage_source = {
            "bucket": f"gcf-v2-uploads-{PROJECT_NUMBER}.{region}.cloudfunctions.appspot.com",
            "object": name,
        }
        return jsonify({"uploadUrl": f"{self.base_url}/source-upload/{name}", "storageSource": storage_source})

    def receive_upload(self, name: str) -> Response:
        with self._lock:
            self.uploads.append(request.get_data())
        return Response(status=200)

    def _finish_function(self, name: str, function: Json) -> Json:
        service = name.rsplit("/", 1)[1]
        location = name.rsplit("/functions/", 1)[0]
        function = copy.deepcopy(function) | {"name": name, "state": "ACTIVE", "environment": "GEN_2"}
        function.setdefault("serviceConfig", {})["service"] = f"{location}/services/{service}"
        if "eventTrigger" in function:
            trigger = f"{location}/triggers/{service}-1"
            function["eventTrigger"]["trigger"] = trigger
            if trigger not in self.triggers:  # Eventarc makes the trigger's subscription with it
                project, region = location.split("/")[1], location.split("/")[3]
                subscription = f"projects/{project}/subscriptions/eventarc-{region}-{service}-1-sub-100"
                topic = f"projects/{project}/topics/eventarc-{region}-{service}-1-100"
                self.triggers[trigger] = {
                    "name": trigger,
                    "transport": {"pubsub": {"topic": topic, "subscription": subscription}},
                }
                self.subscriptions[subscription] = {"name": subscription, "topic": topic, "ackDeadlineSeconds": 600}
                self.subscription_policies[subscription] = {"etag": self._new_etag()}
        return function

    def _function_operation(self, name: str, verb: str, response: Json) -> Json:
        stages = [{"name": stage, "state": "COMPLETE"} for stage in ("BUILD", "SERVICE", "TRIGGER")]
        metadata = {"@type": OPERATION_METADATA_TYPE, "target": name, "verb": verb, "stages": stages}
        return self._new_operation(name.rsplit("/functions/", 1)[0], {"metadata": metadata, "response": response})

    def create_function(self, project: str, region: str) -> tuple[Response, int] | Response:
        name = f"projects/{project}/locations/{region}/functions/{request.args['functionId']}"
        with self._lock:
            if name in self.functions:
                return google_error(409, f"Function {name} already exists")
            self.functions[name] = self._finish_function(name, request.get_json())
            return jsonify(self._function_operation(name, "create", self.functions[name] | {"@type": FUNCTION_TYPE}))

    def function(self, project: str, region: str, function: str) -> tuple[Response, int] | Response:
        name = f"projects/{project}/locations/{region}/functions/{function}"
        with self._lock:
            existing = self.functions.get(name)
            if existing is None:
                return google_error(404, f"Resource '{name}' was not found")
            if request.method == "GET":
                return jsonify(existing)
            if request.method == "DELETE":
                del self.functions[name]
                self.service_policies.pop(existing["serviceConfig"]["service"], None)
                trigger = self.triggers.pop(existing.get("eventTrigger", {}).get("trigger", ""), None)
                if trigger is not None:  # and Eventarc deletes the subscription it made
                    subscription = trigger["transport"]["pubsub"]["subscription"]
                    self.subscriptions.pop(subscription, None)
                    self.subscription_policies.pop(subscription, None)
                empty = {"@type": "type.googleapis.com/google.protobuf.Empty"}
                return jsonify(self._function_operation(name, "delete", empty))
            # A PATCH replaces the fields its update mask names; gcloud sends the whole
            # new function, so taking its top-level fields is close enough here.
            self.functions[name] = self._finish_function(name, existing | request.get_json())
            return jsonify(self._function_operation(name, "update", self.functions[name] | {"@type": FUNCTION_TYPE}))

    def get_function_operation(self, project: str, region: str, operation: str) -> tuple[Response, int] | Response:
        with self._lock:
            return self._poll(f"projects/{project}/locations/{region}/operations/{operation}")

    # --- Pub/Sub (the result topic) ----------------------------------------------------------
    def topic(self, project: str, topic: str) -> tuple[Response, int] | Response:
        name = f"projects/{project}/topics/{topic}"
        with self._lock:
            if request.method == "PUT":
                if name in self.topics:
                    return google_error(409, "Topic already exists")
                self.topics[name] = {"name": name, **(request.get_json(silent=True) or {})}
                self.topic_policies[name] = {"etag": self._new_etag()}
            if name not in self.topics:
                return google_error(404, "Topic not found")
            if request.method == "DELETE":
                del self.topics[name], self.topic_policies[name]
                return jsonify({})
            return jsonify(self.topics[name])

    def topic_policy(self, project: str, topic: str) -> tuple[Response, int] | Response:
        name = f"projects/{project}/topics/{topic}"
        with self._lock:
            if name not in self.topics:
                return google_error(404, "Topic not found")
            if request.path.endswith(":setIamPolicy"):
                self.topic_policies[name] = request.get_json()["policy"] | {"etag": self._new_etag()}
            return jsonify(self.topic_policies[name])

    def subscription(self, project: str, subscription: str) -> tuple[Response, int] | Response:
        name = f"projects/{project}/subscriptions/{subscription}"
        with self._lock:
            if request.method == "PUT":
                if name in self.subscriptions:
                    return google_error(409, "Subscription already exists")
                body = request.get_json()
                if body.get("topic") not in self.topics:
                    return google_error(404, "Topic not found")
                self.subscriptions[name] = {**body, "name": name}
                self.subscription_policies[name] = {"etag": self._new_etag()}
            existing = self.subscriptions.get(name)
            if existing is None:
                return google_error(404, "Subscription does not exist")
            if request.method == "DELETE":
                del self.subscriptions[name], self.subscription_policies[name]
                return jsonify({})
            if request.method == "PATCH":
                update = request.get_json()
                paths = update["updateMask"].split(",")
                given = update["subscription"]
                for path in paths:
                    key = path.split(".")[0]
                    key = re.sub(r"_([a-z])", lambda m: m[1].upper(), key)
                    if key in given:
                        existing[key] = given[key]
                    else:
                        existing.pop(key, None)
            return jsonify(existing)

    def subscription_policy(self, project: str, subscription: str) -> tuple[Response, int] | Response:
        name = f"projects/{project}/subscriptions/{subscription}"
        with self._lock:
            if name not in self.subscriptions:
                return google_error(404, "Subscription does not exist")
            if request.path.endswith(":setIamPolicy"):
                self.subscription_policies[name] = request.get_json()["policy"] | {"etag": self._new_etag()}
            return jsonify(self.subscription_policies[name])

    # --- Eventarc ------------------------------------------------------------------------------
    def _new_trigger(self, name: str, body: Json) -> Json:
        """A trigger as Eventarc keeps it, with the Pub/Sub subscription it makes for it."""
        project, region, trigger_id = name.split("/")[1], name.split("/")[3], name.rsplit("/", 1)[1]
        number = next(self._ids)
        subscription = f"projects/{project}/subscriptions/eventarc-{region}-{trigger_id}-sub-{number}"
        topic = f"projects/{project}/topics/eventarc-{region}-{trigger_id}-{number}"
        self.subscriptions[subscription] = {"name": subscription, "topic": topic, "ackDeadlineSeconds": 600}
        self.subscription_policies[subscription] = {"etag": self._new_etag()}
        return body | {
            "name": name, "uid": f"uid-{number}", "etag": self._new_etag(),
            "transport": {"pubsub": {"topic": topic, "subscription": subscription}},
        }  # fmt: skip

    def _trigger_refusal(self, region: str, body: Json) -> tuple[Response, int] | None:
        """What Eventarc checks before it makes a Cloud Storage trigger to a Cloud Run
        service: the bucket is there and in the trigger's location, the service and the
        service account exist."""
        filters = {f["attribute"]: f["value"] for f in body.get("eventFilters", [])}
        bucket = self.buckets.get(filters.get("bucket", ""))
        if filters.get("type", "").startswith("google.cloud.storage.object.v1."):
            if bucket is None:
                return google_error(400, f"The request was invalid: bucket {filters.get('bucket')!r} not found")
            if bucket["location"].lower() != region:
                return google_error(
                    400, f"The request was invalid: Bucket '{bucket['name']}' location '{bucket['location'].lower()}' "
                    f"does not match trigger location '{region}'. Try again by creating the trigger in "
                    f"'{bucket['location'].lower()}'.",
                )  # fmt: skip
        run = body.get("destination", {}).get("cloudRun", {})
        service = f"services/{run.get('service')}"
        if run and not any(
            f["serviceConfig"]["service"].endswith(f"/locations/{run.get('region')}/{service}")
            for f in self.functions.values()
        ):
            return google_error(400, f"The request was invalid: Cloud Run service {run.get('service')!r} not found")
        if body.get("serviceAccount") and body["serviceAccount"] not in self.service_accounts:
            return google_error(400, f"The request was invalid: service account {body['serviceAccount']} not found")
        return None

    def _trigger_operation(self, name: str, verb: str, response: Json) -> Json:
        metadata = {"@type": EVENTARC_METADATA_TYPE, "target": name, "verb": verb}
        return self._new_operation(name.rsplit("/triggers/", 1)[0], {"metadata": metadata, "response": response})

    def create_trigger(self, project: str, region: str) -> tuple[Response, int] | Response:
        name = f"projects/{project}/locations/{region}/triggers/{request.args['triggerId']}"
        body = request.get_json()
        with self._lock:
            if name in self.triggers:
                return google_error(409, f"Resource '{name}' already exists")
            if refusal := self._trigger_refusal(region, body):
                return refusal
            self.triggers[name] = self._new_trigger(name, body)
            return jsonify(self._trigger_operation(name, "create", self.triggers[name] | {"@type": TRIGGER_TYPE}))

    def trigger(self, project: str, region: str, trigger: str) -> tuple[Response, int] | Response:
        name = f"projects/{project}/locations/{region}/triggers/{trigger}"
        with self._lock:
            found = self.triggers.get(name)
            if found is None:
                return google_error(404, f"Resource '{name}' was not found")
            if request.method == "DELETE":  # and Eventarc deletes the subscription it made
                del self.triggers[name]
                subscription = found["transport"]["pubsub"]["subscription"]
                self.subscriptions.pop(subscription, None)
                self.subscription_policies.pop(subscription, None)
                return jsonify(self._trigger_operation(name, "delete", found | {"@type": TRIGGER_TYPE}))
            if request.method == "PATCH":
                # The mask names leaves (destination.cloudRun.service); gcloud sends the
                # whole new value of each top-level field it names, so those are taken whole.
                given = request.get_json()
                changed = copy.deepcopy(found)
                for path in filter(None, request.args.get("updateMask", "").split(",")):
                    key = re.sub(r"_([a-z])", lambda m: m[1].upper(), path.split(".")[0])
                    if key in given:
                        changed[key] = given[key]
                    else:
                        changed.pop(key, None)
                if refusal := self._trigger_refusal(region, changed):
                    return refusal
                self.triggers[name] = changed | {"etag": self._new_etag()}
                return jsonify(self._trigger_operation(name, "update", self.triggers[name] | {"@type": TRIGGER_TYPE}))
            return jsonify(found)

    def get_eventarc_operation(self, project: str, region: str, operation: str) -> tuple[Response, int] | Response:
        with self._lock:
            return self._poll(f"projects/{project}/locations/{region}/operations/{operation}")

    # --- Cloud Logging: log-based metrics --------------------------------------------------------
    def create_metric(self, project: str) -> tuple[Response, int] | Response:
        body = request.get_json()
        with self._lock:
            if body["name"] in self.metrics:
                return google_error(409, f"Metric {body['name']} already exists")
            self.metrics[body["name"]] = _stored_metric(project, body)
            return jsonify(self.metrics[body["name"]])

    def metric(self, project: str, metric: str) -> tuple[Response, int] | Response:
        with self._lock:
            if metric not in self.metrics:
                return google_error(404, f"Metric {metric} does not exist")
            if request.method == "DELETE":
                del self.metrics[metric]
                return jsonify({})
            if request.method == "PUT":
                self.metrics[metric] = _stored_metric(project, request.get_json() | {"name": metric})
            return jsonify(self.metrics[metric])

    # --- Cloud Monitoring: alert policies, channels, dashboards -------------------------------------
    def _collection(self, store: dict[str, Json], project: str, kind: str, plural: str) -> Response:
        if request.method == "POST":
            body = request.get_json()
            name = f"projects/{project}/{kind}/{next(self._ids)}"
            store[name] = {**body, "name": name}
            if kind == "dashboards":
                store[name]["etag"] = self._new_etag()
            return jsonify(store[name])
        return jsonify({plural: list(store.values())} if store else {})

    def _member(self, store: dict[str, Json], name: str) -> tuple[Response, int] | Response:
        found = store.get(name)
        if found is None:
            return google_error(404, f"Requested entity was not found: {name}")
        if request.method == "DELETE":
            del store[name]
            return jsonify({})
        if request.method == "PATCH":
            body = request.get_json()
            mask = request.args.get("updateMask")
            if mask:
                for path in mask.split(","):
                    key = re.sub(r"_([a-z])", lambda m: m[1].upper(), path.split(".")[0])
                    if key in body:
                        found[key] = body[key]
                    else:  # named in the mask and absent: cleared
                        found.pop(key, None)
            else:
                if "etag" in found and body.get("etag") and body["etag"] != found["etag"]:
                    return google_error(409, "etag mismatch: the dashboard changed meanwhile")
                found = store[name] = {**body, "name": name}
            if "etag" in found:
                found["etag"] = self._new_etag()
        return jsonify(found)

    def alert_policy_collection(self, project: str) -> Response:
        with self._lock:
            return self._collection(self.alert_policies, project, "alertPolicies", "alertPolicies")

    def alert_policy(self, project: str, policy: str) -> tuple[Response, int] | Response:
        with self._lock:
            return self._member(self.alert_policies, f"projects/{project}/alertPolicies/{policy}")

    def channel_collection(self, project: str) -> Response:
        with self._lock:
            return self._collection(self.channels, project, "notificationChannels", "notificationChannels")

    def channel(self, project: str, channel: str) -> tuple[Response, int] | Response:
        with self._lock:
            return self._member(self.channels, f"projects/{project}/notificationChannels/{channel}")

    def dashboard_collection(self, project: str) -> Response:
        with self._lock:
            return self._collection(self.dashboards, project, "dashboards", "dashboards")

    def dashboard(self, project: str, dashboard: str) -> tuple[Response, int] | Response:
        with self._lock:
            return self._member(self.dashboards, f"projects/{project}/dashboards/{dashboard}")

    # --- Cloud Run (the function's service IAM) -----------------------------------------------
    def get_service_policy(self, project: str, region: str, service: str) -> Response:
        with self._lock:
            name = f"projects/{project}/locations/{region}/services/{service}"
            return jsonify(self.service_policies.get(name, {"etag": "BwYAAAAAAAA="}))

    def set_service_policy(self, project: str, region: str, service: str) -> Response:
        with self._lock:
            name = f"projects/{project}/locations/{region}/services/{service}"
            self.service_policies[name] = request.get_json()["policy"] | {"etag": self._new_etag()}
            return jsonify(self.service_policies[name])

    # --- Artifact Registry (where a source deploy's image goes) -----------------------------------
    def create_repository(self, project: str, region: str) -> tuple[Response, int] | Response:
        name = f"projects/{project}/locations/{region}/repositories/{request.args['repositoryId']}"
        with self._lock:
            if name in self.repositories:
                return google_error(409, f"the repository already exists: {name}")
            self.repositories[name] = request.get_json() | {"name": name}
            final = {"response": self.repositories[name] | {"@type": REPOSITORY_TYPE}}
            return jsonify(self._new_operation(f"projects/{project}/locations/{region}", final))

    def repository(self, project: str, region: str, repository: str) -> tuple[Response, int] | Response:
        name = f"projects/{project}/locations/{region}/repositories/{repository}"
        with self._lock:
            found = self.repositories.get(name)
            return jsonify(found) if found else google_error(404, f"Requested entity was not found: {name}")

    def get_registry_operation(self, project: str, region: str, operation: str) -> tuple[Response, int] | Response:
        with self._lock:
            return self._poll(f"projects/{project}/locations/{region}/operations/{operation}")

    # --- Cloud Run builds (a source deploy's buildpacks build, run by Cloud Build) -----------------
    def submit_build(self, project: str, region: str) -> tuple[Response, int] | Response:
        """Builds nothing: checks the source archive was uploaded and the image's repository
        exists, and answers with a finished build whose digest is the archive's hash."""
        body = request.get_json()
        source = body["storageSource"]
        repository = "/".join(body["imageUri"].split("/")[1:3])  # HOST/PROJECT/REPOSITORY/IMAGE
        with self._lock:
            archive = self.media.get(f"{source['bucket']}/{source['object']}")
            if archive is None:
                return google_error(400, f"no source archive gs://{source['bucket']}/{source['object']}")
            owner, name = repository.split("/")
            if f"projects/{owner}/locations/{region}/repositories/{name}" not in self.repositories:
                return google_error(404, f"no Artifact Registry repository for {body['imageUri']}")
            build_id = f"build-{next(self._ids)}"
            digest = "sha256:" + hashlib.sha256(archive).hexdigest()
            build = {
                "id": build_id,
                "name": f"projects/{PROJECT_NUMBER}/locations/{region}/builds/{build_id}",
                "projectId": project,
                "status": "SUCCESS",
                "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region={region}/{build_id}",
                "results": {"images": [{"name": body["imageUri"], "digest": digest}]},
            }
            self.builds[build_id] = {"request": body, "build": build}
            parent = f"projects/{project}/locations/{region}"
            metadata = {"@type": BUILD_METADATA_TYPE, "build": build | {"status": "QUEUED"}}
            self.operations[f"{parent}/operations/{build_id}"] = Operation(
                {"name": f"{parent}/operations/{build_id}", "done": True, "metadata": metadata,
                 "response": build | {"@type": BUILD_TYPE}}
            )  # fmt: skip
            operation = {"name": f"{parent}/operations/{build_id}", "metadata": metadata, "done": False}
            return jsonify({"buildOperation": operation})

    def get_build_operation(self, project: str, region: str, operation: str) -> tuple[Response, int] | Response:
        with self._lock:
            return self._poll(f"projects/{project}/locations/{region}/operations/{operation}")

    # --- Cloud Run jobs ---------------------------------------------------------------------------
    def _ready_job(self, job: Json, generation: int) -> Json:
        """The job as the API answers once it is ready: gcloud waits for a Ready condition
        that has observed the generation it wrote."""
        job = copy.deepcopy(job)
        job["metadata"] |= {"generation": generation, "resourceVersion": self._new_etag()}
        job["status"] = {
            "observedGeneration": generation,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        }
        return job

    @staticmethod
    def _job_path(project: str, job: str) -> str | None:
        """The job's resource name in the region of the host gcloud addressed; None on the
        global host: Cloud Run's v1 jobs API is served on REGION-run.googleapis.com only."""
        match = re.match(r"([a-z]+-[a-z]+[0-9]+)-", request.host)
        return f"projects/{project}/locations/{match[1]}/jobs/{job}" if match else None

    def create_job(self, project: str) -> tuple[Response, int] | Response:
        body = request.get_json()
        name = self._job_path(project, body["metadata"]["name"])
        if name is None:
            return _global_jobs()
        with self._lock:
            if name in self.jobs:
                return google_error(409, f"Resource '{body['metadata']['name']}' already exists.")
            account = body["spec"]["template"]["spec"]["template"]["spec"].get("serviceAccountName")
            if account and account not in self.service_accounts:
                return google_error(400, f"Service account {account} does not exist.")
            self.jobs[name] = self._ready_job(body, 1)
            return jsonify(self.jobs[name])

    def job(self, project: str, job: str) -> tuple[Response, int] | Response:
        name = self._job_path(project, job)
        if name is None:
            return _global_jobs()
        with self._lock:
            existing = self.jobs.get(name)
            if existing is None:
                return _no_such_job(name)
            if request.method == "DELETE":
                del self.jobs[name]
                return jsonify({"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": job}})
            if request.method == "PUT":  # replaceJob: the whole job, as gcloud read and changed it
                self.jobs[name] = self._ready_job(request.get_json(), existing["metadata"]["generation"] + 1)
            return jsonify(self.jobs[name])

    def run_job(self, project: str, job: str) -> tuple[Response, int] | Response:
        """An execution that runs nothing and reports each task done (with the overrides
        gcloud sent, such as the task count)."""
        name = self._job_path(project, job)
        if name is None:
            return _global_jobs()
        with self._lock:
            found = self.jobs.get(name)
            if found is None:
                return _no_such_job(name)
            overrides = (request.get_json(silent=True) or {}).get("overrides", {})
            spec = found["spec"]["template"]["spec"]
            tasks = overrides.get("taskCount", spec.get("taskCount", 1))
            execution = f"{job}-{next(self._ids):05d}"
            conditions = [
                {"type": kind, "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
                for kind in ("Completed", "ResourcesAvailable", "Started")
            ]
            self.executions[execution] = {
                "apiVersion": "run.googleapis.com/v1",
                "kind": "Execution",
                "metadata": {"name": execution, "namespace": project, "generation": 1,
                             "labels": {"run.googleapis.com/job": job}},
                "spec": {"taskCount": tasks, "parallelism": spec.get("parallelism", 0)},
                "status": {"observedGeneration": 1, "conditions": conditions, "succeededCount": tasks},
            }  # fmt: skip
            self.execution_requests[execution] = overrides
            return jsonify(self.executions[execution])

    def execution(self, project: str, execution: str) -> tuple[Response, int] | Response:
        with self._lock:
            found = self.executions.get(execution)
            if found is None:
                return google_error(404, f"Resource '{execution}' of kind 'EXECUTION' does not exist.")
            return jsonify(found)


def _global_jobs() -> tuple[Response, int]:
    return google_error(404, "namespaces.jobs is served on regional endpoints (REGION-run.googleapis.com) only")


def _no_such_job(name: str) -> tuple[Response, int]:
    _, _, _, region, _, job = name.split("/")
    return google_error(404, f"Resource '{job}' of kind 'JOB' in region '{region}' does not exist.")


def _multipart_related(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """The parts of a multipart/related body as (content type, bytes). By hand, because
    gcloud quotes the boundary with single quotes (boundary='===...=='), which the email
    package does not take, and its media part is binary."""
    match = re.search(r"boundary=(\"[^\"]*\"|'[^']*'|[^;\s]+)", content_type)
    if not match:
        return []
    boundary = b"--" + match[1].strip("'\"").encode()
    parts = []
    for chunk in body.split(boundary)[1:]:
        if chunk.startswith(b"--"):  # the closing delimiter
            break
        chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        head, _, content = chunk.partition(b"\r\n\r\n") if b"\r\n\r\n" in chunk else chunk.partition(b"\n\n")
        # The line break before the next delimiter belongs to the delimiter (RFC 2046).
        content = content.removesuffix(b"\r\n") if content.endswith(b"\r\n") else content.removesuffix(b"\n")
        kind = re.search(rb"(?im)^content-type:\s*([^;\r\n]+)", head)
        parts.append(((kind[1].decode().strip() if kind else ""), content))
    return parts


def _stored_metric(project: str, body: Json) -> Json:
    """A LogMetric as the API keeps it: the metric descriptor gets its name and type."""
    stored = copy.deepcopy(body)
    descriptor = stored.setdefault("metricDescriptor", {})
    metric_type = f"logging.googleapis.com/user/{body['name']}"
    descriptor |= {"name": f"projects/{project}/metricDescriptors/{metric_type}", "type": metric_type}
    return stored


def _no_such_bucket() -> tuple[Response, int]:
    return google_error(404, "The specified bucket does not exist.")


def bindings_of(policy: Json) -> dict[str, list[str]]:
    """A policy's bindings as role -> sorted members (etags and order do not matter)."""
    bindings: dict[str, list[str]] = {}
    for binding in policy.get("bindings", []):
        if binding.get("members"):
            bindings[binding["role"]] = sorted(set(bindings.get(binding["role"], [])) | set(binding["members"]))
    return dict(sorted(bindings.items()))

"""deploy.sh from an empty project to a deployed function, again, and away again, with the
real gcloud talking to the stand-in (see conftest.py). Each run builds on the one before:
first deploy -> second deploy -> teardown -> second teardown.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from localdev.function import ROOT
from tests.deploy.conftest import PROJECT, Deployer, DeployRun, function_files
from tests.deploy.google_cloud import InjectedFailure, RecordedRequest

INPUT = f"{PROJECT}-thumbnailer-input"
OUTPUT = f"{PROJECT}-thumbnailer-output"
RUN_SA = f"image-processor-run@{PROJECT}.iam.gserviceaccount.com"
TRIGGER_SA = f"image-processor-trigger@{PROJECT}.iam.gserviceaccount.com"
FUNCTION = f"projects/{PROJECT}/locations/us-central1/functions/image-processor"
SERVICE = f"projects/{PROJECT}/locations/us-central1/services/image-processor"
DEPLOY_ARGUMENTS = (
    "--memory", "512Mi", "--cpu", "1", "--concurrency", "4", "--timeout", "90", "--max-instances", "5",
    "--set", "THUMBNAIL_SIZES=200x200,64x64", "--set", "THUMBNAIL_FORMAT=webp",
)  # fmt: skip
DEPLOY_ENVIRON = {"LOG_LEVEL": "DEBUG"}  # a function setting taken from the environment
APIS = {
    f"{api}.googleapis.com"
    for api in ("cloudfunctions", "run", "cloudbuild", "artifactregistry", "eventarc", "pubsub", "storage", "logging")
}


def created_functions(run: DeployRun) -> list[RecordedRequest]:
    return [r for r in run.sent("POST", "/functions") if r.path.endswith("/functions")]


@pytest.fixture(scope="module")
def first_deploy(project: Deployer) -> DeployRun:
    # A new account is not known to IAM at once; the first grant meets that, as on Google.
    project.cloud.fail(
        InjectedFailure("PUT", rf"/storage/v1/b/{INPUT}/iam", 400, f"Service account {RUN_SA} does not exist.")
    )
    return project.run(*DEPLOY_ARGUMENTS, **DEPLOY_ENVIRON)


@pytest.fixture(scope="module")
def second_deploy(project: Deployer, first_deploy: DeployRun) -> DeployRun:
    return project.run(*DEPLOY_ARGUMENTS, **DEPLOY_ENVIRON)


@pytest.fixture(scope="module")
def teardown(project: Deployer, second_deploy: DeployRun) -> DeployRun:
    project.cloud.add_object(INPUT, "photo.jpg")  # an upload that was never deleted
    return project.run("--teardown", "--delete-buckets", stdin="y\n")


@pytest.fixture(scope="module")
def second_teardown(project: Deployer, teardown: DeployRun) -> DeployRun:
    return project.run("--teardown", "--yes", "--delete-buckets", "--delete-objects")


# --- the first deploy, into an empty project --------------------------------------------
def test_deploy_succeeds_and_says_how_to_try_it(first_deploy: DeployRun) -> None:
    assert first_deploy.returncode == 0, first_deploy.stderr
    assert f"gsutil cp photo.jpg gs://{INPUT}/" in first_deploy.stderr
    assert f"gsutil ls gs://{OUTPUT}/" in first_deploy.stderr
    assert "gcloud functions logs read image-processor" in first_deploy.stderr


def test_gcloud_only_called_what_the_stand_in_knows_and_sent_no_credentials(
    project: Deployer, first_deploy: DeployRun
) -> None:
    assert project.cloud.unrouted == []
    assert first_deploy.requests
    assert {r.authorization for r in first_deploy.requests} == {None}


def test_enables_the_apis(first_deploy: DeployRun) -> None:
    [enable] = first_deploy.sent("POST", "services:batchEnable")
    assert set(enable.body["serviceIds"]) == APIS


def test_creates_both_buckets_in_the_region_private_and_uniform(first_deploy: DeployRun) -> None:
    created = {r.body["name"]: r.body for r in first_deploy.sent("POST", "/storage/v1/b") if r.path == "/storage/v1/b"}
    assert set(created) == {INPUT, OUTPUT}
    for bucket in created.values():
        assert bucket["location"] == "us-central1"
        assert bucket["iamConfiguration"] == {
            "uniformBucketLevelAccess": {"enabled": True},
            "publicAccessPrevention": "enforced",
        }


def test_runtime_account_reads_input_and_writes_output_and_nothing_project_wide(first_deploy: DeployRun) -> None:
    after = first_deploy.after
    assert RUN_SA in after["service_accounts"]
    member = f"serviceAccount:{RUN_SA}"
    roles_on = {
        bucket: [role for role, members in policy.items() if member in members]
        for bucket, policy in after["bucket_policies"].items()
    }
    assert roles_on == {INPUT: ["roles/storage.objectViewer"], OUTPUT: ["roles/storage.objectUser"]}
    assert [role for role, members in after["project_policy"].items() if member in members] == []
    assert first_deploy.sent("PUT", f"/storage/v1/b/{INPUT}/iam")[0].status == 400  # the injected first answer
    assert "IAM does not know the new service account yet; trying again" in first_deploy.stderr


def test_trigger_account_receives_events_and_invokes_this_function_only(first_deploy: DeployRun) -> None:
    after = first_deploy.after
    member = f"serviceAccount:{TRIGGER_SA}"
    assert [role for role, members in after["project_policy"].items() if member in members] == [
        "roles/eventarc.eventReceiver"
    ]
    assert after["service_policies"] == {SERVICE: {"roles/run.invoker": [member]}}
    assert all(member not in members for policy in after["bucket_policies"].values() for members in policy.values())


def test_storage_service_agent_may_publish_to_pubsub(project: Deployer, first_deploy: DeployRun) -> None:
    assert first_deploy.sent("GET", f"/storage/v1/projects/{PROJECT}/serviceAccount")
    publishers = first_deploy.after["project_policy"]["roles/pubsub.publisher"]
    assert publishers == [f"serviceAccount:{project.cloud.service_agent}"]


def test_creates_the_function_as_specified(first_deploy: DeployRun) -> None:
    [create] = created_functions(first_deploy)
    assert create.query == {"functionId": "image-processor"}
    function = create.body
    assert function["buildConfig"]["runtime"] == "python313"
    assert function["buildConfig"]["entryPoint"] == "process_image"
    assert function["eventTrigger"] == {
        "eventType": "google.cloud.storage.object.v1.finalized",
        "eventFilters": [{"attribute": "bucket", "value": INPUT}],
        "retryPolicy": "RETRY_POLICY_RETRY",
        "serviceAccountEmail": TRIGGER_SA,
        "triggerRegion": "us-central1",
    }
    assert function["serviceConfig"] == {
        "availableMemory": "512Mi",
        "availableCpu": "1",
        "timeoutSeconds": 90,
        "maxInstanceRequestConcurrency": 4,
        "maxInstanceCount": 5,
        "ingressSettings": "ALLOW_INTERNAL_ONLY",
        "serviceAccountEmail": RUN_SA,
        "environmentVariables": {
            "OUTPUT_BUCKET": OUTPUT,
            "THUMBNAIL_SIZES": "200x200,64x64",
            "THUMBNAIL_FORMAT": "webp",
            "LOG_LEVEL": "DEBUG",
        },
    }
    assert first_deploy.after["functions"] == [FUNCTION]


def test_uploads_exactly_the_files_the_function_needs(first_deploy: DeployRun) -> None:
    [archive] = first_deploy.uploads
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        uploaded = {info.filename: source.read(info) for info in source.infolist() if not info.is_dir()}
    expected = function_files()
    assert sorted(uploaded) == sorted(expected)
    assert uploaded == expected  # the working tree's bytes, not a stale copy
    [create] = created_functions(first_deploy)
    storage_source = create.body["buildConfig"]["source"]["storageSource"]
    assert storage_source["object"] == first_deploy.sent("PUT", "/source-upload/")[0].path.rsplit("/", 1)[1]


def test_list_files_for_upload_agrees(project: Deployer) -> None:
    result = project.gcloud("meta", "list-files-for-upload", str(ROOT))
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(function_files())


# --- the second deploy, where everything exists --------------------------------------------
def test_second_deploy_creates_nothing_and_changes_no_grant(second_deploy: DeployRun, first_deploy: DeployRun) -> None:
    assert second_deploy.returncode == 0, second_deploy.stderr
    creations = [
        r for r in second_deploy.requests
        if r.method == "POST" and (r.path == "/storage/v1/b" or r.path.endswith(("/serviceAccounts", "/functions")))
    ]  # fmt: skip
    assert creations == []
    assert second_deploy.before == first_deploy.after
    assert second_deploy.after == second_deploy.before
    for bucket in (INPUT, OUTPUT):
        assert f"Bucket gs://{bucket} exists" in second_deploy.stderr
    assert "Service account image-processor-run exists" in second_deploy.stderr


def test_second_deploy_updates_the_function_with_fresh_source(project: Deployer, second_deploy: DeployRun) -> None:
    [update] = second_deploy.sent("PATCH", "/functions/image-processor")
    assert update.query["updateMask"]
    assert update.body["buildConfig"]["source"]["storageSource"]["object"].endswith(".zip")
    assert len(second_deploy.uploads) == 1
    function = project.cloud.functions[FUNCTION]
    assert function["serviceConfig"]["environmentVariables"]["THUMBNAIL_SIZES"] == "200x200,64x64"


# --- teardown --------------------------------------------------------------------------------
def test_teardown_removes_function_accounts_and_grants(teardown: DeployRun) -> None:
    assert teardown.returncode == 0, teardown.stderr
    after = teardown.after
    assert after["functions"] == []
    assert after["service_accounts"] == []
    assert after["service_policies"] == {}
    everything_granted = [after["project_policy"], *after["bucket_policies"].values()]
    for account in (RUN_SA, TRIGGER_SA):
        assert all(f"serviceAccount:{account}" not in members for p in everything_granted for members in p.values())
    # Not ours alone to take away: other notifications in the project may need it.
    assert "roles/pubsub.publisher" in after["project_policy"]


def test_teardown_deletes_the_empty_bucket_and_keeps_the_one_with_objects(teardown: DeployRun) -> None:
    assert sorted(teardown.after["buckets"]) == [INPUT]
    assert f"Bucket gs://{INPUT} still holds objects: kept" in teardown.stderr
    assert teardown.sent("DELETE", f"/storage/v1/b/{INPUT}") == []


def test_second_teardown_finds_nothing_left_but_the_bucket_it_was_told_to_empty(second_teardown: DeployRun) -> None:
    assert second_teardown.returncode == 0, second_teardown.stderr
    for gone in ("No function image-processor", "No service account image-processor-run", f"No bucket gs://{OUTPUT}"):
        assert gone in second_teardown.stderr
    assert second_teardown.sent("DELETE", f"/storage/v1/b/{INPUT}/o/photo.jpg")
    assert second_teardown.after["buckets"] == {}


# --- other situations, each in a project of its own ----------------------------------------
def test_teardown_asks_first_and_a_no_touches_nothing(fresh_project: Deployer) -> None:
    run = fresh_project.run("--teardown", stdin="n\n")
    assert run.returncode == 0
    assert "Delete function image-processor" in run.stderr
    assert "Nothing deleted" in run.stderr
    assert run.requests == []


def test_a_failing_step_stops_the_deploy_with_exit_1(fresh_project: Deployer) -> None:
    fresh_project.cloud.fail(
        InjectedFailure(
            "POST",
            r"/iam/v1/projects/[^/]+/serviceAccounts",
            403,
            "Permission 'iam.serviceAccounts.create' denied on resource (or it may not exist).",
        )
    )
    run = fresh_project.run()
    assert run.returncode == 1
    assert "Permission 'iam.serviceAccounts.create' denied" in run.stderr
    assert "'gcloud iam service-accounts create image-processor-run" in run.stderr
    assert "every step is safe to repeat" in run.stderr
    assert created_functions(run) == []
    assert run.sent("POST", ":setIamPolicy") == []


def test_existing_input_bucket_elsewhere_moves_the_trigger_there(fresh_project: Deployer) -> None:
    # Also: --no-retry, a custom function name, DELETE_SOURCE and RESULT_TOPIC, in the same run.
    fresh_project.cloud.add_bucket("photos-from-everywhere", location="US")
    topic = f"projects/{PROJECT}/topics/thumbnails-ready"
    run = fresh_project.run(
        "--input-bucket", "photos-from-everywhere", "--no-retry", "--function", "thumbs",
        "--set", "DELETE_SOURCE=true", "--set", f"RESULT_TOPIC={topic}",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    created = [r.body["name"] for r in run.sent("POST", "/storage/v1/b") if r.path == "/storage/v1/b"]
    assert created == [OUTPUT]
    [create] = created_functions(run)
    trigger = create.body["eventTrigger"]
    assert trigger["triggerRegion"] == "us"
    assert trigger["eventFilters"] == [{"attribute": "bucket", "value": "photos-from-everywhere"}]
    assert trigger["retryPolicy"] == "RETRY_POLICY_DO_NOT_RETRY"
    assert trigger["serviceAccountEmail"] == f"thumbs-trigger@{PROJECT}.iam.gserviceaccount.com"
    # DELETE_SOURCE=true: the runtime account may delete uploads (objectUser), still only on that bucket.
    runtime = f"serviceAccount:thumbs-run@{PROJECT}.iam.gserviceaccount.com"
    policy = run.after["bucket_policies"]["photos-from-everywhere"]
    assert [role for role, members in policy.items() if runtime in members] == ["roles/storage.objectUser"]
    # RESULT_TOPIC: the topic is created and the runtime account may publish to it, and to nothing else.
    assert run.after["topics"] == [topic, f"projects/{PROJECT}/topics/thumbs-dead-letters"]  # and the dead letters
    assert run.after["topic_policies"][topic] == {"roles/pubsub.publisher": [runtime]}
    assert runtime not in run.after["project_policy"].get("roles/pubsub.publisher", [])
    assert create.body["serviceConfig"]["environmentVariables"]["RESULT_TOPIC"] == topic


def test_vision_features_enable_the_vision_api_and_grant_no_role(fresh_project: Deployer) -> None:
    run = fresh_project.run("--set", "VISION_FEATURES=labels,safe-search", "--set", "MODERATION=blur")
    assert run.returncode == 0, run.stderr
    [enable] = run.sent("POST", "services:batchEnable")
    assert set(enable.body["serviceIds"]) == {*APIS, "vision.googleapis.com"}
    [create] = created_functions(run)
    variables = create.body["serviceConfig"]["environmentVariables"]
    assert (variables["VISION_FEATURES"], variables["MODERATION"]) == ("labels,safe-search", "blur")
    runtime = f"serviceAccount:image-processor-run@{PROJECT}.iam.gserviceaccount.com"
    assert not [role for role, members in run.after["project_policy"].items() if runtime in members]

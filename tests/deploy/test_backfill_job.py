"""./deploy.sh --backfill-job with the real gcloud against the stand-in: the backfill as a
Cloud Run job built from the function's source, with the function's settings and runtime
account. Each run builds on the one before: job deploy -> again -> the function's deploy
beside it -> teardown.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import Any

import pytest

from tests.deploy.conftest import PROJECT, Deployer, DeployRun, function_files, unzipped

INPUT = f"{PROJECT}-thumbnailer-input"
OUTPUT = f"{PROJECT}-thumbnailer-output"
RUN_SA = f"image-processor-run@{PROJECT}.iam.gserviceaccount.com"
JOB = "image-processor-backfill"
JOB_NAME = f"projects/{PROJECT}/locations/us-central1/jobs/{JOB}"
REPOSITORY = f"projects/{PROJECT}/locations/us-central1/repositories/cloud-run-source-deploy"
IMAGE = f"us-central1-docker.pkg.dev/{PROJECT}/cloud-run-source-deploy/{JOB}"
JOB_ARGUMENTS = (
    "--backfill-job", "--tasks", "25", "--parallelism", "5", "--task-timeout", "6h",
    "--max-retries", "2", "--max-rate", "2.5", "--max-uploads", "1000",
    "--memory", "2Gi", "--concurrency", "8", "--set", "THUMBNAIL_SIZES=200x200,64x64",
)  # fmt: skip
JOB_ENVIRON = {"LOG_LEVEL": "DEBUG"}  # a setting from the environment, as for the function
EXECUTE = f"gcloud run jobs execute {JOB} --region=us-central1 --project={PROJECT} --tasks 25 --wait"


def created_jobs(run: DeployRun) -> list[Any]:
    return [r for r in run.sent("POST", "/jobs") if r.path.endswith(f"/namespaces/{PROJECT}/jobs")]


def container(job: dict[str, Any]) -> dict[str, Any]:
    [only] = job["spec"]["template"]["spec"]["template"]["spec"]["containers"]
    return dict(only)


@pytest.fixture(scope="module")
def job_deploy(project: Deployer) -> DeployRun:
    return project.run(*JOB_ARGUMENTS, **JOB_ENVIRON)


@pytest.fixture(scope="module")
def job_again(project: Deployer, job_deploy: DeployRun) -> DeployRun:
    return project.run(*JOB_ARGUMENTS, **JOB_ENVIRON)


@pytest.fixture(scope="module")
def function_beside(project: Deployer, job_again: DeployRun) -> DeployRun:
    return project.run("--memory", "2Gi", "--concurrency", "8", "--set", "THUMBNAIL_SIZES=200x200,64x64", **JOB_ENVIRON)


@pytest.fixture(scope="module")
def torn_down(project: Deployer, function_beside: DeployRun) -> DeployRun:
    return project.run("--teardown", "--yes")


def test_deploys_and_says_how_to_execute_it(project: Deployer, job_deploy: DeployRun) -> None:
    assert job_deploy.returncode == 0, job_deploy.stderr
    assert EXECUTE in job_deploy.stderr
    assert "at most 2.5 uploads a second per task" in job_deploy.stderr
    assert project.cloud.unrouted == []
    assert {r.authorization for r in job_deploy.requests} == {None}


def test_the_job_is_created_as_specified(job_deploy: DeployRun) -> None:
    [create] = created_jobs(job_deploy)
    assert create.host.startswith("us-central1-")  # Cloud Run's regional endpoint
    job = create.body
    assert job["metadata"]["name"] == JOB
    assert job["metadata"]["labels"] == {"thumbnailer": "image-processor"}
    execution = job["spec"]["template"]["spec"]
    assert (execution["taskCount"], execution["parallelism"]) == (25, 5)
    task = execution["template"]["spec"]
    assert (task["maxRetries"], task["timeoutSeconds"]) == (2, "21600")
    assert task["serviceAccountName"] == RUN_SA
    main = container(job)
    assert main["command"] == ["/cnb/lifecycle/launcher"]
    assert main["args"] == [
        "--", "python", "-m", "thumbnailer", "backfill", f"gs://{INPUT}", "--workers=8", "--max-rate=2.5",
        "--max-uploads=1000",
    ]  # fmt: skip
    assert main["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}


def test_the_job_has_the_functions_environment_exactly(project: Deployer, job_deploy: DeployRun) -> None:
    # What the function's deploy sends with the same options, from its plan.
    plan = project.run("--dry-run", "--memory", "2Gi", "--concurrency", "8", "--set", "THUMBNAIL_SIZES=200x200,64x64",
                       **JOB_ENVIRON)  # fmt: skip
    [deploy] = [shlex.split(line) for line in plan.stdout.splitlines() if " functions deploy " in line]
    [variables] = [a.removeprefix("--set-env-vars=^@^") for a in deploy if a.startswith("--set-env-vars=")]
    function_environment = dict(pair.split("=", 1) for pair in variables.split("@"))
    [create] = created_jobs(job_deploy)
    job_environment = {variable["name"]: variable["value"] for variable in container(create.body)["env"]}
    assert job_environment == function_environment
    assert job_environment == {"OUTPUT_BUCKET": OUTPUT, "THUMBNAIL_SIZES": "200x200,64x64", "LOG_LEVEL": "DEBUG"}


def test_built_from_the_functions_files_and_its_python(project: Deployer, job_deploy: DeployRun) -> None:
    [archive] = job_deploy.uploads
    assert unzipped(archive) == {**function_files(), ".python-version": b"3.13\n"}
    [upload] = job_deploy.sent("POST", "/upload/storage/v1/b/")
    assert upload.path == f"/upload/storage/v1/b/run-sources-{PROJECT}-us-central1/o"
    [build] = job_deploy.sent("POST", "/builds:submit")
    assert build.body["imageUri"] == IMAGE
    assert "buildpackBuild" in build.body  # no Dockerfile: Google's buildpacks
    assert build.body["storageSource"]["object"] == upload.query["name"]
    [create] = created_jobs(job_deploy)  # the image the build made, by digest
    assert container(create.body)["image"] == f"{IMAGE}@sha256:{hashlib.sha256(archive).hexdigest()}"
    assert REPOSITORY in project.cloud.repositories  # gcloud made it, on the first source deploy


def test_the_runtime_account_gets_its_bucket_roles_and_nothing_else(job_deploy: DeployRun) -> None:
    after, member = job_deploy.after, f"serviceAccount:{RUN_SA}"
    roles_on = {
        bucket: [role for role, members in policy.items() if member in members]
        for bucket, policy in after["bucket_policies"].items()
    }
    # (gcloud's own bucket for source uploads is there too, and the job has no role on it.)
    assert roles_on == {
        INPUT: ["roles/storage.objectViewer"],
        OUTPUT: ["roles/storage.objectUser"],
        f"run-sources-{PROJECT}-us-central1": [],
    }
    assert not [role for role, members in after["project_policy"].items() if member in members]
    # The job alone: no function, no trigger account, no operations.
    assert (after["functions"], after["service_accounts"], after["metrics"]) == ([], [RUN_SA], {})


def test_the_printed_command_executes_it(project: Deployer, job_deploy: DeployRun) -> None:
    result = project.gcloud(*shlex.split(EXECUTE)[1:])
    assert result.returncode == 0, result.stderr
    [overrides] = project.cloud.execution_requests.values()
    assert overrides == {"taskCount": 25}


def test_a_second_job_deploy_updates_the_job_and_changes_nothing_else(
    project: Deployer, job_deploy: DeployRun, job_again: DeployRun
) -> None:
    assert job_again.returncode == 0, job_again.stderr
    assert created_jobs(job_again) == []
    [replace] = job_again.sent("PUT", f"/jobs/{JOB}")  # replaceJob, with a fresh build of the same files
    assert container(replace.body)["args"] == container(created_jobs(job_deploy)[0].body)["args"]
    assert project.cloud.jobs[JOB_NAME]["metadata"]["generation"] == 2
    assert job_again.sent("POST", "/repositories") == []
    before = {key: value for key, value in job_again.before.items() if key != "jobs"}
    assert {key: value for key, value in job_again.after.items() if key != "jobs"} == before


def test_the_functions_deploy_beside_it_says_the_job_is_not_updated(function_beside: DeployRun) -> None:
    assert function_beside.returncode == 0, function_beside.stderr
    assert f"Backfill job {JOB} exists" in function_beside.stderr
    assert function_beside.sent("PUT", f"/jobs/{JOB}") == []


def test_teardown_deletes_the_job_and_keeps_what_gcloud_made_for_all_source_deploys(
    project: Deployer, torn_down: DeployRun
) -> None:
    assert torn_down.returncode == 0, torn_down.stderr
    [delete] = torn_down.sent("DELETE", f"/jobs/{JOB}")
    assert delete.host.startswith("us-central1-")
    assert torn_down.after["jobs"] == {}
    assert torn_down.after["service_accounts"] == []
    assert REPOSITORY in project.cloud.repositories
    assert f"run-sources-{PROJECT}-us-central1" in torn_down.after["buckets"]
    again = project.run("--teardown", "--yes")
    assert again.returncode == 0, again.stderr
    assert again.sent("DELETE", f"/jobs/{JOB}") == []


def test_the_defaults_and_an_input_bucket_elsewhere(fresh_project: Deployer) -> None:
    # The job reads the bucket over the API: where it is does not matter, unlike a trigger.
    fresh_project.cloud.add_bucket("photos-from-everywhere", location="US")
    run = fresh_project.run("--backfill-job", "--input-bucket", "photos-from-everywhere", "--job-name", "fill-in")
    assert run.returncode == 0, run.stderr
    [create] = created_jobs(run)
    assert container(create.body)["args"][5] == "gs://photos-from-everywhere"
    assert create.body["metadata"]["name"] == "fill-in"
    # The defaults: 10 tasks, parallelism left to Cloud Run, 3 retries, 24 h.
    execution = create.body["spec"]["template"]["spec"]
    assert execution["taskCount"] == 10
    assert execution.get("parallelism", 0) == 0
    assert (execution["template"]["spec"]["maxRetries"], execution["template"]["spec"]["timeoutSeconds"]) == (
        3,
        "86400",
    )
    assert "--max-rate" not in " ".join(container(create.body)["args"])
    assert "with no rate limit" in run.stderr

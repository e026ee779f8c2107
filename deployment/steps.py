"""What deploy.sh does: deploy, each step safe to re-run, and teardown."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deployment import monitoring
from deployment.gcloud import Gcloud, say
from deployment.monitoring import LABEL
from deployment.options import Inputs

SOURCE = Path(__file__).resolve().parents[1]
APIS = (
    "cloudfunctions.googleapis.com", "run.googleapis.com", "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com", "eventarc.googleapis.com", "pubsub.googleapis.com",
    "storage.googleapis.com", "logging.googleapis.com",
)  # fmt: skip
#: What the backfill job needs: Cloud Run, and what a source deploy builds with.
JOB_APIS = (
    "run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com", "storage.googleapis.com",
    "logging.googleapis.com",
)  # fmt: skip
#: Needs no role: images are sent as content, and the API bills the function's project.
VISION_API = "vision.googleapis.com"
_TRUE = {"true", "1", "yes", "on"}  # as the function reads a boolean: trimmed, any case
DELETED_EVENT = "google.cloud.storage.object.v1.deleted"
#: The function's runtime is python313; the job is built by buildpacks, which take the
#: Python version from .python-version (else their newest), so the job gets the same.
JOB_PYTHON = "3.13"
#: The Cloud Native Buildpacks launcher, at the path the buildpacks platform spec fixes.
#: The job's command: a buildpacks image has its Python and the installed packages only in
#: the launcher's environment (a plain "python" command would not find them), and "--"
#: makes it run the rest as given, with no shell.
LAUNCHER = "/cnb/lifecycle/launcher"


def _topic_project(topic: str) -> str:
    """projects/P/topics/T: P"""
    return topic.split("/")[1]


def _bucket_location(gcloud: Gcloud, inputs: Inputs, bucket: str) -> str | None:
    """The bucket's location in lower case, or None if it is absent."""
    location = gcloud.value(
        "storage", "buckets", "describe", f"gs://{bucket}", f"--project={inputs.project}", "--format=value(location)"
    )
    return None if location is None else location.lower()


def _is_true(inputs: Inputs, name: str) -> bool:
    return inputs.settings.get(name, "false").strip().lower() in _TRUE


def _enable_apis(inputs: Inputs, gcloud: Gcloud, apis: tuple[str, ...]) -> None:
    # Vision is billed per image: its API is enabled only when the function is told to call it.
    vision = bool(inputs.settings.get("VISION_FEATURES", "").strip())
    say(f"Enabling APIs in {inputs.project}")
    gcloud.run("services", "enable", *apis, *([VISION_API] if vision else []), f"--project={inputs.project}", "--quiet")


def _buckets(inputs: Inputs, gcloud: Gcloud) -> str:
    """Creates each bucket that is absent; returns where the triggers go."""
    # Eventarc watches a bucket from the bucket's own location, so an existing input bucket
    # elsewhere (a multi-region such as "us") decides where the trigger lives.
    trigger_location = inputs.region
    for bucket in (inputs.input_bucket, inputs.output_bucket):
        location = _bucket_location(gcloud, inputs, bucket)
        if location is not None:
            say(f"Bucket gs://{bucket} exists (location {location})")
            if bucket == inputs.input_bucket and location:
                trigger_location = location
        else:
            say(f"Creating bucket gs://{bucket} in {inputs.region}")
            gcloud.run(
                "storage", "buckets", "create", f"gs://{bucket}", f"--project={inputs.project}",
                f"--location={inputs.region}", "--uniform-bucket-level-access", "--public-access-prevention",
            )  # fmt: skip
    return trigger_location


def _trigger_location(gcloud: Gcloud, inputs: Inputs) -> str:
    """Where the triggers are (teardown): the input bucket's location, else the region."""
    return _bucket_location(gcloud, inputs, inputs.input_bucket) or inputs.region


def _service_account(inputs: Inputs, gcloud: Gcloud, account: str, role: str) -> None:
    if gcloud.exists("iam", "service-accounts", "describe", inputs.email(account), f"--project={inputs.project}"):
        say(f"Service account {account} exists")
    else:
        say(f"Creating service account {account}")
        gcloud.run(
            "iam", "service-accounts", "create", account, f"--project={inputs.project}",
            f"--display-name=thumbnailer {role} ({inputs.function})",
        )  # fmt: skip


def _runtime_grants(inputs: Inputs, gcloud: Gcloud) -> None:
    """What the function's code (and so the backfill job's) may do with the buckets."""
    project, run_email = inputs.project, inputs.run_email
    # Read only on the input, unless the function is to delete each upload once it is done.
    input_role = "roles/storage.objectUser" if _is_true(inputs, "DELETE_SOURCE") else "roles/storage.objectViewer"
    say(
        f"Granting the runtime account {input_role.removeprefix('roles/storage.')} on gs://{inputs.input_bucket} "
        f"and objectUser on gs://{inputs.output_bucket}"
    )
    gcloud.grant(
        "storage", "buckets", "add-iam-policy-binding", f"gs://{inputs.input_bucket}", f"--project={project}",
        f"--member=serviceAccount:{run_email}", f"--role={input_role}", "--format=none", "--quiet",
    )  # fmt: skip
    # objectUser, not objectCreator: writes are conditional on what exists (get), and a new
    # upload under the same name replaces its thumbnail (an overwrite needs delete), as does
    # DELETE_THUMBNAILS_WITH_SOURCE (and the backfill's --prune).
    gcloud.grant(
        "storage", "buckets", "add-iam-policy-binding", f"gs://{inputs.output_bucket}", f"--project={project}",
        f"--member=serviceAccount:{run_email}", "--role=roles/storage.objectUser", "--format=none", "--quiet",
    )  # fmt: skip


def _variables(inputs: Inputs) -> str:
    """The function's environment as one --set-env-vars value (the job gets the same)."""
    # "@" separates the variables because values such as THUMBNAIL_SIZES=200x200,64x64 contain
    # commas (gcloud's ^DELIM^ syntax); options.py refuses values holding "@".
    return "^@^" + "@".join(
        [
            f"OUTPUT_BUCKET={inputs.output_bucket}",
            *(f"{name}={inputs.settings[name]}" for name in sorted(inputs.settings)),
        ]
    )


def _resources(inputs: Inputs) -> list[str]:
    return [f"--memory={inputs.memory}", *([f"--cpu={inputs.cpu}"] if inputs.cpu else [])]


def deploy(inputs: Inputs, gcloud: Gcloud) -> None:
    if inputs.backfill_job:
        deploy_backfill_job(inputs, gcloud)
        return
    project, trigger_email = inputs.project, inputs.trigger_email
    _enable_apis(inputs, gcloud, APIS)
    trigger_location = _buckets(inputs, gcloud)
    for account, role in ((inputs.run_account, "runtime"), (inputs.trigger_account, "trigger")):
        _service_account(inputs, gcloud, account, role)
    _runtime_grants(inputs, gcloud)

    say("Granting the trigger account the Eventarc event receiver role")
    gcloud.grant(
        "projects", "add-iam-policy-binding", project, f"--member=serviceAccount:{trigger_email}",
        "--role=roles/eventarc.eventReceiver", "--condition=None", "--format=none", "--quiet",
    )  # fmt: skip

    say("Letting Cloud Storage publish notifications to Pub/Sub")
    agent = gcloud.run("storage", "service-agent", f"--project={project}").strip()
    if gcloud.dry_run:
        agent = "service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com"
    gcloud.grant(
        "projects", "add-iam-policy-binding", project, f"--member=serviceAccount:{agent}",
        "--role=roles/pubsub.publisher", "--condition=None", "--format=none", "--quiet",
    )  # fmt: skip

    topic = inputs.settings.get("RESULT_TOPIC", "")
    if topic:
        topic_project = _topic_project(topic)
        if gcloud.exists("pubsub", "topics", "describe", topic, f"--project={topic_project}"):
            say(f"Topic {topic} exists")
        else:
            say(f"Creating topic {topic}")
            gcloud.run("pubsub", "topics", "create", topic, f"--project={topic_project}")
        say(f"Letting the runtime account publish to {topic} (and to no other topic)")
        gcloud.grant(
            "pubsub", "topics", "add-iam-policy-binding", topic, f"--project={topic_project}",
            f"--member=serviceAccount:{inputs.run_email}", "--role=roles/pubsub.publisher", "--format=none",
        )  # fmt: skip

    trigger = f"uploads to gs://{inputs.input_bucket}, in {trigger_location}"
    say(f"Deploying {inputs.function} (python313, trigger: {trigger})")
    resources = [
        *_resources(inputs), f"--timeout={inputs.timeout}s", f"--concurrency={inputs.concurrency}",
        f"--max-instances={inputs.max_instances}",
    ]  # fmt: skip
    # One trigger form only (--trigger-bucket).
    gcloud.run(
        "functions", "deploy", inputs.function, "--gen2", f"--project={project}", f"--region={inputs.region}",
        "--runtime=python313", f"--source={SOURCE}", "--entry-point=process_image",
        f"--trigger-bucket={inputs.input_bucket}", f"--trigger-location={trigger_location}",
        f"--service-account={inputs.run_email}", f"--trigger-service-account={trigger_email}",
        "--retry" if inputs.retry else "--no-retry", "--no-allow-unauthenticated", "--ingress-settings=internal-only",
        *resources, f"--set-env-vars={_variables(inputs)}", "--format=none", "--quiet",
    )  # fmt: skip

    # roles/run.invoker on the function's Cloud Run service (a gen2 function is one, of the
    # same name): the deleted trigger delivers as the same account to the same service, so
    # this one grant serves both triggers.
    say(f"Letting the trigger account invoke {inputs.function} (and nothing else)")
    gcloud.grant(
        "functions", "add-invoker-policy-binding", inputs.function, f"--project={project}",
        f"--region={inputs.region}", f"--member=serviceAccount:{trigger_email}", "--format=none",
    )  # fmt: skip

    deleted = _deleted_trigger(inputs, gcloud, trigger_location)

    say("Operations: dead letters, log-based metrics, alert policies and a dashboard")
    monitoring.provision(inputs, gcloud, [deleted] if deleted else [])

    if _job(inputs, gcloud) is not None:
        say(
            f"Backfill job {inputs.job_name} exists and still runs the source and settings of its own last "
            "deploy: './deploy.sh --backfill-job' with these options brings it up to date"
        )

    if not gcloud.dry_run:
        print(
            f"""
Deployed. Try it:
  gsutil cp photo.jpg gs://{inputs.input_bucket}/
  gsutil ls gs://{inputs.output_bucket}/
Logs:
  gcloud functions logs read {inputs.function} --project={project} --region={inputs.region} --gen2 --limit=50
  (or Logs Explorer: resource.type="cloud_run_revision" resource.labels.service_name="{inputs.function}")""",
            file=sys.stderr,
        )


def deleted_trigger_name(inputs: Inputs) -> str:
    return f"{inputs.function}-deleted"


def _described(gcloud: Gcloud, *arguments: str) -> dict[str, Any] | None:
    """A describe command's JSON, {} in a dry run (teardown's "present"), None if absent."""
    text = gcloud.value(*arguments, "--format=json")
    if text is None:
        return None
    parsed = json.loads(text) if text.strip() else {}
    return parsed if isinstance(parsed, dict) else {}


def _made_by_deploy(gcloud: Gcloud, inputs: Inputs, labels: Any) -> bool:
    """Whether a resource found by name carries deploy's label (a dry run cannot tell: yes)."""
    return gcloud.dry_run or (isinstance(labels, dict) and labels.get(LABEL) == inputs.function)


def _deleted_trigger(inputs: Inputs, gcloud: Gcloud, location: str) -> str | None:
    """With DELETE_THUMBNAILS_WITH_SOURCE, a second trigger, on deleted objects, to the same
    function (its entry point tells the events apart), created or brought up to date; without,
    the trigger is removed if deploy made it. Returns its Pub/Sub subscription, if any."""
    project, name = inputs.project, deleted_trigger_name(inputs)
    where = (f"--location={location}", f"--project={project}")
    existing = _described(gcloud, "eventarc", "triggers", "describe", name, *where)
    if not _is_true(inputs, "DELETE_THUMBNAILS_WITH_SOURCE"):
        if existing is not None and _made_by_deploy(gcloud, inputs, existing.get("labels")):
            say(f"DELETE_THUMBNAILS_WITH_SOURCE is off: deleting trigger {name}")
            gcloud.run("eventarc", "triggers", "delete", name, *where, "--quiet")
        return None
    # The same trigger account as the function's trigger: eventReceiver, and run.invoker on
    # this function's service only (granted above). Deliveries are retried by Eventarc (its
    # subscription, up to 24 h; there is no --no-retry for a standalone trigger): the
    # function's MAX_RETRY_AGE ends them, and dead letters come after as for uploads.
    wanted = [
        f"--destination-run-service={inputs.function}", f"--destination-run-region={inputs.region}",
        f"--event-filters=type={DELETED_EVENT}", f"--event-filters=bucket={inputs.input_bucket}",
        f"--service-account={inputs.trigger_email}",
    ]  # fmt: skip
    if existing is None:
        say(f"Creating trigger {name}: deleted uploads in gs://{inputs.input_bucket} go to {inputs.function} too")
        gcloud.run("eventarc", "triggers", "create", name, *where, *wanted, f"--labels={LABEL}={inputs.function}")
    elif _trigger_is(existing, inputs):
        say(f"Trigger {name} is up to date")
    else:
        say(f"Updating trigger {name}")
        gcloud.run(
            "eventarc", "triggers", "update", name, *where, *wanted, f"--update-labels={LABEL}={inputs.function}"
        )
    return monitoring.eventarc_subscription(gcloud, project, location, name)


def _trigger_is(trigger: dict[str, Any], inputs: Inputs) -> bool:
    """Whether an existing deleted trigger already is what deploy would make."""
    filters = {(f.get("attribute"), f.get("value")) for f in trigger.get("eventFilters", [])}
    run = trigger.get("destination", {}).get("cloudRun", {})
    return (
        filters == {("type", DELETED_EVENT), ("bucket", inputs.input_bucket)}
        and (run.get("service"), run.get("region"), run.get("path", "")) == (inputs.function, inputs.region, "")
        and trigger.get("serviceAccount") == inputs.trigger_email
        and trigger.get("labels", {}).get(LABEL) == inputs.function
    )


def _job(inputs: Inputs, gcloud: Gcloud) -> dict[str, Any] | None:
    return _described(
        gcloud, "run", "jobs", "describe", inputs.job_name, f"--region={inputs.region}", f"--project={inputs.project}"
    )


@contextmanager
def _job_source(gcloud: Gcloud) -> Iterator[str]:
    """The function's source for the job: the files the function deploy uploads (as
    .gcloudignore chooses them, asked of gcloud itself), and .python-version (JOB_PYTHON),
    staged in a temporary folder so that nothing in this working tree changes; a local
    .python-version would also switch pyenv's Python here."""
    listed = gcloud.run("meta", "list-files-for-upload", str(SOURCE))
    staged = Path(tempfile.mkdtemp(prefix="thumbnailer-job-source-"))
    try:
        for name in listed.splitlines():
            if name.strip():
                (staged / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(SOURCE / name, staged / name)
        (staged / ".python-version").write_text(f"{JOB_PYTHON}\n", encoding="utf-8")
        if gcloud.dry_run:
            say(f"(dry run: {staged} holds .python-version; a real run also copies the files listed)")
        yield str(staged)
    finally:
        if not gcloud.dry_run:  # a dry run's plan names the folder: it stays
            shutil.rmtree(staged, ignore_errors=True)


def deploy_backfill_job(inputs: Inputs, gcloud: Gcloud) -> None:
    """The backfill as a Cloud Run job: the function's source, settings and runtime account,
    and what that account needs (its bucket grants), so it runs with or without the function."""
    project, job = inputs.project, inputs.job_name
    _enable_apis(inputs, gcloud, JOB_APIS)
    _buckets(inputs, gcloud)
    _service_account(inputs, gcloud, inputs.run_account, "runtime")
    _runtime_grants(inputs, gcloud)
    # Each task takes its share itself (CLOUD_RUN_TASK_INDEX of CLOUD_RUN_TASK_COUNT).
    # --workers: as many uploads in flight as the function handles at once (--concurrency),
    # the number its memory was sized for (bench/RESULTS.md), up to the backfill's 64.
    backfill = [
        "--", "python", "-m", "thumbnailer", "backfill", f"gs://{inputs.input_bucket}",
        f"--workers={min(inputs.concurrency, 64)}",
        *([f"--max-rate={inputs.max_rate!r}"] if inputs.max_rate is not None else []),
        *([f"--max-uploads={inputs.max_uploads}"] if inputs.max_uploads is not None else []),
    ]  # fmt: skip
    say(f"Deploying the backfill job {job} ({inputs.tasks} tasks, python{JOB_PYTHON}, built from this source)")
    with _job_source(gcloud) as source:
        # --parallelism=0 leaves it unset: as many tasks at once as Cloud Run allows.
        gcloud.run(
            "run", "jobs", "deploy", job, f"--project={project}", f"--region={inputs.region}", f"--source={source}",
            f"--tasks={inputs.tasks}", f"--parallelism={inputs.parallelism}",
            f"--max-retries={inputs.max_retries}", f"--task-timeout={inputs.task_timeout}s",
            f"--service-account={inputs.run_email}", *_resources(inputs), f"--set-env-vars={_variables(inputs)}",
            f"--command={LAUNCHER}", f"--args={','.join(backfill)}", f"--labels={LABEL}={inputs.function}",
            "--quiet",
        )  # fmt: skip
    if gcloud.dry_run:
        return
    rate = (
        f" at most {inputs.max_rate:g} uploads a second per task"
        if inputs.max_rate is not None
        else " with no rate limit (--max-rate sets one)"
    )
    print(
        f"""
Deployed the backfill job {job}: {inputs.tasks} tasks,{rate}. Execute it:
  gcloud run jobs execute {job} --region={inputs.region} --project={project} --tasks {inputs.tasks} --wait
An execution makes the thumbnails that are missing; run again, it continues where one stopped.
Logs:
  gcloud logging read 'resource.type="cloud_run_job" resource.labels.job_name="{job}"' --project={project} \\
    --limit=50""",
        file=sys.stderr,
    )


def confirmed(inputs: Inputs) -> bool:
    """Ask before a teardown deletes anything (unless --yes or --dry-run)."""
    if inputs.assume_yes or inputs.dry_run:
        return True
    accounts = f"{inputs.run_account} and {inputs.trigger_account}"
    what = (
        f"function {inputs.function} and its trigger {deleted_trigger_name(inputs)} if there, backfill job "
        f"{inputs.job_name} if there, service accounts {accounts} and their grants, its log-based metrics, "
        "alert policies and dashboard"
    )
    if inputs.delete_dead_letters:
        what += f", the dead-letter topic and subscription {inputs.function}-dead-letters with any events in them"
    if inputs.delete_buckets:
        what += f", buckets gs://{inputs.input_bucket} and gs://{inputs.output_bucket}"
    print(f"Delete {what} in {inputs.project}? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip()
    return answer in ("y", "Y", "yes")


def teardown(inputs: Inputs, gcloud: Gcloud) -> None:
    project, run_email, trigger_email = (
        inputs.project,
        inputs.email(inputs.run_account),
        inputs.email(inputs.trigger_account),
    )
    if not confirmed(inputs):
        say("Nothing deleted")
        return
    monitoring.remove(inputs, gcloud)
    # The job before the runtime account it runs as. Its image stays in the Artifact Registry
    # repository cloud-run-source-deploy, which (like the bucket run-sources-PROJECT-REGION)
    # gcloud made for every source deploy in the project.
    job = _job(inputs, gcloud)
    if job is not None and _made_by_deploy(gcloud, inputs, job.get("metadata", {}).get("labels")):
        say(f"Deleting backfill job {inputs.job_name}")
        gcloud.run(
            "run", "jobs", "delete", inputs.job_name, f"--region={inputs.region}", f"--project={project}", "--quiet"
        )
    elif job is not None:
        say(f"Job {inputs.job_name} was not made by deploy.sh (no label {LABEL}={inputs.function}): kept")
    # The deleted trigger (whatever DELETE_THUMBNAILS_WITH_SOURCE says now), then the function,
    # whose own trigger and the trigger account's invoker grant go with it.
    location, name = _trigger_location(gcloud, inputs), deleted_trigger_name(inputs)
    where = (f"--location={location}", f"--project={project}")
    trigger = _described(gcloud, "eventarc", "triggers", "describe", name, *where)
    if trigger is not None and _made_by_deploy(gcloud, inputs, trigger.get("labels")):
        say(f"Deleting trigger {name}")
        gcloud.run("eventarc", "triggers", "delete", name, *where, "--quiet")
    if gcloud.exists("functions", "describe", inputs.function, f"--project={project}", f"--region={inputs.region}"):
        say(f"Deleting function {inputs.function}")
        gcloud.run(
            "functions", "delete", inputs.function, f"--project={project}", f"--region={inputs.region}", "--quiet"
        )
    else:
        say(f"No function {inputs.function}")
    # Grants before accounts: a deleted account's grants linger as "deleted:serviceAccount:...".
    say(f"Removing the grants of {inputs.trigger_account} and {inputs.run_account}")
    gcloud.revoke(
        "projects", "remove-iam-policy-binding", project, f"--member=serviceAccount:{trigger_email}",
        "--role=roles/eventarc.eventReceiver", "--condition=None", "--format=none", "--quiet",
    )  # fmt: skip
    grants = (
        (inputs.input_bucket, "roles/storage.objectViewer"),
        (inputs.input_bucket, "roles/storage.objectUser"),
        (inputs.output_bucket, "roles/storage.objectUser"),
    )
    for bucket, role in grants:
        if _bucket_location(gcloud, inputs, bucket) is not None:
            gcloud.revoke(
                "storage", "buckets", "remove-iam-policy-binding", f"gs://{bucket}", f"--project={project}",
                f"--member=serviceAccount:{run_email}", f"--role={role}", "--format=none", "--quiet",
            )  # fmt: skip
    # The result topic stays (its subscribers are someone else's); only the grant goes.
    topic = inputs.settings.get("RESULT_TOPIC", "")
    if topic and gcloud.exists("pubsub", "topics", "describe", topic, f"--project={_topic_project(topic)}"):
        gcloud.revoke(
            "pubsub", "topics", "remove-iam-policy-binding", topic, f"--project={_topic_project(topic)}",
            f"--member=serviceAccount:{run_email}", "--role=roles/pubsub.publisher", "--format=none",
        )  # fmt: skip
    for account in (inputs.run_account, inputs.trigger_account):
        if gcloud.exists("iam", "service-accounts", "describe", inputs.email(account), f"--project={project}"):
            say(f"Deleting service account {account}")
            gcloud.run("iam", "service-accounts", "delete", inputs.email(account), f"--project={project}", "--quiet")
        else:
            say(f"No service account {account}")
    # The Cloud Storage service agent keeps roles/pubsub.publisher and the APIs stay enabled:
    # other things in the project may rely on them.
    if not inputs.delete_buckets:
        say("Buckets kept (--delete-buckets removes empty ones)")
        return
    for bucket in (inputs.input_bucket, inputs.output_bucket):
        if _bucket_location(gcloud, inputs, bucket) is None:
            say(f"No bucket gs://{bucket}")
        elif inputs.delete_objects:
            say(f"Deleting bucket gs://{bucket} and every object in it")
            gcloud.run("storage", "rm", "--recursive", f"gs://{bucket}", f"--project={project}", "--quiet")
        elif not gcloud.dry_run and gcloud.run("storage", "ls", f"gs://{bucket}", f"--project={project}").strip():
            say(f"Bucket gs://{bucket} still holds objects: kept (--delete-objects deletes them too)")
        else:
            say(f"Deleting empty bucket gs://{bucket}")
            gcloud.run("storage", "buckets", "delete", f"gs://{bucket}", f"--project={project}", "--quiet")

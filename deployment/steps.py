"""What deploy.sh does: deploy, each step safe to re-run, and teardown."""

from __future__ import annotations

import sys
from pathlib import Path

from deployment import monitoring
from deployment.gcloud import Gcloud, say
from deployment.options import Inputs

SOURCE = Path(__file__).resolve().parents[1]
APIS = (
    "cloudfunctions.googleapis.com", "run.googleapis.com", "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com", "eventarc.googleapis.com", "pubsub.googleapis.com",
    "storage.googleapis.com", "logging.googleapis.com",
)  # fmt: skip
#: Needs no role: images are sent as content, and the API bills the function's project.
VISION_API = "vision.googleapis.com"
_TRUE = {"true", "1", "yes", "on"}  # as the function reads a boolean: trimmed, any case


def _topic_project(topic: str) -> str:
    """projects/P/topics/T: P"""
    return topic.split("/")[1]


def _bucket_location(gcloud: Gcloud, inputs: Inputs, bucket: str) -> str | None:
    """The bucket's location in lower case, or None if it is absent."""
    location = gcloud.value(
        "storage", "buckets", "describe", f"gs://{bucket}", f"--project={inputs.project}", "--format=value(location)"
    )
    return None if location is None else location.lower()


def deploy(inputs: Inputs, gcloud: Gcloud) -> None:
    project, run_email, trigger_email = (
        inputs.project,
        inputs.email(inputs.run_account),
        inputs.email(inputs.trigger_account),
    )
    # Vision is billed per image: its API is enabled only when the function is told to call it.
    vision = bool(inputs.settings.get("VISION_FEATURES", "").strip())
    apis = (*APIS, VISION_API) if vision else APIS
    say(f"Enabling APIs in {project}")
    gcloud.run("services", "enable", *apis, f"--project={project}", "--quiet")

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
                "storage", "buckets", "create", f"gs://{bucket}", f"--project={project}", f"--location={inputs.region}",
                "--uniform-bucket-level-access", "--public-access-prevention",
            )  # fmt: skip

    for account, role in ((inputs.run_account, "runtime"), (inputs.trigger_account, "trigger")):
        if gcloud.exists("iam", "service-accounts", "describe", inputs.email(account), f"--project={project}"):
            say(f"Service account {account} exists")
        else:
            say(f"Creating service account {account}")
            gcloud.run(
                "iam", "service-accounts", "create", account, f"--project={project}",
                f"--display-name=thumbnailer {role} ({inputs.function})",
            )  # fmt: skip

    # Read only on the input, unless the function is to delete each upload once it is done.
    delete_source = inputs.settings.get("DELETE_SOURCE", "false").strip().lower() in _TRUE
    input_role = "roles/storage.objectUser" if delete_source else "roles/storage.objectViewer"
    say(
        f"Granting the runtime account {input_role.removeprefix('roles/storage.')} on gs://{inputs.input_bucket} "
        f"and objectUser on gs://{inputs.output_bucket}"
    )
    gcloud.grant(
        "storage", "buckets", "add-iam-policy-binding", f"gs://{inputs.input_bucket}", f"--project={project}",
        f"--member=serviceAccount:{run_email}", f"--role={input_role}", "--format=none", "--quiet",
    )  # fmt: skip
    # objectUser, not objectCreator: writes are conditional on what exists (get), and a new
    # upload under the same name replaces its thumbnail (an overwrite needs delete).
    gcloud.grant(
        "storage", "buckets", "add-iam-policy-binding", f"gs://{inputs.output_bucket}", f"--project={project}",
        f"--member=serviceAccount:{run_email}", "--role=roles/storage.objectUser", "--format=none", "--quiet",
    )  # fmt: skip

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
            f"--member=serviceAccount:{run_email}", "--role=roles/pubsub.publisher", "--format=none",
        )  # fmt: skip

    trigger = f"uploads to gs://{inputs.input_bucket}, in {trigger_location}"
    say(f"Deploying {inputs.function} (python313, trigger: {trigger})")
    # "@" separates the variables because values such as THUMBNAIL_SIZES=200x200,64x64 contain
    # commas (gcloud's ^DELIM^ syntax); options.py refuses values holding "@".
    variables = "@".join(
        [
            f"OUTPUT_BUCKET={inputs.output_bucket}",
            *(f"{name}={inputs.settings[name]}" for name in sorted(inputs.settings)),
        ]
    )
    resources = [
        f"--memory={inputs.memory}", f"--timeout={inputs.timeout}s", f"--concurrency={inputs.concurrency}",
        f"--max-instances={inputs.max_instances}", *([f"--cpu={inputs.cpu}"] if inputs.cpu else []),
    ]  # fmt: skip
    # One trigger form only (--trigger-bucket).
    gcloud.run(
        "functions", "deploy", inputs.function, "--gen2", f"--project={project}", f"--region={inputs.region}",
        "--runtime=python313", f"--source={SOURCE}", "--entry-point=process_image",
        f"--trigger-bucket={inputs.input_bucket}", f"--trigger-location={trigger_location}",
        f"--service-account={run_email}", f"--trigger-service-account={trigger_email}",
        "--retry" if inputs.retry else "--no-retry", "--no-allow-unauthenticated", "--ingress-settings=internal-only",
        *resources, f"--set-env-vars=^@^{variables}", "--format=none", "--quiet",
    )  # fmt: skip

    say(f"Letting the trigger account invoke {inputs.function} (and nothing else)")
    gcloud.grant(
        "functions", "add-invoker-policy-binding", inputs.function, f"--project={project}",
        f"--region={inputs.region}", f"--member=serviceAccount:{trigger_email}", "--format=none",
    )  # fmt: skip

    say("Operations: dead letters, log-based metrics, alert policies and a dashboard")
    monitoring.provision(inputs, gcloud)

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


def confirmed(inputs: Inputs) -> bool:
    """Ask before a teardown deletes anything (unless --yes or --dry-run)."""
    if inputs.assume_yes or inputs.dry_run:
        return True
    accounts = f"{inputs.run_account} and {inputs.trigger_account}"
    what = (
        f"function {inputs.function}, service accounts {accounts} and their grants, its log-based metrics, "
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
    # The function next: its trigger and the trigger account's invoker grant go with it.
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

"""DELETE_THUMBNAILS_WITH_SOURCE with the real gcloud against the stand-in: a second
Eventarc trigger, on deleted objects, to the same function, with the same dead letters.
Each run builds on the one before: on -> again -> changed by hand -> off; teardown in a
project of its own.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.conftest import PROJECT, Deployer, DeployRun

INPUT = f"{PROJECT}-thumbnailer-input"
TRIGGER_SA = f"image-processor-trigger@{PROJECT}.iam.gserviceaccount.com"
SERVICE = f"projects/{PROJECT}/locations/us-central1/services/image-processor"
DELETED = f"projects/{PROJECT}/locations/us-central1/triggers/image-processor-deleted"
UPLOADS = f"projects/{PROJECT}/locations/us-central1/triggers/image-processor-1"
DEAD_LETTERS = {"deadLetterTopic": f"projects/{PROJECT}/topics/image-processor-dead-letters", "maxDeliveryAttempts": 13}
PUBSUB_AGENT = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
ON = ("--set", "DELETE_THUMBNAILS_WITH_SOURCE=true")


def subscription_of(cloud_trigger: dict[str, Any]) -> str:
    return str(cloud_trigger["transport"]["pubsub"]["subscription"])


def eventarc_writes(run: DeployRun) -> list[str]:
    return [f"{r.method} {r.path}" for r in run.requests if r.path.startswith("/eventarc/") and r.method != "GET"]


@pytest.fixture(scope="module")
def on(project: Deployer) -> DeployRun:
    return project.run(*ON)


@pytest.fixture(scope="module")
def again(project: Deployer, on: DeployRun) -> DeployRun:
    return project.run(*ON)


@pytest.fixture(scope="module")
def repaired(project: Deployer, again: DeployRun) -> DeployRun:
    # Someone pointed the trigger elsewhere by hand; deploy puts it back.
    project.cloud.triggers[DELETED]["serviceAccount"] = f"image-processor-run@{PROJECT}.iam.gserviceaccount.com"
    return project.run(*ON)


@pytest.fixture(scope="module")
def off(project: Deployer, repaired: DeployRun) -> DeployRun:
    return project.run()


def test_a_second_trigger_on_deleted_objects_to_the_same_function(project: Deployer, on: DeployRun) -> None:
    assert on.returncode == 0, on.stderr
    assert project.cloud.unrouted == []
    [create] = on.sent("POST", "/eventarc/v1/")
    assert create.path == f"/eventarc/v1/projects/{PROJECT}/locations/us-central1/triggers"
    assert create.query == {"triggerId": "image-processor-deleted"}
    assert {key: create.body[key] for key in ("eventFilters", "destination", "serviceAccount", "labels")} == {
        "eventFilters": [
            {"attribute": "type", "value": "google.cloud.storage.object.v1.deleted"},
            {"attribute": "bucket", "value": INPUT},
        ],
        "destination": {"cloudRun": {"service": "image-processor", "region": "us-central1"}},
        "serviceAccount": TRIGGER_SA,
        "labels": {"thumbnailer": "image-processor"},
    }
    assert sorted(on.after["triggers"]) == [UPLOADS, DELETED]
    [function] = [r for r in on.sent("POST", "/functions") if r.path.endswith("/functions")]
    assert function.body["serviceConfig"]["environmentVariables"]["DELETE_THUMBNAILS_WITH_SOURCE"] == "true"


def test_no_new_grant_the_invoker_binding_covers_both_triggers(on: DeployRun) -> None:
    member = f"serviceAccount:{TRIGGER_SA}"
    assert on.after["service_policies"] == {SERVICE: {"roles/run.invoker": [member]}}
    assert [role for role, members in on.after["project_policy"].items() if member in members] == [
        "roles/eventarc.eventReceiver"
    ]
    # The runtime account deletes thumbnails with the objectUser it has on the output bucket.
    runtime = f"serviceAccount:image-processor-run@{PROJECT}.iam.gserviceaccount.com"
    output = on.after["bucket_policies"][f"{PROJECT}-thumbnailer-output"]
    assert [role for role, members in output.items() if runtime in members] == ["roles/storage.objectUser"]


def test_the_deleted_triggers_subscription_gets_the_same_dead_letters(project: Deployer, on: DeployRun) -> None:
    deleted, uploads = (subscription_of(project.cloud.triggers[name]) for name in (DELETED, UPLOADS))
    assert on.after["subscriptions"][deleted] == on.after["subscriptions"][uploads] == DEAD_LETTERS
    assert on.after["subscription_policies"][deleted] == {"roles/pubsub.subscriber": [PUBSUB_AGENT]}


def test_a_second_deploy_leaves_the_trigger_alone(on: DeployRun, again: DeployRun) -> None:
    assert again.returncode == 0, again.stderr
    assert eventarc_writes(again) == []
    assert "Trigger image-processor-deleted is up to date" in again.stderr
    assert again.after == again.before == on.after


def test_a_trigger_changed_by_hand_is_updated_in_place(
    project: Deployer, again: DeployRun, repaired: DeployRun
) -> None:
    assert repaired.returncode == 0, repaired.stderr
    [update] = [r for r in repaired.requests if r.method == "PATCH" and r.path.startswith("/eventarc/")]
    assert "serviceAccount" in update.query["updateMask"]
    assert repaired.after["triggers"][DELETED]["serviceAccount"] == TRIGGER_SA
    # The same trigger, so the same subscription, dead letters kept.
    assert repaired.after["subscriptions"] == again.after["subscriptions"]


def test_turned_off_the_trigger_goes_and_the_uploads_one_stays(project: Deployer, off: DeployRun) -> None:
    assert off.returncode == 0, off.stderr
    assert eventarc_writes(off) == [f"DELETE /eventarc/v1/{DELETED}"]
    assert list(off.after["triggers"]) == [UPLOADS]
    uploads = subscription_of(project.cloud.triggers[UPLOADS])
    assert [name for name in off.after["subscriptions"] if "eventarc-" in name] == [uploads]
    assert off.after["subscriptions"][uploads] == DEAD_LETTERS
    function = project.cloud.functions[f"projects/{PROJECT}/locations/us-central1/functions/image-processor"]
    assert "DELETE_THUMBNAILS_WITH_SOURCE" not in function["serviceConfig"]["environmentVariables"]


def test_the_trigger_goes_where_the_input_bucket_is_and_teardown_removes_it(fresh_project: Deployer) -> None:
    fresh_project.cloud.add_bucket("photos-from-everywhere", location="US")
    run = fresh_project.run("--input-bucket", "photos-from-everywhere", *ON)
    assert run.returncode == 0, run.stderr
    [create] = run.sent("POST", "/eventarc/v1/")
    assert create.path == f"/eventarc/v1/projects/{PROJECT}/locations/us/triggers"  # the bucket's location
    assert create.body["destination"]["cloudRun"]["region"] == "us-central1"  # the function's region
    # Teardown removes it whatever the setting says now (here: nothing).
    gone = fresh_project.run("--teardown", "--yes", "--input-bucket", "photos-from-everywhere")
    assert gone.returncode == 0, gone.stderr
    assert f"DELETE /eventarc/v1/projects/{PROJECT}/locations/us/triggers/image-processor-deleted" in eventarc_writes(
        gone
    )
    assert gone.after["triggers"] == {}
    assert [name for name in gone.after["subscriptions"] if "eventarc-" in name] == []

"""Operations provisioned by deploy.sh: dead letters, log-based metrics, alert policies,
a notification channel and a dashboard, with the real gcloud against the stand-in; and the
definitions in monitoring/ checked against Google's own message classes."""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
from typing import Any

import pytest

from deployment.monitoring import definitions
from localdev.function import ROOT
from tests.deploy.conftest import PROJECT, Deployer, DeployRun

PROTOS_PYTHON = ROOT / ".venv-protos" / "bin" / "python"
FUNCTION = "image-processor"
TRIGGER_SUBSCRIPTION = f"projects/{PROJECT}/subscriptions/eventarc-us-central1-{FUNCTION}-1-sub-100"
DEAD_LETTER_TOPIC = f"projects/{PROJECT}/topics/{FUNCTION}-dead-letters"
DEAD_LETTER_SUBSCRIPTION = f"projects/{PROJECT}/subscriptions/{FUNCTION}-dead-letters"
PUBSUB_AGENT = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
SAMPLE_VALUES = {
    "FUNCTION": FUNCTION, "SUBSCRIPTION": "eventarc-sub", "DEAD_LETTER_SUBSCRIPTION": f"{FUNCTION}-dead-letters",
    "FAILURES": 10, "RETRIES": 10, "BACKLOG_SECONDS": 600, "MAX_INSTANCES": 10, "INSTANCES_BELOW_CEILING": 9,
}  # fmt: skip
CREATES = ("POST /logging", "POST /monitoring", "PUT /pubsub", "PATCH /monitoring")


def strict_errors(given: dict[str, list[Any]]) -> dict[str, Any]:
    assert PROTOS_PYTHON.exists(), "no .venv-protos: `make protos` (make test does it) installs Google's messages"
    result = subprocess.run(
        [str(PROTOS_PYTHON), str(ROOT / "tests" / "deploy" / "definitions_check.py")],
        input=json.dumps(given), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_every_definition_parses_strictly_as_googles_own_message() -> None:
    given = {
        "LogMetric": definitions("metrics", SAMPLE_VALUES),
        "AlertPolicy": definitions("policies", SAMPLE_VALUES),
        "Dashboard": [definitions("dashboard", SAMPLE_VALUES)],
    }
    assert strict_errors(given) == {"checked": 9, "errors": []}
    # And the check is strict: one misspelt field fails it.
    misspelt = copy.deepcopy(given["AlertPolicy"][0])
    misspelt["conditions"][0]["conditionThreshold"]["tresholdValue"] = 1
    [error] = strict_errors({"AlertPolicy": [misspelt]})["errors"]
    assert "tresholdValue" in error


def writes(run: DeployRun) -> list[str]:
    """The requests that would create or change an operations resource."""
    return [f"{r.method} {r.path}" for r in run.requests if f"{r.method} {r.path}".startswith(CREATES)]


@pytest.fixture(scope="module")
def deployed(project: Deployer) -> DeployRun:
    return project.run("--alert-email", "ops@example.com")


@pytest.fixture(scope="module")
def redeployed(project: Deployer, deployed: DeployRun) -> DeployRun:
    return project.run("--alert-email", "ops@example.com")


@pytest.fixture(scope="module")
def changed(project: Deployer, redeployed: DeployRun) -> DeployRun:
    return project.run("--alert-email", "ops@example.com", "--alert-failures", "25", "--max-delivery-attempts", "20")


@pytest.fixture(scope="module")
def torn_down(project: Deployer, changed: DeployRun) -> DeployRun:
    return project.run("--teardown", "--yes")


def test_dead_letters_on_the_trigger_subscription_with_the_agents_roles(deployed: DeployRun) -> None:
    assert deployed.returncode == 0, deployed.stderr
    after = deployed.after
    assert after["subscriptions"][TRIGGER_SUBSCRIPTION] == {
        "deadLetterTopic": DEAD_LETTER_TOPIC,
        "maxDeliveryAttempts": 13,  # auto: the first delivery after MAX_RETRY_AGE (1 h), plus one
    }
    assert DEAD_LETTER_SUBSCRIPTION in after["subscriptions"]  # something to read them from, or they are lost
    assert after["topic_policies"][DEAD_LETTER_TOPIC] == {"roles/pubsub.publisher": [PUBSUB_AGENT]}
    assert after["subscription_policies"][TRIGGER_SUBSCRIPTION] == {"roles/pubsub.subscriber": [PUBSUB_AGENT]}
    [created] = [r for r in deployed.sent("PUT", "/subscriptions/") if r.path.endswith(f"{FUNCTION}-dead-letters")]
    assert created.body["topic"] == DEAD_LETTER_TOPIC
    assert created.body["messageRetentionDuration"] == "604800s"


def test_metrics_policies_channel_and_dashboard_are_created(deployed: DeployRun) -> None:
    after = deployed.after
    assert sorted(after["metrics"]) == [f"{FUNCTION}_duration", f"{FUNCTION}_events", f"{FUNCTION}_input_bytes"]
    events = after["metrics"][f"{FUNCTION}_events"]
    assert events["labelExtractors"] == {
        "outcome": "EXTRACT(jsonPayload.outcome)",
        "reason": "EXTRACT(jsonPayload.reason)",
    }
    assert f'resource.labels.service_name="{FUNCTION}"' in events["filter"]
    [channel] = after["channels"].values()
    assert (channel["type"], channel["labels"]) == ("email", {"email_address": "ops@example.com"})
    policies = after["alert_policies"]
    assert sorted(policies) == sorted(p["displayName"] for p in definitions("policies", SAMPLE_VALUES))
    assert all(policy["notificationChannels"] == [channel["name"]] for policy in policies.values())
    backlog = policies[f"{FUNCTION}: event backlog"]["conditions"][0]["conditionThreshold"]
    assert 'resource.labels.subscription_id="eventarc-us-central1-image-processor-1-sub-100"' in backlog["filter"]
    ceiling = policies[f"{FUNCTION}: at its instance ceiling"]["conditions"][0]["conditionThreshold"]
    assert ceiling["thresholdValue"] == 9  # --max-instances 10: alert at 10
    [dashboard] = after["dashboards"].values()
    assert len(dashboard["mosaicLayout"]["tiles"]) == 6


def test_a_second_deploy_creates_and_changes_nothing(deployed: DeployRun, redeployed: DeployRun) -> None:
    assert redeployed.returncode == 0, redeployed.stderr
    assert writes(redeployed) == []
    assert redeployed.after == deployed.after
    assert "is up to date" in redeployed.stderr


def test_a_changed_definition_is_updated_not_duplicated(redeployed: DeployRun, changed: DeployRun) -> None:
    assert changed.returncode == 0, changed.stderr
    assert writes(changed) == [
        f"PATCH /monitoring/v3/projects/{PROJECT}/alertPolicies/{_id(redeployed, 'failed uploads')}"
    ]
    policies = changed.after["alert_policies"]
    assert len(policies) == 5
    failures = policies[f"{FUNCTION}: failed uploads"]["conditions"][0]["conditionThreshold"]
    assert failures["thresholdValue"] == 25
    assert changed.after["subscriptions"][TRIGGER_SUBSCRIPTION]["maxDeliveryAttempts"] == 20
    assert len(changed.sent("PATCH", "/subscriptions/eventarc-")) == 1


def _id(run: DeployRun, suffix: str) -> str:
    return str(run.after["alert_policies"][f"{FUNCTION}: {suffix}"]["name"]).rsplit("/", 1)[-1]


def test_teardown_removes_what_deploy_made_and_keeps_the_dead_letters(torn_down: DeployRun) -> None:
    assert torn_down.returncode == 0, torn_down.stderr
    after = torn_down.after
    assert (after["metrics"], after["alert_policies"], after["dashboards"], after["channels"]) == ({}, {}, {}, {})
    assert after["topics"] == [DEAD_LETTER_TOPIC]  # it may hold events: only on request
    assert list(after["subscriptions"]) == [DEAD_LETTER_SUBSCRIPTION]
    assert "--delete-dead-letters removes them" in torn_down.stderr


def test_teardown_deletes_the_dead_letters_only_when_asked(project: Deployer, torn_down: DeployRun) -> None:
    run = project.run("--teardown", "--yes", "--delete-dead-letters")
    assert run.returncode == 0, run.stderr
    assert (run.after["topics"], run.after["subscriptions"]) == ([], {})


def test_an_existing_channel_is_reused_by_address_and_kept(fresh_project: Deployer) -> None:
    theirs = fresh_project.cloud.add_channel("oncall@example.com")
    run = fresh_project.run("--alert-email", "oncall@example.com")
    assert run.returncode == 0, run.stderr
    assert list(run.after["channels"]) == [theirs]
    assert all(p["notificationChannels"] == [theirs] for p in run.after["alert_policies"].values())
    gone = fresh_project.run("--teardown", "--yes")
    assert list(gone.after["channels"]) == [theirs]


def test_a_given_channel_is_used_and_none_means_none(fresh_project: Deployer) -> None:
    given = fresh_project.run("--notification-channel", "4242")
    assert given.returncode == 0, given.stderr
    expected = [f"projects/{PROJECT}/notificationChannels/4242"]
    assert all(p["notificationChannels"] == expected for p in given.after["alert_policies"].values())
    assert given.after["channels"] == {}
    silent = fresh_project.run()
    assert "notify no one" in silent.stderr
    assert all(p.get("notificationChannels", []) == [] for p in silent.after["alert_policies"].values())
    assert len(silent.after["alert_policies"]) == 5


def test_every_operations_command_of_the_dry_run_parses_in_the_real_gcloud(fresh_project: Deployer) -> None:
    """gcloud checks its arguments before any request and exits 2 on a bad one: each planned
    command, run against an empty stand-in project, may fail for want of a resource (1),
    never for its arguments."""
    plan = fresh_project.run("--alert-email", "ops@example.com", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    operations = ("logging", "alpha", "beta", "monitoring", "eventarc")
    commands = [shlex.split(line)[1:] for line in plan.stdout.splitlines()]
    commands = [
        c for c in commands if c[0] in operations or c[:2] in (["pubsub", "subscriptions"], ["pubsub", "topics"])
    ]
    assert len(commands) >= 15
    for command in commands:
        result = fresh_project.gcloud(*command, "--quiet")
        assert result.returncode != 2, (command, result.stderr[-500:])

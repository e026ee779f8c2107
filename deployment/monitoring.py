"""Operations, provisioned by deploy: log-based metrics, alert policies, a notification
channel, a dashboard, and dead letters on the trigger's subscription.

The definitions are files in ``monitoring/`` (never uploaded with the function), written
as the APIs' own JSON (``LogMetric``, ``AlertPolicy``, ``Dashboard``) with ``${NAME}``
placeholders in upper case, filled in here. Monitoring's own templates
(``${metric.labels.outcome}``) are lower case and left alone.

Each step is idempotent: a resource is found by its name (metrics) or display name
(policies, dashboard), created when absent, updated only when what deploy would write
differs from what is there, and otherwise left alone, so a second run changes nothing.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deployment.gcloud import Gcloud, say
from deployment.options import Inputs
from thumbnailer.config import Settings
from thumbnailer.declaring import declaration

DEFINITIONS = Path(__file__).resolve().parents[1] / "monitoring"
_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
#: Marks what deploy made, so teardown removes exactly that.
LABEL = "thumbnailer"


def render(text: str, values: Mapping[str, object]) -> str:
    """Fill in ``${NAME}`` placeholders (upper case only); an unknown one is an error."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            raise KeyError(f"no value for ${{{name}}}")
        return str(values[name])

    return _PLACEHOLDER.sub(value, text)


def definitions(kind: str, values: Mapping[str, object]) -> Any:
    """``metrics``, ``policies`` or ``dashboard``, rendered and parsed."""
    return json.loads(render((DEFINITIONS / f"{kind}.json").read_text(encoding="utf-8"), values))


def covers(existing: Any, wanted: Any) -> bool:
    """Whether ``existing`` already holds everything ``wanted`` says (the API adds fields of
    its own, such as names, times and etags, which do not count; and leaves out empty
    values, which count as what they say, so definitions spell no enum's zero value)."""
    if existing is None and wanted in ([], "", 0, False):
        return True  # Google's JSON leaves default values out
    if isinstance(wanted, dict):
        existing = {} if existing is None else existing
        return isinstance(existing, dict) and all(covers(existing.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(existing, list)
            and len(existing) == len(wanted)
            and all(covers(e, w) for e, w in zip(existing, wanted, strict=True))
        )
    if isinstance(wanted, float | int) and isinstance(existing, float | int | str) and not isinstance(wanted, bool):
        try:
            return float(existing) == float(wanted)
        except ValueError:
            return False
    return bool(existing == wanted)


@contextmanager
def _file(definition: Any, gcloud: Gcloud) -> Iterator[str]:
    """The definition as a file for gcloud; a dry run keeps it, so the plan can be read whole."""
    with tempfile.NamedTemporaryFile(
        "w", suffix=".json", prefix="thumbnailer-", encoding="utf-8", delete=not gcloud.dry_run
    ) as file:
        json.dump(definition, file, indent=2)
        file.flush()
        yield file.name


def _listed(gcloud: Gcloud, *arguments: str) -> list[dict[str, Any]]:
    """A list command's JSON (empty in a dry run)."""
    output = gcloud.run(*arguments, "--format=json")
    parsed = json.loads(output) if output.strip() else []
    return [item for item in parsed if isinstance(item, dict)]


def apply_metrics(gcloud: Gcloud, project: str, values: Mapping[str, object]) -> None:
    for metric in definitions("metrics", values):
        name = metric["name"]
        described = gcloud.value("logging", "metrics", "describe", name, f"--project={project}", "--format=json")
        existing = json.loads(described) if described else None
        if described is not None and (gcloud.dry_run or covers(existing, metric)):
            say(f"Log-based metric {name} is up to date")
            continue
        verb = "create" if described is None else "update"
        say(f"{'Creating' if verb == 'create' else 'Updating'} log-based metric {name}")
        with _file({k: v for k, v in metric.items() if k != "name"}, gcloud) as path:
            gcloud.run("logging", "metrics", verb, name, f"--project={project}", f"--config-from-file={path}")


def notification_channel(gcloud: Gcloud, project: str, function: str, email: str, channel: str) -> list[str]:
    """The channels the policies notify: an existing one by id, or an email channel found
    or created by its address; none when neither is given."""
    if channel:
        return [channel if channel.startswith("projects/") else f"projects/{project}/notificationChannels/{channel}"]
    if not email:
        say("No --alert-email or --notification-channel: the alert policies notify no one (they show in the console)")
        return []
    for found in _listed(gcloud, "beta", "monitoring", "channels", "list", f"--project={project}"):
        if found.get("type") == "email" and found.get("labels", {}).get("email_address") == email:
            say(f"Notification channel for {email} exists")
            return [str(found["name"])]
    say(f"Creating an email notification channel for {email}")
    created = gcloud.run(
        "beta", "monitoring", "channels", "create", f"--project={project}", "--type=email",
        f"--channel-labels=email_address={email}", f"--display-name={function} alerts",
        f"--user-labels={LABEL}={function}", "--format=value(name)",
    )  # fmt: skip
    return [created.strip() or f"projects/{project}/notificationChannels/NEW"]


def apply_policies(gcloud: Gcloud, project: str, values: Mapping[str, object], channels: list[str]) -> None:
    existing = {
        str(policy.get("displayName")): policy
        for policy in _listed(gcloud, "alpha", "monitoring", "policies", "list", f"--project={project}")
    }
    for policy in definitions("policies", values):
        policy["notificationChannels"] = channels
        name = policy["displayName"]
        found = existing.get(name)
        if found is not None and covers(found, policy):
            say(f"Alert policy {name!r} is up to date")
            continue
        with _file(policy, gcloud) as path:
            if found is None:
                say(f"Creating alert policy {name!r}")
                gcloud.run(
                    "alpha", "monitoring", "policies", "create", f"--project={project}", f"--policy-from-file={path}"
                )
            else:
                say(f"Updating alert policy {name!r}")
                gcloud.run(
                    "alpha", "monitoring", "policies", "update", str(found["name"]), f"--project={project}",
                    f"--policy-from-file={path}",
                )  # fmt: skip


def apply_dashboard(gcloud: Gcloud, project: str, values: Mapping[str, object]) -> None:
    dashboard = definitions("dashboard", values)
    dashboard["labels"] = {LABEL: ""}
    name = dashboard["displayName"]
    found = next(
        (
            d
            for d in _listed(gcloud, "monitoring", "dashboards", "list", f"--project={project}")
            if d.get("displayName") == name
        ),
        None,
    )
    if found is not None and covers(found, dashboard):
        say(f"Dashboard {name!r} is up to date")
        return
    if found is None:
        say(f"Creating dashboard {name!r}")
        with _file(dashboard, gcloud) as path:
            gcloud.run("monitoring", "dashboards", "create", f"--project={project}", f"--config-from-file={path}")
        return
    say(f"Updating dashboard {name!r}")
    dashboard["etag"] = found.get("etag", "")  # the update is refused if someone changed it meanwhile
    with _file(dashboard, gcloud) as path:
        gcloud.run(
            "monitoring", "dashboards", "update", str(found["name"]), f"--project={project}",
            f"--config-from-file={path}",
        )  # fmt: skip


def eventarc_subscription(gcloud: Gcloud, project: str, location: str, trigger: str) -> str:
    """The Pub/Sub subscription Eventarc made for a trigger (full path)."""
    if gcloud.dry_run:
        return f"projects/{project}/subscriptions/eventarc-{location}-{trigger}-sub"
    return gcloud.run(
        "eventarc", "triggers", "describe", trigger, f"--location={location}", f"--project={project}",
        "--format=value(transport.pubsub.subscription)",
    ).strip()  # fmt: skip


def trigger_subscription(gcloud: Gcloud, project: str, region: str, function: str) -> str:
    """The Pub/Sub subscription Eventarc made for the function's trigger (full path)."""
    trigger = gcloud.run(
        "functions", "describe", function, "--gen2", f"--project={project}", f"--region={region}",
        "--format=value(eventTrigger.trigger)",
    ).strip()  # fmt: skip
    if gcloud.dry_run:
        return f"projects/{project}/subscriptions/eventarc-{region}-{function}-sub"
    location = trigger.split("/")[3]
    return eventarc_subscription(gcloud, project, location, trigger.rsplit("/", 1)[-1])


def apply_dead_letters(gcloud: Gcloud, project: str, function: str, subscriptions: Sequence[str], attempts: int) -> str:
    """A dead-letter topic with a subscription to read it, on each trigger's subscription
    (one topic for the function, whatever event brought it); the Pub/Sub service agent may
    publish to the topic and pull (to forward) from each subscription. Returns the
    dead-letter subscription's id."""
    topic = f"projects/{project}/topics/{function}-dead-letters"
    reader = f"{function}-dead-letters"
    if gcloud.exists("pubsub", "topics", "describe", topic, f"--project={project}"):
        say(f"Dead-letter topic {topic} exists")
    else:
        say(f"Creating dead-letter topic {topic}")
        gcloud.run("pubsub", "topics", "create", topic, f"--project={project}", f"--labels={LABEL}={function}")
    if gcloud.exists("pubsub", "subscriptions", "describe", reader, f"--project={project}"):
        say(f"Dead-letter subscription {reader} exists")
    else:
        say(f"Creating subscription {reader}, to read the dead letters (kept 7 days)")
        gcloud.run(
            "pubsub", "subscriptions", "create", reader, f"--topic={topic}", f"--project={project}",
            "--message-retention-duration=7d", "--expiration-period=never", f"--labels={LABEL}={function}",
        )  # fmt: skip
    number = gcloud.run("projects", "describe", project, "--format=value(projectNumber)").strip() or "PROJECT_NUMBER"
    agent = f"serviceAccount:service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    say("Letting the Pub/Sub service agent forward undeliverable events to the dead-letter topic")
    gcloud.grant(
        "pubsub", "topics", "add-iam-policy-binding", topic, f"--project={project}", f"--member={agent}",
        "--role=roles/pubsub.publisher", "--format=none",
    )  # fmt: skip
    for subscription in subscriptions:
        gcloud.grant(
            "pubsub", "subscriptions", "add-iam-policy-binding", subscription, f"--project={project}",
            f"--member={agent}", "--role=roles/pubsub.subscriber", "--format=none",
        )  # fmt: skip
        described = gcloud.value(
            "pubsub", "subscriptions", "describe", subscription, f"--project={project}", "--format=json"
        )
        policy = (json.loads(described) if described else {}).get("deadLetterPolicy", {})
        if policy.get("deadLetterTopic") == topic and int(policy.get("maxDeliveryAttempts", 0)) == attempts:
            say(f"Dead letters after {attempts} attempts: already set on {subscription}")
        else:
            say(f"Dead letters after {attempts} delivery attempts on {subscription}")
            gcloud.run(
                "pubsub", "subscriptions", "update", subscription, f"--project={project}",
                f"--dead-letter-topic={topic}", f"--max-delivery-attempts={attempts}",
            )  # fmt: skip
    return reader


def delivery_attempts_for(max_retry_age_seconds: float) -> int:
    """Deliveries Eventarc makes (10 s doubling to 600 s between them) until one comes after
    MAX_RETRY_AGE, plus one: the function gives up on record then, before any dead letter.
    Pub/Sub allows 5 to 100, which reaches about 16 h."""
    attempts, elapsed, delay = 1, 0.0, 10.0
    while elapsed <= max_retry_age_seconds and attempts < 100:
        elapsed += delay
        delay = min(delay * 2, 600.0)
        attempts += 1
    return max(5, min(100, attempts + 1))


def _max_retry_age(inputs: Inputs) -> float:
    age: float = declaration(Settings, "max_retry_age_seconds").read(inputs.settings)
    return age


def provision(inputs: Inputs, gcloud: Gcloud, other_subscriptions: Sequence[str] = ()) -> None:
    """Everything operations needs, after the function (and so its trigger) exists;
    ``other_subscriptions``: those of the function's other triggers (the deleted one),
    which get the same dead letters."""
    project, function = inputs.project, inputs.function
    subscription = trigger_subscription(gcloud, project, inputs.region, function)
    attempts = inputs.max_delivery_attempts or delivery_attempts_for(_max_retry_age(inputs))
    reader = apply_dead_letters(gcloud, project, function, [subscription, *other_subscriptions], attempts)
    values = {
        "FUNCTION": function,
        "SUBSCRIPTION": subscription.rsplit("/", 1)[-1],
        "DEAD_LETTER_SUBSCRIPTION": reader,
        "FAILURES": inputs.alert_failures,
        "RETRIES": inputs.alert_retries,
        "BACKLOG_SECONDS": inputs.alert_backlog,
        "MAX_INSTANCES": inputs.max_instances,
        "INSTANCES_BELOW_CEILING": inputs.max_instances - 1,
    }
    apply_metrics(gcloud, project, values)
    channels = notification_channel(gcloud, project, function, inputs.alert_email, inputs.notification_channel)
    apply_policies(gcloud, project, values, channels)
    apply_dashboard(gcloud, project, values)


def remove(inputs: Inputs, gcloud: Gcloud) -> None:
    """What provision made: metrics, policies, the dashboard, an email channel it created
    (one it found, or was given, stays); the dead letters only when asked, since they may
    hold events nobody has read."""
    project, function = inputs.project, inputs.function
    # Only the names matter here: what identifies each definition is the function's name.
    numbers = ("FAILURES", "RETRIES", "BACKLOG_SECONDS", "MAX_INSTANCES", "INSTANCES_BELOW_CEILING")
    values: dict[str, object] = dict.fromkeys(numbers, 0)
    values |= {"FUNCTION": function, "SUBSCRIPTION": "", "DEAD_LETTER_SUBSCRIPTION": ""}
    ours = {policy["displayName"] for policy in definitions("policies", values)}
    for policy in _listed(gcloud, "alpha", "monitoring", "policies", "list", f"--project={project}"):
        if policy.get("displayName") in ours and policy.get("userLabels", {}).get(LABEL) == function:
            say(f"Deleting alert policy {policy['displayName']!r}")
            gcloud.run(
                "alpha", "monitoring", "policies", "delete", str(policy["name"]), f"--project={project}", "--quiet"
            )
    dashboard = definitions("dashboard", values)["displayName"]
    for found in _listed(gcloud, "monitoring", "dashboards", "list", f"--project={project}"):
        if found.get("displayName") == dashboard:
            say(f"Deleting dashboard {dashboard!r}")
            gcloud.run("monitoring", "dashboards", "delete", str(found["name"]), f"--project={project}", "--quiet")
    for metric in definitions("metrics", values):
        if gcloud.exists("logging", "metrics", "describe", metric["name"], f"--project={project}"):
            say(f"Deleting log-based metric {metric['name']}")
            gcloud.run("logging", "metrics", "delete", metric["name"], f"--project={project}", "--quiet")
    for channel in _listed(gcloud, "beta", "monitoring", "channels", "list", f"--project={project}"):
        if channel.get("userLabels", {}).get(LABEL) == function:
            say(f"Deleting notification channel {channel.get('displayName')!r} (deploy created it)")
            gcloud.run(
                "beta", "monitoring", "channels", "delete", str(channel["name"]), f"--project={project}", "--quiet"
            )
    topic, reader = f"projects/{project}/topics/{function}-dead-letters", f"{function}-dead-letters"
    if not inputs.delete_dead_letters:
        say(f"Dead-letter topic and subscription {reader} kept (--delete-dead-letters removes them)")
        return
    if gcloud.exists("pubsub", "subscriptions", "describe", reader, f"--project={project}"):
        say(f"Deleting dead-letter subscription {reader}")
        gcloud.run("pubsub", "subscriptions", "delete", reader, f"--project={project}", "--quiet")
    if gcloud.exists("pubsub", "topics", "describe", topic, f"--project={project}"):
        say(f"Deleting dead-letter topic {topic}")
        gcloud.run("pubsub", "topics", "delete", topic, f"--project={project}", "--quiet")

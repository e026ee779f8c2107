"""deploy.sh's options: each declared once, in one table, with its flag, environment
variable, default, help line and check; the parser, the usage text and the checks are
derived from the table. The function's own settings come from thumbnailer.config."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from thumbnailer.config import Settings
from thumbnailer.declaring import ConfigError, variables
from thumbnailer.parsers import parse_bucket, parse_int_in, parse_positive_rate


class UsageError(Exception):
    """Bad usage or input: exit 2, before any cloud call."""


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if not re.fullmatch(pattern, text):
            raise ValueError(f"{text!r} is not {what}")
        return text

    return check


def _whole_number(low: int, high: int, what: str) -> Callable[[str], int]:
    parse = parse_int_in(low, high)

    def check(text: str) -> int:
        if not text.isdigit():
            raise ValueError(f"{text!r} is not {what} in {low}..{high}")
        try:
            return parse(text)
        except ValueError:
            raise ValueError(f"{text!r} is not {what} in {low}..{high}") from None

    return check


def _cpu(text: str) -> str:
    if text and not re.fullmatch(r"[1-9][0-9]*|0\.[0-9]+|[1-9][0-9]*\.[0-9]+", text):
        raise ValueError(f"{text!r} is not a number of vCPUs such as 1 or 0.5")
    return text


def _attempts(text: str) -> int:
    """0 for auto (derived from MAX_RETRY_AGE at deploy), else 5-100, Pub/Sub's range."""
    return 0 if text == "auto" else _whole_number(5, 100, "a whole number or auto")(text)


def _email(text: str) -> str:
    if text and not re.fullmatch(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+", text):
        raise ValueError(f"{text!r} is not an email address")
    return text


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
#: Cloud Run's longest task timeout, 7 days (beyond 24 h it is a Preview feature).
MAX_TASK_TIMEOUT = 168 * 3600


def _task_timeout(text: str) -> int:
    """Seconds, from 3600, 90m, 24h or 1h30m (gcloud's duration forms), up to 168 h."""
    match = _DURATION.fullmatch(text) if not text.isdigit() else None
    if text.isdigit():
        seconds = int(text)
    elif match and any(match.groups()):
        hours, minutes, secs = (int(group or 0) for group in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError(f"{text!r} is not a duration such as 3600, 90m, 24h or 1h30m")
    if not 1 <= seconds <= MAX_TASK_TIMEOUT:
        raise ValueError(f"{text!r} is outside 1s..168h")
    return seconds


def _optional(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """Empty: None (not passed on); else the check's value."""
    return lambda text: None if text == "" else check(text)


def _bucket(text: str) -> str:
    try:
        return parse_bucket(text)
    except ValueError as error:
        raise ValueError(f"{error} (no gs://)") from None


@dataclass(frozen=True)
class Option:
    """One option: ``--flag VALUE``, its environment variable, default, help and check."""

    flag: str
    variable: str | None
    default: str | None
    help: str
    check: Callable[[str], Any] = str

    @property
    def field(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


# Empty default: derived later (the buckets from the project), or none (CPU: gcloud's own).
OPTIONS: tuple[Option, ...] = (
    Option("--project", "PROJECT_ID", None, "Google Cloud project id [PROJECT_ID, else GOOGLE_CLOUD_PROJECT]; "
           "required", _matching(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", "a project id (6-30 lower-case letters, digits, "
                                 "hyphens)")),
    Option("--region", "REGION", "us-central1", "region of the function, its trigger and the buckets",
           _matching(r"[a-z]+-[a-z]+[0-9]+", "a region such as us-central1")),
    Option("--input-bucket", "INPUT_BUCKET", "", "bucket whose uploads are thumbnailed (PROJECT-thumbnailer-input)",
           _bucket),
    Option("--output-bucket", "OUTPUT_BUCKET", "", "bucket the thumbnails go to (PROJECT-thumbnailer-output)", _bucket),
    Option("--function", "FUNCTION_NAME", "image-processor", "function name",
           _matching(r"[a-z][a-z0-9-]{0,48}[a-z0-9]", "a function name (lower-case letters, digits, hyphens; up to "
                     "50)")),
    Option("--memory", "MEMORY", "1Gi", "memory per instance, e.g. 512Mi, 1Gi",
           _matching(r"[1-9][0-9]*(Mi|Gi)", "a size such as 256Mi or 1Gi")),
    Option("--cpu", "CPU", "1", "vCPUs per instance, e.g. 1, 0.5; empty: gcloud's default for the memory", _cpu),
    Option("--timeout", "TIMEOUT", "120", "per-event timeout in seconds, 1-540",
           _whole_number(1, 540, "a whole number of seconds")),
    Option("--concurrency", "CONCURRENCY", "4", "events one instance handles at once, 1-1000; >1 needs --cpu >= 1 "
           "(defaults from bench/RESULTS.md: docs/performance.md, \"Sizing the function\")",
           _whole_number(1, 1000, "a whole number")),
    Option("--max-instances", "MAX_INSTANCES", "10", "upper bound on instances: the spending ceiling "
           "(docs/operations.md)", _whole_number(1, 1000, "a whole number")),
    Option("--alert-email", "ALERT_EMAIL", "", "email address the alert policies notify (an email channel, "
           "created or reused by address)", _email),
    Option("--notification-channel", "NOTIFICATION_CHANNEL", "", "an existing notification channel (id or "
           "projects/P/notificationChannels/ID) the alert policies notify instead",
           _matching(r"(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/notificationChannels/)?[0-9]+|", "a channel id")),
    Option("--alert-failures", "ALERT_FAILURES", "10", "alert when more uploads than this fail in 5 minutes",
           _whole_number(0, 1_000_000, "a whole number")),
    Option("--alert-retries", "ALERT_RETRIES", "10", "alert when more events than this are retried in 5 minutes",
           _whole_number(0, 1_000_000, "a whole number")),
    Option("--alert-backlog", "ALERT_BACKLOG_SECONDS", "600", "alert when the oldest waiting event is older than "
           "this many seconds", _whole_number(10, 86_400, "a whole number of seconds")),
    Option("--max-delivery-attempts", "MAX_DELIVERY_ATTEMPTS", "auto", "deliveries of an event before it goes to "
           "the dead-letter topic, 5-100; auto: enough to reach MAX_RETRY_AGE first, so a give-up is on record "
           "before anything is dead-lettered", _attempts),
    # The backfill job (--backfill-job): a Cloud Run job running `python -m thumbnailer backfill`.
    Option("--job-name", "BACKFILL_JOB_NAME", "", "(--backfill-job) the Cloud Run job's name (FUNCTION-backfill)",
           _matching(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", "a job name (lower-case letters, digits, hyphens; up to "
                     "63)")),
    Option("--tasks", "BACKFILL_TASKS", "10", "(--backfill-job) tasks per execution, 1-10000; each takes the "
           "uploads whose name hashes to it (CLOUD_RUN_TASK_INDEX of CLOUD_RUN_TASK_COUNT)",
           _whole_number(1, 10_000, "a whole number")),
    Option("--parallelism", "BACKFILL_PARALLELISM", "0", "(--backfill-job) tasks running at once; 0: as many "
           "as Cloud Run allows, up to --tasks", _whole_number(0, 10_000, "a whole number")),
    Option("--task-timeout", "BACKFILL_TASK_TIMEOUT", "24h", "(--backfill-job) a task attempt's longest run, "
           "e.g. 90m, 24h; at most 168h (beyond 24h a Cloud Run Preview feature). A task that times out is retried "
           "and continues where it stopped", _task_timeout),
    Option("--max-retries", "BACKFILL_MAX_RETRIES", "3", "(--backfill-job) retries of a failed task, 0-10",
           _whole_number(0, 10, "a whole number")),
    Option("--max-rate", "BACKFILL_MAX_RATE", "", "(--backfill-job) the backfill's --max-rate: uploads started "
           "per second, per task; empty: no limit", _optional(parse_positive_rate)),
    Option("--max-uploads", "BACKFILL_MAX_UPLOADS", "", "(--backfill-job) the backfill's --max-uploads: uploads "
           "one execution's task does at most; empty: no limit", _optional(_whole_number(1, 10**12, "a whole number"))),
)  # fmt: skip


@dataclass(frozen=True)
class Inputs:
    """Everything a run needs, checked: nothing is sent to Google before this exists."""

    project: str
    region: str
    input_bucket: str
    output_bucket: str
    function: str
    memory: str
    cpu: str
    timeout: int
    concurrency: int
    max_instances: int
    alert_email: str
    notification_channel: str
    alert_failures: int
    alert_retries: int
    alert_backlog: int
    max_delivery_attempts: int
    job_name: str
    tasks: int
    parallelism: int
    task_timeout: int  # seconds
    max_retries: int
    max_rate: float | None
    max_uploads: int | None
    retry: bool
    settings: dict[str, str]  # the function's variables to set, besides OUTPUT_BUCKET
    dry_run: bool
    teardown: bool
    backfill_job: bool
    delete_buckets: bool
    delete_objects: bool
    delete_dead_letters: bool
    assume_yes: bool

    @property
    def run_account(self) -> str:
        return f"{self.function[:26]}-run"

    @property
    def trigger_account(self) -> str:
        return f"{self.function[:22]}-trigger"

    def email(self, account: str) -> str:
        return f"{account}@{self.project}.iam.gserviceaccount.com"

    @property
    def run_email(self) -> str:
        return self.email(self.run_account)

    @property
    def trigger_email(self) -> str:
        return self.email(self.trigger_account)


def function_variables() -> list[str]:
    """The function's variables deploy passes on (OUTPUT_BUCKET it sets itself)."""
    return [declaration.variable for declaration in variables(Settings) if declaration.variable != "OUTPUT_BUCKET"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit 2, as our message
        if message.startswith("unrecognized arguments: "):
            message = f"unknown argument {message.removeprefix('unrecognized arguments: ').split()[0]!r}"
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    usage = (
        "./deploy.sh --project ID [options]                deploy (safe to re-run)\n"
        "       ./deploy.sh --project ID --backfill-job [options]  deploy the backfill as a Cloud Run job\n"
        "       ./deploy.sh --project ID --teardown [options]      remove what deploy created"
    )
    names = " ".join(function_variables())
    arguments = _Parser(
        prog="deploy.sh",
        usage=usage,
        description="Every option can also be given as the environment variable in brackets; a flag wins.",
        epilog="Exit status: 0 done, 1 a gcloud command failed (the steps after it did not run; fix the cause "
        "and re-run, every step is safe to repeat), 2 bad usage or input, 3 no gcloud here (nothing was run for "
        "2 and 3).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for option in OPTIONS:
        default = f" ({option.default})" if option.default else ""
        variable = f" [{option.variable}]" if option.variable and option.flag != "--project" else ""
        arguments.add_argument(option.flag, metavar="VALUE", help=f"{option.help}{variable}{default}")
    retry = arguments.add_mutually_exclusive_group()
    retry.add_argument(
        "--retry",
        dest="retry",
        action="store_const",
        const="true",
        help="redeliver failed events (until MAX_RETRY_AGE, at most 24 h) [RETRY=true|false] (--retry)",
    )
    retry.add_argument("--no-retry", dest="retry", action="store_const", const="false", help="drop failed events")
    arguments.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help=f"a setting of the function, repeatable; these are also taken from the environment "
        f"(docs/configuration.md lists their meaning): {names}. DELETE_SOURCE=true also lets the "
        "runtime account delete uploads; DELETE_THUMBNAILS_WITH_SOURCE=true adds a second trigger, on deleted "
        "uploads, to the function (false removes it); RESULT_TOPIC=projects/P/topics/T creates that topic if "
        "absent and lets the runtime account publish to it (teardown keeps the topic)",
    )
    arguments.add_argument(
        "--dry-run", action="store_true", help="print every gcloud command, one per line, and run none"
    )
    arguments.add_argument(
        "--backfill-job",
        action="store_true",
        help="deploy (or update) the backfill as a Cloud Run job instead of the function: the same source, "
        "settings and runtime account, shaped by the options marked (--backfill-job). Prints how to execute it",
    )
    arguments.add_argument(
        "--teardown",
        action="store_true",
        help="delete the function, its service accounts and "
        "IAM grants; buckets only with --delete-buckets, and only empty ones unless "
        "--delete-objects",
    )
    arguments.add_argument(
        "--delete-buckets", action="store_true", help="(teardown) also delete the two buckets if they are empty"
    )
    arguments.add_argument(
        "--delete-objects",
        action="store_true",
        help="(teardown) with --delete-buckets: delete buckets even if they hold objects",
    )
    arguments.add_argument(
        "--delete-dead-letters",
        action="store_true",
        help="(teardown) also delete the dead-letter topic and its subscription, and any events they hold",
    )
    arguments.add_argument("--yes", "-y", action="store_true", help="(teardown) do not ask for confirmation")
    return arguments


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> Inputs:
    """The checked inputs, from flags over environment variables over defaults."""
    given = parser().parse_args(argv)
    values: dict[str, Any] = {}
    for option in OPTIONS:
        text = getattr(given, option.field)
        if text is None:
            text = environ.get(option.variable or "", None)
            if option.flag == "--project":
                text = text or environ.get("GOOGLE_CLOUD_PROJECT")
        if text is None or (text == "" and option.flag != "--cpu"):
            text = option.default
        if text is None:
            raise UsageError("the project is required: --project ID (or PROJECT_ID)")
        if text == "" and option.flag in ("--input-bucket", "--output-bucket"):
            text = f"{values['project']}-thumbnailer-{option.flag.split('-')[2]}"
        if text == "" and option.flag == "--job-name":
            text = f"{values['function']}-backfill"
        try:
            values[option.field] = option.check(text)
        except ValueError as error:
            raise UsageError(f"{option.flag} {error}") from None
    if values["alert_email"] and values["notification_channel"]:
        raise UsageError("--alert-email and --notification-channel: give one")
    if values["input_bucket"] == values["output_bucket"]:
        raise UsageError("the input and output buckets must differ")
    if values["concurrency"] > 1 and (not values["cpu"] or float(values["cpu"]) < 1):
        raise UsageError(
            f"--concurrency {values['concurrency']} needs --cpu 1 or more (Cloud Run serves concurrent requests only "
            "then)"
        )
    if values["parallelism"] > values["tasks"]:
        raise UsageError(f"--parallelism {values['parallelism']} is more than --tasks {values['tasks']}")
    if given.backfill_job and given.teardown:
        raise UsageError("--backfill-job and --teardown: give one (teardown removes the job too)")
    retry = given.retry or environ.get("RETRY") or "true"
    if retry not in ("true", "false"):
        raise UsageError(f"RETRY must be true or false, not {retry!r}")
    settings = _function_settings(given.set, environ, values["output_bucket"])
    return Inputs(
        **values,
        retry=retry == "true",
        settings=settings,
        dry_run=given.dry_run,
        teardown=given.teardown,
        backfill_job=given.backfill_job,
        delete_buckets=given.delete_buckets,
        delete_objects=given.delete_objects,
        delete_dead_letters=given.delete_dead_letters,
        assume_yes=given.yes,
    )


def _function_settings(pairs: Sequence[str], environ: Mapping[str, str], output_bucket: str) -> dict[str, str]:
    """The function's settings from the environment and --set, checked with the function's
    own code, so a typo stops the deploy instead of a crash-looping revision."""
    known = function_variables()
    settings = {name: environ[name] for name in known if environ.get(name)}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals:
            raise UsageError(f"--set takes VAR=VALUE, got {pair!r}")
        if name not in known:
            raise UsageError(f"--set: unknown setting {name!r}")
        settings[name] = value
    for name, value in settings.items():
        # "@" separates the variables on gcloud's command line (see the deploy step).
        if "@" in value:
            raise UsageError(f"{name}: values cannot contain '@' when deployed with deploy.sh")
    try:
        Settings.from_environ({**settings, "OUTPUT_BUCKET": output_bucket})
    except ConfigError as error:
        raise UsageError(f"bad thumbnail setting: {error}") from None
    return settings

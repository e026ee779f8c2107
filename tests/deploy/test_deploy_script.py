"""deploy.sh without any cloud: its inputs, its --dry-run plan, and shellcheck.

(test_deploy_with_gcloud.py runs it for real, with gcloud against a stand-in.)
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from localdev.function import ROOT

DEPLOY = ROOT / "deploy.sh"


def run(*arguments: str, **environ: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in {"PROJECT_ID", "GOOGLE_CLOUD_PROJECT"}}
    return subprocess.run(
        ["bash", str(DEPLOY), *arguments], env={**clean, **environ}, capture_output=True, text=True, timeout=60
    )


def test_shellcheck_is_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck), so deploy.sh was not linted")
    result = subprocess.run(["shellcheck", str(DEPLOY)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_help_documents_every_option_with_its_variable_and_default() -> None:
    from deployment.options import OPTIONS, function_variables

    result = run("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines
    for option in OPTIONS:
        assert option.flag in text
        if option.variable and option.flag != "--project":
            assert f"[{option.variable}]" in text
        if option.default:
            assert f"({option.default})" in text
    for flag in ("--retry", "--no-retry", "--set", "--dry-run", "--teardown", "--delete-buckets", "--delete-objects",
                 "--backfill-job"):  # fmt: skip
        assert flag in text
    assert all(name in text for name in function_variables())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "the project is required"),
        (("--project", "Bad_Project"), "is not a project id"),
        (("--project", "demo-project", "--region", "mars"), "is not a region"),
        (("--project", "demo-project", "--input-bucket", "gs://x"), "is not a bucket name"),
        (("--project", "demo-project", "--memory", "lots"), "is not a size"),
        (("--project", "demo-project", "--timeout", "9000"), "--timeout '9000'"),
        (("--project", "demo-project", "--cpu", "0.5", "--concurrency", "4"), "needs --cpu 1 or more"),
        (("--project", "demo-project", "--set", "THUMBNAIL_SIZES=huge"), "THUMBNAIL_SIZES: 'huge'"),
        (("--project", "demo-project", "--set", "NOT_A_SETTING=1"), "unknown setting"),
        (("--project", "demo-project", "--set", "EXCLUDE_PATTERNS=*@2x.png"), "cannot contain '@'"),
        (("--project", "demo-project", "--frobnicate"), "unknown argument"),
        (("--project", "demo-project", "--tasks", "3", "--parallelism", "4"), "more than --tasks 3"),
        (("--project", "demo-project", "--task-timeout", "169h"), "outside 1s..168h"),
        (("--project", "demo-project", "--task-timeout", "a day"), "is not a duration"),
        (("--project", "demo-project", "--max-rate", "0"), "is not above 0"),
        (("--project", "demo-project", "--max-retries", "11"), "--max-retries '11'"),
        (("--project", "demo-project", "--job-name", "Backfill"), "is not a job name"),
        (("--project", "demo-project", "--backfill-job", "--teardown"), "give one"),
    ],
)
def test_bad_input_stops_before_any_cloud_call(arguments: tuple[str, ...], message: str) -> None:
    result = run(*arguments, "--dry-run")
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""  # not one gcloud command, not even printed


def test_dry_run_prints_each_gcloud_command_shell_quoted() -> None:
    result = run("--project", "demo-project", "--dry-run", "--set", "THUMBNAIL_SIZES=200x200,64x64")
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    assert commands
    assert all(command[0] == "gcloud" for command in commands)
    [deploy] = [command for command in commands if command[1:3] == ["functions", "deploy"]]
    triggers = [arg for arg in deploy if arg.startswith(("--trigger-bucket", "--trigger-event", "--trigger-resource"))]
    assert triggers == ["--trigger-bucket=demo-project-thumbnailer-input"]
    for expected in ("--gen2", "--runtime=python313", "--entry-point=process_image", "--retry",
                     "--no-allow-unauthenticated", "--ingress-settings=internal-only"):  # fmt: skip
        assert expected in deploy
    assert "--set-env-vars=^@^OUTPUT_BUCKET=demo-project-thumbnailer-output@THUMBNAIL_SIZES=200x200,64x64" in deploy
    # Sizing from bench/RESULTS.md: one vCPU, four events at once, room for four worst-case conversions.
    for default in ("--memory=1Gi", "--cpu=1", "--concurrency=4", "--timeout=120s", "--max-instances=10"):
        assert default in deploy
    enabled = next(command for command in commands if command[1:3] == ["services", "enable"])
    for api in ("cloudfunctions", "run", "cloudbuild", "artifactregistry", "eventarc", "pubsub", "storage", "logging"):
        assert f"{api}.googleapis.com" in enabled
    # Pub/Sub publisher: the storage service agent project-wide, the Pub/Sub agent on the dead-letter topic only.
    publisher = [c for c in commands if "--role=roles/pubsub.publisher" in c]
    assert [c[1:3] for c in publisher] == [["projects", "add-iam-policy-binding"], ["pubsub", "topics"]]
    assert any(a.startswith("--member=serviceAccount:service-") and "gs-project-accounts" in a for a in publisher[0])
    assert "projects/demo-project/topics/image-processor-dead-letters" in publisher[1]
    assert any("gcp-sa-pubsub" in a for a in publisher[1])
    # Every definition file the plan names is kept, so the plan can be read whole.
    files = [
        a.split("=", 1)[1] for c in commands for a in c if a.startswith(("--config-from-file=", "--policy-from-file="))
    ]
    assert len(files) == 3 + 5 + 1
    assert all(Path(f).exists() for f in files)


def test_dry_run_teardown_shows_every_delete_and_asks_nothing() -> None:
    result = run("--project", "demo-project", "--teardown", "--delete-buckets", "--dry-run")
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    deletes = [command[1:4] for command in commands if "delete" in command or "remove-iam-policy-binding" in command]
    assert deletes == [
        # Policies and the dashboard are found by listing, which a dry run cannot: the plan lists.
        ["logging", "metrics", "delete"],
        ["logging", "metrics", "delete"],
        ["logging", "metrics", "delete"],
        ["run", "jobs", "delete"],
        ["eventarc", "triggers", "delete"],
        ["functions", "delete", "image-processor"],
        ["projects", "remove-iam-policy-binding", "demo-project"],
        ["storage", "buckets", "remove-iam-policy-binding"],
        ["storage", "buckets", "remove-iam-policy-binding"],
        ["storage", "buckets", "remove-iam-policy-binding"],
        ["iam", "service-accounts", "delete"],
        ["iam", "service-accounts", "delete"],
        ["storage", "buckets", "delete"],
        ["storage", "buckets", "delete"],
    ]
    assert "[y/N]" not in result.stderr


def test_without_gcloud_exits_3_before_doing_anything(tmp_path: Path) -> None:
    # A PATH with the few tools deploy.sh needs before its first gcloud call, and no gcloud.
    for tool in ("dirname", "sort", "awk", "env"):
        (tmp_path / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    result = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(DEPLOY), "--project", "demo-project"],
        env={"PATH": str(tmp_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "gcloud is not installed" in result.stderr
    assert result.stdout == ""


def test_every_function_setting_reaches_the_function() -> None:
    """A variable declared in thumbnailer/config.py is passed on, from the environment, with
    nothing else to change in deploy."""
    from thumbnailer.config import Settings
    from thumbnailer.declaring import variables

    defaults = {d.variable: d.default for d in variables(Settings) if d.variable != "OUTPUT_BUCKET" and d.default}
    defaults["OUTPUT_NAME"] = "{dir}{name}_{width}x{height}.{format}"
    result = run("--project", "demo-project", "--dry-run", **defaults)
    assert result.returncode == 0, result.stderr
    [deploy] = [shlex.split(line) for line in result.stdout.splitlines() if " functions deploy " in line]
    [variables_argument] = [argument for argument in deploy if argument.startswith("--set-env-vars=^@^")]
    passed = dict(pair.split("=", 1) for pair in variables_argument.removeprefix("--set-env-vars=^@^").split("@"))
    assert passed == {"OUTPUT_BUCKET": "demo-project-thumbnailer-output", **defaults}


@pytest.mark.parametrize(
    ("bucket", "accepted"),
    [("a" * 63, True), ("a" * 64, False), (".".join(["a" * 63] * 3), True), ("a..b", False)],
    ids=["63", "64 without a dot", "dotted 191", "double dot"],
)
def test_bucket_names_follow_the_functions_own_rule(bucket: str, accepted: bool) -> None:
    result = run("--project", "demo-project", "--dry-run", "--input-bucket", bucket)
    assert (result.returncode == 0) is accepted, result.stderr


def test_dead_letters_wait_for_the_give_up() -> None:
    from deployment.monitoring import delivery_attempts_for

    # Eventarc: 10 s doubling to 600 s; the 12th delivery is the first after an hour.
    assert delivery_attempts_for(3600) == 13
    assert delivery_attempts_for(60) == 5  # Pub/Sub's least
    assert delivery_attempts_for(86400) == 100  # its most: about 16 h


def test_dry_run_backfill_job_plans_the_job_alone_with_the_functions_settings() -> None:
    result = run(
        "--project", "demo-project", "--backfill-job", "--dry-run", "--set", "THUMBNAIL_SIZES=200x200,64x64",
        "--max-rate", "2.5", "--max-uploads", "1000", LOG_LEVEL="DEBUG",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    assert ["gcloud", "meta", "list-files-for-upload", str(ROOT)] in commands
    [job] = [c for c in commands if c[1:4] == ["run", "jobs", "deploy"]]
    plan = run("--project", "demo-project", "--dry-run", "--set", "THUMBNAIL_SIZES=200x200,64x64", LOG_LEVEL="DEBUG")
    [function] = [shlex.split(line) for line in plan.stdout.splitlines() if " functions deploy " in line]
    [variables] = [a for a in function if a.startswith("--set-env-vars=")]
    source = next(a.removeprefix("--source=") for a in job if a.startswith("--source="))
    assert job[4:] == [
        "image-processor-backfill", "--project=demo-project", "--region=us-central1", f"--source={source}",
        "--tasks=10", "--parallelism=0", "--max-retries=3", "--task-timeout=86400s",
        "--service-account=image-processor-run@demo-project.iam.gserviceaccount.com", "--memory=1Gi", "--cpu=1",
        variables,  # the function's very list, OUTPUT_BUCKET included
        "--command=/cnb/lifecycle/launcher",
        "--args=--,python,-m,thumbnailer,backfill,gs://demo-project-thumbnailer-input,--workers=4,--max-rate=2.5,"
        "--max-uploads=1000",
        "--labels=thumbnailer=image-processor", "--quiet",
    ]  # fmt: skip
    assert (Path(source) / ".python-version").read_text() == "3.13\n"  # the plan's folder is kept
    # The job alone: no function, no trigger account, no monitoring.
    assert not [c for c in commands if c[1:3] in (["functions", "deploy"], ["eventarc", "triggers"])]
    assert not [c for c in commands if any("image-processor-trigger" in a for a in c)]
    enabled = next(c for c in commands if c[1:3] == ["services", "enable"])
    assert "cloudfunctions.googleapis.com" not in enabled
    assert "artifactregistry.googleapis.com" in enabled


def test_dry_run_with_delete_thumbnails_plans_the_deleted_trigger_and_its_dead_letters() -> None:
    plain = [shlex.split(line) for line in run("--project", "demo-project", "--dry-run").stdout.splitlines()]
    assert not [c for c in plain if c[1:4] == ["eventarc", "triggers", "create"]]
    result = run("--project", "demo-project", "--dry-run", "--set", "DELETE_THUMBNAILS_WITH_SOURCE=true")
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    [create] = [c for c in commands if c[1:4] == ["eventarc", "triggers", "create"]]
    assert create[4:] == [
        "image-processor-deleted", "--location=us-central1", "--project=demo-project",
        "--destination-run-service=image-processor", "--destination-run-region=us-central1",
        "--event-filters=type=google.cloud.storage.object.v1.deleted",
        "--event-filters=bucket=demo-project-thumbnailer-input",
        "--service-account=image-processor-trigger@demo-project.iam.gserviceaccount.com",
        "--labels=thumbnailer=image-processor",
    ]  # fmt: skip
    # After the function (its service is the destination), before the dead letters.
    names = [c[1:4] for c in commands]
    assert names.index(["functions", "deploy", "image-processor"]) < names.index(["eventarc", "triggers", "create"])
    dead_letters = [c[4] for c in commands if c[1:4] == ["pubsub", "subscriptions", "update"]]
    assert dead_letters == [
        "projects/demo-project/subscriptions/eventarc-us-central1-image-processor-sub",
        "projects/demo-project/subscriptions/eventarc-us-central1-image-processor-deleted-sub",
    ]
    # No new grant: the function's invoker binding already covers the same account and service.
    assert (
        len([c for c in commands if "add-iam-policy-binding" in c or "add-invoker-policy-binding" in c])
        == len([c for c in plain if "add-iam-policy-binding" in c or "add-invoker-policy-binding" in c]) + 1
    )  # + the Pub/Sub agent's subscriber role on the deleted trigger's subscription

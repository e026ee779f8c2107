"""deploy.sh without any cloud: its inputs, its --dry-run plan, and shellcheck.

(test_deploy_with_gcloud.py runs it for real, with gcloud against a stand-in.)
"""

from __future__ import annotations

import os
import re
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


def test_help_documents_every_flag() -> None:
    result = run("--help")
    assert result.returncode == 0
    flags = set(re.findall(r"\n    (--[a-z-]+)\)", DEPLOY.read_text()))
    flags |= {"--retry", "--no-retry", "--yes"}
    missing = [flag for flag in flags if flag not in result.stdout]
    assert missing == []


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
    publisher = [c for c in commands if "--role=roles/pubsub.publisher" in c]
    assert len(publisher) == 1
    assert any(a.startswith("--member=serviceAccount:service-") for a in publisher[0])


def test_dry_run_teardown_shows_every_delete_and_asks_nothing() -> None:
    result = run("--project", "demo-project", "--teardown", "--delete-buckets", "--dry-run")
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    deletes = [command[1:4] for command in commands if "delete" in command or "remove-iam-policy-binding" in command]
    assert deletes == [
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


def test_every_function_setting_can_be_passed() -> None:
    """A variable added to thumbnailer/config.py must reach the deployed function too."""
    from thumbnailer.config import Settings
    from thumbnailer.declaring import variables

    text = DEPLOY.read_text()
    declared = text[text.index("FUNCTION_VARIABLES=(") : text.index(")", text.index("FUNCTION_VARIABLES=("))]
    expected = {variable.variable for variable in variables(Settings)} - {
        "OUTPUT_BUCKET"
    }  # deploy.sh sets that one itself
    assert set(declared.split()[1:]) == expected
    assert all(name in run("--help").stdout for name in expected)

"""deploy.sh run with the real Google Cloud CLI against the local stand-in (google_cloud.py).

gcloud gets its own CLOUDSDK_CONFIG in a temporary folder: no credentials
(`auth/disable_credentials`), every API routed to the stand-in, and nothing else from
the environment, so a developer's own gcloud configuration is never read or touched.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localdev.function import ROOT
from tests.deploy.google_cloud import GoogleCloud, RecordedRequest

DEPLOY = ROOT / "deploy.sh"
PROJECT = "demo-project"


def function_files() -> dict[str, bytes]:
    """What the function needs at run time, read from the working tree."""
    files = {name: (ROOT / name).read_bytes() for name in ("main.py", "requirements.txt")}
    for path in (ROOT / "thumbnailer").rglob("*.py"):
        if "__pycache__" not in path.parts:
            files[path.relative_to(ROOT).as_posix()] = path.read_bytes()
    return files


def unzipped(archive: bytes) -> dict[str, bytes]:
    """The files of a source archive gcloud uploaded."""
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        return {info.filename: source.read(info) for info in source.infolist() if not info.is_dir()}


@dataclass(frozen=True)
class DeployRun:
    """One run of deploy.sh: what it printed, and what gcloud asked of the stand-in."""

    returncode: int
    stdout: str
    stderr: str
    requests: list[RecordedRequest]
    uploads: list[bytes]
    before: dict[str, Any]
    after: dict[str, Any]

    def sent(self, method: str, path_part: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and path_part in r.path]


class Deployer:
    """Runs deploy.sh with the real gcloud against one stand-in project."""

    def __init__(self, cloud: GoogleCloud, home: Path) -> None:
        self.cloud = cloud
        self.config = home / "gcloud"
        cloud.write_gcloud_config(self.config)
        self.environ = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "CLOUDSDK_CONFIG": str(self.config),
        }

    def run(self, *arguments: str, stdin: str = "", **environ: str) -> DeployRun:
        seen_requests, seen_uploads = len(self.cloud.requests), len(self.cloud.uploads)
        before = self.cloud.snapshot()
        result = subprocess.run(
            ["bash", str(DEPLOY), "--project", PROJECT, *arguments],
            env={**self.environ, **environ},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return DeployRun(
            result.returncode,
            result.stdout,
            result.stderr,
            self.cloud.requests[seen_requests:],
            self.cloud.uploads[seen_uploads:],
            before,
            self.cloud.snapshot(),
        )

    def gcloud(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["gcloud", *arguments], env=self.environ, capture_output=True, text=True, timeout=120, check=False
        )


@pytest.fixture(scope="session")
def gcloud_installed() -> None:
    if shutil.which("gcloud") is None:
        pytest.skip("the Google Cloud CLI (gcloud) is not installed, so deploy.sh was not run against the stand-in")


def serve_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployer]:
    cloud = GoogleCloud(PROJECT)
    with cloud.serve():
        yield Deployer(cloud, tmp_path_factory.mktemp("deploy-home"))


@pytest.fixture(scope="module")
def project(gcloud_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployer]:
    """One stand-in project shared by a module's runs, which build on each other."""
    yield from serve_project(tmp_path_factory)


@pytest.fixture
def fresh_project(gcloud_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployer]:
    """An empty stand-in project for one test."""
    yield from serve_project(tmp_path_factory)

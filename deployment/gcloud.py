"""Running gcloud: for real, or as a plan (--dry-run) printed one command per line.

Every command goes through ``Gcloud``: a failure stops the run naming the command (exit
1, the steps after it never run), a dry run prints each command shell-quoted on stdout
and runs none. Progress goes to stderr.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO


class GcloudFailed(Exception):
    """A gcloud command failed: exit 1, naming it."""

    def __init__(self, arguments: Sequence[str], status: int) -> None:
        super().__init__(
            f"'gcloud {' '.join(arguments)}' failed (exit {status}); the steps after it did not run.\n"
            "Fix the cause above and run deploy.sh again: every step is safe to repeat."
        )


class NoGcloud(Exception):
    """gcloud is not installed: exit 3, before anything is sent."""


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr)


class Gcloud:
    """``dry_run``: print every command and run none. ``assume_present``: what ``exists``
    answers in a dry run (teardown shows every delete, deploy every create)."""

    def __init__(
        self,
        *,
        dry_run: bool,
        assume_present: bool,
        plan: TextIO = sys.stdout,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.dry_run = dry_run
        self.assume_present = assume_present
        self._plan = plan
        self._sleep = sleep
        if not dry_run and shutil.which("gcloud") is None:
            raise NoGcloud("gcloud is not installed: https://cloud.google.com/sdk/docs/install")

    def _planned(self, arguments: Sequence[str]) -> bool:
        if self.dry_run:
            print(shlex.join(["gcloud", *arguments]), file=self._plan)
        return self.dry_run

    def _call(self, arguments: Sequence[str], *, capture: bool) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["gcloud", *arguments], text=True, capture_output=capture, stdin=subprocess.DEVNULL, check=False
        )

    def run(self, *arguments: str) -> str:
        """Run it; its stdout (empty in a dry run). Its stderr passes through."""
        if self._planned(arguments):
            return ""
        result = subprocess.run(
            ["gcloud", *arguments], text=True, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False
        )
        if result.returncode != 0:
            raise GcloudFailed(arguments, result.returncode)
        return result.stdout

    def exists(self, *arguments: str) -> bool:
        """Whether a describe command finds the resource."""
        if self._planned(arguments):
            return self.assume_present
        return self._call(arguments, capture=True).returncode == 0

    def value(self, *arguments: str) -> str | None:
        """A describe command's output, or None if the resource is absent."""
        if self._planned(arguments):
            return "" if self.assume_present else None
        result = self._call(arguments, capture=True)
        return result.stdout.strip() if result.returncode == 0 else None

    def grant(self, *arguments: str) -> None:
        """An add-iam-policy-binding for a service account that may have been created seconds
        ago. IAM takes a while to know a new account and says it "does not exist" meanwhile:
        retry that (for about a minute), and nothing else."""
        if self._planned(arguments):
            return
        delay = 2
        while True:
            result = self._call(arguments, capture=True)
            if result.returncode == 0:
                return
            if "does not exist" not in result.stderr or delay > 32:
                sys.stderr.write(result.stderr)
                raise GcloudFailed(arguments, result.returncode)
            say(f"IAM does not know the new service account yet; trying again in {delay}s")
            self._sleep(delay)
            delay *= 2

    def revoke(self, *arguments: str) -> None:
        """A remove-iam-policy-binding; a grant that is not there is not an error."""
        if self._planned(arguments):
            return
        result = self._call(arguments, capture=True)
        if result.returncode == 0:
            return
        if "not found" in result.stderr:
            say("(that grant was not there)")
            return
        sys.stderr.write(result.stderr)
        raise GcloudFailed(arguments, result.returncode)

"""The backfill as a Cloud Run job runs it, emulated: N processes of the real command,
each with CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT, against the storage emulator
behind CloudStorageRules (Cloud Storage's paging, and a count of every object written).
"""

from __future__ import annotations

import io
import signal
import subprocess
import time

import pytest
from google.cloud import storage
from PIL import Image

from localdev.gcs import FakeGcsServer
from localdev.gcs_rules import CloudStorageRules
from tests.integration.conftest import Buckets
from tests.integration.helpers import start_backfill, upload_many
from thumbnailer.backfill import Share

UPLOADS, TASKS = 2000, 4


def tiny_jpeg(index: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (index % 256, (index * 7) % 256, 90)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


@pytest.fixture
def uploaded(storage_client: storage.Client, buckets: Buckets) -> list[str]:
    names = [f"archive/{index % 7}/{index:05d}.jpg" for index in range(UPLOADS)]
    upload_many(storage_client.bucket(buckets.input), names, tiny_jpeg)
    return names


def task(rules: CloudStorageRules, buckets: Buckets, index: int, *arguments: str) -> subprocess.Popen[str]:
    """Task ``index`` of the job, as Cloud Run starts it."""
    share = {"CLOUD_RUN_TASK_INDEX": str(index), "CLOUD_RUN_TASK_COUNT": str(TASKS)}
    return start_backfill(rules.url, buckets.output, buckets.input, *arguments, env=share)


def execute(rules: CloudStorageRules, buckets: Buckets) -> list[str]:
    """One execution of the job: every task at once; their summaries."""
    running = [task(rules, buckets, index) for index in range(TASKS)]
    summaries = []
    for process in running:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        summaries.append(stdout)
    return summaries


def test_tasks_share_the_bucket_and_a_killed_task_rerun_finishes_its_share(
    gcs: FakeGcsServer, rules: CloudStorageRules, storage_client: storage.Client, buckets: Buckets,
    uploaded: list[str],
) -> None:  # fmt: skip
    expected = {f"{name}_200x200.jpg" for name in uploaded}
    killed_share = {f"{name}_200x200.jpg" for name in uploaded if Share(2, TASKS).takes(name)}
    # Task 2 dies half-way through its share (SIGKILL: no summary, no clean-up).
    doomed = task(rules, buckets, 2, "--workers", "2")
    deadline = time.monotonic() + 300
    while len(rules.written) < len(killed_share) // 2:
        assert doomed.poll() is None, doomed.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate(timeout=60)
    written_before = set(rules.written)
    assert written_before < killed_share  # only its own share, and not all of it

    # Cloud Run retries the task; the whole job runs: each task takes its share only.
    summaries = execute(rules, buckets)
    done = {blob.name for blob in storage_client.list_blobs(buckets.output)}
    assert done == expected
    assert set(rules.written) == expected
    assert max(rules.written.values()) == 1  # no thumbnail written twice, the killed task's included
    to_do = [int(summary.split(" to do")[0].rsplit(" ", 1)[1]) for summary in summaries]
    assert sum(to_do) == UPLOADS - len(written_before)
    assert all(f"of {TASKS})" in summary for summary in summaries)
    assert rules.pages_served >= 2 * TASKS  # 2,000 uploads: two pages of the input listing per task

    # A rerun finds everything done, and writes nothing.
    writes = sum(rules.written.values())
    rerun = execute(rules, buckets)
    assert sum(rules.written.values()) == writes
    assert all(" 0 to do" in summary for summary in rerun)
    already = [int(summary.split(" already had thumbnails")[0].rsplit(" ", 1)[1]) for summary in rerun]
    assert sum(already) == UPLOADS


def test_a_dry_run_says_what_the_job_would_do_and_cost(
    rules: CloudStorageRules, buckets: Buckets, uploaded: list[str]
) -> None:
    process = task(rules, buckets, 0, "--dry-run")
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    share = sum(Share(0, TASKS).takes(name) for name in uploaded)
    assert f"{share} to do (dry run: nothing read or written)" in stdout
    assert f"would make {share:,} downloads" in stdout
    assert "would cost about $" in stdout
    assert rules.written == {}

"""Fuzzing the decoding boundary with a seeded corpus of damaged files (tests/mutations.py).

Every case must give thumbnails or a permanent error (never another exception, which
the function would answer with a retry), each within a time bound, the whole corpus
within a memory bound, and nothing may reach the process's stderr. The corpus runs in a
fresh process (tests/fuzzing.py), so its peak memory is its own. ``FUZZ_CASES`` sets its
size (``make fuzz`` runs a larger one).
"""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fuzzing import SETTINGS
from tests.mutations import corpus, seed_files

ROOT = Path(__file__).resolve().parents[2]
CASES = int(os.environ.get("FUZZ_CASES", "2000"))
SECONDS_PER_CASE = 5.0  # they take milliseconds; this catches a decoder that loops or crawls
# Four decoded copies of the largest image the settings let through, at 4 bytes a pixel.
MEMORY_BOUND_MIB = 4 * 4 * max(SETTINGS.max_input_pixels, SETTINGS.max_animation_pixels) / 2**20


@pytest.fixture(scope="module")
def fuzzed() -> tuple[list[dict[str, Any]], dict[str, float], str]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzzing", str(CASES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60 + CASES * 0.5,
        check=True,
    )
    *cases, memory = (json.loads(line) for line in result.stdout.splitlines())
    return cases, memory, result.stderr


def test_the_corpus_is_the_same_every_time_and_covers_every_format() -> None:
    first, second = corpus(60), corpus(60)
    assert [(case.name, case.data) for case in first] == [(case.name, case.data) for case in second]
    assert {case.name.split("/")[0] for case in first} == set(seed_files())
    assert len({case.data for case in first}) == 60  # no two mutations alike


def test_every_damaged_file_gives_thumbnails_or_a_permanent_error(
    fuzzed: tuple[list[dict[str, Any]], dict[str, float], str],
) -> None:
    cases, _, _ = fuzzed
    assert len(cases) == CASES
    unexpected = [case for case in cases if case["outcome"] == "unexpected"]
    assert not unexpected, "\n\n".join(f"{c['case']} ({c['description']}):\n{c['error']}" for c in unexpected[:5])
    outcomes = Counter(case["outcome"] for case in cases)
    # Both answers occur: a corpus the decoders refuse whole, or accept whole, tests little.
    assert outcomes["thumbnails"] > CASES / 10
    assert outcomes["permanent"] > CASES / 10


def test_every_damaged_file_is_answered_quickly(fuzzed: tuple[list[dict[str, Any]], dict[str, float], str]) -> None:
    cases, _, _ = fuzzed
    slowest = max(cases, key=lambda case: case["seconds"])
    assert slowest["seconds"] < SECONDS_PER_CASE, slowest


def test_the_corpus_stays_within_a_memory_bound(fuzzed: tuple[list[dict[str, Any]], dict[str, float], str]) -> None:
    _, memory, _ = fuzzed
    assert memory["peak_mib"] - memory["baseline_peak_mib"] < MEMORY_BOUND_MIB, memory


def test_no_decoder_writes_to_stderr(fuzzed: tuple[list[dict[str, Any]], dict[str, float], str]) -> None:
    _, _, stderr = fuzzed
    assert stderr == ""

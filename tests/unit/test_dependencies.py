"""The lock files: every line an exact pin with hashes, and the hand-edited inputs agree with them.

requirements*.in are edited by hand, requirements*.txt are generated from them by `make lock`
(README, Dependencies). Read with pip's own parser; nothing here touches the network.
"""

import re
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from pip_requirements_parser import RequirementsFile  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
INPUT_TO_LOCK = {
    "requirements.in": "requirements.txt",
    "requirements-dev.in": "requirements-dev.txt",
    "requirements-tools.in": "requirements-tools.txt",
    "requirements-protos.in": "requirements-protos.txt",
}
LOCKS = list(INPUT_TO_LOCK.values())
SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


def requirements(name: str, *, include_nested: bool = False) -> list[Any]:
    parsed = RequirementsFile.from_file(str(ROOT / name), include_nested=include_nested)
    assert not parsed.invalid_lines, f"{name}: lines pip cannot read: {parsed.invalid_lines}"
    return list(parsed.requirements)


def exact_version(requirement: Any) -> str | None:
    """The version of a `name==version` requirement, None for anything looser."""
    specifiers = list(requirement.specifier)
    if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
        return None
    return str(specifiers[0].version)


def pins(lock: str) -> dict[str, str]:
    return {canonicalize_name(r.name): str(exact_version(r)) for r in requirements(lock)}


@pytest.mark.parametrize("lock", LOCKS)
def test_each_lock_line_is_an_exact_pin_with_sha256_hashes(lock: str) -> None:
    parsed = RequirementsFile.from_file(str(ROOT / lock), include_nested=False)
    assert not parsed.options, f"{lock} must stand alone (no -r, -c or index options): {parsed.options}"
    locked = requirements(lock)
    assert locked, f"{lock} locks nothing"
    problems = []
    for requirement in locked:
        line = requirement.line.split(" --hash")[0].strip()
        if requirement.link is not None or requirement.is_editable or exact_version(requirement) is None:
            problems.append(f"{line}: not name==version")
        if not requirement.hash_options:
            problems.append(f"{line}: no --hash")
        problems += [
            f"{line}: not a sha256 hash: {digest}"
            for digest in requirement.hash_options
            if not SHA256.fullmatch(digest)
        ]
    assert problems == []


@pytest.mark.parametrize(("source", "lock"), INPUT_TO_LOCK.items())
def test_every_direct_dependency_is_locked_at_its_pin(source: str, lock: str) -> None:
    # What Cloud Build installs is requirements.txt: a pin changed in only one of the two is a mistake.
    locked = pins(lock)
    direct = [r for r in requirements(source, include_nested=True) if not r.is_constraint]
    assert direct, f"{source} names no dependency"
    problems = []
    for requirement in direct:
        version = exact_version(requirement)
        name = canonicalize_name(requirement.name)
        if version is None:
            problems.append(f"{source}: {requirement.line}: not an exact name==version pin")
        elif locked.get(name) != version:
            problems.append(f"{source} pins {name}=={version}, {lock} has {locked.get(name, 'nothing')}")
    assert problems == [], "edit the .in file, then `make lock`"


def test_dev_lock_holds_the_runtime_lock_at_the_same_versions() -> None:
    # The tests run what deploys: `pip install -r requirements-dev.txt` must install every
    # package of requirements.txt, at its version.
    dev = pins("requirements-dev.txt")
    runtime = pins("requirements.txt")
    assert {name: dev.get(name) for name in runtime} == runtime


def test_each_audit_exception_gives_its_reason() -> None:
    # `make audit` passes each ID to pip-audit's --ignore-vuln; the reason is the comment.
    ids = []
    for number, line in enumerate((ROOT / "audit-exceptions.txt").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        # Anchored at the line's start, as the Makefile's sed reads it: an indented ID would be missed there.
        match = re.fullmatch(r"([A-Za-z0-9._-]+)\s+#\s*(\S.*)", line.rstrip())
        assert match, f"audit-exceptions.txt:{number}: expected `ID  # reason`, got {line!r}"
        ids.append(match[1])
    assert len(ids) == len(set(ids)), f"audit-exceptions.txt lists an ID twice: {ids}"

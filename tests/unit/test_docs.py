"""The documentation: generated parts current, every link resolving, README short."""

import re
from pathlib import Path

import pytest

from localdev.settings import LocalSettings
from thumbnailer.config import Settings
from thumbnailer.declaring import markdown_table

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize(
    ("settings", "command"),
    [(Settings, "python -m thumbnailer settings"), (LocalSettings, "python -m localdev settings")],
    ids=["function", "local pipeline"],
)
def test_the_configuration_tables_are_current(settings: type[tuple[object, ...]], command: str) -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert markdown_table(settings) in page, f"stale: run `{command}` and paste its table into docs/configuration.md"


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_resolves(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor:
            assert anchor in _anchors(linked), f"{page.name}: no heading #{anchor} in {linked.name}"


def test_the_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    for command in ("make run", "make test"):
        assert command in "\n".join(lines)

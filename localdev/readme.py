"""README shows the latest full runs of ``make bench`` and ``make soak`` between markers."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def show_in_readme(marker: str, report: str, readme: Path = README) -> bool:
    """Put ``report`` between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` (headings
    one level down); True if README changed."""
    body = re.sub(r"^(#+) ", r"#\1 ", report, flags=re.MULTILINE)
    block = re.compile(rf"(<!-- {re.escape(marker)}:start -->\n).*?(<!-- {re.escape(marker)}:end -->)", re.DOTALL)
    text = readme.read_text(encoding="utf-8")
    updated = block.sub(lambda match: match[1] + body + match[2], text)
    if updated == text:
        return False
    readme.write_text(updated, encoding="utf-8")
    return True

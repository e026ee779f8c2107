"""``python -m bench.memory_probe CANDIDATE PATH``: convert PATH once in this fresh process, print VmHWM in KiB.

The figure includes the interpreter, the candidate's imports and the input bytes;
the caller subtracts a bare interpreter's.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bench.candidates import CONVERSIONS


def high_water_mark_kib() -> int:
    """VmHWM: the most resident memory this process has had, in KiB (Linux)."""
    match = re.search(r"VmHWM:\s*(\d+)\s*kB", Path("/proc/self/status").read_text())
    if match is None:
        raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")
    return int(match[1])


def main(arguments: list[str]) -> int:
    candidate, path = arguments
    CONVERSIONS[candidate](Path(path).read_bytes())
    sys.stdout.write(f"{high_water_mark_kib()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

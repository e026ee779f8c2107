"""``python -m bench.peak_probe OUT -m MODULE ARG... | OUT -c CODE``: run it, then write its VmHWM.

The resident high-water mark (KiB) of this very process, read from /proc at exit and
written to OUT. The kernel's own figure for a child (``wait4``) cannot be used: it
keeps the parent's size at the fork, and the bench that forks holds the whole corpus.
"""

from __future__ import annotations

import runpy
import sys

from bench.memory_probe import high_water_mark_kib


def main(arguments: list[str]) -> int:
    output, kind, target, *rest = arguments
    sys.argv = [target, *rest]
    try:
        if kind == "-m":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            exec(compile(target, "<bench>", "exec"), {"__name__": "__main__"})
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            raise
    finally:
        with open(output, "w") as file:
            file.write(f"{high_water_mark_kib()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``python -m soak`` (``make soak``): uploads through the local pipeline under faults; the audit and its figures.

Exit status: 0 when every invariant held, 1 when one was violated (the report says
which), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from soak.report import render
from soak.run import Soak, SoakOptions

logger = logging.getLogger("soak")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    defaults = SoakOptions()
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=defaults.uploads, help="uploads in all (default %(default)s)")
    parser.add_argument(
        "--rate", type=float, default=defaults.steady_rate, help="uploads per second while steady (default %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="corpus and fault choices (default %(default)s)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the report")
    parser.add_argument(
        "--keep", type=Path, help="keep the pipeline's state (logs, dead letters) in this folder, for a post-mortem"
    )
    arguments = parser.parse_args(argv)
    if arguments.uploads < 20:
        parser.error("--uploads must be at least 20, so that every fault and every bad kind occurs")
    if arguments.rate <= 0:
        parser.error("--rate must be positive")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s", "%H:%M:%S"))
    # The soak's own lines and real errors; the failed deliveries it provokes are counted, not shown.
    console.addFilter(lambda record: record.name.startswith("soak") or record.levelno >= logging.ERROR)
    logging.basicConfig(level=logging.INFO, handlers=[console])
    options = SoakOptions(uploads=arguments.uploads, steady_rate=arguments.rate, seed=arguments.seed)
    if arguments.keep:
        arguments.keep.mkdir(parents=True, exist_ok=True)
        result = Soak(options, arguments.keep.resolve()).run()
    else:
        with tempfile.TemporaryDirectory(prefix="thumbnailer-soak-") as folder:
            result = Soak(options, Path(folder)).run()
    text = render(result)
    sys.stdout.write(text)
    arguments.output.write_text(text, encoding="utf-8")
    logger.info("written to %s", arguments.output)
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())

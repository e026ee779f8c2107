"""``python -m bench.batch_probe CANDIDATE OUTDIR FILE...``: one process converting every file.

What a user who wrote their own script would run instead of the command line: ``libvips``
(``thumbnail_buffer`` with libvips' default threading) or ``naive`` Pillow, one file after
another, each thumbnail written to OUTDIR. Timed from outside, start-up included.
"""

from __future__ import annotations

import os
import sys


def main(arguments: list[str]) -> int:
    candidate, output_dir, *files = arguments
    from bench.candidates import CONVERSIONS

    convert = CONVERSIONS[candidate]
    for path in files:
        with open(path, "rb") as source:
            thumbnail = convert(source.read())
        with open(os.path.join(output_dir, os.path.basename(path) + ".jpg"), "wb") as target:
            target.write(thumbnail)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

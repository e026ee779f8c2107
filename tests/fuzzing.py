"""``python -m tests.fuzzing [COUNT] [--seed SEED]``: the damaged corpus through ``render_thumbnails``.

Prints one JSON line per case (its name, outcome, reason and seconds; the traceback when
the outcome is ``unexpected``), then one line with the process's peak memory: after the
seed files were rendered once (every decoder loaded) and at the end. ``tests/unit/test_fuzz.py``
runs it in a fresh process, so the peak is the corpus's own; ``make fuzz`` runs a larger
corpus by hand.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback

from tests.mutations import corpus, seed_files
from thumbnailer import errors
from thumbnailer.config import ImagingSettings
from thumbnailer.parsers import parse_sizes

#: Tight pixel limits, so that the memory bound below means something: a mutation that
#: claims a huge size within the limits may still be decoded.
SETTINGS = ImagingSettings(
    sizes=parse_sizes("200x200,64x64"), max_input_pixels=4_000_000, max_animation_pixels=8_000_000
)
#: Every tenth case also takes the optional steps after decoding (an attention crop, the
#: copy Vision is sent): they see the pixels a damaged file decoded to.
EVERYTHING = SETTINGS._replace(sizes=parse_sizes("200x200,64x64:mode=attention"))
EVERY = 10


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzzing", description=__doc__.split("\n")[0])
    parser.add_argument("count", type=int, nargs="?", default=600)
    parser.add_argument("--seed", default="thumbnailer")
    arguments = parser.parse_args(argv)
    from thumbnailer.imaging import render_thumbnails

    for data in seed_files().values():
        render_thumbnails(data, SETTINGS)
    baseline = _peak_mib()
    for index, case in enumerate(corpus(arguments.count, arguments.seed)):
        line: dict[str, object] = {"case": case.name}
        started = time.perf_counter()
        try:
            if index % EVERY:
                render_thumbnails(case.data, SETTINGS)
            else:
                render_thumbnails(case.data, EVERYTHING, analysis_side=640)
            line.update(outcome="thumbnails")
        except errors.PermanentError as error:
            line.update(outcome="permanent", reason=error.reason)
        except Exception:
            line.update(outcome="unexpected", description=case.description, error=traceback.format_exc())
        line["seconds"] = round(time.perf_counter() - started, 4)
        sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.write(json.dumps({"baseline_peak_mib": baseline, "peak_mib": _peak_mib()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

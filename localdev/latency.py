"""``make latency``: how long the local pipeline takes to start, and upload to thumbnail.

Starts ``python -m localdev run`` as a user would (free ports, a temporary state folder,
no samples), times it until it is ready, then uploads ``--count`` 12 MP JPEGs one after
another with the Cloud Storage client and times each from the end of its upload to the
moment its thumbnail can be read from the output bucket. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from PIL import Image, ImageDraw

from localdev.samples import landscape

ROOT = Path(__file__).resolve().parents[1]


def twelve_megapixel_jpegs(variants: int) -> list[bytes]:
    """4000x3000 photo-like JPEGs (quality 90), each a little different.

    Sensor-like grain is blended in: without it the JPEGs are a tenth of a real
    photo's size and decode faster than a real photo would.
    """
    images = []
    for variant in range(variants):
        grain = Image.effect_noise((4000, 3000), 24 + 4 * variant).convert("RGB")
        image = Image.blend(landscape(4000, 3000), grain, 0.12)
        ImageDraw.Draw(image).rectangle([200 + 300 * variant, 200, 600 + 300 * variant, 500], fill=(200, 30, 30))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="uploads to time (default 100)")
    arguments = parser.parse_args(argv)

    photos = twelve_megapixel_jpegs(4)
    with tempfile.TemporaryDirectory(prefix="thumbnailer-latency-") as folder:
        state = Path(folder)
        environ = {**os.environ, "LOCAL_DIR": str(state), "LOCAL_SAMPLES": "0"}
        environ.update(
            dict.fromkeys(("WEB_PORT", "STORAGE_PORT", "STORAGE_TLS_PORT", "PUBSUB_PORT", "FUNCTION_PORT"), "0")
        )
        began = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "localdev", "run"], cwd=ROOT, env=environ,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while not (state / "env").exists():
                if process.poll() is not None or time.monotonic() - began > 120:
                    sys.stderr.write("the local pipeline did not start\n")
                    return 1
                time.sleep(0.02)
            startup = time.monotonic() - began
            exports = dict(re.findall(r"^export (\w+)=(\S+)$", (state / "env").read_text(), flags=re.MULTILINE))
            client = storage.Client(
                project="latency",
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options={"api_endpoint": exports["STORAGE_EMULATOR_HOST"]},
            )
            source = client.bucket(exports["INPUT_BUCKET"])
            output = client.bucket(exports["OUTPUT_BUCKET"])
            latencies = []
            for index in range(arguments.count):
                name = f"latency/{index:04d}.jpg"
                source.blob(name).upload_from_string(photos[index % len(photos)], content_type="image/jpeg")
                uploaded = time.monotonic()
                while output.get_blob(f"{name}_200x200.jpg") is None:
                    if time.monotonic() - uploaded > 60:
                        sys.stderr.write(f"no thumbnail for {name} within 60 s\n")
                        return 1
                    time.sleep(0.005)
                latencies.append(time.monotonic() - uploaded)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)

    width, height = Image.open(io.BytesIO(photos[0])).size
    milliseconds = [value * 1000 for value in latencies]
    sys.stdout.write(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n\n"
        "| Measure | Value |\n| --- | --- |\n"
        f"| `make run` start-up (process start to ready, environment already installed) | {startup:.1f} s |\n"
        f"| Upload to thumbnail, p50 ({len(latencies)} uploads of {width}x{height} JPEGs, "
        f"{len(photos[0]) / 1e6:.1f} MB) | {statistics.median(milliseconds):.0f} ms |\n"
        f"| Upload to thumbnail, p95 | {percentile(milliseconds, 0.95):.0f} ms |\n"
        f"| Upload to thumbnail, max | {max(milliseconds):.0f} ms |\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runtime smoke check for the deploy runtime (python313), run by `make compat`.

Not a pytest module: it runs under a bare interpreter with only requirements.txt
installed, exactly what Cloud Build installs, and exits non-zero on any failure.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from functions_framework import create_app
    from PIL import Image

    from thumbnailer.config import ImagingSettings
    from thumbnailer.domain import OutputFormat
    from thumbnailer.imaging import render_thumbnails

    for source_format in ("JPEG", "PNG", "WEBP"):  # Pillow's path, and libvips' (PNG, WebP)
        buffer = io.BytesIO()
        Image.new("RGB", (4000, 3000), "teal").save(buffer, source_format)
        for output in OutputFormat:
            rendering = render_thumbnails(buffer.getvalue(), ImagingSettings(format=output))
            image = Image.open(io.BytesIO(rendering.thumbnails[0].data))
            if image.size != (200, 200):
                raise SystemExit(f"{source_format} to {output}: got {image.size}")
    os.environ.setdefault("OUTPUT_BUCKET", "compat-check")
    client = create_app("process_image", str(ROOT / "main.py"), "cloudevent").test_client()
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "//x", "ce-type": "other", "ce-subject": "x"}
    response = client.post("/", headers={**headers, "Content-Type": "application/json"}, data="{}")
    if response.status_code != 200:
        raise SystemExit(f"an ignored event got HTTP {response.status_code}")
    sys.stderr.write(f"compat: Python {sys.version.split()[0]}: imaging and main.process_image OK\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

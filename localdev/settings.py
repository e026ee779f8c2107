"""Settings of the local pipeline (``make run``), read once from the environment.

The function's own settings (``THUMBNAIL_SIZES`` …) pass through to the function
process unchanged; these are the ones only the local stand-ins need.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from thumbnailer.declaring import declared, read, setting
from thumbnailer.parsers import parse_bucket, parse_float_in, parse_int_in

ROOT = Path(__file__).resolve().parents[1]


_parse_port = parse_int_in(0, 65535)  # 0 picks a free port


_parse_scale = parse_float_in(0, 1)


def _parse_name(text: str) -> str:
    # Pub/Sub ids: 3-255 characters, starting with a letter.
    if not (3 <= len(text) <= 255 and text[:1].isalpha() and all(c.isalnum() or c in "-_.~+%" for c in text)):
        raise ValueError(f"{text!r} is not a Pub/Sub or project id (3-255 characters, starting with a letter)")
    return text


def _parse_path(text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else ROOT / path


@declared
class LocalSettings(NamedTuple):
    input_bucket: str = setting(
        "INPUT_BUCKET", "thumbnailer-input", "Bucket uploads go to (the trigger's bucket).", parse_bucket
    )
    output_bucket: str = setting(
        "OUTPUT_BUCKET", "thumbnailer-output", "Bucket the function writes thumbnails to.", parse_bucket
    )
    project: str = setting("LOCAL_PROJECT", "local-project", "Project id the emulators use.", _parse_name)
    state_dir: Path = setting(
        "LOCAL_DIR", ".local", "Folder for emulator data, logs, dead letters and the env file.", _parse_path
    )
    web_port: int = setting("WEB_PORT", "8080", "Port of the upload page and gallery (0: any free port).", _parse_port)
    storage_port: int = setting("STORAGE_PORT", "9023", "Cloud Storage emulator, HTTP (JSON API).", _parse_port)
    storage_tls_port: int = setting(
        "STORAGE_TLS_PORT", "9443", "Cloud Storage emulator, HTTPS (for gsutil).", _parse_port
    )
    pubsub_port: int = setting("PUBSUB_PORT", "8085", "Pub/Sub emulator.", _parse_port)
    vision_port: int = setting("VISION_PORT", "9090", "The local Cloud Vision API (labels, SafeSearch).", _parse_port)
    function_port: int = setting("FUNCTION_PORT", "8081", "The function under functions-framework.", _parse_port)
    retry_scale: float = setting(
        "EVENTARC_RETRY_SCALE",
        "0.01",
        "Scales Eventarc's redelivery schedule (10 s doubling to 600 s, for 24 h): 0.01 retries after 0.1 s "
        "doubling to 6 s and dead-letters after 14.4 min.",
        _parse_scale,
    )
    upload_samples: bool = setting(
        "LOCAL_SAMPLES", "1", "Upload the bundled sample images at start (1) or not (0).", lambda text: text != "0"
    )
    topic: str = "storage-notifications"
    subscription: str = "eventarc-trigger"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "LocalSettings":
        return read(cls, environ)

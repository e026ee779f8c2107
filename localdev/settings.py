"""Settings of the local pipeline (``make run``), read once from the environment.

The function's own settings (``THUMBNAIL_SIZES`` …) pass through to the function
process unchanged; these are the ones only the local stand-ins need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from thumbnailer.config import Variable, parse_bucket, parse_float_in, parse_int_in

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


INPUT_BUCKET = Variable(
    "INPUT_BUCKET", "thumbnailer-input", "Bucket uploads go to (the trigger's bucket).", parse_bucket
)
LOCAL_OUTPUT_BUCKET = Variable(
    "OUTPUT_BUCKET", "thumbnailer-output", "Bucket the function writes thumbnails to.", parse_bucket
)
PROJECT = Variable("LOCAL_PROJECT", "local-project", "Project id the emulators use.", _parse_name)
STATE_DIR = Variable(
    "LOCAL_DIR", ".local", "Folder for emulator data, logs, dead letters and the env file.", _parse_path
)
WEB_PORT = Variable("WEB_PORT", "8080", "Port of the upload page and gallery (0: any free port).", _parse_port)
STORAGE_PORT = Variable("STORAGE_PORT", "9023", "Cloud Storage emulator, HTTP (JSON API).", _parse_port)
STORAGE_TLS_PORT = Variable("STORAGE_TLS_PORT", "9443", "Cloud Storage emulator, HTTPS (for gsutil).", _parse_port)
PUBSUB_PORT = Variable("PUBSUB_PORT", "8085", "Pub/Sub emulator.", _parse_port)
FUNCTION_PORT = Variable("FUNCTION_PORT", "8081", "The function under functions-framework.", _parse_port)
RETRY_SCALE = Variable(
    "EVENTARC_RETRY_SCALE",
    "0.01",
    "Scales Eventarc's redelivery schedule (10 s doubling to 600 s, for 24 h): 0.01 retries after 0.1 s "
    "doubling to 6 s and dead-letters after 14.4 min.",
    _parse_scale,
)
SAMPLES = Variable(
    "LOCAL_SAMPLES", "1", "Upload the bundled sample images at start (1) or not (0).", lambda text: text != "0"
)

LOCAL_VARIABLES: tuple[Variable, ...] = (
    INPUT_BUCKET,
    LOCAL_OUTPUT_BUCKET,
    PROJECT,
    STATE_DIR,
    WEB_PORT,
    STORAGE_PORT,
    STORAGE_TLS_PORT,
    PUBSUB_PORT,
    FUNCTION_PORT,
    RETRY_SCALE,
    SAMPLES,
)


@dataclass(frozen=True)
class LocalSettings:
    input_bucket: str
    output_bucket: str
    project: str
    state_dir: Path
    web_port: int
    storage_port: int
    storage_tls_port: int
    pubsub_port: int
    function_port: int
    retry_scale: float
    upload_samples: bool
    topic: str = "storage-notifications"
    subscription: str = "eventarc-trigger"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> LocalSettings:
        return cls(
            input_bucket=INPUT_BUCKET.read(environ),
            output_bucket=LOCAL_OUTPUT_BUCKET.read(environ),
            project=PROJECT.read(environ),
            state_dir=STATE_DIR.read(environ),
            web_port=WEB_PORT.read(environ),
            storage_port=STORAGE_PORT.read(environ),
            storage_tls_port=STORAGE_TLS_PORT.read(environ),
            pubsub_port=PUBSUB_PORT.read(environ),
            function_port=FUNCTION_PORT.read(environ),
            retry_scale=RETRY_SCALE.read(environ),
            upload_samples=SAMPLES.read(environ),
        )

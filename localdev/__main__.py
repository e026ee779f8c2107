"""``python -m localdev run``: the whole pipeline on this machine, until Ctrl-C.

Exit status: 0 stopped by Ctrl-C or SIGTERM, 1 failed to start, 2 a setting is
malformed, 3 a prerequisite is missing.
"""

from __future__ import annotations

import argparse
import enum
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from localdev.pubsub import MissingPrerequisite
from localdev.settings import LocalSettings
from localdev.stack import PortInUse, Stack
from thumbnailer.config import Settings
from thumbnailer.declaring import ConfigError, markdown_table

logger = logging.getLogger("localdev")


class ExitStatus(enum.IntEnum):
    OK = 0
    START_FAILED = 1
    BAD_SETTING = 2
    MISSING_PREREQUISITE = 3


class ConsoleFormatter(logging.Formatter):
    """``12:00:01 eventarc  delivered  object=a.jpg attempts=1``: the fields a person watches."""

    FIELDS = ("object", "generation", "outcome", "attempts", "status", "retry_in_s", "reason", "record", "via")

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={getattr(record, key)}" for key in self.FIELDS if hasattr(record, key))
        origin = record.name.removeprefix("localdev.")
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {origin:<9} {record.getMessage()}"
        line = f"{line}  {fields}" if fields else line
        return f"{line}\n{self.formatException(record.exc_info)}" if record.exc_info else line


def _configure_console() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ConsoleFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _announce(stack: Stack) -> None:
    exports = stack.exports()
    env_file = stack.paths.env_file
    python_listing = (
        "python -c 'from google.cloud import storage; "
        f'print([b.name for b in storage.Client().list_blobs("{exports["OUTPUT_BUCKET"]}")])\''
    )
    sys.stdout.write(
        f"""
Local pipeline running (started in {stack.started_in_seconds:.1f} s). Ctrl-C stops everything.

  Upload page and gallery:  {exports["THUMBNAILER_WEB_URL"]}
  Input bucket:             gs://{exports["INPUT_BUCKET"]}/
  Output bucket:            gs://{exports["OUTPUT_BUCKET"]}/
  Cloud Vision (local):     {exports.get("VISION_API_ENDPOINT", "off")}

In another shell:
  source {env_file}
  gsutil cp photo.jpg gs://$INPUT_BUCKET/
  gcloud storage cp photo.jpg gs://$INPUT_BUCKET/
  gsutil ls gs://$OUTPUT_BUCKET/
  {python_listing}

Logs: {stack.paths.logs}/  Dead letters: {stack.paths.dead_letters}/
"""
    )
    sys.stdout.flush()


def run(environ: dict[str, str]) -> ExitStatus:
    try:
        settings = LocalSettings.from_environ(environ)
        # The function would refuse a bad THUMBNAIL_* at cold start: say so now, before starting anything.
        Settings.from_environ({**environ, "OUTPUT_BUCKET": settings.output_bucket})
    except ConfigError as error:
        logger.error("bad setting: %s", error)
        return ExitStatus.BAD_SETTING
    stack = Stack(settings, environ)
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start()
    except MissingPrerequisite as error:
        logger.error("missing prerequisite: %s", error)
        stack.stop()
        return ExitStatus.MISSING_PREREQUISITE
    except PortInUse as error:
        logger.error("%s", error)
        stack.stop()
        return ExitStatus.START_FAILED
    except Exception:
        logger.exception("the local pipeline failed to start")
        stack.stop()
        return ExitStatus.START_FAILED
    if not stopping.is_set():
        _announce(stack)
        # Wake up now and then: the kernel may deliver Ctrl-C to any of our threads, and
        # then an untimed wait in the main thread would never see the handler run.
        while not stopping.wait(0.2):
            pass
    logger.info("stopping")
    stack.stop()
    logger.info("stopped; nothing is left listening")
    return ExitStatus.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the local pipeline and stay in the foreground until Ctrl-C")
    commands.add_parser("settings", help="print the local pipeline's settings as a Markdown table")
    arguments = parser.parse_args(argv)
    if arguments.command == "settings":
        sys.stdout.write(markdown_table(LocalSettings) + "\n")
        return ExitStatus.OK
    _configure_console()
    return run(dict(os.environ))


if __name__ == "__main__":
    sys.exit(main())

"""JSON log lines in Cloud Logging's structured format (``severity``, ``message``, fields)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

_HANDLER_NAME = "thumbnailer-json"


def json_formatter() -> logging.Formatter:
    # python-json-logger: a maintained formatter that puts `extra=` fields at the top
    # level, which is where Cloud Logging's jsonPayload wants them.
    return JsonFormatter(
        "{message}{levelname}{name}",
        style="{",
        rename_fields={"levelname": "severity", "name": "logger"},
        timestamp="time",
    )


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send the package's records to ``stream`` (stdout) as one JSON object per line.

    Idempotent: a second call replaces the handler rather than adding another.
    """
    logger = logging.getLogger("thumbnailer")
    for existing in list(logger.handlers):
        if existing.get_name() == _HANDLER_NAME:
            logger.removeHandler(existing)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(json_formatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # functions-framework's LOG_EXECUTION_ID mode calls logging.config.dictConfig, which
    # disables every logger that exists at that moment; ours must keep working.
    for name, child in logging.root.manager.loggerDict.items():
        if (name == "thumbnailer" or name.startswith("thumbnailer.")) and isinstance(child, logging.Logger):
            child.disabled = False

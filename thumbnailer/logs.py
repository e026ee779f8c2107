"""JSON log lines in Cloud Logging's structured format (``severity``, ``message``, fields)."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

_HANDLER_NAME = "thumbnailer-json"

#: The longest text a log field holds whole: any Cloud Storage object name (at most 1024
#: bytes) fits. An event may be forged or malformed, and a log line never carries it whole.
MAX_FIELD_CHARACTERS = 1024
_SHOWN_CHARACTERS = 100


def _cut(text: str, keep: int) -> str:
    return f"{text[:keep]}... ({len(text)} characters)"


def loggable(value: Any) -> str | int | bool | None:
    """A log field taken from an event: strings and 64-bit integers as they are, up to a
    bound; anything else, or anything longer, as a shortened ``repr``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # (repr cannot even write one of over 4300 digits)
        return value if -(2**63) <= value < 2**63 else f"<a {value.bit_length()}-bit integer>"
    if isinstance(value, str):
        return value if len(value) <= MAX_FIELD_CHARACTERS else _cut(value, _SHOWN_CHARACTERS)
    return shown(value)


def shown(value: Any) -> str:
    """A value from an event, for a message: its ``repr``, shortened when long."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARACTERS else _cut(text, _SHOWN_CHARACTERS)


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

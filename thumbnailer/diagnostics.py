"""What decoders say about one image, kept with that image instead of on stderr.

Pillow reports damage it reads past with Python warnings ("Corrupt EXIF data",
"Truncated File Read", "Tag data larger than file") and some refusals with Python
logging; libtiff writes its errors straight to the process's stderr ("ZIPDecode:
Decoding error at scanline 0"), and so does GLib inside libvips. In the function those
would be lines of their own in Cloud Logging, unstructured and tied to no event; in the
command line they would break "one line per failure".

``collecting()`` gathers them for the image being decoded on the current thread (the
function serves several requests at once, each on its own thread) into a bounded list,
which the caller puts on the event's log line. A message that belongs to no image being
decoded goes to the ``thumbnailer.decoders`` logger (a JSON line in the function).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from typing import Any

#: At most this many distinct messages are kept per image, each at most this long.
MAX_MESSAGES = 8
MAX_MESSAGE_CHARACTERS = 200

logger = logging.getLogger("thumbnailer.decoders")
_local = threading.local()
_active: set[Collected] = set()  # every collection under way, on any thread
_active_lock = threading.Lock()
_libtiff_lock = threading.Lock()
_libtiff_done = False


class Collected:
    """The messages about one image: distinct ones in order of arrival, repeats counted."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._dropped = 0

    def add(self, text: str) -> None:
        line = " ".join(text.split())  # one line, whatever the decoder wrote
        if len(line) > MAX_MESSAGE_CHARACTERS:
            line = line[: MAX_MESSAGE_CHARACTERS - 3] + "..."
        if line in self._counts:
            self._counts[line] += 1
        elif len(self._counts) < MAX_MESSAGES:
            self._counts[line] = 1
        else:
            self._dropped += 1

    def messages(self) -> tuple[str, ...]:
        shown = [text if count == 1 else f"{text} (x{count})" for text, count in self._counts.items()]
        if self._dropped:
            shown.append(f"... and {self._dropped} more")
        return tuple(shown)


def note(text: str) -> None:
    """A message about the image being decoded on this thread. A decoder's own worker
    thread (libvips, libheif) collects nothing: its message goes to the one image being
    decoded, if only one is, else to a log line of its own."""
    collected: Collected | None = getattr(_local, "collected", None)
    if collected is None:
        with _active_lock:
            collected = next(iter(_active)) if len(_active) == 1 else None
    if collected is None:
        logger.warning("decoder message outside any image: %s", text)
    else:
        collected.add(text)


@contextlib.contextmanager
def collecting() -> Iterator[Collected]:
    """Collect what decoders say on this thread until the block ends."""
    _route_warnings()
    _route_logging()
    previous = getattr(_local, "collected", None)
    _local.collected = collected = Collected()
    with _active_lock:
        _active.add(collected)
    try:
        yield collected
    finally:
        with _active_lock:
            _active.discard(collected)
        _local.collected = previous


# -- Python warnings --------------------------------------------------------------------------
# Warnings are process-wide, and warnings.catch_warnings() is not thread-safe, so instead of
# catching them per image, one hook for the process hands each to the collecting thread.

_original_showwarning = warnings.showwarning
# "default" shows a warning once per place in the code; every image must get its own.
_DECODER_MODULES = r"(PIL|pillow_heif|thumbnailer)(\.|$)"
_EACH_TIME = ("always", None, Warning, re.compile(_DECODER_MODULES), 0)


def show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """``warnings.showwarning`` for the process: to the image being decoded on this thread;
    elsewhere to the JSON log where logging is set up (the function), else as Python would."""
    if issubclass(category, _silenced):
        return
    if getattr(_local, "collected", None) is not None:
        note(str(message))
    elif logger.hasHandlers():
        logger.warning("%s: %s", category.__name__, message)
    else:
        _original_showwarning(message, category, filename, lineno, file, line)


_silenced: tuple[type[Warning], ...] = ()


def ignore_warning(category: type[Warning]) -> None:
    """Never report warnings of ``category`` (and its subclasses)."""
    global _silenced
    _silenced = (*_silenced, category)


def _route_warnings() -> None:
    """Put the hook and the filter in place, unless they are. Checked at every image, since
    whoever resets the warnings module (``catch_warnings``, a test runner) may remove them."""
    if warnings.showwarning is not show_warning:
        warnings.showwarning = show_warning
    if _EACH_TIME not in warnings.filters:
        warnings.filterwarnings("always", module=_DECODER_MODULES)


# -- Python logging ----------------------------------------------------------------------------
# Pillow also logs some refusals ("More samples per pixel than can be decoded") at ERROR,
# which with no handler configured Python prints to stderr.


class _ToCollector(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        note(record.getMessage())


_DECODER_LOGGERS = ("PIL", "pillow_heif", "pyvips")
_to_collector = _ToCollector(logging.WARNING)


def _route_logging() -> None:
    for name in _DECODER_LOGGERS:
        decoder_logger = logging.getLogger(name)
        if _to_collector not in decoder_logger.handlers:
            decoder_logger.addHandler(_to_collector)
            decoder_logger.propagate = False


# -- libtiff and GLib, through ctypes (imported only when a TIFF or libvips is) --------------
# libtiff prints errors to stderr unless an error handler is set. Pillow sets none (it only
# silences warnings while decoding), so one is set on the libtiff that Pillow's own
# extension has loaded. Its arguments are a printf format and a va_list, which vsnprintf
# formats; a va_list arrives as a pointer on x86-64 and arm64.
#
# libvips logs through GLib. pyvips takes the "VIPS" domain (to the pyvips logger, routed
# above); GLib's own domains (a GObject property out of range on a crafted file) would
# print to stderr, so a default handler takes every other domain.

_kept_alive: list[object] = []  # the ctypes callbacks, for as long as C may call them
_vsnprintf: Any = None


def _libtiff_message(module: bytes | None, template: bytes | None, arguments: int | None) -> None:
    import ctypes

    try:
        buffer = ctypes.create_string_buffer(MAX_MESSAGE_CHARACTERS * 2)
        _vsnprintf(buffer, len(buffer), template or b"", arguments)
        # Pillow opens every TIFF under the made-up name "tempfile.tif": it says nothing.
        text = buffer.value.decode("utf-8", "replace").replace("tempfile.tif: ", "")
        where = module.decode("utf-8", "replace") if module else "tempfile.tif"
        note(f"libtiff: {text}" if where == "tempfile.tif" else f"libtiff: {where}: {text}")
    except Exception:  # an exception must not cross back into C
        return


def _glib_message(domain: bytes | None, level: int, message: bytes | None, data: int | None) -> None:
    try:
        where = domain.decode("utf-8", "replace") if domain else "GLib"
        note(f"libvips: {where}: {(message or b'').decode('utf-8', 'replace')}")
    except Exception:  # an exception must not cross back into C
        return


def _loaded_library(name: str, prefer: str) -> str | None:
    """The path of a shared library this process has loaded (the one whose path names
    ``prefer``, if several), or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted(set(re.findall(rf"(/\S*/{name}[^/\s]*\.so[^/\s]*)", maps.read())))
    except OSError:
        return None
    preferred = [path for path in paths if prefer in path.lower()]
    found = preferred or paths
    return found[0] if found else None


def capture_libtiff() -> None:
    """Send libtiff's error messages to the image being decoded; idempotent. Called before
    the first TIFF is decoded, so the common formats never pay for it."""
    global _libtiff_done, _vsnprintf
    with _libtiff_lock:
        if _libtiff_done:
            return
        _libtiff_done = True
        import ctypes

        import PIL._imaging  # noqa: F401  (loads Pillow's libtiff, if it links one)

        path = _loaded_library("libtiff", prefer="pillow")
        if path is None:
            return
        libc = ctypes.CDLL(None)
        libc.vsnprintf.argtypes = (ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p)
        _vsnprintf = libc.vsnprintf
        handler_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)
        handler = handler_type(_libtiff_message)
        _kept_alive.append(handler)
        libtiff = ctypes.CDLL(path)
        libtiff.TIFFSetErrorHandler.argtypes = (handler_type,)
        libtiff.TIFFSetErrorHandler.restype = ctypes.c_void_p
        libtiff.TIFFSetErrorHandler(handler)


def capture_glib() -> None:
    """Send GLib's messages to the image being decoded; called when libvips is loaded."""
    import ctypes

    path = _loaded_library("libvips", prefer="pyvips")
    if path is None:
        return
    handler_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
    handler = handler_type(_glib_message)
    _kept_alive.append(handler)
    libvips = ctypes.CDLL(path)
    libvips.g_log_set_default_handler.argtypes = (handler_type, ctypes.c_void_p)
    libvips.g_log_set_default_handler.restype = ctypes.c_void_p
    libvips.g_log_set_default_handler(handler, None)
